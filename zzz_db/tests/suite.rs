//! The zzz_db behaviour suite, run against SQLite and a real PostgreSQL.
//!
//! Every case in `cases` is instantiated twice by `both!`: `sqlite::<case>` (a private
//! database) and `postgres::<case>` (a private schema on ZZZ_TEST_DATABASE_URL).

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde_json::json;
use uuid::Uuid;
use zzz_db::migration::{ColumnType as T, Migration, Migrator, OnDelete, PrimaryKey};
use zzz_db::testing::{TestDb, sequence};
use zzz_db::{
    Assoc, Changeset, DbErrorKind, Dialect, Error, Json, Length, Lock, Multi, Number, OnConflict, Query, Repo, Schema,
    Set, Value, bind, count_all, exists, fragment, fragment_as,
};

zzz_db::db_enum! {
    /// Role.
    pub enum Role { Member = "member", Admin = "admin" }
}

#[derive(Schema, Debug, Clone, Default, PartialEq)]
#[schema(table = "users")]
pub struct User {
    pub id: i64,
    pub name: String,
    pub email: Option<String>,
    pub age: i64,
    pub score: f64,
    pub active: bool,
    pub role: Role,
    pub bio: Option<String>,
    #[schema(virtual)]
    pub password: Option<String>,
    #[schema(has_many = Post, foreign_key = "user_id")]
    pub posts: Assoc<Vec<Post>>,
    #[schema(has_one = Profile, foreign_key = "user_id")]
    pub profile: Assoc<Option<Profile>>,
    pub inserted_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Schema, Debug, Clone, Default, PartialEq)]
pub struct Post {
    pub id: i64,
    pub title: String,
    pub views: i64,
    pub user_id: i64,
    #[schema(belongs_to = User, foreign_key = "user_id")]
    pub user: Assoc<Option<User>>,
    #[schema(many_to_many = Tag, join_through = "posts_tags")]
    pub tags: Assoc<Vec<Tag>>,
    pub inserted_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Schema, Debug, Clone, Default, PartialEq)]
pub struct Tag {
    pub id: i64,
    pub name: String,
}

#[derive(Schema, Debug, Clone, Default, PartialEq)]
pub struct Profile {
    pub id: i64,
    pub user_id: i64,
    pub website: Option<String>,
}

/// The `users` table read with a wrong field type, to check decode errors.
#[derive(Schema, Debug, Clone, Default)]
#[schema(table = "users")]
pub struct BadUser {
    pub id: i64,
    pub name: i64,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Meta {
    pub tags: Vec<String>,
    pub level: u8,
}

/// UTC timestamps and a nullable belongs_to.
#[derive(Schema, Debug, Clone, Default, PartialEq)]
pub struct Event {
    pub id: i64,
    pub title: String,
    pub user_id: Option<i64>,
    #[schema(belongs_to = User)]
    pub user: Assoc<Option<User>>,
    pub inserted_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Schema, Debug, Clone, Default, PartialEq)]
pub struct Doc {
    pub id: Uuid,
    pub data: serde_json::Value,
    pub meta: Json<Meta>,
    pub blob: Vec<u8>,
    pub day: Option<NaiveDate>,
    pub at: DateTime<Utc>,
    pub ratio: f32,
    pub small: i32,
}

impl zzz_db::testing::Factory for User {
    fn build() -> Self {
        User { name: sequence("user"), email: Some(format!("{}@example.com", sequence("email"))), age: 30, ..Default::default() }
    }
}

fn migrations() -> Vec<Migration> {
    vec![
        Migration::new(20240101000001, "create_users", |m| {
            m.create_table("users", |t| {
                t.add("name", T::String).not_null();
                t.add("email", T::String);
                t.add("age", T::BigInt).not_null().default(0);
                t.add("score", T::Float).not_null().default(0.0);
                t.add("active", T::Boolean).not_null().default(true);
                t.add("role", T::String).not_null().default("member");
                t.add("bio", T::Text);
                t.timestamps();
                t.check("age_non_negative", "age >= 0");
            });
            m.create_unique_index("users", &["email"]);
        }),
        Migration::new(20240101000002, "create_posts", |m| {
            m.create_table("posts", |t| {
                t.add("title", T::String).not_null();
                t.add("views", T::BigInt).not_null().default(0);
                t.references("user_id", "users", OnDelete::DeleteAll).not_null();
                t.timestamps();
            });
            m.create_index("posts", &["user_id"]);
            m.create_table("tags", |t| {
                t.add("name", T::String).not_null();
            });
            m.create_table("posts_tags", |t| {
                t.primary_key(PrimaryKey::None);
                t.references("post_id", "posts", OnDelete::DeleteAll).not_null();
                t.references("tag_id", "tags", OnDelete::DeleteAll).not_null();
            });
            m.create_unique_index("posts_tags", &["post_id", "tag_id"]);
        }),
        Migration::new(20240101000003, "create_profiles", |m| {
            m.create_table("profiles", |t| {
                t.references("user_id", "users", OnDelete::Restrict).not_null();
                t.add("website", T::Text);
            });
        }),
        Migration::new(20240101000004, "create_docs", |m| {
            m.create_table("docs", |t| {
                t.primary_key(PrimaryKey::Uuid);
                t.add("data", T::Map).not_null();
                t.add("meta", T::Map).not_null();
                t.add("blob", T::Binary).not_null();
                t.add("day", T::Date);
                t.add("at", T::UtcDateTime).not_null();
                t.add("ratio", T::Float).not_null();
                t.add("small", T::Integer).not_null();
            });
            m.create_table("events", |t| {
                t.add("title", T::Text).not_null();
                t.references("user_id", "users", OnDelete::NilifyAll);
                t.add("inserted_at", T::UtcDateTime).not_null();
                t.add("updated_at", T::UtcDateTime).not_null();
            });
        }),
    ]
}

async fn migrate(repo: &Repo) {
    let ran = Migrator::new(migrations()).run(repo).await.expect("migrations run");
    assert_eq!(ran.len(), 4);
}

fn user_cs(name: &str, age: i64) -> Changeset<User> {
    Changeset::cast(User::default(), &json!({"name": name, "age": age, "email": format!("{}@example.com", sequence(name))}), &[
        "name", "age", "email",
    ])
    .validate_required(&["name"])
    .unique_constraint("email")
    .check_constraint("age", "age_non_negative")
}

async fn mk_user(repo: &Repo, name: &str, age: i64) -> User {
    repo.insert(user_cs(name, age)).await.expect("insert user")
}

async fn mk_post(repo: &Repo, user: &User, title: &str, views: i64) -> Post {
    let cs = Changeset::cast(Post::default(), &json!({"title": title, "views": views, "user_id": user.id}), &["title", "views", "user_id"])
        .foreign_key_constraint("user_id");
    repo.insert(cs).await.expect("insert post")
}

mod cases {
    use super::*;

    pub async fn crud(repo: &Repo) {
        migrate(repo).await;
        let u = mk_user(repo, "alice", 30).await;
        assert!(u.id > 0);
        assert_eq!(u.name, "alice");
        assert_eq!(u.role, Role::Member);
        assert!(!u.active, "struct defaults are inserted (Ecto semantics)");
        let got: User = repo.get::<User>(u.id).await.unwrap().expect("found");
        assert_eq!(got, u);
        let by: User = repo.get_by::<User>(User::name.eq("alice")).await.unwrap().unwrap();
        assert_eq!(by.id, u.id);
        assert!(repo.get::<User>(u.id + 1000).await.unwrap().is_none());
        assert_eq!(repo.fetch::<User>(u.id).await.unwrap().id, u.id);
        let e = repo.fetch::<User>(u.id + 1000).await.unwrap_err();
        assert!(matches!(e, Error::NotFound(_)), "{e}");
        assert_eq!(e.to_string(), format!("expected one row in `users` where id = {}, found none", u.id + 1000));
        assert!(matches!(repo.fetch_by::<User>(User::name.eq("zed")).await, Err(Error::NotFound(_))));
        // A column that does not fit the Rust type is a typed decode error naming it.
        let e = repo.all(Query::from::<BadUser>()).await.unwrap_err();
        assert!(matches!(e, Error::Decode(_)), "{e}");
        assert!(e.to_string().contains("users.name"), "{e}");

        let cs = Changeset::cast(got.clone(), &json!({"name": "alicia", "age": "31", "role": "admin"}), &["name", "age", "role"]);
        assert_eq!(cs.changes().len(), 3);
        let up = repo.update(cs).await.unwrap();
        assert_eq!((up.name.as_str(), up.age, up.role), ("alicia", 31, Role::Admin));
        assert_eq!(up.inserted_at, u.inserted_at);
        assert!(up.updated_at >= u.updated_at);
        // No change: no query, same struct back.
        let same = repo.update(Changeset::cast(up.clone(), &json!({"name": "alicia"}), &["name"])).await.unwrap();
        assert_eq!(same, up);

        let deleted = repo.delete(up.clone()).await.unwrap();
        assert_eq!(deleted.id, u.id);
        assert!(repo.get::<User>(u.id).await.unwrap().is_none());
        // Updating or deleting a row that is gone is a typed stale error naming the table.
        let e = repo.update(Changeset::new(up.clone()).put_change(User::name, "x")).await.unwrap_err();
        assert!(matches!(e, Error::Stale(_)), "{e}");
        assert!(e.to_string().contains("users"), "{e}");
        let e = repo.delete(up).await.unwrap_err();
        assert!(matches!(e, Error::Stale(_)));
    }

