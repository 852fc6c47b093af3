//! The [`Repo`]: connect, run queries and changesets, transactions, preload, Multi.

use std::any::Any;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::{Postgres, Sqlite};
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::changeset::Changeset;
use crate::conn::{Conn, RawConn, tx_begin, tx_begin_with, tx_commit, tx_depth, tx_rollback, tx_start_rollback};
use crate::error::{ConnectError, Error, MultipleResultsError, StaleError, query_err};
use crate::query::{Expr, Query, Typed, render_expr, render_select, render_where};
use crate::schema::{Association, Schema};
use crate::sql::{Dialect, Sql};
use crate::value::{AutoGenerate, FieldType, Key, Value};

/// Pool settings for [`Repo::connect_with`].
#[derive(Debug, Clone)]
pub struct RepoConfig {
    /// `sqlite://path.db`, `sqlite::memory:` or `postgres://user@host/db`.
    pub url: String,
    /// Maximum pool size (SQLite in-memory databases always use 1).
    pub pool_size: u32,
    /// Connections kept open.
    pub min_connections: u32,
    /// How long to wait for a free connection.
    pub acquire_timeout: Duration,
    /// Close connections idle this long.
    pub idle_timeout: Option<Duration>,
    /// SQLite busy timeout (how long a writer waits for the lock).
    pub busy_timeout: Duration,
}

impl RepoConfig {
    /// Defaults for a URL: pool of 10, 30 s acquire timeout, 10 min idle timeout, 5 s busy timeout.
    pub fn new(url: impl Into<String>) -> Self {
        RepoConfig {
            url: url.into(),
            pool_size: 10,
            min_connections: 0,
            acquire_timeout: Duration::from_secs(30),
            idle_timeout: Some(Duration::from_secs(600)),
            busy_timeout: Duration::from_secs(5),
        }
    }
    /// Set the pool size.
    pub fn pool_size(mut self, n: u32) -> Self {
        self.pool_size = n;
        self
    }
    /// Set the acquire timeout.
    pub fn acquire_timeout(mut self, d: Duration) -> Self {
        self.acquire_timeout = d;
        self
    }
}

#[derive(Clone)]
enum Backend {
    Sqlite(SqlitePool),
    Postgres(PgPool),
    Sandbox(Arc<Mutex<RawConn>>, Dialect),
}

/// A handle to a database (cheap to clone). Every operation is also available on [`Tx`].
#[derive(Clone)]
pub struct Repo {
    backend: Backend,
}

impl std::fmt::Debug for Repo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Repo({:?}{})", self.dialect(), if self.is_sandbox() { ", sandbox" } else { "" })
    }
}

/// Strip a password from a URL for messages.
pub(crate) fn redact(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://")
        && let Some((cred, host)) = rest.split_once('@') {
            let user = cred.split(':').next().unwrap_or("");
            return format!("{scheme}://{user}@{host}");
        }
    url.to_string()
}

fn connect_err(url: &str, m: impl std::fmt::Display) -> Error {
    Error::Connect(ConnectError { url: redact(url), message: m.to_string() })
}

const SANDBOX_WAIT: Duration = Duration::from_secs(15);

enum Handle<'a> {
    Conn(Conn<'a>),
    Guard(tokio::sync::MutexGuard<'a, RawConn>),
}
impl Handle<'_> {
    fn conn(&mut self) -> Conn<'_> {
        match self {
            Handle::Conn(c) => c.reborrow(),
            Handle::Guard(g) => g.conn(),
        }
    }
}

impl Repo {
    /// Connect to a URL with default pool settings. The pool connects lazily except for
    /// one connection made now to verify the URL.
    pub async fn connect(url: &str) -> Result<Repo, Error> {
        Self::connect_with(RepoConfig::new(url)).await
    }

