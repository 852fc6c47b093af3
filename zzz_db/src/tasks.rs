//! Database tasks an app runs on request: `zzz migrate`, `zzz rollback`, `zzz migrations`
//! and `zzz db create|drop|reset` (Ecto's `mix ecto.migrate`, `ecto.rollback`,
//! `ecto.migrations`, `ecto.create`, `ecto.drop`, `ecto.reset`).
//!
//! Migrations are Rust code compiled into the app, so the `zzz` command cannot run them
//! itself: it runs the app (`cargo run`) with [`TASK_VAR`] set, and the app's `main`
//! hands its database URL and migration list to [`run_if_requested`] before doing
//! anything else. When a task was asked for it is performed, its report printed on
//! standard output, and `main` returns.
//!
//! ```no_run
//! use zzz_db::Migration;
//!
//! fn migrations() -> Vec<Migration> {
//!     vec![Migration::new(20240101000001, "create_posts", |m| {
//!         m.create_table("posts", |t| {
//!             t.add("title", zzz_db::migration::ColumnType::String).not_null();
//!         });
//!     })]
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "sqlite://my_app_dev.db".into());
//!     if zzz_db::tasks::run_if_requested(&url, migrations).await? {
//!         return Ok(()); // `zzz migrate` & co. end here
//!     }
//!     // … connect the repo and start the server
//!     Ok(())
//! }
//! ```
//!
//! | `ZZZ_TASK` | does | options |
//! |---|---|---|
//! | `migrate` | runs pending migrations | `ZZZ_TASK_STEP=N` (only the next N), `ZZZ_TASK_TO=V` (up to version V) |
//! | `rollback` | rolls back applied migrations, newest first | `ZZZ_TASK_STEP=N` (default 1), `ZZZ_TASK_TO=V` (down to V, V included, as Ecto's `--to`) |
//! | `migrations` | prints each migration's state (`up`/`down`) | |
//! | `db.create` | creates the database (Postgres: on the server's `postgres` database; SQLite: the file) | |
//! | `db.drop` | drops it (Postgres: `WITH (FORCE)`; SQLite: removes the file and its `-wal`/`-shm`) | |
//! | `db.reset` | drop, create, migrate | |

use std::io::Write;

use crate::error::{ConnectError, Error, MigrationError};
use crate::migration::{Migration, Migrator};
use crate::repo::{Repo, RepoConfig, redact};
use crate::sql::quote_ident;
use crate::value::Value;

/// The environment variable naming the task (see the [module docs](self)).
pub const TASK_VAR: &str = "ZZZ_TASK";
/// The `--step N` of `migrate` and `rollback`.
pub const STEP_VAR: &str = "ZZZ_TASK_STEP";
/// The `--to V` of `migrate` and `rollback`.
pub const TO_VAR: &str = "ZZZ_TASK_TO";
/// A file [`run_if_requested`] writes `ok` into once the task succeeded: how the `zzz`
/// command knows the app ran the task (rather than ignoring the request and serving).
pub const DONE_VAR: &str = "ZZZ_TASK_DONE";

/// A database task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Task {
    /// Run pending migrations: all, the next `step`, or those up to version `to`.
    Migrate {
        /// Only this many pending migrations.
        step: Option<usize>,
        /// Only pending migrations with a version up to this one.
        to: Option<i64>,
    },
    /// Roll back applied migrations: the last `step` (default 1), or all from `to` on.
    Rollback {
        /// How many.
        step: Option<usize>,
        /// Roll back every migration from this version on (this one included, as Ecto's `--to`).
        to: Option<i64>,
    },
    /// Print the state of every migration.
    Status,
    /// Create the database.
    Create,
    /// Drop the database.
    Drop,
    /// Drop, create and migrate.
    Reset,
}

fn task_error(message: String) -> Error {
    Error::Migration(MigrationError { version: None, message })
}

impl Task {
    /// The task asked for through [`TASK_VAR`], [`STEP_VAR`] and [`TO_VAR`], if any.
    ///
    /// # Errors
    /// An unknown task name, or a step/version that is not a number.
    pub fn from_env() -> Result<Option<Task>, Error> {
        Task::from_vars(|name| std::env::var(name).ok())
    }