    pub async fn queries(repo: &Repo) {
        migrate(repo).await;
        for (n, a) in [("ann", 15), ("bob", 22), ("cid", 35), ("dan", 41), ("eve", 22), ("Fay", 60)] {
            mk_user(repo, n, a).await;
        }
        let q = Query::from::<User>();
        let names = |v: Vec<User>| v.into_iter().map(|u| u.name).collect::<Vec<_>>();
        assert_eq!(names(repo.all(q.clone().filter(User::age.gt(22)).order_by(User::age.asc())).await.unwrap()), ["cid", "dan", "Fay"]);
        assert_eq!(repo.count(q.clone().filter(User::age.ge(22))).await.unwrap(), 5);
        assert_eq!(repo.count(q.clone().filter(User::age.lt(22))).await.unwrap(), 1);
        assert_eq!(repo.count(q.clone().filter(User::age.le(22))).await.unwrap(), 3);
        assert_eq!(repo.count(q.clone().filter(User::age.eq(22))).await.unwrap(), 2);
        assert_eq!(repo.count(q.clone().filter(User::age.ne(22))).await.unwrap(), 4);
        assert_eq!(repo.count(q.clone().filter(User::name.in_list(["ann", "bob", "zed"]))).await.unwrap(), 2);
        assert_eq!(repo.count(q.clone().filter(User::name.in_list(Vec::<String>::new()))).await.unwrap(), 0);
        assert_eq!(repo.count(q.clone().filter(User::name.not_in(["ann", "bob"]))).await.unwrap(), 4);
        assert_eq!(repo.count(q.clone().filter(User::name.like("%a%"))).await.unwrap(), 3, "ann dan Fay (SQLite LIKE folds ASCII case)");
        assert_eq!(repo.count(q.clone().filter(User::name.ilike("f%"))).await.unwrap(), 1);
        assert_eq!(repo.count(q.clone().filter(User::bio.is_null())).await.unwrap(), 6);
        assert_eq!(repo.count(q.clone().filter(User::email.is_not_null())).await.unwrap(), 6);
        let cond = (User::age.lt(20) | User::age.gt(50)) & !User::name.eq("ann");
        assert_eq!(names(repo.all(q.clone().filter(cond)).await.unwrap()), ["Fay"]);
        // Composition: a query is a value.
        let adults = q.clone().filter(User::age.ge(18));
        let page = adults.clone().order_by(User::age.desc()).order_by(User::name.asc()).limit(2).offset(1);
        assert_eq!(names(repo.all(page).await.unwrap()), ["dan", "cid"]);
        assert_eq!(repo.all(adults.clone().offset(4).order_by(User::name.asc())).await.unwrap().len(), 1);
        // Select columns and tuples.
        let ages: Vec<i64> = repo.all(q.clone().select(User::age).distinct().order_by(User::age.asc())).await.unwrap();
        assert_eq!(ages, [15, 22, 35, 41, 60]);
        let pairs: Vec<(String, i64)> =
            repo.all(q.clone().select((User::name, User::age)).filter(User::age.eq(22)).order_by(User::name.asc())).await.unwrap();
        assert_eq!(pairs, [("bob".to_string(), 22), ("eve".to_string(), 22)]);
        // Group / having.
        let groups: Vec<(i64, i64)> = repo
            .all(q.clone().select((User::age, count_all())).group_by(User::age).having(count_all().gt(1)))
            .await
            .unwrap();
        assert_eq!(groups, [(22, 2)]);
        // Aggregates.
        assert_eq!(repo.aggregate(q.clone(), User::age.max()).await.unwrap(), Some(60));
        assert_eq!(repo.aggregate(q.clone(), User::age.min()).await.unwrap(), Some(15));
        assert_eq!(repo.aggregate(q.clone(), User::age.sum()).await.unwrap(), Some(195.0));
        assert_eq!(repo.aggregate(q.clone(), User::age.avg()).await.unwrap(), Some(32.5));
        assert_eq!(repo.aggregate(q.clone(), User::age.count_distinct()).await.unwrap(), 5);
        assert_eq!(repo.aggregate(q.clone().filter(User::age.gt(100)), User::age.max()).await.unwrap(), None);
        // With limit / distinct / group_by the query is aggregated as a subquery (Ecto semantics).
        assert_eq!(repo.count(q.clone().limit(2)).await.unwrap(), 2);
        assert_eq!(repo.count(q.clone().select(User::age).distinct()).await.unwrap(), 5);
        assert_eq!(repo.count(q.clone().select(User::age).group_by(User::age)).await.unwrap(), 5);
        assert_eq!(repo.aggregate(q.clone().order_by(User::age.desc()).limit(2), User::age.min()).await.unwrap(), Some(41));
        // Exists / one.
        assert!(repo.exists(q.clone().filter(User::name.eq("eve"))).await.unwrap());
        assert!(!repo.exists(q.clone().filter(User::name.eq("nobody"))).await.unwrap());
        let e = repo.one(q.clone().filter(User::age.eq(22))).await.unwrap_err();
        assert!(matches!(e, Error::MultipleResults(_)), "{e}");
        // Fragments with bound values.
        let lowered: Vec<String> =
            repo.all(q.clone().select(fragment_as::<String>("lower(?)", [User::name.into()])).filter(User::name.eq("Fay"))).await.unwrap();
        assert_eq!(lowered, ["fay"]);
        let n = repo.count(q.clone().filter(fragment("lower(?) = ?", [User::name.into(), bind("fay".to_string())]))).await.unwrap();
        assert_eq!(n, 1);
        // Subqueries.
        let u = repo.get_by::<User>(User::name.eq("dan")).await.unwrap().unwrap();
        mk_post(repo, &u, "hello", 3).await;
        let authors = Query::from::<Post>().select(Post::user_id);
        assert_eq!(names(repo.all(q.clone().filter(User::id.in_subquery(authors))).await.unwrap()), ["dan"]);
        let has_posts = exists(Query::from::<Post>().filter(Post::user_id.eq_col(User::id)));
        assert_eq!(names(repo.all(q.clone().filter(has_posts)).await.unwrap()), ["dan"]);
        // Row lock: FOR UPDATE on Postgres, ignored on SQLite; works in a transaction.
        let mut tx = repo.begin().await.unwrap();
        let locked = tx.all(q.clone().filter(User::name.eq("dan")).lock(Lock::ForUpdate)).await.unwrap();
        assert_eq!(locked.len(), 1);
        tx.commit().await.unwrap();
        let sql = q.clone().lock(Lock::ForUpdate).to_sql(Dialect::Postgres).text;
        assert!(sql.ends_with("FOR UPDATE"), "{sql}");
        assert!(!q.clone().lock(Lock::ForUpdate).to_sql(Dialect::Sqlite).text.contains("FOR UPDATE"));
        // Stream.
        use futures_util::StreamExt;
        let streamed: Vec<String> = repo.stream(q.clone().select(User::name).order_by(User::name.asc())).map(|r| r.unwrap()).collect().await;
        assert_eq!(streamed.len(), 6);
    }