    /// Connect with `DATABASE_URL` (default `sqlite://zzz.db`).
    pub async fn from_env() -> Result<Repo, Error> {
        let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "sqlite://zzz.db".to_string());
        Self::connect(&url).await
    }

    /// Connect with explicit settings.
    pub async fn connect_with(cfg: RepoConfig) -> Result<Repo, Error> {
        let url = cfg.url.as_str();
        let repo = if url.starts_with("sqlite:") {
            let opts: SqliteConnectOptions = url.parse().map_err(|e| connect_err(url, e))?;
            let memory = url.contains(":memory:") || url.contains("mode=memory");
            let opts = opts
                .create_if_missing(true)
                .foreign_keys(true)
                .busy_timeout(cfg.busy_timeout);
            let opts = if memory { opts } else { opts.journal_mode(SqliteJournalMode::Wal) };
            let pool_opts = SqlitePoolOptions::new().acquire_timeout(cfg.acquire_timeout);
            let pool_opts = if memory {
                // An in-memory database lives as long as a connection to it: keep exactly one.
                pool_opts.max_connections(1).min_connections(1).idle_timeout(None).max_lifetime(None)
            } else {
                pool_opts.max_connections(cfg.pool_size).min_connections(cfg.min_connections).idle_timeout(cfg.idle_timeout)
            };
            let pool = pool_opts.connect_with(opts).await.map_err(|e| connect_err(url, e))?;
            Repo { backend: Backend::Sqlite(pool) }
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let opts: PgConnectOptions = url.parse().map_err(|e| connect_err(url, e))?;
            let pool = PgPoolOptions::new()
                .max_connections(cfg.pool_size)
                .min_connections(cfg.min_connections)
                .acquire_timeout(cfg.acquire_timeout)
                .idle_timeout(cfg.idle_timeout)
                .connect_with(opts)
                .await
                .map_err(|e| connect_err(url, e))?;
            Repo { backend: Backend::Postgres(pool) }
        } else {
            return Err(connect_err(url, "unsupported scheme: expected sqlite://, sqlite::memory: or postgres://"));
        };
        Ok(repo)
    }

    /// The SQL dialect in use.
    pub fn dialect(&self) -> Dialect {
        match &self.backend {
            Backend::Sqlite(_) => Dialect::Sqlite,
            Backend::Postgres(_) => Dialect::Postgres,
            Backend::Sandbox(_, d) => *d,
        }
    }

    /// The Postgres pool, for what zzz_db does not cover (LISTEN/NOTIFY, COPY). `None`
    /// on SQLite and for sandboxes.
    pub fn postgres_pool(&self) -> Option<&PgPool> {
        match &self.backend {
            Backend::Postgres(p) => Some(p),
            _ => None,
        }
    }

    /// The SQLite pool (escape hatch). `None` on Postgres and for sandboxes.
    pub fn sqlite_pool(&self) -> Option<&SqlitePool> {
        match &self.backend {
            Backend::Sqlite(p) => Some(p),
            _ => None,
        }
    }

    /// Whether this repo is a test sandbox.
    pub fn is_sandbox(&self) -> bool {
        matches!(self.backend, Backend::Sandbox(..))
    }

    /// Run `SELECT 1`; `Ok` if the database answers.
    pub async fn health_check(&self) -> Result<(), Error> {
        self.query_scalar::<i64>("SELECT 1", vec![]).await.map(|_| ())
    }

    /// Close the pool (waits for connections to be returned).
    pub async fn close(&self) {
        match &self.backend {
            Backend::Sqlite(p) => p.close().await,
            Backend::Postgres(p) => p.close().await,
            Backend::Sandbox(..) => {}
        }
    }

    async fn handle(&self) -> Result<Handle<'_>, Error> {
        Ok(match &self.backend {
            Backend::Sqlite(p) => Handle::Conn(Conn::SqlitePool(p)),
            Backend::Postgres(p) => Handle::Conn(Conn::PgPool(p)),
            Backend::Sandbox(m, _) => Handle::Guard(
                tokio::time::timeout(SANDBOX_WAIT, m.lock()).await.map_err(|_| {
                    Error::Pool(format!(
                        "waited {}s for the sandbox connection: a transaction on this sandbox is still open \
                         (inside `transaction`/`begin`, run queries on the Tx, not on the repo)",
                        SANDBOX_WAIT.as_secs()
                    ))
                })?,
            ),
        })
    }

    async fn raw_conn(&self) -> Result<RawConn, Error> {
        Ok(match &self.backend {
            Backend::Sqlite(p) => RawConn::Sqlite(PoolConnection::detach(p.acquire().await.map_err(|e| crate::error::from_sqlx(e, None))?)),
            Backend::Postgres(p) => RawConn::Pg(PoolConnection::detach(p.acquire().await.map_err(|e| crate::error::from_sqlx(e, None))?)),
            Backend::Sandbox(..) => return Err(query_err("cannot take a raw connection from a sandbox")),
        })
    }

    /// A test sandbox: one connection inside a transaction that is rolled back when
    /// the last clone of the returned repo is dropped. Everything done through it
    /// (including nested transactions, as savepoints) is invisible to other sandboxes,
    /// so tests run in parallel on one database.
    pub async fn sandbox(&self) -> Result<Repo, Error> {
        let mut raw = self.raw_conn().await?;
        tx_begin(raw.conn()).await?;
        Ok(Repo { backend: Backend::Sandbox(Arc::new(Mutex::new(raw)), self.dialect()) })
    }

    /// Begin a transaction (a savepoint when this repo is a sandbox). Dropping the
    /// [`Tx`] without [`Tx::commit`] rolls it back.
    pub async fn begin(&self) -> Result<Tx<'static>, Error> {
        self.begin_inner(None).await
    }

    /// Begin a transaction that takes the write lock at once: `BEGIN IMMEDIATE` on SQLite
    /// (a read-then-write transaction cannot then fail with "database is locked" when it
    /// upgrades; it waits up to the busy timeout instead). Same as [`begin`](Self::begin)
    /// on Postgres and inside a sandbox.
    pub async fn begin_immediate(&self) -> Result<Tx<'static>, Error> {
        self.begin_inner(Some("BEGIN IMMEDIATE")).await
    }

    /// SQLite only: a connection with foreign keys switched off (for table rebuilds in
    /// migrations). Call [`FkOff::restore`] when done.
    pub(crate) async fn sqlite_fks_off(&self) -> Result<FkOff, Error> {
        let mut conn = match &self.backend {
            Backend::Sqlite(p) => p.acquire().await.map_err(|e| crate::error::from_sqlx(e, None))?,
            _ => return Err(query_err("a SQLite table rebuild needs a plain SQLite repo (not a sandbox)")),
        };
        Conn::Sqlite(&mut conn).execute_raw("PRAGMA foreign_keys = OFF").await?;
        Ok(FkOff { conn: Some(conn) })
    }

    async fn begin_inner(&self, sqlite_stmt: Option<&'static str>) -> Result<Tx<'static>, Error> {
        let mut holder = match &self.backend {
            Backend::Sandbox(m, _) => TxConn::Guard(
                tokio::time::timeout(SANDBOX_WAIT, m.clone().lock_owned())
                    .await
                    .map_err(|_| Error::Pool("timed out waiting for the sandbox connection: another transaction on this sandbox is open".into()))?,
            ),
            _ => TxConn::Owned(self.raw_pooled().await?),
        };
        tx_begin_with(holder.conn(), sqlite_stmt).await?;
        Ok(Tx { holder, open: true })
    }

    async fn raw_pooled(&self) -> Result<Pooled, Error> {
        Ok(match &self.backend {
            Backend::Sqlite(p) => Pooled::Sqlite(p.acquire().await.map_err(|e| crate::error::from_sqlx(e, None))?),
            Backend::Postgres(p) => Pooled::Pg(p.acquire().await.map_err(|e| crate::error::from_sqlx(e, None))?),
            Backend::Sandbox(..) => unreachable!(),
        })
    }

    /// Run `f` in a transaction: committed if it returns `Ok`, rolled back on `Err`.
    ///
    /// ```no_run
    /// # async fn f(repo: zzz_db::Repo) -> Result<(), zzz_db::Error> {
    /// let n: u64 = repo.transaction(|tx| Box::pin(async move {
    ///     tx.execute_sql("DELETE FROM users", vec![]).await
    /// })).await?;
    /// # Ok(()) }
    /// ```
    pub async fn transaction<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: for<'t> FnOnce(&'t mut Tx<'static>) -> BoxFuture<'t, Result<T, E>>,
        E: From<Error>,
    {
        let mut tx = self.begin().await?;
        match f(&mut tx).await {
            Ok(v) => {
                tx.commit().await?;
                Ok(v)
            }
            Err(e) => {
                tx.rollback().await?;
                Err(e)
            }
        }
    }

    /// Run a [`Multi`] in one transaction.
    pub async fn transact_multi(&self, multi: Multi) -> Result<MultiResults, MultiError> {
        let mut tx = self.begin().await.map_err(|e| MultiError { step: "begin".into(), error: e, completed: vec![] })?;
        let res = multi.run_in(&mut tx).await;
        match res {
            Ok(r) => {
                tx.commit().await.map_err(|e| MultiError { step: "commit".into(), error: e, completed: r.names() })?;
                Ok(r)
            }
            Err(e) => {
                let _ = tx.rollback().await;
                Err(e)
            }
        }
    }

    /// Stream the rows of a query (one row decoded at a time). On a sandbox the rows
    /// are fetched first and then streamed.
    pub fn stream<'a, S: 'a, O: Send + 'a>(&'a self, q: Query<S, O>) -> BoxStream<'a, Result<O, Error>> {
        use futures_util::StreamExt;
        let sql = q.to_sql(self.dialect());
        match &self.backend {
            Backend::Sqlite(p) => Conn::SqlitePool(p).stream(sql, q.decode),
            Backend::Postgres(p) => Conn::PgPool(p).stream(sql, q.decode),
            Backend::Sandbox(..) => {
                let fut = async move {
                    match self.all(q).await {
                        Ok(v) => futures_util::stream::iter(v.into_iter().map(Ok)).boxed(),
                        Err(e) => futures_util::stream::once(async { Err(e) }).boxed(),
                    }
                };
                futures_util::stream::once(fut).flatten().boxed()
            }
        }
    }
}