    /// Like [`Task::from_env`], reading variables through `lookup`.
    ///
    /// # Errors
    /// An unknown task name, or a step/version that is not a number.
    pub fn from_vars(lookup: impl Fn(&str) -> Option<String>) -> Result<Option<Task>, Error> {
        let Some(name) = lookup(TASK_VAR).filter(|v| !v.trim().is_empty()) else { return Ok(None) };
        let step = match lookup(STEP_VAR).filter(|v| !v.is_empty()) {
            Some(v) => Some(v.trim().parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| {
                task_error(format!("{STEP_VAR}={v:?}: expected a number of migrations above 0"))
            })?),
            None => None,
        };
        let to = match lookup(TO_VAR).filter(|v| !v.is_empty()) {
            Some(v) => Some(v.trim().parse::<i64>().map_err(|_| task_error(format!("{TO_VAR}={v:?}: expected a migration version")))?),
            None => None,
        };
        Ok(Some(match name.trim() {
            "migrate" => Task::Migrate { step, to },
            "rollback" => Task::Rollback { step, to },
            "migrations" => Task::Status,
            "db.create" => Task::Create,
            "db.drop" => Task::Drop,
            "db.reset" => Task::Reset,
            other => {
                return Err(task_error(format!(
                    "{TASK_VAR}={other:?} is not a task: expected migrate, rollback, migrations, db.create, db.drop or db.reset"
                )));
            }
        }))
    }
}

/// Runs the task asked for in the environment, if any, printing its report on standard
/// output (and writing `ok` to the file named by [`DONE_VAR`], when set, once it
/// succeeded). Returns whether a task was asked for (then the caller should exit).
///
/// # Errors
/// The task's failure (connection, migration, bad variables), naming what went wrong.
pub async fn run_if_requested(url: &str, migrations: impl FnOnce() -> Vec<Migration>) -> Result<bool, Error> {
    let Some(task) = Task::from_env()? else { return Ok(false) };
    let mut out = std::io::stdout();
    run(&task, url, migrations(), &mut out).await?;
    if let Some(done) = std::env::var_os(DONE_VAR) {
        std::fs::write(&done, "ok").map_err(|e| task_error(format!("writing {}: {e}", std::path::Path::new(&done).display())))?;
    }
    Ok(true)
}

/// Runs one task against the database at `url`, writing its report to `out`.
///
/// # Errors
/// The task's failure, naming what went wrong.
pub async fn run(task: &Task, url: &str, migrations: Vec<Migration>, out: &mut (dyn Write + Send)) -> Result<(), Error> {
    match task {
        Task::Create => report_create(url, out).await,
        Task::Drop => report_drop(url, out).await,
        Task::Reset => {
            report_drop(url, out).await?;
            report_create(url, out).await?;
            migrate(url, migrations, None, None, out).await
        }
        Task::Migrate { step, to } => migrate(url, migrations, *step, *to, out).await,
        Task::Rollback { step, to } => {
            let repo = connect(url).await?;
            let migrator = Migrator::new(migrations);
            let done = match to {
                Some(v) => migrator.rollback_to(&repo, v.saturating_sub(1)).await,
                None => migrator.rollback(&repo, step.unwrap_or(1)).await,
            };
            let names = names_of(&migrator, &repo).await;
            repo.close().await;
            let done = done?;
            if done.is_empty() {
                line(out, "No migrations to roll back".into());
            }
            for v in done {
                line(out, format!("Rolled back {v} {}", names.iter().find(|(n, _)| *n == v).map_or("", |(_, s)| s.as_str())));
            }
            Ok(())
        }
        Task::Status => {
            let repo = connect(url).await?;
            let status = Migrator::new(migrations).status(&repo).await;
            repo.close().await;
            line(out, format!("Repo: {}\n", redact(url)));
            line(out, format!("  {:<6} {:<16} {}", "Status", "Migration ID", "Migration Name"));
            line(out, "  --------------------------------------------------".into());
            for s in status? {
                line(out, s.to_string());
            }
            Ok(())
        }
    }
}

async fn names_of(migrator: &Migrator, repo: &Repo) -> Vec<(i64, String)> {
    migrator.status(repo).await.unwrap_or_default().into_iter().map(|s| (s.version, s.name)).collect()
}