    pub async fn joins_and_preload(repo: &Repo) {
        migrate(repo).await;
        let a = mk_user(repo, "ann", 30).await;
        let b = mk_user(repo, "bob", 40).await;
        let _c = mk_user(repo, "cid", 50).await;
        let a1 = mk_post(repo, &a, "a1", 10).await;
        mk_post(repo, &a, "a2", 20).await;
        let b1 = mk_post(repo, &b, "b1", 30).await;
        let tx_ = repo.insert(Changeset::cast(Tag::default(), &json!({"name": "x"}), &["name"])).await.unwrap();
        let ty = repo.insert(Changeset::cast(Tag::default(), &json!({"name": "y"}), &["name"])).await.unwrap();
        for (p, t) in [(&a1, &tx_), (&a1, &ty), (&b1, &ty)] {
            repo.execute_sql("INSERT INTO posts_tags (post_id, tag_id) VALUES (?, ?)", vec![Value::Int(p.id), Value::Int(t.id)]).await.unwrap();
        }
        repo.insert(Changeset::cast(Profile::default(), &json!({"user_id": b.id, "website": "https://b.example"}), &["user_id", "website"]))
            .await
            .unwrap();

        // Join through an association and filter on the joined table.
        let titles: Vec<String> = repo
            .all(Query::from::<Post>().join_assoc(&Post::user).filter(User::name.eq("ann")).select(Post::title).order_by(Post::title.asc()))
            .await
            .unwrap();
        assert_eq!(titles, ["a1", "a2"]);
        // Left join + group: post count per user, including users without posts.
        let counts: Vec<(String, i64)> = repo
            .all(
                Query::from::<User>()
                    .left_join_assoc(&User::posts)
                    .select((User::name, Post::id.count()))
                    .group_by(User::name)
                    .order_by(User::name.asc()),
            )
            .await
            .unwrap();
        assert_eq!(counts, [("ann".into(), 2), ("bob".into(), 1), ("cid".into(), 0)]);
        // Explicit join condition with typed columns, selecting two schemas.
        let rows: Vec<(Post, User)> = repo
            .all(
                Query::from::<Post>()
                    .join::<User>(User::id.eq_col(Post::user_id))
                    .select((zzz_db::All::<Post>::new(), zzz_db::All::<User>::new()))
                    .order_by(Post::views.desc()),
            )
            .await
            .unwrap();
        assert_eq!(rows[0].0.title, "b1");
        assert_eq!(rows[0].1.name, "bob");

        // Preload has_many / has_one / belongs_to: one query per association.
        let mut users = repo.all(Query::from::<User>().order_by(User::name.asc())).await.unwrap();
        assert!(!users[0].posts.is_loaded());
        repo.preload(&mut users, &User::posts).await.unwrap();
        repo.preload(&mut users, &User::profile).await.unwrap();
        let post_titles: Vec<Vec<&str>> =
            users.iter().map(|u| u.posts.loaded().iter().map(|p| p.title.as_str()).collect()).collect();
        assert_eq!(post_titles, vec![vec!["a1", "a2"], vec!["b1"], vec![]]);
        assert_eq!(users[1].profile.loaded().as_ref().unwrap().website.as_deref(), Some("https://b.example"));
        assert!(users[0].profile.loaded().is_none());
        let mut posts = repo.all(Query::from::<Post>().order_by(Post::title.asc())).await.unwrap();
        repo.preload(&mut posts, &Post::user).await.unwrap();
        let owners: Vec<&str> = posts.iter().map(|p| p.user.loaded().as_ref().unwrap().name.as_str()).collect();
        assert_eq!(owners, ["ann", "ann", "bob"]);
        // many_to_many: preload through the join table (one query) and join through it.
        repo.preload(&mut posts, &Post::tags).await.unwrap();
        let tags: Vec<Vec<&str>> = posts.iter().map(|p| p.tags.loaded().iter().map(|t| t.name.as_str()).collect()).collect();
        assert_eq!(tags, vec![vec!["x", "y"], vec![], vec!["y"]]);
        let tagged: Vec<String> = repo
            .all(Query::from::<Post>().join_assoc(&Post::tags).filter(Tag::name.eq("y")).select(Post::title).order_by(Post::title.asc()))
            .await
            .unwrap();
        assert_eq!(tagged, ["a1", "b1"]);
        // Nested preload: users -> posts -> tags, one query per level.
        let mut users2 = repo.all(Query::from::<User>().order_by(User::name.asc())).await.unwrap();
        let e = repo.preload_nested(&mut users2, &User::posts, &Post::tags).await.unwrap_err();
        assert!(e.to_string().contains("preload `posts`"), "{e}");
        repo.preload(&mut users2, &User::posts).await.unwrap();
        repo.preload_nested(&mut users2, &User::posts, &Post::tags).await.unwrap();
        let nested: Vec<Vec<(String, Vec<String>)>> = users2
            .iter()
            .map(|u| u.posts.loaded().iter().map(|p| (p.title.clone(), p.tags.loaded().iter().map(|t| t.name.clone()).collect())).collect())
            .collect();
        assert_eq!(
            nested,
            vec![
                vec![("a1".to_string(), vec!["x".to_string(), "y".to_string()]), ("a2".to_string(), vec![])],
                vec![("b1".to_string(), vec!["y".to_string()])],
                vec![],
            ]
        );
        let mut one = repo.get::<User>(a.id).await.unwrap().unwrap();
        repo.preload_one(&mut one, &User::posts).await.unwrap();
        assert_eq!(one.posts.loaded().len(), 2);
        let mut empty: Vec<User> = vec![];
        repo.preload(&mut empty, &User::posts).await.unwrap();
    }

    pub async fn preload_many_keys(repo: &Repo) {
        migrate(repo).await;
        let now = chrono::Utc::now().naive_utc();
        let rows: Vec<User> = (0..10_050).map(|i| User { name: format!("n{i}"), inserted_at: now, updated_at: now, ..Default::default() }).collect();
        assert_eq!(repo.insert_all(&rows, None).await.unwrap(), 10_050);
        let mut users = repo.all(Query::from::<User>().order_by(User::id.asc())).await.unwrap();
        let last = users.last().unwrap().clone();
        mk_post(repo, &last, "last", 1).await;
        repo.preload(&mut users, &User::posts).await.unwrap();
        assert!(users.iter().all(|u| u.posts.is_loaded()));
        assert_eq!(users.last().unwrap().posts.loaded()[0].title, "last");
        assert_eq!(users.iter().map(|u| u.posts.loaded().len()).sum::<usize>(), 1);
    }

    pub async fn constraints(repo: &Repo) {
        migrate(repo).await;
        let a = repo
            .insert(Changeset::cast(User::default(), &json!({"name": "a", "email": "same@example.com"}), &["name", "email"]).unique_constraint("email"))
            .await
            .unwrap();
        // Declared unique constraint -> field error.
        let e = repo
            .insert(Changeset::cast(User::default(), &json!({"name": "b", "email": "same@example.com"}), &["name", "email"]).unique_constraint("email"))
            .await
            .unwrap_err();
        let errs = e.changeset_errors().expect("changeset error");
        assert_eq!(errs.to_json(), json!({"email": ["has already been taken"]}));
        let fe = errs.on("email")[0];
        assert_eq!(fe.opt("constraint"), Some(&json!("unique")));
        assert_eq!(fe.opt("constraint_name"), Some(&json!("users_email_index")));
        // Undeclared -> typed database error naming the constraint.
        let e = repo
            .insert(Changeset::cast(User::default(), &json!({"name": "b", "email": "same@example.com"}), &["name", "email"]))
            .await
            .unwrap_err();
        let db = e.db_error().expect("db error");
        assert_eq!(db.kind, DbErrorKind::UniqueViolation);
        assert_eq!(db.constraint.as_deref(), Some("users_email_index"));
        // Foreign key.
        let e = repo
            .insert(Changeset::cast(Post::default(), &json!({"title": "x", "user_id": a.id + 999}), &["title", "user_id"]).foreign_key_constraint("user_id"))
            .await
            .unwrap_err();
        assert_eq!(e.changeset_errors().unwrap().to_json(), json!({"user_id": ["does not exist"]}));
        // Check constraint.
        let e = repo.insert(user_cs("neg", -1)).await.unwrap_err();
        assert_eq!(e.changeset_errors().unwrap().to_json(), json!({"age": ["is invalid"]}));
        // NOT NULL violation surfaces as a typed error.
        let e = repo.insert(Changeset::new(Post { title: "t".into(), user_id: a.id, ..Default::default() }).put_value("title", Value::Null)).await.unwrap_err();
        assert_eq!(e.db_error().map(|d| d.kind), Some(DbErrorKind::NotNullViolation), "{e}");
        // Restricted delete (profile references user) -> FK error.
        repo.insert(Changeset::cast(Profile::default(), &json!({"user_id": a.id}), &["user_id"])).await.unwrap();
        let e = repo.delete(a.clone()).await.unwrap_err();
        assert_eq!(e.db_error().map(|d| d.kind), Some(DbErrorKind::ForeignKeyViolation), "{e}");
        // Invalid changesets never reach the database.
        let e = repo.insert(Changeset::cast(User::default(), &json!({"age": "old"}), &["age"]).validate_required(&["name"])).await.unwrap_err();
        assert_eq!(e.changeset_errors().unwrap().to_json(), json!({"age": ["is invalid"], "name": ["can't be blank"]}));
        assert!(e.to_string().contains("age is invalid"), "{e}");
    }