/// A pooled SQLite connection with foreign keys off; see [`Repo::sqlite_fks_off`].
pub(crate) struct FkOff {
    conn: Option<PoolConnection<Sqlite>>,
}

impl FkOff {
    /// A transaction on this connection.
    pub(crate) async fn begin(&mut self) -> Result<Tx<'_>, Error> {
        let c = self.conn.as_mut().expect("not restored");
        let mut holder = TxConn::Borrowed(Conn::Sqlite(c));
        tx_begin(holder.conn()).await?;
        Ok(Tx { holder, open: true })
    }
    /// Switch foreign keys back on (after any pending rollback) and return the connection.
    pub(crate) async fn restore(mut self) -> Result<(), Error> {
        let mut c = self.conn.take().expect("not restored");
        let r = Conn::Sqlite(&mut c).execute_raw("PRAGMA foreign_keys = ON").await;
        if r.is_err() {
            c.close_on_drop();
        }
        r
    }
}

impl Drop for FkOff {
    fn drop(&mut self) {
        // Never hand a connection with foreign keys off back to the pool.
        if let Some(c) = self.conn.as_mut() {
            c.close_on_drop();
        }
    }
}

enum Pooled {
    Sqlite(PoolConnection<Sqlite>),
    Pg(PoolConnection<Postgres>),
}

enum TxConn<'a> {
    Owned(Pooled),
    Guard(OwnedMutexGuard<RawConn>),
    Borrowed(Conn<'a>),
}

impl TxConn<'_> {
    fn conn(&mut self) -> Conn<'_> {
        match self {
            TxConn::Owned(Pooled::Sqlite(c)) => Conn::Sqlite(c),
            TxConn::Owned(Pooled::Pg(c)) => Conn::Pg(c),
            TxConn::Guard(g) => g.conn(),
            TxConn::Borrowed(c) => c.reborrow(),
        }
    }
}

/// An open transaction (or savepoint). Has every operation of [`Repo`]. Dropped
/// without [`commit`](Tx::commit), it rolls back.
pub struct Tx<'a> {
    holder: TxConn<'a>,
    open: bool,
}

impl<'a> Tx<'a> {
    /// A nested transaction (a SAVEPOINT).
    pub async fn begin(&mut self) -> Result<Tx<'_>, Error> {
        let mut c = self.holder.conn();
        tx_begin(c.reborrow()).await?;
        Ok(Tx { holder: TxConn::Borrowed(c), open: true })
    }
    /// Commit (or release the savepoint).
    pub async fn commit(mut self) -> Result<(), Error> {
        self.open = false;
        match tx_commit(self.holder.conn()).await {
            Ok(()) => Ok(()),
            Err(e) => {
                // A failed COMMIT (e.g. a serialization failure) ends the transaction on the
                // server; roll back our bookkeeping so the connection is clean for reuse.
                let _ = tx_rollback(self.holder.conn()).await;
                if let TxConn::Owned(p) = &mut self.holder
                    && tx_depth(&match p { Pooled::Sqlite(c) => Conn::Sqlite(c), Pooled::Pg(c) => Conn::Pg(c) }) > 0 {
                        match p {
                            Pooled::Sqlite(c) => c.close_on_drop(),
                            Pooled::Pg(c) => c.close_on_drop(),
                        }
                    }
                Err(e)
            }
        }
    }
    /// Roll back (to the savepoint, if nested).
    pub async fn rollback(mut self) -> Result<(), Error> {
        self.open = false;
        tx_rollback(self.holder.conn()).await
    }
    /// Nesting depth: 1 for a transaction, 2+ inside savepoints.
    pub fn depth(&mut self) -> usize {
        tx_depth(&self.holder.conn())
    }
    /// The SQL dialect in use.
    pub fn dialect(&mut self) -> Dialect {
        self.holder.conn().dialect()
    }
    /// Run `f` in a nested transaction (savepoint).
    pub async fn transaction<T, E, F>(&mut self, f: F) -> Result<T, E>
    where
        F: for<'t, 'u> FnOnce(&'t mut Tx<'u>) -> BoxFuture<'t, Result<T, E>>,
        E: From<Error>,
    {
        let mut tx = self.begin().await?;
        match f(&mut tx).await {
            Ok(v) => {
                tx.commit().await?;
                Ok(v)
            }
            Err(e) => {
                tx.rollback().await?;
                Err(e)
            }
        }
    }
    async fn handle(&mut self) -> Result<TxH<'_, 'a>, Error> {
        Ok(TxH(self))
    }
}

struct TxH<'t, 'a>(&'t mut Tx<'a>);
impl TxH<'_, '_> {
    fn conn(&mut self) -> Conn<'_> {
        self.0.holder.conn()
    }
}

impl Drop for Tx<'_> {
    fn drop(&mut self) {
        if self.open {
            tx_start_rollback(self.holder.conn());
        }
    }
}

// ------------------------------------------------------------------ operations

