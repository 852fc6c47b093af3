//! Low-level execution on either backend: arguments, logging, transactions.

use std::time::Instant;

use sqlx::{Arguments, AssertSqlSafe, Database, Postgres, Sqlite};
use sqlx_core::transaction::TransactionManager;
use sqlx::postgres::{PgArguments, PgConnection, PgPool};
use sqlx::sqlite::{SqliteArguments, SqliteConnection, SqlitePool};
use futures_util::TryStreamExt;

use crate::error::{Error, from_sqlx};
use crate::sql::{Dialect, Sql};
use crate::value::{Row, Value};

/// A borrowed place to run statements: a pool or one connection.
pub(crate) enum Conn<'a> {
    SqlitePool(&'a SqlitePool),
    PgPool(&'a PgPool),
    Sqlite(&'a mut SqliteConnection),
    Pg(&'a mut PgConnection),
}

fn sqlite_args(args: Vec<Value>) -> Result<SqliteArguments, Error> {
    let mut a = SqliteArguments::default();
    for v in args {
        let r = match v {
            Value::Null => a.add(Option::<i64>::None),
            Value::Bool(b) => a.add(b),
            Value::Int(i) => a.add(i),
            Value::Float(f) => a.add(f),
            Value::Text(s) => a.add(s),
            Value::Bytes(b) => a.add(b),
            Value::Json(j) => a.add(sqlx::types::Json(j)),
            Value::Uuid(u) => a.add(u.hyphenated().to_string()),
            Value::DateTime(d) => a.add(d),
            Value::DateTimeUtc(d) => a.add(d),
            Value::Date(d) => a.add(d),
        };
        r.map_err(|e| Error::Pool(format!("cannot encode parameter: {e}")))?;
    }
    Ok(a)
}

fn pg_args(args: Vec<Value>) -> Result<PgArguments, Error> {
    let mut a = PgArguments::default();
    for v in args {
        let r = match v {
            Value::Null => a.add(Option::<String>::None),
            Value::Bool(b) => a.add(b),
            Value::Int(i) => a.add(i),
            Value::Float(f) => a.add(f),
            Value::Text(s) => a.add(s),
            Value::Bytes(b) => a.add(b),
            Value::Json(j) => a.add(sqlx::types::Json(j)),
            Value::Uuid(u) => a.add(u),
            Value::DateTime(d) => a.add(d),
            Value::DateTimeUtc(d) => a.add(d),
            Value::Date(d) => a.add(d),
        };
        r.map_err(|e| Error::Pool(format!("cannot encode parameter: {e}")))?;
    }
    Ok(a)
}

fn log(sql: &str, nargs: usize, start: Instant, rows: Option<usize>) {
    tracing::debug!(target: "zzz_db", sql, params = nargs, elapsed_us = start.elapsed().as_micros() as u64, rows, "query");
}

macro_rules! run {
    ($self:ident, $sql:ident, |$q:ident, $ex:ident| $body:expr) => {{
        let Sql { text, args, .. } = $sql;
        let nargs = args.len();
        let start = Instant::now();
        let res = match $self {
            Conn::SqlitePool(p) => {
                let $q = sqlx::query_with(AssertSqlSafe(text.clone()), sqlite_args(args)?);
                let $ex = *p;
                $body.map(Wrap::from_sqlite)
            }
            Conn::Sqlite(c) => {
                let $q = sqlx::query_with(AssertSqlSafe(text.clone()), sqlite_args(args)?);
                let $ex = &mut **c;
                $body.map(Wrap::from_sqlite)
            }
            Conn::PgPool(p) => {
                let $q = sqlx::query_with(AssertSqlSafe(text.clone()), pg_args(args)?);
                let $ex = *p;
                $body.map(Wrap::from_pg)
            }
            Conn::Pg(c) => {
                let $q = sqlx::query_with(AssertSqlSafe(text.clone()), pg_args(args)?);
                let $ex = &mut **c;
                $body.map(Wrap::from_pg)
            }
        };
        match res {
            Ok(v) => {
                log(&text, nargs, start, v.count());
                Ok(v)
            }
            Err(e) => {
                tracing::debug!(target: "zzz_db", sql = %text, error = %e, "query failed");
                Err(from_sqlx(e, Some(&text)))
            }
        }
    }};
}

/// Uniform result shapes from both drivers.
pub(crate) trait Wrap: Sized {
    fn from_sqlite<T: IntoWrap<Self>>(t: T) -> Self {
        t.into_wrap_sqlite()
    }
    fn from_pg<T: IntoWrap<Self>>(t: T) -> Self {
        t.into_wrap_pg()
    }
    fn count(&self) -> Option<usize>;
}
pub(crate) trait IntoWrap<W> {
    fn into_wrap_sqlite(self) -> W;
    fn into_wrap_pg(self) -> W;
}
impl Wrap for Vec<Row> {
    fn count(&self) -> Option<usize> {
        Some(self.len())
    }
}
impl IntoWrap<Vec<Row>> for Vec<sqlx::sqlite::SqliteRow> {
    fn into_wrap_sqlite(self) -> Vec<Row> {
        self.into_iter().map(Row::Sqlite).collect()
    }
    fn into_wrap_pg(self) -> Vec<Row> {
        unreachable!()
    }
}
impl IntoWrap<Vec<Row>> for Vec<sqlx::postgres::PgRow> {
    fn into_wrap_sqlite(self) -> Vec<Row> {
        unreachable!()
    }
    fn into_wrap_pg(self) -> Vec<Row> {
        self.into_iter().map(Row::Postgres).collect()
    }
}
pub(crate) struct Affected(pub u64);
impl Wrap for Affected {
    fn count(&self) -> Option<usize> {
        Some(self.0 as usize)
    }
}
impl IntoWrap<Affected> for sqlx::sqlite::SqliteQueryResult {
    fn into_wrap_sqlite(self) -> Affected {
        Affected(self.rows_affected())
    }
    fn into_wrap_pg(self) -> Affected {
        unreachable!()
    }
}
impl IntoWrap<Affected> for sqlx::postgres::PgQueryResult {
    fn into_wrap_sqlite(self) -> Affected {
        unreachable!()
    }
    fn into_wrap_pg(self) -> Affected {
        Affected(self.rows_affected())
    }
}

impl Conn<'_> {
    pub(crate) fn dialect(&self) -> Dialect {
        match self {
            Conn::SqlitePool(_) | Conn::Sqlite(_) => Dialect::Sqlite,
            Conn::PgPool(_) | Conn::Pg(_) => Dialect::Postgres,
        }
    }

    pub(crate) fn reborrow(&mut self) -> Conn<'_> {
        match self {
            Conn::SqlitePool(p) => Conn::SqlitePool(p),
            Conn::PgPool(p) => Conn::PgPool(p),
            Conn::Sqlite(c) => Conn::Sqlite(c),
            Conn::Pg(c) => Conn::Pg(c),
        }
    }

    pub(crate) async fn fetch_all(&mut self, sql: Sql) -> Result<Vec<Row>, Error> {
        run!(self, sql, |q, ex| q.fetch_all(ex).await)
    }

    /// Fetch and decode every row without an intermediate `Vec<Row>`.
    pub(crate) async fn fetch_map<O>(&mut self, sql: Sql, decode: fn(&Row) -> Result<O, Error>) -> Result<Vec<O>, Error> {
        let Sql { text, args, .. } = sql;
        let nargs = args.len();
        let start = Instant::now();
        let res = match self {
            Conn::SqlitePool(p) => sqlx::query_with(AssertSqlSafe(text.clone()), sqlite_args(args)?)
                .fetch_all(*p)
                .await
                .map(|rows| rows.into_iter().map(|r| decode(&Row::Sqlite(r))).collect::<Result<Vec<O>, Error>>()),
            Conn::Sqlite(c) => sqlx::query_with(AssertSqlSafe(text.clone()), sqlite_args(args)?)
                .fetch_all(&mut **c)
                .await
                .map(|rows| rows.into_iter().map(|r| decode(&Row::Sqlite(r))).collect::<Result<Vec<O>, Error>>()),
            Conn::PgPool(p) => sqlx::query_with(AssertSqlSafe(text.clone()), pg_args(args)?)
                .fetch_all(*p)
                .await
                .map(|rows| rows.into_iter().map(|r| decode(&Row::Postgres(r))).collect::<Result<Vec<O>, Error>>()),
            Conn::Pg(c) => sqlx::query_with(AssertSqlSafe(text.clone()), pg_args(args)?)
                .fetch_all(&mut **c)
                .await
                .map(|rows| rows.into_iter().map(|r| decode(&Row::Postgres(r))).collect::<Result<Vec<O>, Error>>()),
        };
        match res {
            Ok(v) => {
                let v = v?;
                log(&text, nargs, start, Some(v.len()));
                Ok(v)
            }
            Err(e) => {
                tracing::debug!(target: "zzz_db", sql = %text, error = %e, "query failed");
                Err(from_sqlx(e, Some(&text)))
            }
        }
    }

    pub(crate) async fn execute(&mut self, sql: Sql) -> Result<u64, Error> {
        let r: Result<Affected, Error> = run!(self, sql, |q, ex| q.execute(ex).await);
        r.map(|a| a.0)
    }

    /// Run a statement with no parameters (DDL, PRAGMA, transaction control).
    pub(crate) async fn execute_raw(&mut self, text: &str) -> Result<(), Error> {
        let start = Instant::now();
        let r = match self {
            Conn::SqlitePool(p) => sqlx::raw_sql(AssertSqlSafe(text.to_string())).execute(*p).await.map(|_| ()),
            Conn::Sqlite(c) => sqlx::raw_sql(AssertSqlSafe(text.to_string())).execute(&mut **c).await.map(|_| ()),
            Conn::PgPool(p) => sqlx::raw_sql(AssertSqlSafe(text.to_string())).execute(*p).await.map(|_| ()),
            Conn::Pg(c) => sqlx::raw_sql(AssertSqlSafe(text.to_string())).execute(&mut **c).await.map(|_| ()),
        };
        log(text, 0, start, None);
        r.map_err(|e| from_sqlx(e, Some(text)))
    }

    /// Stream rows one by one (pool or connection), decoding each with `decode`.
    pub(crate) fn stream<'s, O: Send + 's>(
        self,
        sql: Sql,
        decode: fn(&Row) -> Result<O, Error>,
    ) -> futures_util::stream::BoxStream<'s, Result<O, Error>>
    where
        Self: 's,
    {
        use futures_util::StreamExt;
        let Sql { text, args, .. } = sql;
        match self {
            Conn::SqlitePool(p) => match sqlite_args(args) {
                Ok(a) => sqlx::query_with(AssertSqlSafe(text), a)
                    .fetch(p)
                    .map_err(|e| from_sqlx(e, None))
                    .and_then(move |r| futures_util::future::ready(decode(&Row::Sqlite(r))))
                    .boxed(),
                Err(e) => futures_util::stream::once(async { Err(e) }).boxed(),
            },
            Conn::PgPool(p) => match pg_args(args) {
                Ok(a) => sqlx::query_with(AssertSqlSafe(text), a)
                    .fetch(p)
                    .map_err(|e| from_sqlx(e, None))
                    .and_then(move |r| futures_util::future::ready(decode(&Row::Postgres(r))))
                    .boxed(),
                Err(e) => futures_util::stream::once(async { Err(e) }).boxed(),
            },
            Conn::Sqlite(c) => match sqlite_args(args) {
                Ok(a) => sqlx::query_with(AssertSqlSafe(text), a)
                    .fetch(c)
                    .map_err(|e| from_sqlx(e, None))
                    .and_then(move |r| futures_util::future::ready(decode(&Row::Sqlite(r))))
                    .boxed(),
                Err(e) => futures_util::stream::once(async { Err(e) }).boxed(),
            },
            Conn::Pg(c) => match pg_args(args) {
                Ok(a) => sqlx::query_with(AssertSqlSafe(text), a)
                    .fetch(c)
                    .map_err(|e| from_sqlx(e, None))
                    .and_then(move |r| futures_util::future::ready(decode(&Row::Postgres(r))))
                    .boxed(),
                Err(e) => futures_util::stream::once(async { Err(e) }).boxed(),
            },
        }
    }
}

/// An owned or borrowed single connection used by transactions and the sandbox.
pub(crate) enum RawConn {
    Sqlite(SqliteConnection),
    Pg(PgConnection),
}

impl RawConn {
    pub(crate) fn conn(&mut self) -> Conn<'_> {
        match self {
            RawConn::Sqlite(c) => Conn::Sqlite(c),
            RawConn::Pg(c) => Conn::Pg(c),
        }
    }
}

