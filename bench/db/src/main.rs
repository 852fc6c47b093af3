//! zzz_db versus the same statements through plain sqlx, side by side in one run.
//!
//! `cargo run --release` (in `bench/`). Postgres comes from `ZZZ_TEST_DATABASE_URL`
//! (default `postgres://postgres@127.0.0.1:5432/postgres`); a private schema is used
//! and dropped. Prints the median time per operation and the zzz_db / sqlx ratio.

use std::time::{Duration, Instant};

use chrono::NaiveDateTime;
use sqlx::Row as _;
use zzz_db::migration::{ColumnType as T, Migration, Migrator};
use zzz_db::{Changeset, Query, Repo, RepoConfig, Schema};

#[derive(Schema, Debug, Clone, Default)]
#[schema(table = "users")]
struct User {
    id: i64,
    name: String,
    email: String,
    age: i64,
    inserted_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

#[allow(dead_code)]
#[derive(Debug)]
struct PlainUser {
    id: i64,
    name: String,
    email: String,
    age: i64,
    inserted_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

const ROUNDS: usize = 3;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Time every call individually, alternating which side goes first, and compare the
/// medians: robust against load bursts from other processes on the machine.
async fn compare<A, B, FA, FB>(name: &str, iters: usize, mut a: A, mut b: B) -> (String, f64)
where
    A: FnMut(usize) -> FA,
    B: FnMut(usize) -> FB,
    FA: Future<Output = ()>,
    FB: Future<Output = ()>,
{
    // Warm-up (statement caches, pool).
    for i in 0..iters / 10 + 1 {
        a(i).await;
        b(i).await;
    }
    let n = iters * ROUNDS;
    let (mut ta, mut tb) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for i in 0..n {
        if i % 2 == 0 {
            let t = Instant::now();
            a(i).await;
            ta.push(t.elapsed());
            let t = Instant::now();
            b(i).await;
            tb.push(t.elapsed());
        } else {
            let t = Instant::now();
            b(i).await;
            tb.push(t.elapsed());
            let t = Instant::now();
            a(i).await;
            ta.push(t.elapsed());
        }
    }
    let (ma, mb) = (median(ta), median(tb));
    let ratio = ma.as_secs_f64() / mb.as_secs_f64();
    let line = format!("| {name:<28} | {:>10.1} µs | {:>10.1} µs | {ratio:>6.3} |", ma.as_secs_f64() * 1e6, mb.as_secs_f64() * 1e6);
    println!("{line}");
    (line, ratio)
}

fn plain_from_sqlite(r: &sqlx::sqlite::SqliteRow) -> PlainUser {
    PlainUser { id: r.get(0), name: r.get(1), email: r.get(2), age: r.get(3), inserted_at: r.get(4), updated_at: r.get(5) }
}
fn plain_from_pg(r: &sqlx::postgres::PgRow) -> PlainUser {
    PlainUser { id: r.get(0), name: r.get(1), email: r.get(2), age: r.get(3), inserted_at: r.get(4), updated_at: r.get(5) }
}

const COLS: &str = "\"id\", \"name\", \"email\", \"age\", \"inserted_at\", \"updated_at\"";

async fn seed(repo: &Repo) {
    Migrator::new(vec![Migration::new(1, "users", |m| {
        m.create_table("users", |t| {
            t.add("name", T::String).not_null();
            t.add("email", T::String).not_null();
            t.add("age", T::BigInt).not_null();
            t.timestamps();
        });
        m.create_index("users", &["age"]);
    })])
    .run(repo)
    .await
    .unwrap();
    let now = chrono::Utc::now().naive_utc();
    let rows: Vec<User> = (0..2000)
        .map(|i| User { name: format!("user {i}"), email: format!("u{i}@example.com"), age: i % 100, inserted_at: now, updated_at: now, ..Default::default() })
        .collect();
    repo.insert_all(&rows, None).await.unwrap();
}

async fn run_sqlite(out: &mut Vec<(String, f64)>) {
    let path = std::env::temp_dir().join(format!("zzz_bench_{}.db", std::process::id()));
    let url = format!("sqlite://{}", path.display());
    let repo = Repo::connect_with(RepoConfig::new(&url).pool_size(4)).await.unwrap();
    seed(&repo).await;
    // The same pool for both sides: the comparison is the zzz_db layer alone.
    let pool = repo.sqlite_pool().unwrap().clone();
    println!("\n### SQLite (file, WAL)\n");
    header();
    let get_sql = format!("SELECT {COLS} FROM \"users\" WHERE \"id\" = ? LIMIT ?");
    out.push(
        compare(
            "get by id",
            2000,
            |i| {
                let repo = &repo;
                async move {
                    let u = repo.get::<User>((i % 2000 + 1) as i64).await.unwrap();
                    assert!(u.is_some());
                }
            },
            |i| {
                let (pool, sql) = (&pool, get_sql.as_str());
                async move {
                    let r = sqlx::query(sqlx::AssertSqlSafe(sql)).bind((i % 2000 + 1) as i64).bind(2i64).fetch_all(pool).await.unwrap();
                    assert!(r.first().map(plain_from_sqlite).is_some());
                }
            },
        )
        .await,
    );
    let ins_sql = format!("INSERT INTO \"users\" (\"name\", \"email\", \"age\", \"inserted_at\", \"updated_at\") VALUES (?, ?, ?, ?, ?) RETURNING {COLS}");
    out.push(
        compare(
            "insert (returning row)",
            500,
            |i| {
                let repo = &repo;
                async move {
                    let u = User { name: format!("n{i}"), email: format!("e{i}"), age: 5, ..Default::default() };
                    repo.insert(Changeset::new(u)).await.unwrap();
                }
            },
            |i| {
                let (pool, sql) = (&pool, ins_sql.as_str());
                async move {
                    let now = chrono::Utc::now().naive_utc();
                    let r = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(format!("n{i}"))
                        .bind(format!("e{i}"))
                        .bind(5i64)
                        .bind(now)
                        .bind(now)
                        .fetch_all(pool)
                        .await
                        .unwrap();
                    plain_from_sqlite(&r[0]);
                }
            },
        )
        .await,
    );
    let list_sql = format!("SELECT {COLS} FROM \"users\" WHERE (\"users\".\"age\" >= ?) ORDER BY \"users\".\"id\" LIMIT ?");
    out.push(
        compare(
            "filtered list of 100 rows",
            300,
            |_| {
                let repo = &repo;
                async move {
                    let v = repo.all(Query::from::<User>().filter(User::age.ge(10)).order_by(User::id.asc()).limit(100)).await.unwrap();
                    assert_eq!(v.len(), 100);
                }
            },
            |_| {
                let (pool, sql) = (&pool, list_sql.as_str());
                async move {
                    let r = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(10i64).bind(100i64).fetch_all(pool).await.unwrap();
                    let v: Vec<PlainUser> = r.iter().map(plain_from_sqlite).collect();
                    assert_eq!(v.len(), 100);
                }
            },
        )
        .await,
    );
    repo.close().await;
    pool.close().await;
    for s in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{s}", path.display()));
    }
}

async fn run_pg(out: &mut Vec<(String, f64)>) {
    let base = std::env::var("ZZZ_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let admin = Repo::connect(&base).await.unwrap_or_else(|e| panic!("Postgres needed at {base}: {e}"));
    let schema = format!("zzz_bench_{}", std::process::id());
    admin.execute_raw(&format!("CREATE SCHEMA \"{schema}\"")).await.unwrap();
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options[search_path]={schema}");
    let repo = Repo::connect_with(RepoConfig::new(&url).pool_size(4)).await.unwrap();
    seed(&repo).await;
    let pool = repo.postgres_pool().unwrap().clone();
    println!("\n### PostgreSQL\n");
    header();
    let get_sql = format!("SELECT {COLS} FROM \"users\" WHERE \"id\" = $1 LIMIT $2");
    out.push(
        compare(
            "get by id",
            2000,
            |i| {
                let repo = &repo;
                async move {
                    assert!(repo.get::<User>((i % 2000 + 1) as i64).await.unwrap().is_some());
                }
            },
            |i| {
                let (pool, sql) = (&pool, get_sql.as_str());
                async move {
                    let r = sqlx::query(sqlx::AssertSqlSafe(sql)).bind((i % 2000 + 1) as i64).bind(2i64).fetch_all(pool).await.unwrap();
                    assert!(r.first().map(plain_from_pg).is_some());
                }
            },
        )
        .await,
    );
    let ins_sql = format!("INSERT INTO \"users\" (\"name\", \"email\", \"age\", \"inserted_at\", \"updated_at\") VALUES ($1, $2, $3, $4, $5) RETURNING {COLS}");
    out.push(
        compare(
            "insert (returning row)",
            500,
            |i| {
                let repo = &repo;
                async move {
                    let u = User { name: format!("n{i}"), email: format!("e{i}"), age: 5, ..Default::default() };
                    repo.insert(Changeset::new(u)).await.unwrap();
                }
            },
            |i| {
                let (pool, sql) = (&pool, ins_sql.as_str());
                async move {
                    let now = chrono::Utc::now().naive_utc();
                    let r = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(format!("n{i}"))
                        .bind(format!("e{i}"))
                        .bind(5i64)
                        .bind(now)
                        .bind(now)
                        .fetch_all(pool)
                        .await
                        .unwrap();
                    plain_from_pg(&r[0]);
                }
            },
        )
        .await,
    );
    let list_sql = format!("SELECT {COLS} FROM \"users\" WHERE (\"users\".\"age\" >= $1) ORDER BY \"users\".\"id\" LIMIT $2");
    out.push(
        compare(
            "filtered list of 100 rows",
            300,
            |_| {
                let repo = &repo;
                async move {
                    let v = repo.all(Query::from::<User>().filter(User::age.ge(10)).order_by(User::id.asc()).limit(100)).await.unwrap();
                    assert_eq!(v.len(), 100);
                }
            },
            |_| {
                let (pool, sql) = (&pool, list_sql.as_str());
                async move {
                    let r = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(10i64).bind(100i64).fetch_all(pool).await.unwrap();
                    let v: Vec<PlainUser> = r.iter().map(plain_from_pg).collect();
                    assert_eq!(v.len(), 100);
                }
            },
        )
        .await,
    );
    repo.close().await;
    pool.close().await;
    admin.execute_raw(&format!("DROP SCHEMA \"{schema}\" CASCADE")).await.unwrap();
}

fn header() {
    println!("| operation                    |     zzz_db    |  plain sqlx   | ratio  |");
    println!("|------------------------------|---------------|---------------|--------|");
}

/// The CPU work zzz_db adds per call, without any database: build the query value and
/// render its SQL and parameters. Immune to I/O noise.
fn render_overhead() {
    use zzz_db::Dialect;
    let n = 200_000;
    let t = Instant::now();
    let mut bytes = 0;
    for i in 0..n {
        let sql = Query::from::<User>().filter(User::id.eq(i as i64)).limit(2).to_sql(Dialect::Postgres);
        bytes += sql.text.len() + sql.args.len();
    }
    let get = t.elapsed() / n;
    let t = Instant::now();
    for _ in 0..n {
        let sql = Query::from::<User>().filter(User::age.ge(10)).order_by(User::id.asc()).limit(100).to_sql(Dialect::Postgres);
        bytes += sql.text.len();
    }
    let list = t.elapsed() / n;
    println!("\n### Query building + rendering (no database)\n");
    println!("get-by-id query: {:.2} µs; 100-row list query: {:.2} µs (checksum {bytes})", get.as_secs_f64() * 1e6, list.as_secs_f64() * 1e6);
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    render_overhead();
    let mut out = Vec::new();
    run_sqlite(&mut out).await;
    run_pg(&mut out).await;
    let worst = out.iter().map(|(_, r)| *r).fold(0.0, f64::max);
    println!("\nworst ratio zzz_db / sqlx: {worst:.3} (target <= 1.05)");
}