macro_rules! ops {
    ($recv:ty) => {
        /// All rows of a query.
        pub async fn all<S, O>(self: $recv, q: Query<S, O>) -> Result<Vec<O>, Error> {
            let mut h = self.handle().await?;
            op_all(h.conn(), q).await
        }
        /// At most one row; [`Error::MultipleResults`] if the query returns more.
        pub async fn one<S, O>(self: $recv, q: Query<S, O>) -> Result<Option<O>, Error> {
            let mut h = self.handle().await?;
            op_one(h.conn(), q).await
        }
        /// Fetch by primary key.
        pub async fn get<S: Schema>(self: $recv, id: impl crate::value::IntoValue<<S::Id as FieldType>::Inner>) -> Result<Option<S>, Error> {
            let mut h = self.handle().await?;
            let q = Query::from::<S>().filter(pk_eq::<S>(id.into_value()));
            op_one(h.conn(), q).await
        }
        /// Fetch by primary key, [`Error::NotFound`] when missing (Ecto's `get!`).
        pub async fn fetch<S: Schema>(self: $recv, id: impl crate::value::IntoValue<<S::Id as FieldType>::Inner>) -> Result<S, Error> {
            let mut h = self.handle().await?;
            let v = id.into_value();
            let lookup = format!("{} = {}", S::PRIMARY_KEY, v.to_json());
            let q = Query::from::<S>().filter(pk_eq::<S>(v));
            op_one(h.conn(), q).await?.ok_or(Error::NotFound(crate::error::NotFoundError { table: S::TABLE, lookup }))
        }
        /// The single row matching a condition, [`Error::NotFound`] when none (Ecto's `get_by!`).
        pub async fn fetch_by<S: Schema>(self: $recv, cond: Expr) -> Result<S, Error> {
            let mut h = self.handle().await?;
            op_one(h.conn(), Query::from::<S>().filter(cond)).await?
                .ok_or(Error::NotFound(crate::error::NotFoundError { table: S::TABLE, lookup: "the given condition".into() }))
        }
        /// The single row matching a condition.
        pub async fn get_by<S: Schema>(self: $recv, cond: Expr) -> Result<Option<S>, Error> {
            let mut h = self.handle().await?;
            op_one(h.conn(), Query::from::<S>().filter(cond)).await
        }
        /// Insert a changeset; validation or declared-constraint failures give [`Error::Changeset`].
        pub async fn insert<S: Schema + Clone>(self: $recv, cs: Changeset<S>) -> Result<S, Error> {
            let mut h = self.handle().await?;
            op_insert(h.conn(), cs, None).await.map(|o| o.expect("insert returns a row"))
        }
        /// Insert with an ON CONFLICT clause (upsert). `None` when DO NOTHING skipped the row.
        pub async fn insert_on_conflict<S: Schema + Clone>(self: $recv, cs: Changeset<S>, on_conflict: OnConflict) -> Result<Option<S>, Error> {
            let mut h = self.handle().await?;
            op_insert(h.conn(), cs, Some(on_conflict)).await
        }
        /// Update the changed fields (and `updated_at`) of the changeset's row.
        pub async fn update<S: Schema + Clone>(self: $recv, cs: Changeset<S>) -> Result<S, Error> {
            let mut h = self.handle().await?;
            op_update(h.conn(), cs).await
        }
        /// Delete a row by its primary key; declared FK constraints become field errors.
        pub async fn delete<S: Schema + Clone>(self: $recv, cs: impl Into<Changeset<S>>) -> Result<S, Error> {
            let mut h = self.handle().await?;
            op_delete(h.conn(), cs.into()).await
        }
        /// Insert many rows in one statement; returns the number inserted.
        pub async fn insert_all<S: Schema>(self: $recv, rows: &[S], on_conflict: Option<OnConflict>) -> Result<u64, Error> {
            let mut h = self.handle().await?;
            op_insert_all(h.conn(), rows, on_conflict).await
        }
        /// `UPDATE … SET … WHERE <query filters>`; returns the number of rows.
        pub async fn update_all<S, O>(self: $recv, q: Query<S, O>, set: Set) -> Result<u64, Error> {
            let mut h = self.handle().await?;
            op_update_all(h.conn(), q, set).await
        }
        /// Like [`update_all`](Self::update_all) but returns the updated rows
        /// (`UPDATE … RETURNING`) — e.g. claim jobs picked by a `FOR UPDATE SKIP LOCKED` subquery.
        pub async fn update_all_returning<S: Schema, O>(self: $recv, q: Query<S, O>, set: Set) -> Result<Vec<S>, Error> {
            let mut h = self.handle().await?;
            op_update_all_returning(h.conn(), q, set).await
        }
        /// `DELETE FROM … WHERE <query filters>`; returns the number of rows.
        pub async fn delete_all<S, O>(self: $recv, q: Query<S, O>) -> Result<u64, Error> {
            let mut h = self.handle().await?;
            op_delete_all(h.conn(), q).await
        }
        /// An aggregate over the query's rows: `repo.aggregate(q, User::age.max())`.
        pub async fn aggregate<S, O, T: FieldType>(self: $recv, q: Query<S, O>, agg: Typed<T>) -> Result<T, Error> {
            let mut h = self.handle().await?;
            op_aggregate(h.conn(), q, agg).await
        }
        /// `COUNT(*)` of the query's rows (of the page, when the query has a limit).
        pub async fn count<S, O>(self: $recv, q: Query<S, O>) -> Result<i64, Error> {
            let mut h = self.handle().await?;
            op_aggregate(h.conn(), q, crate::query::count_all()).await
        }
        /// Whether the query matches any row.
        pub async fn exists<S, O>(self: $recv, q: Query<S, O>) -> Result<bool, Error> {
            let mut h = self.handle().await?;
            let mut c = h.conn();
            let mut sql = Sql::new(c.dialect());
            sql.push("SELECT EXISTS (");
            render_select(&q.parts, &mut sql);
            sql.push(")");
            let rows = c.fetch_all(sql).await?;
            rows.first().ok_or_else(|| query_err("exists returned no row"))?.get::<bool>(0)
        }
        /// Load an association for every struct in `items` with one query.
        pub async fn preload<A: Association>(self: $recv, items: &mut [A::Owner], assoc: &A) -> Result<(), Error> where A::Related: Clone {
            let mut h = self.handle().await?;
            op_preload(h.conn(), items, assoc).await
        }
        /// Load an association of already preloaded children for all of them at once
        /// (Ecto's `preload(users, posts: :comments)`): one query for the whole level.
        /// `Err(Error::Query)` if `outer` was not preloaded first.
        pub async fn preload_nested<A: Association, B: Association<Owner = A::Related>>(
            self: $recv,
            items: &mut [A::Owner],
            outer: &A,
            inner: &B,
        ) -> Result<(), Error>
        where
            B::Related: Clone,
        {
            let mut h = self.handle().await?;
            let mut children = Vec::new();
            let mut counts = Vec::with_capacity(items.len());
            for it in items.iter_mut() {
                match outer.take(it) {
                    Some(c) => {
                        counts.push(c.len());
                        children.extend(c);
                    }
                    None => {
                        // Put back what was taken so far before failing.
                        let mut rest = children.into_iter();
                        for (o, n) in items.iter_mut().zip(counts) {
                            outer.assign(o, rest.by_ref().take(n).collect());
                        }
                        return Err(query_err(format!("preload `{}` before preloading inside it", outer.relation().name)));
                    }
                }
            }
            let res = op_preload(h.conn(), &mut children, inner).await;
            let mut rest = children.into_iter();
            for (o, n) in items.iter_mut().zip(counts) {
                outer.assign(o, rest.by_ref().take(n).collect());
            }
            res
        }
        /// Load an association for one struct.
        pub async fn preload_one<A: Association>(self: $recv, item: &mut A::Owner, assoc: &A) -> Result<(), Error> where A::Related: Clone {
            let mut h = self.handle().await?;
            op_preload(h.conn(), std::slice::from_mut(item), assoc).await
        }
        /// Re-read a struct from the database by its primary key.
        pub async fn reload<S: Schema>(self: $recv, item: &S) -> Result<Option<S>, Error> {
            let mut h = self.handle().await?;
            let q = Query::from::<S>().filter(pk_eq::<S>(item.primary_key().to_value()));
            op_one(h.conn(), q).await
        }
        /// Run a statement given as SQL text with bound values (`?` holes, rewritten to
        /// `$n` on Postgres). Returns rows affected.
        pub async fn execute_sql(self: $recv, sql: &'static str, args: Vec<Value>) -> Result<u64, Error> {
            let mut h = self.handle().await?;
            let mut c = h.conn();
            let s = raw_sql(c.dialect(), sql, args);
            c.execute(s).await
        }
        /// Run a query given as SQL text with bound values and decode the first column
        /// of the first row.
        pub async fn query_scalar<T: FieldType>(self: $recv, sql: &'static str, args: Vec<Value>) -> Result<Option<T>, Error> {
            let mut h = self.handle().await?;
            let mut c = h.conn();
            let s = raw_sql(c.dialect(), sql, args);
            let rows = c.fetch_all(s).await?;
            rows.first().map(|r| r.get::<T>(0)).transpose()
        }
        /// Run raw SQL (DDL, several statements) without parameters.
        pub async fn execute_raw(self: $recv, sql: &str) -> Result<(), Error> {
            let mut h = self.handle().await?;
            h.conn().execute_raw(sql).await
        }
    };
}