    pub async fn bad_input(repo: &Repo) {
        migrate(repo).await;
        let nasty = [
            "Robert'); DROP TABLE users;--",
            "\" OR 1=1 --",
            "$1 ? ?? %s \\x00 \\",
            "'; DELETE FROM users WHERE '1'='1",
            "ünïcødé ✓ 𝄞",
        ];
        for n in nasty {
            let u = repo.insert(Changeset::cast(User::default(), &json!({"name": n, "bio": n}), &["name", "bio"])).await.unwrap();
            let back = repo.get::<User>(u.id).await.unwrap().unwrap();
            assert_eq!(back.name, n);
            assert_eq!(back.bio.as_deref(), Some(n));
            assert_eq!(repo.count(Query::from::<User>().filter(User::name.eq(n))).await.unwrap(), 1);
        }
        assert_eq!(repo.count(Query::from::<User>()).await.unwrap(), nasty.len() as i64, "table intact");
        // Wrong types: each field gets its own "is invalid" with the type.
        let cs = Changeset::cast(
            User::default(),
            &json!({"name": 12, "age": "twelve", "score": "NaN", "active": "maybe", "role": "root", "email": ["a"]}),
            &["name", "age", "score", "active", "role", "email"],
        );
        assert_eq!(
            cs.errors().to_json(),
            json!({"name": ["is invalid"], "age": ["is invalid"], "score": ["is invalid"], "active": ["is invalid"], "role": ["is invalid"], "email": ["is invalid"]})
        );
        assert_eq!(cs.errors().on("age")[0].opt("type"), Some(&json!("integer")));
        let e = repo.insert(cs).await.unwrap_err();
        assert!(matches!(e, Error::Changeset(_)));
        assert_eq!(repo.count(Query::from::<User>()).await.unwrap(), nasty.len() as i64);
        // Form strings cast like JSON.
        let cs = Changeset::cast_form(User::default(), [("name", "f"), ("age", "42"), ("active", "false"), ("score", "1.5")], &["name", "age", "active", "score"]);
        assert!(cs.is_valid());
        let u = repo.insert(cs).await.unwrap();
        assert_eq!((u.age, u.active, u.score), (42, false, 1.5));
        // Integer overflow for i32 is invalid, not truncated.
        let cs = Changeset::cast(Doc::default(), &json!({"small": 1u64 << 40}), &["small"]);
        assert_eq!(cs.errors().to_json(), json!({"small": ["is invalid"]}));
        // A JSON number with no fraction is an integer (as JSON Schema says); 7.5 is not.
        let cs = Changeset::cast(User::default(), &json!({"age": 7.0}), &["age"]);
        assert_eq!(cs.field(User::age), Some(7));
        for bad in [json!(7.5), json!(1e30), json!(-1e19)] {
            let cs = Changeset::cast(User::default(), &json!({"age": bad}), &["age"]);
            assert_eq!(cs.errors().to_json(), json!({"age": ["is invalid"]}), "{bad}");
        }
    }

    pub async fn types_roundtrip(repo: &Repo) {
        migrate(repo).await;
        let at = DateTime::parse_from_rfc3339("2024-05-06T07:08:09Z").unwrap().with_timezone(&Utc);
        let cs = Changeset::cast(
            Doc::default(),
            &json!({
                "data": {"k": [1, 2, {"q": "it's"}]},
                "meta": {"tags": ["a", "b"], "level": 3},
                "blob": "bytes\u{1}",
                "day": "2024-02-29",
                "at": "2024-05-06T07:08:09Z",
                "ratio": 0.5,
                "small": -7
            }),
            &["data", "meta", "blob", "day", "at", "ratio", "small"],
        );
        assert!(cs.is_valid(), "{:?}", cs.errors());
        let d = repo.insert(cs).await.unwrap();
        assert!(!d.id.is_nil(), "uuid generated");
        let back = repo.get::<Doc>(d.id).await.unwrap().unwrap();
        assert_eq!(back, d);
        assert_eq!(back.meta.0, Meta { tags: vec!["a".into(), "b".into()], level: 3 });
        assert_eq!(back.data, json!({"k": [1, 2, {"q": "it's"}]}));
        assert_eq!(back.blob, b"bytes\x01");
        assert_eq!(back.day, NaiveDate::from_ymd_opt(2024, 2, 29));
        assert_eq!(back.at, at);
        assert_eq!((back.ratio, back.small), (0.5, -7));
        // Invalid embed shape.
        let cs = Changeset::cast(Doc::default(), &json!({"meta": {"tags": "nope"}}), &["meta"]);
        assert_eq!(cs.errors().to_json(), json!({"meta": ["is invalid"]}));
        // Query by uuid and date.
        assert_eq!(repo.count(Query::from::<Doc>().filter(Doc::id.eq(d.id))).await.unwrap(), 1);
        assert_eq!(repo.count(Query::from::<Doc>().filter(Doc::day.gt(NaiveDate::from_ymd_opt(2024, 1, 1).unwrap()))).await.unwrap(), 1);
        // UTC timestamps are set automatically; a NULL belongs_to preloads as None.
        let before = Utc::now() - chrono::Duration::seconds(2);
        let u = mk_user(repo, "owner", 1).await;
        let e1 = repo.insert(Changeset::cast(Event::default(), &json!({"title": "solo"}), &["title"])).await.unwrap();
        let e2 = repo.insert(Changeset::cast(Event::default(), &json!({"title": "owned", "user_id": u.id}), &["title", "user_id"])).await.unwrap();
        assert!(e1.inserted_at >= before && e1.updated_at == e1.inserted_at, "{e1:?}");
        let mut evs = vec![e1, e2];
        repo.preload(&mut evs, &Event::user).await.unwrap();
        assert_eq!(evs[0].user, Assoc::Loaded(None));
        assert_eq!(evs[1].user.loaded().as_ref().map(|u| u.name.as_str()), Some("owner"));
        // ON DELETE SET NULL.
        repo.delete(u).await.unwrap();
        assert_eq!(repo.get::<Event>(evs[1].id).await.unwrap().unwrap().user_id, None);
        assert_eq!(repo.count(Query::from::<Event>().filter(Event::inserted_at.ge(before))).await.unwrap(), 2);
        // A Doc built by hand with an explicit id keeps it.
        let id = Uuid::new_v4();
        let d2 = zzz_db::testing::insert(repo, Doc { id, at, ..Default::default() }).await.unwrap();
        assert_eq!(d2.id, id);
    }

    pub async fn bulk_and_upsert(repo: &Repo) {
        migrate(repo).await;
        let now = chrono::Utc::now().naive_utc();
        let rows: Vec<User> = (0..250)
            .map(|i| User { name: format!("u{i}"), age: i % 50, email: Some(format!("u{i}@x")), inserted_at: now, updated_at: now, ..Default::default() })
            .collect();
        assert_eq!(repo.insert_all(&rows, None).await.unwrap(), 250);
        assert_eq!(repo.count(Query::from::<User>()).await.unwrap(), 250);
        // update_all with set and inc.
        let n = repo.update_all(Query::from::<User>().filter(User::age.lt(10)), Set::new().inc(User::age, 100).set(User::bio, "old")).await.unwrap();
        assert_eq!(n, 50);
        assert_eq!(repo.count(Query::from::<User>().filter(User::age.ge(100))).await.unwrap(), 50);
        assert_eq!(repo.count(Query::from::<User>().filter(User::bio.eq("old"))).await.unwrap(), 50);
        let e = repo.update_all(Query::from::<User>().join_assoc(&User::posts), Set::new().set(User::age, 1)).await.unwrap_err();
        assert!(matches!(e, Error::Query(_)), "{e}");
        // Claim rows the way a job queue does: UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED LIMIT n) RETURNING.
        let pick = Query::from::<User>()
            .select(User::id)
            .filter(User::bio.is_null())
            .order_by(User::id.asc())
            .limit(3)
            .lock(Lock::ForUpdateSkipLocked);
        let claimed = repo
            .update_all_returning(Query::from::<User>().filter(User::id.in_subquery(pick)), Set::new().set(User::bio, Some("claimed".to_string())))
            .await
            .unwrap();
        assert_eq!(claimed.len(), 3);
        assert!(claimed.iter().all(|u| u.bio.as_deref() == Some("claimed")));
        // delete_all.
        assert_eq!(repo.delete_all(Query::from::<User>().filter(User::age.ge(100))).await.unwrap(), 50);
        assert_eq!(repo.count(Query::from::<User>()).await.unwrap(), 200);
        assert_eq!(repo.postgres_pool().is_some(), repo.dialect() == Dialect::Postgres);
        // Upserts.
        let cs = || Changeset::cast(User::default(), &json!({"name": "dup", "email": "u11@x", "age": 7}), &["name", "email", "age"]);
        let r = repo.insert_on_conflict(cs(), OnConflict::nothing().target(&["email"])).await.unwrap();
        assert!(r.is_none(), "DO NOTHING returns no row");
        let r = repo.insert_on_conflict(cs(), OnConflict::replace(&["name", "age"]).target(&["email"])).await.unwrap().unwrap();
        assert_eq!((r.name.as_str(), r.age), ("dup", 7));
        assert_eq!(repo.count(Query::from::<User>().filter(User::email.eq("u11@x"))).await.unwrap(), 1);
        let r = repo
            .insert_on_conflict(
                Changeset::cast(User::default(), &json!({"name": "all", "email": "u11@x"}), &["name", "email"]),
                OnConflict::replace_all().target(&["email"]),
            )
            .await
            .unwrap()
            .unwrap();
        assert_eq!(r.name, "all");
        let n = repo.insert_all(&rows[10..20], Some(OnConflict::nothing())).await.unwrap();
        assert_eq!(n, 0, "all conflict on email");
        let e = repo.insert_on_conflict(cs(), OnConflict::replace_all()).await.unwrap_err();
        assert!(e.to_string().contains("conflict target"), "{e}");
    }