async fn migrate(url: &str, migrations: Vec<Migration>, step: Option<usize>, to: Option<i64>, out: &mut (dyn Write + Send)) -> Result<(), Error> {
    let repo = connect(url).await?;
    let migrator = Migrator::new(migrations);
    let result = async {
        let pending: Vec<i64> = migrator.status(&repo).await?.into_iter().filter(|s| !s.applied).map(|s| s.version).collect();
        let mut limit = to.unwrap_or(i64::MAX);
        if let Some(step) = step
            && let Some(last) = pending.iter().filter(|v| **v <= limit).take(step).last()
        {
            limit = *last;
        }
        let done = migrator.run_to(&repo, limit).await?;
        let names = names_of(&migrator, &repo).await;
        Ok::<_, Error>((done, names))
    }
    .await;
    repo.close().await;
    let (done, names) = result?;
    if done.is_empty() {
        line(out, "Already up".into());
    }
    for v in done {
        line(out, format!("Migrated {v} {}", names.iter().find(|(n, _)| *n == v).map_or("", |(_, s)| s.as_str())));
    }
    Ok(())
}

/// Writes one line of a task's report (a closed output is not an error worth failing for).
fn line(out: &mut (dyn Write + Send), text: String) {
    let _ = writeln!(out, "{text}");
}

async fn connect(url: &str) -> Result<Repo, Error> {
    if url.trim().is_empty() {
        return Err(connect_error(url, "no database URL is configured (set DATABASE_URL)".into()));
    }
    Repo::connect_with(RepoConfig::new(url).pool_size(2)).await
}

fn connect_error(url: &str, message: String) -> Error {
    Error::Connect(ConnectError { url: redact(url), message })
}

async fn report_create(url: &str, out: &mut (dyn Write + Send)) -> Result<(), Error> {
    let created = create_database(url).await?;
    line(out, format!("The database for {} {}", redact(url), if created { "has been created" } else { "has already been created" }));
    Ok(())
}

async fn report_drop(url: &str, out: &mut (dyn Write + Send)) -> Result<(), Error> {
    let dropped = drop_database(url).await?;
    line(out, format!("The database for {} {}", redact(url), if dropped { "has been dropped" } else { "has already been dropped" }));
    Ok(())
}

/// Where a database lives, from its URL.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Storage {
    /// `sqlite::memory:` and friends: nothing on disk.
    SqliteMemory,
    /// A SQLite file.
    SqliteFile(std::path::PathBuf),
    /// A Postgres database: the URL of the server's maintenance database, and the name.
    Postgres { maintenance_url: String, name: String },
}

fn storage(url: &str) -> Result<Storage, Error> {
    if let Some(rest) = url.strip_prefix("sqlite:") {
        if url.contains(":memory:") || url.contains("mode=memory") {
            return Ok(Storage::SqliteMemory);
        }
        let path = rest.trim_start_matches("//");
        let path = path.split('?').next().unwrap_or("");
        if path.is_empty() {
            return Err(connect_error(url, "the SQLite URL names no file".into()));
        }
        return Ok(Storage::SqliteFile(path.into()));
    }
    let Some((scheme, rest)) = url.split_once("://").filter(|(s, _)| *s == "postgres" || *s == "postgresql") else {
        return Err(connect_error(url, "unsupported scheme: expected sqlite://, sqlite::memory: or postgres://".into()));
    };
    let (before_query, query) = match rest.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (rest, None),
    };
    let Some((authority, name)) = before_query.split_once('/').filter(|(_, n)| !n.is_empty()) else {
        return Err(connect_error(url, "the Postgres URL names no database (postgres://user@host/NAME)".into()));
    };
    let maintenance = if name == "postgres" { "template1" } else { "postgres" };
    let mut maintenance_url = format!("{scheme}://{authority}/{maintenance}");
    if let Some(q) = query {
        maintenance_url.push('?');
        maintenance_url.push_str(q);
    }
    Ok(Storage::Postgres { maintenance_url, name: name.to_owned() })
}

async fn maintenance(url: &str, maintenance_url: &str) -> Result<Repo, Error> {
    Repo::connect_with(RepoConfig::new(maintenance_url).pool_size(1)).await.map_err(|e| match e {
        Error::Connect(c) => connect_error(url, format!("cannot reach the server's maintenance database: {}", c.message)),
        other => other,
    })
}