impl Repo {
    ops!(&Self);
}

impl Tx<'_> {
    ops!(&mut Self);
}

// ------------------------------------------------------------------ implementations

fn pk_eq<S: Schema>(v: Value) -> Expr {
    Expr::Binary(
        crate::query::BinOp::Eq,
        Box::new(Expr::Column { table: S::TABLE, name: S::PRIMARY_KEY }),
        Box::new(Expr::Value(v)),
    )
}

fn raw_sql(dialect: Dialect, text: &'static str, args: Vec<Value>) -> Sql {
    let mut sql = Sql::new(dialect);
    let mut args = args.into_iter();
    let mut rest = text;
    while let Some(pos) = rest.find('?') {
        sql.push(&rest[..pos]);
        match args.next() {
            Some(v) => {
                sql.value(v);
            }
            None => {
                sql.push("?");
            }
        }
        rest = &rest[pos + 1..];
    }
    sql.push(rest);
    sql
}

fn now_value<S: Schema>(field: &str) -> Value {
    let now = chrono::Utc::now();
    let now = chrono::DateTime::from_timestamp(now.timestamp(), 0).unwrap_or(now);
    match S::field_type(field) {
        Some("utc_datetime") => Value::DateTimeUtc(now),
        _ => Value::DateTime(now.naive_utc()),
    }
}

fn returning<S: Schema>(sql: &mut Sql) {
    sql.push(" RETURNING ");
    for (i, c) in S::COLUMNS.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.ident(c);
    }
}

async fn op_all<S, O>(mut c: Conn<'_>, q: Query<S, O>) -> Result<Vec<O>, Error> {
    let sql = q.to_sql(c.dialect());
    c.fetch_map(sql, q.decode).await
}

/// An aggregate over a query. With limit/offset/distinct/group_by the query becomes a
/// subquery (aliased as its table so qualified columns still resolve), as Ecto does.
async fn op_aggregate<S, O, T: FieldType>(mut c: Conn<'_>, q: Query<S, O>, agg: Typed<T>) -> Result<T, Error> {
    let p = &q.parts;
    let wrap = p.limit.is_some() || p.offset.is_some() || p.distinct || !p.group_by.is_empty();
    let mut sql = Sql::new(c.dialect());
    if wrap {
        sql.push("SELECT ");
        render_expr(&agg.expr, &mut sql);
        sql.push(" FROM (");
        render_select(p, &mut sql);
        sql.push(") AS ").ident(p.table);
    } else {
        let mut parts = q.parts.clone();
        parts.select = Some(vec![agg.expr.clone()]);
        parts.order_by.clear();
        render_select(&parts, &mut sql);
    }
    let rows = c.fetch_all(sql).await?;
    rows.first().ok_or_else(|| query_err("aggregate returned no row"))?.get::<T>(0)
}

async fn op_one<S, O>(c: Conn<'_>, mut q: Query<S, O>) -> Result<Option<O>, Error> {
    if q.parts.limit.is_none() {
        q.parts.limit = Some(2);
    }
    let table = q.parts.table;
    let mut v = op_all(c, q).await?;
    if v.len() > 1 {
        return Err(Error::MultipleResults(MultipleResultsError { table, count: v.len() }));
    }
    Ok(v.pop())
}

fn map_write_err<S: Schema>(cs: &mut Changeset<S>, e: Error) -> Error {
    if let Error::Database(db) = &e
        && cs.constraint_error(db) {
            return cs.invalid();
        }
    e
}

fn apply_virtuals<S: Schema>(s: &mut S, changes: &BTreeMap<&'static str, Value>) {
    for (f, v) in changes {
        if !S::COLUMNS.contains(f) {
            let _ = s.put_value(f, v.clone());
        }
    }
}

fn pk_insert_value<S: Schema>(data_value: Value) -> Option<Value> {
    match <S::Id as FieldType>::AUTOGENERATE {
        AutoGenerate::Database => match data_value {
            Value::Int(0) | Value::Null => None,
            v => Some(v),
        },
        AutoGenerate::Uuid => match data_value {
            Value::Uuid(u) if u.is_nil() => Some(Value::Uuid(uuid::Uuid::new_v4())),
            Value::Null => Some(Value::Uuid(uuid::Uuid::new_v4())),
            v => Some(v),
        },
        AutoGenerate::No => Some(data_value),
    }
}

/// What an insert does when it hits a unique constraint (Ecto's `on_conflict`).
#[derive(Debug, Clone)]
pub struct OnConflict {
    target: Vec<&'static str>,
    action: ConflictAction,
}