    pub async fn transactions(repo: &Repo) {
        migrate(repo).await;
        // Commit.
        let mut tx = repo.begin().await.unwrap();
        tx.insert(user_cs("t1", 1)).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(repo.count(Query::from::<User>()).await.unwrap(), 1);
        // Drop = rollback.
        {
            let mut tx = repo.begin().await.unwrap();
            tx.insert(user_cs("t2", 1)).await.unwrap();
            assert_eq!(tx.count(Query::from::<User>()).await.unwrap(), 2);
        }
        assert_eq!(repo.count(Query::from::<User>()).await.unwrap(), 1);
        // Closure: Err rolls back, Ok commits.
        let r: Result<(), Error> = repo
            .transaction(|tx| {
                Box::pin(async move {
                    tx.insert(user_cs("t3", 1)).await?;
                    Err(tx.insert(user_cs("bad", -5)).await.unwrap_err())
                })
            })
            .await;
        assert!(r.is_err());
        assert_eq!(repo.count(Query::from::<User>()).await.unwrap(), 1);
        let id = repo.transaction(|tx| Box::pin(async move { tx.insert(user_cs("t4", 1)).await.map(|u| u.id) })).await.unwrap();
        assert!(repo.get::<User>(id).await.unwrap().is_some());
        // Nested: a savepoint rolled back keeps the outer work.
        let mut tx = repo.begin().await.unwrap();
        tx.insert(user_cs("outer", 1)).await.unwrap();
        {
            let mut inner = tx.begin().await.unwrap();
            assert_eq!(inner.depth(), 2);
            inner.insert(user_cs("inner", 1)).await.unwrap();
            inner.rollback().await.unwrap();
        }
        {
            let mut inner = tx.begin().await.unwrap();
            inner.insert(user_cs("inner2", 1)).await.unwrap();
            inner.commit().await.unwrap();
        }
        {
            let mut inner = tx.begin().await.unwrap();
            inner.insert(user_cs("dropped", 1)).await.unwrap();
        }
        // Closure form of a nested transaction: Err rolls back only the savepoint.
        let r: Result<(), Error> = tx
            .transaction(|sp| Box::pin(async move {
                sp.insert(user_cs("closure-inner", 1)).await?;
                Err(Error::Pool("abort inner".into()))
            }))
            .await;
        assert!(r.is_err());
        let kept: i64 = tx.transaction(|sp| Box::pin(async move { sp.count(Query::from::<User>()).await })).await.unwrap();
        assert_eq!(kept, 4, "t1, t4, outer, inner2");
        tx.commit().await.unwrap();
        let names: Vec<String> = repo.all(Query::from::<User>().select(User::name).order_by(User::id.asc())).await.unwrap();
        assert_eq!(names, ["t1", "t4", "outer", "inner2"]);

        // Multi: all-or-nothing, failing step named.
        let ok = repo
            .transact_multi(
                Multi::new()
                    .insert("user", user_cs("m1", 1))
                    .run("post", |tx, res| {
                        let uid = res.get::<User>("user").unwrap().id;
                        Box::pin(async move {
                            let cs = Changeset::cast(Post::default(), &json!({"title": "p", "user_id": uid}), &["title", "user_id"]);
                            tx.insert(cs).await
                        })
                    }),
            )
            .await
            .unwrap();
        assert_eq!(ok.get::<Post>("post").unwrap().user_id, ok.get::<User>("user").unwrap().id);
        let before = repo.count(Query::from::<User>()).await.unwrap();
        let err = repo
            .transact_multi(Multi::new().insert("first", user_cs("m2", 1)).insert("second", user_cs("m3", -1)).insert("third", user_cs("m4", 1)))
            .await
            .err()
            .unwrap();
        assert_eq!(err.step, "second");
        assert_eq!(err.completed, ["first"]);
        assert_eq!(err.error.changeset_errors().unwrap().to_json(), json!({"age": ["is invalid"]}));
        assert_eq!(repo.count(Query::from::<User>()).await.unwrap(), before, "rolled back");
    }

    pub async fn migrations_api(repo: &Repo) {
        let m = Migrator::new(migrations());
        let st = m.status(repo).await.unwrap();
        assert!(st.iter().all(|s| !s.applied));
        assert_eq!(m.run_to(repo, 20240101000002).await.unwrap(), [20240101000001, 20240101000002]);
        assert_eq!(m.run(repo).await.unwrap(), [20240101000003, 20240101000004]);
        assert!(m.run(repo).await.unwrap().is_empty(), "idempotent");
        assert_eq!(m.applied(repo).await.unwrap().len(), 4);
        assert_eq!(m.rollback(repo, 2).await.unwrap(), [20240101000004, 20240101000003]);
        let st = m.status(repo).await.unwrap();
        assert_eq!(st.iter().map(|s| s.applied).collect::<Vec<_>>(), [true, true, false, false]);
        assert_eq!(st[2].to_string(), "  down   20240101000003   create_profiles");
        assert_eq!(st[0].to_string(), "  up     20240101000001   create_users");
        // Tables really went away and come back.
        assert!(repo.execute_raw("SELECT 1 FROM docs").await.is_err());
        m.run(repo).await.unwrap();
        mk_user(repo, "after", 1).await;
        // Alter table: add / rename / remove, and automatic down.
        let alter = Migrator::new(
            migrations()
                .into_iter()
                .chain([Migration::new(20240101000005, "alter_users", |m| {
                    m.alter_table("users", |t| {
                        t.add("nickname", T::String).default("none");
                        t.rename("bio", "about");
                    });
                })])
                .collect(),
        );
        assert_eq!(alter.run(repo).await.unwrap(), [20240101000005]);
        assert_eq!(repo.query_scalar::<String>("SELECT nickname FROM users", vec![]).await.unwrap().as_deref(), Some("none"));
        assert_eq!(alter.rollback(repo, 1).await.unwrap(), [20240101000005]);
        assert!(repo.execute_raw("SELECT bio FROM users").await.is_ok());
        assert!(repo.execute_raw("SELECT nickname FROM users").await.is_err());
        assert_eq!(m.rollback_to(repo, 20240101000003).await.unwrap(), [20240101000004]);
        assert_eq!(m.run(repo).await.unwrap(), [20240101000004]);
        // A failing migration is rolled back and names its version; state is unchanged.
        let bad = Migrator::new(vec![Migration::new(20240101000009, "broken", |m| {
            m.create_table("tmp_ok", |t| {
                t.add("x", T::Integer);
            });
            m.execute("THIS IS NOT SQL");
        })]);
        let e = bad.run(repo).await.unwrap_err();
        assert!(e.to_string().contains("20240101000009"), "{e}");
        assert!(repo.execute_raw("SELECT 1 FROM tmp_ok").await.is_err(), "DDL rolled back");
        // Modify a column: real on Postgres, a clear error on SQLite.
        let modify = Migration::new(20240101000006, "modify_bio", |m| {
            m.alter_table("users", |t| {
                t.modify("bio", T::String).not_null().default("none");
            });
        })
        .down(|m| {
            m.alter_table("users", |t| {
                t.modify("bio", T::Text);
            });
        });
        let migr = Migrator::new(migrations().into_iter().chain([modify.clone()]).collect());
        let owner = repo.get_by::<User>(User::name.eq("after")).await.unwrap().unwrap();
        mk_post(repo, &owner, "survives", 1).await;
        repo.execute_raw("UPDATE users SET bio = 'x' WHERE bio IS NULL").await.unwrap();
        // Postgres alters the column; SQLite rebuilds the table in the same transaction.
        assert_eq!(migr.run(repo).await.unwrap(), [20240101000006]);
        let e = repo.execute_raw("UPDATE users SET bio = NULL").await.unwrap_err();
        assert_eq!(e.db_error().unwrap().kind, DbErrorKind::NotNullViolation, "{e}");
        let after = repo.get::<User>(owner.id).await.unwrap().unwrap();
        assert_eq!((after.name.as_str(), after.bio.as_deref()), ("after", Some("x")), "rows copied");
        assert_eq!(repo.count(Query::from::<Post>()).await.unwrap(), 1, "no ON DELETE CASCADE fired by the rebuild");
        let dup = Changeset::cast(User::default(), &json!({"name": "d", "email": owner.email, "bio": "b"}), &["name", "email", "bio"]);
        let e = repo.insert(dup).await.unwrap_err();
        assert_eq!(e.db_error().map(|d| d.kind), Some(DbErrorKind::UniqueViolation), "unique index recreated: {e}");
        let e = repo.insert(user_cs("neg", -3).put_change(User::bio, "b")).await.unwrap_err();
        assert!(matches!(e, Error::Changeset(_)), "check constraint kept: {e}");
        let u = repo.insert(user_cs("new-after-rebuild", 1).put_change(User::bio, "b")).await.unwrap();
        assert!(u.id > owner.id, "ids keep increasing");
        assert_eq!(migr.rollback(repo, 1).await.unwrap(), [20240101000006]);
        repo.execute_raw("UPDATE users SET bio = NULL").await.unwrap();
        if repo.dialect() == Dialect::Sqlite {
            let sql = modify.up_sql(Dialect::Sqlite).unwrap();
            assert!(sql[0].starts_with("-- zzz:rebuild"), "{sql:?}");
        }
        // SQLite ALTER limits give a clear error before touching the database.
        let nn = Migration::new(7, "nn", |m| m.alter_table("users", |t| {
            t.add("must", T::String).not_null();
        }));
        let e = nn.up_sql(Dialect::Sqlite).unwrap_err();
        assert!(e.to_string().contains("SQLite cannot add NOT NULL column `must`"), "{e}");
        assert!(nn.up_sql(Dialect::Postgres).is_ok());
    }

