//! Test support: the per-test sandbox, throwaway databases on both backends, and
//! small factory helpers.
//!
//! * [`Repo::sandbox`](crate::Repo::sandbox) — one transaction per test, rolled back when
//!   the sandbox repo is dropped; tests share one migrated database and run in parallel.
//! * [`TestDb`] — a fresh SQLite file/in-memory database or a fresh Postgres schema.
//! * [`sequence`] and [`insert`] — unique values and inserting structs as they are.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::changeset::Changeset;
use crate::error::Error;
use crate::repo::{Repo, RepoConfig};
use crate::schema::Schema;

static SEQ: AtomicU64 = AtomicU64::new(1);

/// A unique string per call in this process: `sequence("user")` → `"user-1"`, `"user-2"`…
pub fn sequence(prefix: &str) -> String {
    format!("{prefix}-{}", SEQ.fetch_add(1, Ordering::Relaxed))
}

/// Insert a struct as it is (every column; primary key and timestamps generated when
/// left at their defaults) — a factory's `insert!`.
pub async fn insert<S: Schema + Clone>(repo: &Repo, s: S) -> Result<S, Error> {
    repo.insert(Changeset::new(s)).await
}

/// Build-and-insert factories: implement `build` with sensible defaults.
pub trait Factory: Schema + Clone {
    /// A valid, not yet inserted value (use [`sequence`] for unique fields).
    fn build() -> Self;
}

/// Insert `S::build()` after letting `f` adjust it.
pub async fn insert_with<S: Factory>(repo: &Repo, f: impl FnOnce(&mut S)) -> Result<S, Error> {
    let mut s = S::build();
    f(&mut s);
    insert(repo, s).await
}

/// The Postgres server URL used by tests: `ZZZ_TEST_DATABASE_URL`, default
/// `postgres://postgres@127.0.0.1:5432/postgres`.
pub fn postgres_url() -> String {
    std::env::var("ZZZ_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

/// A throwaway database for one test. Call [`TestDb::cleanup`] at the end (a test that
/// panics leaves its schema/file behind; the names are unique so this is harmless).
pub struct TestDb {
    /// The repo connected to the throwaway database.
    pub repo: Repo,
    url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    None,
    File(std::path::PathBuf),
    Schema(Repo, String),
}

fn unique_name() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("zzz_test_{}_{}_{}", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed), nanos)
}

/// Drop schemas left by test processes that died mid-test (their pid is in the name).
async fn sweep_stale_schemas(admin: &Repo) {
    if !std::path::Path::new("/proc/self").exists() {
        return;
    }
    #[derive(crate::Schema, Debug, Clone, Default)]
    #[schema(table = "pg_namespace")]
    struct Namespace {
        #[schema(primary_key)]
        nspname: String,
    }
    let names = admin.all(crate::Query::from::<Namespace>().select(Namespace::nspname).filter(Namespace::nspname.like("zzz\\_test\\_%"))).await;
    for name in names.unwrap_or_default() {
        let pid = name.strip_prefix("zzz_test_").and_then(|r| r.split('_').next()).and_then(|p| p.parse::<u32>().ok());
        if let Some(pid) = pid
            && pid != std::process::id() && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
                let _ = admin.execute_raw(&format!("DROP SCHEMA IF EXISTS {} CASCADE", crate::sql::quote_ident(&name))).await;
            }
    }
}

impl TestDb {
    /// A private in-memory SQLite database.
    pub async fn sqlite_memory() -> Result<TestDb, Error> {
        Ok(TestDb { repo: Repo::connect("sqlite::memory:").await?, url: "sqlite::memory:".into(), cleanup: Cleanup::None })
    }

    /// A SQLite database in a fresh temporary file (WAL mode, several connections).
    pub async fn sqlite_file() -> Result<TestDb, Error> {
        let path = std::env::temp_dir().join(format!("{}.db", unique_name()));
        let url = format!("sqlite://{}", path.display());
        let repo = Repo::connect_with(RepoConfig::new(url.clone()).pool_size(4)).await?;
        Ok(TestDb { repo, url, cleanup: Cleanup::File(path) })
    }

    /// A fresh schema on the test Postgres server (see [`postgres_url`]); the repo's
    /// `search_path` points at it, so tests run in parallel without seeing each other.
    ///
    /// # Panics
    /// If Postgres cannot be reached — with a message saying how to start it. Tests
    /// that need Postgres never skip silently.
    pub async fn postgres() -> Result<TestDb, Error> {
        let url = postgres_url();
        let admin = match Repo::connect_with(RepoConfig::new(&url).pool_size(2).acquire_timeout(std::time::Duration::from_secs(5))).await {
            Ok(r) => r,
            Err(e) => panic!(
                "cannot reach the test PostgreSQL server at {} ({e}).\n\
                 Start one (user `postgres`, trust auth), e.g. `pg_ctlcluster 15 main start`, or a throwaway one:\n\
                 `initdb -D /tmp/pg -U postgres --auth=trust` (Debian: /usr/lib/postgresql/*/bin/initdb) then ` pg_ctl -D /tmp/pg -o '-p 5432 -k /tmp' -l /tmp/pg.log start`,\n\
                 or point ZZZ_TEST_DATABASE_URL at a server you have.",
                crate::repo::redact(&url)
            ),
        };
        static SWEPT: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
        SWEPT.get_or_init(|| sweep_stale_schemas(&admin)).await;
        let schema = unique_name();
        admin.execute_raw(&format!("CREATE SCHEMA \"{schema}\"")).await?;
        let sep = if url.contains('?') { '&' } else { '?' };
        let url = format!("{url}{sep}options[search_path]={schema}");
        let repo = Repo::connect_with(RepoConfig::new(url.clone()).pool_size(5)).await?;
        Ok(TestDb { repo, url, cleanup: Cleanup::Schema(admin, schema) })
    }

    /// The URL of the throwaway database, for code under test that connects by itself
    /// (an app's own `Repo::connect`, a spawned binary's `DATABASE_URL`). On Postgres it
    /// carries the schema as `options[search_path]=…`. For `sqlite_memory` it is
    /// `sqlite::memory:`, which names a *new* empty database on every connect.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Remove the database (file or schema) and close the pools.
    pub async fn cleanup(self) {
        self.repo.close().await;
        match self.cleanup {
            Cleanup::None => {}
            Cleanup::File(p) => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", p.display()));
                }
            }
            Cleanup::Schema(admin, schema) => {
                let _ = admin.execute_raw(&format!("DROP SCHEMA \"{schema}\" CASCADE")).await;
                admin.close().await;
            }
        }
    }
}