/// Creates the database at `url` unless it exists: a Postgres database (through the
/// server's `postgres` database) or a SQLite file. Returns whether it was created.
///
/// # Errors
/// An unsupported URL, an unreachable server, or the server refusing.
pub async fn create_database(url: &str) -> Result<bool, Error> {
    match storage(url)? {
        Storage::SqliteMemory => Ok(false),
        Storage::SqliteFile(path) => {
            if path.exists() {
                return Ok(false);
            }
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| connect_error(url, format!("creating {}: {e}", dir.display())))?;
            }
            Repo::connect_with(RepoConfig::new(url).pool_size(1)).await?.close().await;
            Ok(true)
        }
        Storage::Postgres { maintenance_url, name } => {
            let admin = maintenance(url, &maintenance_url).await?;
            let result = async {
                let exists: Option<i32> =
                    admin.query_scalar("SELECT 1 FROM pg_database WHERE datname = ?", vec![Value::Text(name.clone())]).await?;
                if exists.is_some() {
                    return Ok(false);
                }
                admin.execute_raw(&format!("CREATE DATABASE {}", quote_ident(&name))).await?;
                Ok(true)
            }
            .await;
            admin.close().await;
            result
        }
    }
}

/// Drops the database at `url` if it exists (Postgres: `DROP DATABASE … WITH (FORCE)`,
/// which disconnects its sessions; SQLite: removes the file and its `-wal`/`-shm`).
/// Returns whether it existed.
///
/// # Errors
/// An unsupported URL, an unreachable server, or the server refusing.
pub async fn drop_database(url: &str) -> Result<bool, Error> {
    match storage(url)? {
        Storage::SqliteMemory => Ok(false),
        Storage::SqliteFile(path) => {
            let existed = path.exists();
            for suffix in ["", "-wal", "-shm"] {
                let file = format!("{}{suffix}", path.display());
                match std::fs::remove_file(&file) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(connect_error(url, format!("removing {file}: {e}"))),
                }
            }
            Ok(existed)
        }
        Storage::Postgres { maintenance_url, name } => {
            let admin = maintenance(url, &maintenance_url).await?;
            let result = async {
                let exists: Option<i32> =
                    admin.query_scalar("SELECT 1 FROM pg_database WHERE datname = ?", vec![Value::Text(name.clone())]).await?;
                if exists.is_none() {
                    return Ok(false);
                }
                admin.execute_raw(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quote_ident(&name))).await?;
                Ok(true)
            }
            .await;
            admin.close().await;
            result
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
    }

    #[test]
    fn tasks_parse_from_variables() {
        assert_eq!(Task::from_vars(vars(&[])).unwrap(), None);
        assert_eq!(
            Task::from_vars(vars(&[(TASK_VAR, "migrate"), (STEP_VAR, "2")])).unwrap(),
            Some(Task::Migrate { step: Some(2), to: None })
        );
        assert_eq!(
            Task::from_vars(vars(&[(TASK_VAR, "rollback"), (TO_VAR, "20240101000001")])).unwrap(),
            Some(Task::Rollback { step: None, to: Some(20240101000001) })
        );
        let err = Task::from_vars(vars(&[(TASK_VAR, "migrate"), (STEP_VAR, "many")])).unwrap_err();
        assert!(err.to_string().contains("ZZZ_TASK_STEP=\"many\""), "{err}");
        let err = Task::from_vars(vars(&[(TASK_VAR, "seed")])).unwrap_err();
        assert!(err.to_string().contains("is not a task"), "{err}");
    }

    #[test]
    fn storage_from_urls() {
        assert_eq!(storage("sqlite::memory:").unwrap(), Storage::SqliteMemory);
        assert_eq!(storage("sqlite://app_dev.db?mode=rwc").unwrap(), Storage::SqliteFile("app_dev.db".into()));
        assert_eq!(storage("sqlite:app.db").unwrap(), Storage::SqliteFile("app.db".into()));
        assert_eq!(
            storage("postgres://u:p@h:5433/my_app_dev?sslmode=disable").unwrap(),
            Storage::Postgres { maintenance_url: "postgres://u:p@h:5433/postgres?sslmode=disable".into(), name: "my_app_dev".into() }
        );
        assert!(storage("postgres://h").unwrap_err().to_string().contains("names no database"));
        assert!(storage("mysql://h/db").unwrap_err().to_string().contains("unsupported scheme"));
    }

    fn migrations() -> Vec<Migration> {
        use crate::migration::ColumnType as T;
        vec![
            Migration::new(20240101000001, "create_posts", |m| m.create_table("posts", |t| {
                t.add("title", T::String).not_null();
            })),
            Migration::new(20240101000002, "create_tags", |m| m.create_table("tags", |t| {
                t.add("name", T::String).not_null();
            })),
            Migration::new(20240101000003, "create_notes", |m| m.create_table("notes", |t| {
                t.add("body", T::Text);
            })),
        ]
    }

    async fn report(task: Task, url: &str) -> Result<String, Error> {
        let mut out = Vec::new();
        run(&task, url, migrations(), &mut out).await?;
        Ok(String::from_utf8(out).expect("UTF-8"))
    }

    #[tokio::test]
    async fn migrate_rollback_and_status_on_a_sqlite_file() {
        let path = std::env::temp_dir().join(format!("zzz_tasks_{}.db", std::process::id()));
        let url = format!("sqlite://{}", path.display());
        assert_eq!(report(Task::Create, &url).await.unwrap(), format!("The database for {url} has been created\n"));
        assert!(path.exists());
        let step = report(Task::Migrate { step: Some(1), to: None }, &url).await.unwrap();
        assert_eq!(step, "Migrated 20240101000001 create_posts\n");
        let to = report(Task::Migrate { step: None, to: Some(20240101000002) }, &url).await.unwrap();
        assert_eq!(to, "Migrated 20240101000002 create_tags\n");
        let status = report(Task::Status, &url).await.unwrap();
        assert!(status.contains("  up     20240101000002   create_tags\n  down   20240101000003   create_notes"), "{status}");
        assert_eq!(report(Task::Migrate { step: None, to: None }, &url).await.unwrap(), "Migrated 20240101000003 create_notes\n");
        assert_eq!(report(Task::Migrate { step: None, to: None }, &url).await.unwrap(), "Already up\n");
        let back = report(Task::Rollback { step: Some(2), to: None }, &url).await.unwrap();
        assert_eq!(back, "Rolled back 20240101000003 create_notes\nRolled back 20240101000002 create_tags\n");
        let reset = report(Task::Reset, &url).await.unwrap();
        assert!(reset.starts_with(&format!("The database for {url} has been dropped\nThe database for {url} has been created\nMigrated 20240101000001")), "{reset}");
        let back = report(Task::Rollback { step: None, to: Some(20240101000002) }, &url).await.unwrap();
        assert_eq!(back, "Rolled back 20240101000003 create_notes\nRolled back 20240101000002 create_tags\n");
        assert_eq!(report(Task::Drop, &url).await.unwrap(), format!("The database for {url} has been dropped\n"));
        assert!(!path.exists());
        assert_eq!(report(Task::Drop, &url).await.unwrap(), format!("The database for {url} has already been dropped\n"));
    }

    #[tokio::test]
    async fn create_and_drop_a_postgres_database() {
        let server = crate::testing::postgres_url();
        let base = server.split('?').next().unwrap_or(&server);
        let base = base.rsplit_once('/').map_or(base, |(b, _)| b);
        let url = format!("{base}/zzz_tasks_{}", std::process::id());
        let created = report(Task::Create, &url).await.unwrap_or_else(|e| {
            panic!("cannot create a database on the test PostgreSQL server ({e}); start it or set ZZZ_TEST_DATABASE_URL")
        });
        assert!(created.ends_with("has been created\n"), "{created}");
        assert!(report(Task::Create, &url).await.unwrap().ends_with("has already been created\n"));
        assert_eq!(report(Task::Migrate { step: None, to: None }, &url).await.unwrap().lines().count(), 3);
        // Dropping disconnects whoever is still connected.
        let holder = Repo::connect(&url).await.unwrap();
        assert!(report(Task::Drop, &url).await.unwrap().ends_with("has been dropped\n"));
        assert!(holder.health_check().await.is_err());
        assert!(report(Task::Drop, &url).await.unwrap().ends_with("has already been dropped\n"));
    }
}