    pub async fn sandbox(repo: &Repo) {
        migrate(repo).await;
        mk_user(repo, "base", 1).await;
        let s1 = repo.sandbox().await.unwrap();
        assert!(s1.is_sandbox());
        mk_user(&s1, "in-sandbox", 1).await;
        assert_eq!(s1.count(Query::from::<User>()).await.unwrap(), 2);
        // Transactions inside a sandbox are savepoints.
        {
            let mut tx = s1.begin().await.unwrap();
            tx.insert(user_cs("nested", 1)).await.unwrap();
            tx.rollback().await.unwrap();
        }
        let r: Result<(), Error> = s1.transaction(|tx| Box::pin(async move { tx.insert(user_cs("x", -1)).await.map(|_| ()) })).await;
        assert!(r.is_err());
        assert_eq!(s1.count(Query::from::<User>()).await.unwrap(), 2);
        drop(s1);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert_eq!(repo.count(Query::from::<User>()).await.unwrap(), 1, "sandbox rolled back");
    }

    pub async fn factories(repo: &Repo) {
        migrate(repo).await;
        let a: User = zzz_db::testing::insert_with(repo, |_| {}).await.unwrap();
        let b: User = zzz_db::testing::insert_with(repo, |u: &mut User| u.age = 99).await.unwrap();
        assert_ne!(a.email, b.email, "sequences keep unique fields unique");
        assert_eq!(b.age, 99);
        assert!(a.inserted_at.and_utc().timestamp() > 0, "timestamps filled in");
        assert_eq!(repo.count(Query::from::<User>()).await.unwrap(), 2);
    }

    pub async fn health(repo: &Repo) {
        repo.health_check().await.unwrap();
        let e = repo.execute_raw("SELEC nonsense").await.unwrap_err();
        assert_eq!(e.db_error().map(|d| d.kind), Some(DbErrorKind::Syntax), "{e}");
    }
}

macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let db = super::TestDb::sqlite_memory().await.unwrap();
                    super::cases::$name(&db.repo).await;
                    db.cleanup().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let db = super::TestDb::postgres().await.unwrap();
                    super::cases::$name(&db.repo).await;
                    db.cleanup().await;
                }
            )*
        }
    };
}

both!(crud, queries, joins_and_preload, preload_many_keys, constraints, bad_input, types_roundtrip, bulk_and_upsert, transactions, migrations_api, factories, health);