#[derive(Debug, Clone)]
enum ConflictAction {
    Nothing,
    ReplaceAll,
    Replace(Vec<&'static str>),
}

impl OnConflict {
    /// `ON CONFLICT DO NOTHING` (optionally with a target).
    pub fn nothing() -> Self {
        OnConflict { target: vec![], action: ConflictAction::Nothing }
    }
    /// Replace every inserted column except the primary key and `inserted_at`.
    pub fn replace_all() -> Self {
        OnConflict { target: vec![], action: ConflictAction::ReplaceAll }
    }
    /// Replace only these columns.
    pub fn replace(cols: &[&'static str]) -> Self {
        OnConflict { target: vec![], action: ConflictAction::Replace(cols.to_vec()) }
    }
    /// The conflict target columns (required for replace).
    pub fn target(mut self, cols: &[&'static str]) -> Self {
        self.target = cols.to_vec();
        self
    }

    fn render<S: Schema>(&self, sql: &mut Sql, inserted: &[&'static str]) -> Result<(), Error> {
        sql.push(" ON CONFLICT");
        if !self.target.is_empty() {
            sql.push(" (");
            for (i, c) in self.target.iter().enumerate() {
                if i > 0 {
                    sql.push(", ");
                }
                sql.ident(c);
            }
            sql.push(")");
        }
        let cols: Vec<&'static str> = match &self.action {
            ConflictAction::Nothing => {
                sql.push(" DO NOTHING");
                return Ok(());
            }
            ConflictAction::ReplaceAll => inserted
                .iter()
                .copied()
                .filter(|c| *c != S::PRIMARY_KEY && Some(*c) != S::INSERTED_AT)
                .collect(),
            ConflictAction::Replace(c) => c.clone(),
        };
        if self.target.is_empty() {
            return Err(query_err(format!("upsert into `{}` that replaces columns needs a conflict target", S::TABLE)));
        }
        if cols.is_empty() {
            return Err(query_err(format!("upsert into `{}` has no columns to replace", S::TABLE)));
        }
        sql.push(" DO UPDATE SET ");
        for (i, c) in cols.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.ident(c).push(" = EXCLUDED.").ident(c);
        }
        Ok(())
    }
}

async fn op_insert<S: Schema + Clone>(mut c: Conn<'_>, mut cs: Changeset<S>, oc: Option<OnConflict>) -> Result<Option<S>, Error> {
    if !cs.is_valid() {
        return Err(cs.invalid());
    }
    let mut cols: Vec<&'static str> = Vec::with_capacity(S::COLUMNS.len());
    let mut vals: Vec<Value> = Vec::with_capacity(S::COLUMNS.len());
    for &col in S::COLUMNS {
        let v = if let Some(v) = cs.get_change(col) {
            v.clone()
        } else if col == S::PRIMARY_KEY {
            match pk_insert_value::<S>(cs.data().get_value(col).unwrap_or(Value::Null)) {
                Some(v) => v,
                None => continue,
            }
        } else if Some(col) == S::INSERTED_AT || Some(col) == S::UPDATED_AT {
            now_value::<S>(col)
        } else {
            cs.data().get_value(col).unwrap_or(Value::Null)
        };
        cols.push(col);
        vals.push(v);
    }
    let mut sql = Sql::new(c.dialect());
    sql.push("INSERT INTO ").ident(S::TABLE);
    if cols.is_empty() {
        sql.push(" DEFAULT VALUES");
    } else {
        sql.push(" (");
        for (i, col) in cols.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.ident(col);
        }
        sql.push(") VALUES (");
        for (i, v) in vals.into_iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.value(v);
        }
        sql.push(")");
    }
    if let Some(oc) = &oc {
        oc.render::<S>(&mut sql, &cols)?;
    }
    returning::<S>(&mut sql);
    let rows = match c.fetch_all(sql).await {
        Ok(r) => r,
        Err(e) => return Err(map_write_err(&mut cs, e)),
    };
    match rows.first() {
        Some(r) => {
            let mut s = S::from_row(r, 0)?;
            apply_virtuals(&mut s, cs.changes());
            Ok(Some(s))
        }
        None => Ok(None),
    }
}

async fn op_update<S: Schema + Clone>(mut c: Conn<'_>, mut cs: Changeset<S>) -> Result<S, Error> {
    if !cs.is_valid() {
        return Err(cs.invalid());
    }
    let stored: Vec<(&'static str, Value)> =
        cs.changes().iter().filter(|(k, _)| S::COLUMNS.contains(*k)).map(|(k, v)| (*k, v.clone())).collect();
    if stored.is_empty() {
        return cs.apply_changes();
    }
    let mut sql = Sql::new(c.dialect());
    sql.push("UPDATE ").ident(S::TABLE).push(" SET ");
    let mut first = true;
    for (k, v) in stored.iter() {
        if !first {
            sql.push(", ");
        }
        first = false;
        sql.ident(k).push(" = ").value(v.clone());
    }
    if let Some(u) = S::UPDATED_AT
        && !cs.changes().contains_key(u) {
            sql.push(", ").ident(u).push(" = ").value(now_value::<S>(u));
        }
    let pk = cs.data().primary_key().to_value();
    sql.push(" WHERE ").ident(S::PRIMARY_KEY).push(" = ").value(pk.clone());
    returning::<S>(&mut sql);
    let rows = match c.fetch_all(sql).await {
        Ok(r) => r,
        Err(e) => return Err(map_write_err(&mut cs, e)),
    };
    match rows.first() {
        Some(r) => {
            let mut s = S::from_row(r, 0)?;
            apply_virtuals(&mut s, cs.changes());
            Ok(s)
        }
        None => Err(Error::Stale(StaleError { table: S::TABLE, id: format!("{:?}", pk.to_json()) })),
    }
}

async fn op_delete<S: Schema + Clone>(mut c: Conn<'_>, mut cs: Changeset<S>) -> Result<S, Error> {
    if !cs.is_valid() {
        return Err(cs.invalid());
    }
    let pk = cs.data().primary_key().to_value();
    let mut sql = Sql::new(c.dialect());
    sql.push("DELETE FROM ").ident(S::TABLE).push(" WHERE ").ident(S::PRIMARY_KEY).push(" = ").value(pk.clone());
    returning::<S>(&mut sql);
    let rows = match c.fetch_all(sql).await {
        Ok(r) => r,
        Err(e) => return Err(map_write_err(&mut cs, e)),
    };
    match rows.first() {
        Some(r) => S::from_row(r, 0),
        None => Err(Error::Stale(StaleError { table: S::TABLE, id: format!("{:?}", pk.to_json()) })),
    }
}

impl<S: Schema> From<S> for Changeset<S> {
    fn from(s: S) -> Self {
        Changeset::new(s)
    }
}

const MAX_PARAMS: usize = 30_000;

async fn op_insert_all<S: Schema>(mut c: Conn<'_>, rows: &[S], oc: Option<OnConflict>) -> Result<u64, Error> {
    if rows.is_empty() {
        return Ok(0);
    }
    let skip_pk = <S::Id as FieldType>::AUTOGENERATE == AutoGenerate::Database
        && rows.iter().all(|r| matches!(r.primary_key().to_value(), Value::Int(0)));
    let cols: Vec<&'static str> = S::COLUMNS.iter().copied().filter(|c| !(skip_pk && *c == S::PRIMARY_KEY)).collect();
    let epoch = Value::DateTime(chrono::NaiveDateTime::default());
    let epoch_utc = Value::DateTimeUtc(chrono::DateTime::<chrono::Utc>::default());
    let per_chunk = (MAX_PARAMS / cols.len().max(1)).max(1);
    let mut total = 0;
    for chunk in rows.chunks(per_chunk) {
        let mut sql = Sql::new(c.dialect());
        sql.push("INSERT INTO ").ident(S::TABLE).push(" (");
        for (i, col) in cols.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.ident(col);
        }
        sql.push(") VALUES ");
        for (ri, row) in chunk.iter().enumerate() {
            if ri > 0 {
                sql.push(", ");
            }
            sql.push("(");
            for (i, col) in cols.iter().enumerate() {
                if i > 0 {
                    sql.push(", ");
                }
                let mut v = row.get_value(col).unwrap_or(Value::Null);
                if *col == S::PRIMARY_KEY {
                    v = pk_insert_value::<S>(v).unwrap_or(Value::Null);
                } else if (Some(*col) == S::INSERTED_AT || Some(*col) == S::UPDATED_AT) && (v == epoch || v == epoch_utc) {
                    v = now_value::<S>(col);
                }
                sql.value(v);
            }
            sql.push(")");
        }
        if let Some(oc) = &oc {
            oc.render::<S>(&mut sql, &cols)?;
        }
        total += c.execute(sql).await?;
    }
    Ok(total)
}