pub(crate) async fn tx_begin(c: Conn<'_>) -> Result<(), Error> {
    tx_begin_with(c, None).await
}

/// Begin with a custom statement on SQLite (e.g. `BEGIN IMMEDIATE`); ignored when nested.
pub(crate) async fn tx_begin_with(c: Conn<'_>, sqlite_stmt: Option<&'static str>) -> Result<(), Error> {
    match c {
        Conn::Sqlite(c) => {
            let depth = <<Sqlite as Database>::TransactionManager as TransactionManager>::get_transaction_depth(c);
            let stmt = if depth == 0 { sqlite_stmt.map(sqlx::SqlStr::from_static) } else { None };
            <<Sqlite as Database>::TransactionManager as TransactionManager>::begin(c, stmt).await
        }
        Conn::Pg(c) => <<Postgres as Database>::TransactionManager as TransactionManager>::begin(c, None).await,
        _ => unreachable!("transactions run on a connection"),
    }
    .map_err(|e| from_sqlx(e, Some("BEGIN")))
}

pub(crate) async fn tx_commit(c: Conn<'_>) -> Result<(), Error> {
    match c {
        Conn::Sqlite(c) => <<Sqlite as Database>::TransactionManager as TransactionManager>::commit(c).await,
        Conn::Pg(c) => <<Postgres as Database>::TransactionManager as TransactionManager>::commit(c).await,
        _ => unreachable!("transactions run on a connection"),
    }
    .map_err(|e| from_sqlx(e, Some("COMMIT")))
}

pub(crate) async fn tx_rollback(c: Conn<'_>) -> Result<(), Error> {
    match c {
        Conn::Sqlite(c) => <<Sqlite as Database>::TransactionManager as TransactionManager>::rollback(c).await,
        Conn::Pg(c) => <<Postgres as Database>::TransactionManager as TransactionManager>::rollback(c).await,
        _ => unreachable!("transactions run on a connection"),
    }
    .map_err(|e| from_sqlx(e, Some("ROLLBACK")))
}

pub(crate) fn tx_start_rollback(c: Conn<'_>) {
    match c {
        Conn::Sqlite(c) => <<Sqlite as Database>::TransactionManager as TransactionManager>::start_rollback(c),
        Conn::Pg(c) => <<Postgres as Database>::TransactionManager as TransactionManager>::start_rollback(c),
        _ => {}
    }
}

pub(crate) fn tx_depth(c: &Conn<'_>) -> usize {
    match c {
        Conn::Sqlite(c) => <<Sqlite as Database>::TransactionManager as TransactionManager>::get_transaction_depth(c),
        Conn::Pg(c) => <<Postgres as Database>::TransactionManager as TransactionManager>::get_transaction_depth(c),
        _ => 0,
    }
}