#[tokio::test]
async fn sqlite_file_sandbox() {
    let db = TestDb::sqlite_file().await.unwrap();
    cases::sandbox(&db.repo).await;
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_parallel_sandboxes() {
    let db = TestDb::postgres().await.unwrap();
    cases::sandbox(&db.repo).await;
    // Many sandboxes at once on one database: each sees only its own rows.
    let mut handles = Vec::new();
    for i in 0..8 {
        let repo = db.repo.clone();
        handles.push(tokio::spawn(async move {
            let s = repo.sandbox().await.unwrap();
            for j in 0..5 {
                mk_user(&s, &format!("p{i}-{j}"), 1).await;
            }
            assert_eq!(s.count(Query::from::<User>().filter(User::name.like("p%"))).await.unwrap(), 5);
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert_eq!(db.repo.count(Query::from::<User>().filter(User::name.like("p%"))).await.unwrap(), 0);
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_serialization_and_deadlock_are_typed() {
    let db = TestDb::postgres().await.unwrap();
    let repo = &db.repo;
    migrate(repo).await;
    let a = mk_user(repo, "a", 1).await;
    let b = mk_user(repo, "b", 1).await;

    // Write skew under SERIALIZABLE -> SerializationFailure.
    let mut t1 = repo.begin().await.unwrap();
    let mut t2 = repo.begin().await.unwrap();
    t1.execute_raw("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE").await.unwrap();
    t2.execute_raw("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE").await.unwrap();
    let s1 = t1.aggregate(Query::from::<User>(), User::age.sum()).await.unwrap();
    let s2 = t2.aggregate(Query::from::<User>(), User::age.sum()).await.unwrap();
    assert_eq!(s1, s2);
    t1.update_all(Query::from::<User>().filter(User::id.eq(a.id)), Set::new().inc(User::age, 1)).await.unwrap();
    t2.update_all(Query::from::<User>().filter(User::id.eq(b.id)), Set::new().inc(User::age, 1)).await.unwrap();
    t1.commit().await.unwrap();
    let e = t2.commit().await.unwrap_err();
    assert_eq!(e.db_error().map(|d| d.kind), Some(DbErrorKind::SerializationFailure), "{e}");

    // Two transactions locking rows in opposite order -> one gets Deadlock.
    let mut t1 = repo.begin().await.unwrap();
    let mut t2 = repo.begin().await.unwrap();
    let by_id = |id: i64| Query::from::<User>().filter(User::id.eq(id));
    t1.update_all(by_id(a.id), Set::new().inc(User::age, 1)).await.unwrap();
    t2.update_all(by_id(b.id), Set::new().inc(User::age, 1)).await.unwrap();
    let (r1, r2) = tokio::join!(
        t1.update_all(by_id(b.id), Set::new().inc(User::age, 1)),
        t2.update_all(by_id(a.id), Set::new().inc(User::age, 1)),
    );
    let kinds: Vec<_> = [r1, r2].into_iter().filter_map(|r| r.err()).map(|e| e.db_error().map(|d| d.kind)).collect();
    assert_eq!(kinds, [Some(DbErrorKind::Deadlock)]);
    drop(t1);
    drop(t2);
    db.cleanup().await;
}

#[tokio::test]
async fn postgres_lost_connections_are_replaced() {
    let db = TestDb::postgres().await.unwrap();
    let app = format!("zzz_reconnect_{}", std::process::id());
    let url = zzz_db::testing::postgres_url();
    let sep = if url.contains('?') { '&' } else { '?' };
    let repo = Repo::connect(&format!("{url}{sep}application_name={app}")).await.unwrap();
    repo.health_check().await.unwrap();
    let killed: Option<i64> = db
        .repo
        .query_scalar(
            "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = ?",
            vec![Value::Text(app.clone())],
        )
        .await
        .unwrap();
    assert!(killed.unwrap() >= 1);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    // The pool notices the dead connection and opens a new one.
    repo.health_check().await.unwrap();
    repo.close().await;
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_busy_is_a_typed_error() {
    let path = std::env::temp_dir().join(format!("zzz_busy_{}.db", std::process::id()));
    let mut cfg = zzz_db::RepoConfig::new(format!("sqlite://{}", path.display())).pool_size(2);
    cfg.busy_timeout = std::time::Duration::ZERO;
    let repo = Repo::connect_with(cfg).await.unwrap();
    migrate(&repo).await;
    let mut t1 = repo.begin().await.unwrap();
    t1.insert(user_cs("w1", 1)).await.unwrap();
    let mut t2 = repo.begin().await.unwrap();
    let e = t2.insert(user_cs("w2", 1)).await.unwrap_err();
    assert_eq!(e.db_error().map(|d| d.kind), Some(DbErrorKind::Deadlock), "{e}");
    drop(t2);
    t1.commit().await.unwrap();
    repo.close().await;
    // With BEGIN IMMEDIATE and a busy timeout, the second writer waits instead of failing.
    let repo = Repo::connect_with(zzz_db::RepoConfig::new(format!("sqlite://{}", path.display())).pool_size(2)).await.unwrap();
    let mut t1 = repo.begin_immediate().await.unwrap();
    t1.insert(user_cs("w3", 1)).await.unwrap();
    let r2 = repo.clone();
    let waiter = tokio::spawn(async move {
        let mut t2 = r2.begin_immediate().await.unwrap();
        let n = t2.count(Query::from::<User>()).await.unwrap();
        t2.insert(user_cs("w4", 1)).await.unwrap();
        t2.commit().await.unwrap();
        n
    });
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    t1.commit().await.unwrap();
    assert_eq!(waiter.await.unwrap(), 2, "the second transaction started after the first committed");
    assert_eq!(repo.count(Query::from::<User>()).await.unwrap(), 3);
    repo.close().await;
    for s in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{s}", path.display()));
    }
}

#[test]
fn migration_sql_per_dialect() {
    let m = Migration::new(1, "m", |m| {
        m.create_table("items", |t| {
            t.add("title", T::String).not_null().default("it's");
            t.add("price", T::Float);
            t.add("on", T::Boolean).not_null().default(true);
            t.references("owner_id", "users", OnDelete::NilifyAll);
            t.check("price_positive", "price > 0");
        });
        m.create_unique_index("items", &["title", "owner_id"]);
    });
    assert_eq!(
        m.up_sql(Dialect::Postgres).unwrap(),
        [
            "CREATE TABLE \"items\" (\"id\" BIGSERIAL PRIMARY KEY, \"title\" VARCHAR(255) NOT NULL DEFAULT 'it''s', \"price\" DOUBLE PRECISION, \"on\" BOOLEAN NOT NULL DEFAULT TRUE, \"owner_id\" BIGINT CONSTRAINT \"items_owner_id_fkey\" REFERENCES \"users\"(\"id\") ON DELETE SET NULL, CONSTRAINT \"price_positive\" CHECK (price > 0))",
            "CREATE UNIQUE INDEX \"items_title_owner_id_index\" ON \"items\" (\"title\", \"owner_id\")",
        ]
    );
    assert_eq!(
        m.up_sql(Dialect::Sqlite).unwrap()[0],
        "CREATE TABLE \"items\" (\"id\" INTEGER PRIMARY KEY AUTOINCREMENT, \"title\" TEXT NOT NULL DEFAULT 'it''s', \"price\" REAL, \"on\" BOOLEAN NOT NULL DEFAULT 1, \"owner_id\" INTEGER CONSTRAINT \"items_owner_id_fkey\" REFERENCES \"users\"(\"id\") ON DELETE SET NULL, CONSTRAINT \"price_positive\" CHECK (price > 0))"
    );
    assert_eq!(m.down_sql(Dialect::Sqlite).unwrap(), ["DROP INDEX \"items_title_owner_id_index\"", "DROP TABLE \"items\""]);
    let irreversible = Migration::new(2, "raw", |m| m.execute("UPDATE x SET y = 1"));
    let e = irreversible.down_sql(Dialect::Postgres).unwrap_err();
    assert!(e.to_string().contains("explicit down"), "{e}");
}

#[tokio::test]
async fn connect_errors_are_clear() {
    let e = Repo::connect("mysql://root@localhost/x").await.unwrap_err();
    assert!(e.to_string().contains("unsupported scheme"), "{e}");
    let e = Repo::connect_with(zzz_db::RepoConfig::new("postgres://u:secret@127.0.0.1:1/db").acquire_timeout(std::time::Duration::from_secs(2)))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Connect(_)));
    assert!(!e.to_string().contains("secret"), "password redacted: {e}");
}

// ------------------------------------------------------------- changesets (no database)

#[test]
fn changeset_on_a_new_record_validates_values_equal_to_the_default() {
    // A new record's `age` is 0 by default; a client sending 0 must still be judged.
    let cs = Changeset::cast(User::default(), &json!({"age": 0, "active": false}), &["age", "active"])
        .validate_number("age", Number::greater_than(0));
    assert_eq!(cs.get_change("age"), Some(&Value::Int(0)));
    assert_eq!(cs.get_change("active"), Some(&Value::Bool(false)));
    assert_eq!(cs.errors().to_json(), json!({"age": ["must be greater than 0"]}));
    // Fields the client did not send are still no change.
    assert!(cs.get_change("score").is_none());
    // Once stored (a key), an unchanged 0 is no change, as in Ecto.
    let stored = User { id: 3, ..Default::default() };
    let cs = Changeset::cast(stored, &json!({"age": 0}), &["age"]).validate_number("age", Number::greater_than(0));
    assert!(cs.get_change("age").is_none());
    assert!(cs.is_valid());
}

#[test]
fn changeset_required_on_a_new_record_ignores_untouched_defaults() {
    // Nobody filled `age` or `active`: their defaults (0, false) are not values.
    let cs = Changeset::cast(User::default(), &json!({"name": "ann"}), &["name", "age", "active"])
        .validate_required(&["name", "age", "active"]);
    assert_eq!(cs.errors().to_json(), json!({"age": ["can't be blank"], "active": ["can't be blank"]}));
    // Sent by the client (even 0 / false) or set by the code: present.
    let cs = Changeset::cast(User { score: 2.5, ..Default::default() }, &json!({"name": "ann", "age": 0, "active": false}), &[
        "name", "age", "active",
    ])
    .validate_required(&["name", "age", "active", "score"]);
    assert!(cs.is_valid(), "{:?}", cs.errors().to_json());
    // A stored record's 0 is its value, as in Ecto.
    let cs = Changeset::cast(User { id: 9, ..Default::default() }, &json!({}), &["age"]).validate_required(&["age"]);
    assert!(cs.is_valid());
}

#[test]
fn changeset_messages_match_ecto() {
    let p = json!({
        "name": "ab", "email": "not-an-email", "age": 150, "score": -1, "role": "admin",
        "bio": "x".repeat(11), "password": "secret1", "password_confirmation": "secret2"
    });
    let cs = Changeset::cast(User::default(), &p, &["name", "email", "age", "score", "role", "bio", "password"])
        .validate_required(&["name", "email"])
        .validate_length("name", Length::min(3))
        .validate_length("bio", Length::min(1).max(10))
        .validate_format("email", r"^[^@\s]+@[^@\s]+$")
        .validate_number("age", Number::greater_than(0).and_less_than(130))
        .validate_number("score", Number::greater_than_or_equal_to(0))
        .validate_inclusion("role", &[Role::Member])
        .validate_exclusion("name", &["ab".to_string()])
        .validate_confirmation("password")
        .validate_acceptance("terms");
    assert_eq!(
        cs.errors().to_json(),
        json!({
            "name": ["should be at least 3 character(s)", "is reserved"],
            "bio": ["should be at most 10 character(s)"],
            "email": ["has invalid format"],
            "age": ["must be less than 130"],
            "score": ["must be greater than or equal to 0"],
            "role": ["is invalid"],
            "password_confirmation": ["does not match confirmation"],
            "terms": ["must be accepted"],
        })
    );
    let len = cs.errors().on("name")[0];
    assert_eq!(len.message, "should be at least %{count} character(s)");
    assert_eq!(len.opts, vec![
        ("count".to_string(), json!(3)),
        ("validation".to_string(), json!("length")),
        ("kind".to_string(), json!("min")),
        ("type".to_string(), json!("string"))
    ]);
    assert_eq!(cs.errors().on("age")[0].opt("number"), Some(&json!(130)));
    // Virtual fields are cast and readable.
    assert_eq!(cs.get_change("password"), Some(&Value::Text("secret1".into())));
}

#[test]
fn changeset_required_blank_and_changes() {
    // A stored record (it has a key): the same value is no change.
    let data = User { id: 7, name: "keep".into(), age: 5, ..Default::default() };
    let cs = Changeset::cast(data.clone(), &json!({"name": "  ", "age": 5, "bio": ""}), &["name", "age", "bio"]).validate_required(&["name", "bio"]);
    // Same value -> no change; "" -> NULL change; blank strings fail required.
    assert!(cs.get_change("age").is_none());
    assert_eq!(cs.get_change("bio"), None, "\"\" casts to NULL, equal to the data");
    assert_eq!(cs.errors().to_json(), json!({"name": ["can't be blank"], "bio": ["can't be blank"]}));
    // Required on a field missing from params but present in data passes (names checked
    // at compile time through the column handles).
    let cs = Changeset::cast(data.clone(), &json!({}), &[User::name.name]).validate_required(&[User::name.name]);
    assert!(cs.is_valid());
    assert_eq!(cs.field(User::name).as_deref(), Some("keep"));
    // null casts to NULL for any type (then "can't be blank" if required), like Ecto.
    let cs = Changeset::cast(data.clone(), &json!({"name": null, "age": null}), &["name", "age"]).validate_required(&["name"]);
    assert_eq!(cs.get_change("name"), Some(&Value::Null));
    assert_eq!(cs.get_change("age"), Some(&Value::Null));
    assert_eq!(cs.errors().to_json(), json!({"name": ["can't be blank"]}));
    // A cast error suppresses the required error on the same field.
    let cs = Changeset::cast(User::default(), &json!({"age": "x"}), &["age"]).validate_required(&["age"]);
    assert_eq!(cs.errors().to_json(), json!({"age": ["is invalid"]}));
    // put_change / custom validators / apply_action.
    let cs = Changeset::new(data.clone())
        .put_change(User::age, 9)
        .validate_change("age", |v| if *v == Value::Int(9) { Some("nine is unlucky".into()) } else { None });
    assert_eq!(cs.errors().to_json(), json!({"age": ["nine is unlucky"]}));
    assert!(cs.apply_action().is_err());
    let ok = Changeset::new(data).put_change(User::age, 10).put_change(User::bio, "set").put_change(User::email, None).apply_action().unwrap();
    assert_eq!((ok.age, ok.bio.as_deref(), ok.email), (10, Some("set"), None));
    // Length on exact count and lists; custom traverse.
    let cs = Changeset::cast(Doc::default(), &json!({"data": [1, 2, 3]}), &["data"]).validate_length("data", Length::is(2));
    assert_eq!(cs.errors().to_json(), json!({"data": ["should have 2 item(s)"]}));
    let t = cs.errors().traverse(|e| format!("{}!", e.message()));
    assert_eq!(t["data"], ["should have 2 item(s)!"]);
}

#[test]
#[should_panic(expected = "unknown field `nme`")]
fn cast_of_unknown_field_panics_with_name() {
    let _ = Changeset::cast(User::default(), &json!({}), &["nme"]);
}

#[test]
fn sql_rendering_binds_every_value() {
    let q = Query::from::<User>()
        .filter(User::name.eq("x'; DROP TABLE users; --"))
        .filter(User::age.in_list([1, 2]))
        .filter(User::email.eq(String::default()).or(User::bio.is_null()))
        .limit(5)
        .offset(10);
    let pg = q.to_sql(Dialect::Postgres);
    assert!(!pg.text.contains("DROP"), "{}", pg.text);
    assert_eq!(pg.args.len(), 6);
    assert!(pg.text.contains("$1") && pg.text.contains("$6"), "{}", pg.text);
    let lite = q.to_sql(Dialect::Sqlite);
    assert_eq!(lite.text.matches('?').count(), 6, "{}", lite.text);
    assert_eq!(
        Query::from::<Post>().select(Post::title).filter(Post::views.gt(3)).to_sql(Dialect::Postgres).text,
        "SELECT \"posts\".\"title\" FROM \"posts\" WHERE (\"posts\".\"views\" > $1)"
    );
}

// ------------------------------------------------------------- query logging

/// A global subscriber (installed once for this test binary) that records `zzz_db`
/// events only on threads that asked for it. Global rather than `set_default`: with a
/// thread-local subscriber, a callsite first hit by a parallel test without one can stay
/// cached as "not interested" and the event is never seen (this flaked under load).
struct Captured;

thread_local! {
    static RECORDING: std::cell::RefCell<Option<Vec<std::collections::BTreeMap<String, String>>>> =
        const { std::cell::RefCell::new(None) };
}

fn install_capture() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| tracing::subscriber::set_global_default(Captured).expect("no other global subscriber in this test binary"));
}

/// Runs `f`'s future on this thread and returns the `zzz_db` events it emitted.
async fn capture_events<F: std::future::Future<Output = ()>>(f: F) -> Vec<std::collections::BTreeMap<String, String>> {
    install_capture();
    RECORDING.with(|r| *r.borrow_mut() = Some(Vec::new()));
    f.await;
    RECORDING.with(|r| r.borrow_mut().take().unwrap_or_default())
}

struct Visit<'a>(&'a mut std::collections::BTreeMap<String, String>);
impl tracing::field::Visit for Visit<'_> {
    fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
        self.0.insert(f.name().to_string(), format!("{v:?}"));
    }
    fn record_str(&mut self, f: &tracing::field::Field, v: &str) {
        self.0.insert(f.name().to_string(), v.to_string());
    }
}