/// The SET list of [`Repo::update_all`].
#[derive(Debug, Clone, Default)]
pub struct Set {
    items: Vec<(&'static str, Expr)>,
}

impl Set {
    /// An empty SET list.
    pub fn new() -> Self {
        Set::default()
    }
    /// `col = value`.
    pub fn set<S, T: FieldType>(mut self, col: crate::Column<S, T>, v: impl crate::value::IntoValue<T>) -> Self {
        self.items.push((col.name, Expr::Value(v.into_value())));
        self
    }
    /// `col = col + by` (Ecto's `inc:`).
    pub fn inc<S, T: FieldType>(mut self, col: crate::Column<S, T>, by: impl crate::value::IntoValue<T::Inner>) -> Self {
        self.items.push((col.name, col.add(by).expr));
        self
    }
    /// `col = <expression>`.
    pub fn set_expr<S, T: FieldType>(mut self, col: crate::Column<S, T>, e: Typed<T>) -> Self {
        self.items.push((col.name, e.expr));
        self
    }
}

fn render_update_all<S, O>(dialect: Dialect, q: &Query<S, O>, set: &Set) -> Result<Sql, Error> {
    let p = &q.parts;
    if !p.joins.is_empty() || p.limit.is_some() || p.offset.is_some() || !p.group_by.is_empty() {
        return Err(query_err(format!("update_all on `{}` supports only filters (no joins, limit, offset or group_by)", p.table)));
    }
    if set.items.is_empty() {
        return Err(query_err(format!("update_all on `{}` needs at least one SET item", p.table)));
    }
    let mut sql = Sql::new(dialect);
    sql.push("UPDATE ").ident(p.table).push(" SET ");
    for (i, (col, e)) in set.items.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.ident(col).push(" = ");
        render_expr(e, &mut sql);
    }
    render_where(&p.wheres, &mut sql);
    Ok(sql)
}

async fn op_update_all<S, O>(mut c: Conn<'_>, q: Query<S, O>, set: Set) -> Result<u64, Error> {
    let sql = render_update_all(c.dialect(), &q, &set)?;
    c.execute(sql).await
}

async fn op_update_all_returning<S: Schema, O>(mut c: Conn<'_>, q: Query<S, O>, set: Set) -> Result<Vec<S>, Error> {
    let mut sql = render_update_all(c.dialect(), &q, &set)?;
    returning::<S>(&mut sql);
    let rows = c.fetch_all(sql).await?;
    rows.iter().map(|r| S::from_row(r, 0)).collect()
}

async fn op_delete_all<S, O>(mut c: Conn<'_>, q: Query<S, O>) -> Result<u64, Error> {
    let p = &q.parts;
    if !p.joins.is_empty() || p.limit.is_some() || p.offset.is_some() || !p.group_by.is_empty() {
        return Err(query_err(format!("delete_all on `{}` supports only filters (no joins, limit, offset or group_by)", p.table)));
    }
    let mut sql = Sql::new(c.dialect());
    sql.push("DELETE FROM ").ident(p.table);
    render_where(&p.wheres, &mut sql);
    c.execute(sql).await
}