impl tracing::Subscriber for Captured {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, e: &tracing::Event<'_>) {
        if e.metadata().target() == "zzz_db" {
            RECORDING.with(|r| {
                if let Some(events) = r.borrow_mut().as_mut() {
                    let mut m = std::collections::BTreeMap::new();
                    e.record(&mut Visit(&mut m));
                    events.push(m);
                }
            });
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[tokio::test(flavor = "current_thread")]
async fn queries_are_logged_with_timings_but_not_values() {
    let db = TestDb::sqlite_memory().await.unwrap();
    migrate(&db.repo).await;
    let repo = db.repo.clone();
    let events = capture_events(async move {
        repo.count(Query::from::<User>().filter(User::name.eq("top-secret-value"))).await.unwrap();
    })
    .await;
    assert_eq!(events.len(), 1, "{events:?}");
    let e = &events[0];
    assert!(e["sql"].contains("SELECT COUNT(*) FROM \"users\" WHERE"), "{e:?}");
    assert!(!e["sql"].contains("top-secret-value"), "values are never logged");
    assert_eq!(e["params"], "1");
    assert!(e["elapsed_us"].parse::<u64>().is_ok(), "{e:?}");
    assert_eq!(e["rows"], "1");
    db.cleanup().await;
}

// ------------------------------------------------------------- Send futures

fn assert_send<T: Send>(_: &T) {}

/// Handlers in a multi-threaded server need `Send` futures: every repo operation is one.
#[test]
fn repo_futures_are_send() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let repo = Repo::connect("sqlite::memory:").await.unwrap();
        let q = Query::from::<User>();
        let f = repo.all(q.clone());
        assert_send(&f);
        let f = repo.insert(user_cs("s", 1));
        assert_send(&f);
        let f = repo.update_all(q.clone(), Set::new().set(User::age, 1));
        assert_send(&f);
        let mut users: Vec<User> = vec![];
        let f = repo.preload(&mut users, &User::posts);
        assert_send(&f);
        let f = repo.transaction(|tx| Box::pin(async move { tx.count(Query::from::<User>()).await }));
        assert_send(&f);
        let f = repo.transact_multi(Multi::new().insert("u", user_cs("s", 1)));
        assert_send(&f);
        let m = Migrator::new(migrations());
        let f = m.run(&repo);
        assert_send(&f);
        let f = repo.sandbox();
        assert_send(&f);
        let mut tx = repo.begin().await.unwrap();
        let f = tx.all(q.clone());
        assert_send(&f);
        drop(f);
        let f = tx.begin();
        assert_send(&f);
        drop(f);
        assert_send(&tx);
        let s = repo.stream(q);
        assert_send(&s);
    });
}