async fn op_preload<A: Association>(mut c: Conn<'_>, items: &mut [A::Owner], assoc: &A) -> Result<(), Error>
where
    A::Related: Clone,
{
    let r = assoc.relation();
    let mut seen = std::collections::HashSet::new();
    let mut keys = Vec::new();
    for it in items.iter() {
        if let Some(v) = it.get_value(r.owner_column)
            && let Some(k) = Key::of(&v)
                && seen.insert(k) {
                    keys.push(v);
                }
    }
    let mut groups: HashMap<Key, Vec<A::Related>> = HashMap::new();
    if !keys.is_empty() {
        let rel_table = <A::Related as Schema>::TABLE;
        let order = crate::query::OrderBy {
            expr: Expr::Column { table: rel_table, name: <A::Related as Schema>::PRIMARY_KEY },
            desc: false,
        };
        // Bounded IN lists: both databases cap the number of bound parameters.
        for chunk in keys.chunks(10_000) {
            match r.through {
                None => {
                    let q = Query::from::<A::Related>()
                        .filter(Expr::In(Box::new(Expr::Column { table: rel_table, name: r.related_column }), chunk.to_vec(), false))
                        .order_by(order.clone());
                    for row in op_all(c.reborrow(), q).await? {
                        if let Some(k) = row.get_value(r.related_column).as_ref().and_then(Key::of) {
                            groups.entry(k).or_default().push(row);
                        }
                    }
                }
                Some(t) => {
                    // One query: related rows joined to the join table, tagged with the owner key.
                    let owner_key = Typed::<<A::Owner as Schema>::Id>::new(Expr::Column { table: t.table, name: t.owner_key });
                    let q = Query::from::<A::Related>()
                        .join_table(t.table, Expr::Binary(
                            crate::query::BinOp::Eq,
                            Box::new(Expr::Column { table: t.table, name: t.related_key }),
                            Box::new(Expr::Column { table: rel_table, name: r.related_column }),
                        ))
                        .filter(Expr::In(Box::new(Expr::Column { table: t.table, name: t.owner_key }), chunk.to_vec(), false))
                        .order_by(order.clone())
                        .select((crate::query::All::<A::Related>::new(), owner_key));
                    for (row, owner) in op_all(c.reborrow(), q).await? {
                        if let Some(k) = Key::of(&owner.to_value()) {
                            groups.entry(k).or_default().push(row);
                        }
                    }
                }
            }
        }
        }
    // Owners sharing a key (several posts of one user) each get their own copy.
    let mut uses: HashMap<Key, usize> = HashMap::new();
    for it in items.iter() {
        if let Some(k) = it.get_value(r.owner_column).as_ref().and_then(Key::of) {
            *uses.entry(k).or_default() += 1;
        }
    }
    for it in items.iter_mut() {
        let key = it.get_value(r.owner_column).as_ref().and_then(Key::of);
        let rows = match key {
            Some(k) => {
                let n = uses.get_mut(&k).expect("counted");
                *n -= 1;
                if *n == 0 { groups.remove(&k).unwrap_or_default() } else { clone_rows(groups.get(&k)) }
            }
            None => Vec::new(),
        };
        assoc.assign(it, rows);
    }
    Ok(())
}

fn clone_rows<R: Clone>(rows: Option<&Vec<R>>) -> Vec<R> {
    rows.cloned().unwrap_or_default()
}

// ------------------------------------------------------------------ Multi

type StepResult = Result<Box<dyn Any + Send + Sync>, Error>;
type StepFn = Box<dyn for<'t, 'a> FnOnce(&'t mut Tx<'a>, &'t MultiResults) -> BoxFuture<'t, StepResult> + Send>;

fn step<F>(f: F) -> StepFn
where
    F: for<'t, 'a> FnOnce(&'t mut Tx<'a>, &'t MultiResults) -> BoxFuture<'t, StepResult> + Send + 'static,
{
    Box::new(f)
}

/// A composed transaction (Ecto.Multi): named steps run in order in one transaction;
/// the first failure rolls everything back and is reported with the step's name.
#[derive(Default)]
pub struct Multi {
    steps: Vec<(String, StepFn)>,
}

impl Multi {
    /// An empty Multi.
    pub fn new() -> Self {
        Multi::default()
    }
    fn push(mut self, name: &str, f: StepFn) -> Self {
        assert!(!self.steps.iter().any(|(n, _)| n == name), "Multi step {name:?} is already defined");
        self.steps.push((name.to_string(), f));
        self
    }
    /// Insert a changeset; its result is stored under `name`.
    pub fn insert<S: Schema + Clone>(self, name: &str, cs: Changeset<S>) -> Self {
        self.push(name, step(move |tx, _| Box::pin(async move { tx.insert(cs).await.map(|s| Box::new(s) as Box<dyn Any + Send + Sync>) })))
    }
    /// Update a changeset.
    pub fn update<S: Schema + Clone>(self, name: &str, cs: Changeset<S>) -> Self {
        self.push(name, step(move |tx, _| Box::pin(async move { tx.update(cs).await.map(|s| Box::new(s) as Box<dyn Any + Send + Sync>) })))
    }
    /// Delete a struct.
    pub fn delete<S: Schema + Clone>(self, name: &str, cs: impl Into<Changeset<S>>) -> Self {
        let cs = cs.into();
        self.push(name, step(move |tx, _| Box::pin(async move { tx.delete(cs).await.map(|s| Box::new(s) as Box<dyn Any + Send + Sync>) })))
    }
    /// A custom step with access to the transaction and earlier results.
    pub fn run<T, F>(self, name: &str, f: F) -> Self
    where
        T: Any + Send + Sync,
        F: for<'t, 'a> FnOnce(&'t mut Tx<'a>, &'t MultiResults) -> BoxFuture<'t, Result<T, Error>> + Send + 'static,
    {
        self.push(
            name,
            step(move |tx, res| {
                let fut = f(tx, res);
                Box::pin(async move { fut.await.map(|v| Box::new(v) as Box<dyn Any + Send + Sync>) })
            }),
        )
    }
    /// Run the steps inside an existing transaction.
    pub async fn run_in(self, tx: &mut Tx<'_>) -> Result<MultiResults, MultiError> {
        let mut results = MultiResults { values: Vec::new() };
        for (name, f) in self.steps {
            match f(tx, &results).await {
                Ok(v) => results.values.push((name, v)),
                Err(error) => return Err(MultiError { step: name, error, completed: results.names() }),
            }
        }
        Ok(results)
    }
}

/// The results of a successful [`Multi`], by step name.
pub struct MultiResults {
    values: Vec<(String, Box<dyn Any + Send + Sync>)>,
}

impl MultiResults {
    /// The value of step `name` if it exists and has type `T`.
    pub fn get<T: Any>(&self, name: &str) -> Option<&T> {
        self.values.iter().find(|(n, _)| n == name).and_then(|(_, v)| v.downcast_ref())
    }
    /// Step names in order.
    pub fn names(&self) -> Vec<String> {
        self.values.iter().map(|(n, _)| n.clone()).collect()
    }
}

/// A [`Multi`] step failed: which one, why, and which steps had completed (and were rolled back).
#[derive(Debug)]
pub struct MultiError {
    /// The failing step's name.
    pub step: String,
    /// Its error.
    pub error: Error,
    /// Steps that had succeeded before it (all rolled back).
    pub completed: Vec<String>,
}

impl std::fmt::Display for MultiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "transaction step `{}` failed: {}", self.step, self.error)
    }
}
impl std::error::Error for MultiError {}

// ------------------------------------------------------------------ raw sqlx access

/// Direct access to the sqlx pool or connection behind a [`Repo`] or [`Tx`], for code
/// that needs driver features the portable API does not model (array binds,
/// `FOR UPDATE SKIP LOCKED … RETURNING` batches, `LISTEN`). Statements run through it
/// are not logged by zzz_db. Used by zzz_jobs.
pub enum RawExecutor<'a> {
    /// A SQLite pool (a plain [`Repo`]).
    SqlitePool(&'a SqlitePool),
    /// A Postgres pool (a plain [`Repo`]).
    PgPool(&'a PgPool),
    /// One SQLite connection (inside a [`Tx`] or a sandbox).
    Sqlite(&'a mut sqlx::sqlite::SqliteConnection),
    /// One Postgres connection (inside a [`Tx`] or a sandbox).
    Pg(&'a mut sqlx::postgres::PgConnection),
}

/// A held handle from [`Repo::raw`]; for a sandbox it keeps the sandbox connection
/// locked until dropped.
pub struct RawHandle<'a>(Handle<'a>);

impl RawHandle<'_> {
    /// The executor to run sqlx queries on.
    pub fn executor(&mut self) -> RawExecutor<'_> {
        conn_to_raw(self.0.conn())
    }
}

fn conn_to_raw(c: Conn<'_>) -> RawExecutor<'_> {
    match c {
        Conn::SqlitePool(p) => RawExecutor::SqlitePool(p),
        Conn::PgPool(p) => RawExecutor::PgPool(p),
        Conn::Sqlite(c) => RawExecutor::Sqlite(c),
        Conn::Pg(c) => RawExecutor::Pg(c),
    }
}

impl Repo {
    /// Direct sqlx access (see [`RawExecutor`]). Fails only for a sandbox whose
    /// connection stays locked by an open transaction (see [`Repo::sandbox`]).
    pub async fn raw(&self) -> Result<RawHandle<'_>, Error> {
        Ok(RawHandle(self.handle().await?))
    }
}

impl Tx<'_> {
    /// Direct sqlx access to this transaction's connection (see [`RawExecutor`]).
    pub fn raw(&mut self) -> RawExecutor<'_> {
        conn_to_raw(self.holder.conn())
    }
}
