//! Error types. Each failure kind has its own small type; [`Error`] wraps them all.

use std::fmt;

use crate::changeset::Errors;

/// Every error returned by zzz_db.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The database URL could not be used (unknown scheme, bad options, unreachable server).
    Connect(ConnectError),
    /// A changeset was invalid (validation or constraint errors); no write happened.
    Changeset(ChangesetError),
    /// The database rejected a statement.
    Database(DbError),
    /// A column value could not be decoded into the Rust field type.
    Decode(DecodeError),
    /// `fetch` / `fetch_by` found no row (Ecto's `Ecto.NoResultsError`).
    NotFound(NotFoundError),
    /// `one` / `get_by` found more than one row.
    MultipleResults(MultipleResultsError),
    /// `update`/`delete` found no row with the given primary key (stale data).
    Stale(StaleError),
    /// A migration failed or the migration set is inconsistent.
    Migration(MigrationError),
    /// The query cannot be rendered (for example `update_all` with a join).
    Query(QueryError),
    /// A pool or I/O level failure (timeout, closed pool, lost connection).
    Pool(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Connect(e) => e.fmt(f),
            Error::Changeset(e) => e.fmt(f),
            Error::Database(e) => e.fmt(f),
            Error::Decode(e) => e.fmt(f),
            Error::NotFound(e) => e.fmt(f),
            Error::MultipleResults(e) => e.fmt(f),
            Error::Stale(e) => e.fmt(f),
            Error::Migration(e) => e.fmt(f),
            Error::Query(e) => e.fmt(f),
            Error::Pool(m) => write!(f, "database pool error: {m}"),
        }
    }
}

impl std::error::Error for Error {}

impl Error {
    /// The changeset errors if this is [`Error::Changeset`].
    pub fn changeset_errors(&self) -> Option<&Errors> {
        match self {
            Error::Changeset(c) => Some(&c.errors),
            _ => None,
        }
    }
    /// Name the column of a decode error (used by the schema derive).
    #[doc(hidden)]
    pub fn with_column(self, column: &str) -> Error {
        match self {
            Error::Decode(mut d) => {
                d.column = column.to_string();
                Error::Decode(d)
            }
            other => other,
        }
    }
    /// The database error if this is [`Error::Database`].
    pub fn db_error(&self) -> Option<&DbError> {
        match self {
            Error::Database(d) => Some(d),
            _ => None,
        }
    }
}

/// The URL or options given to [`crate::Repo::connect`] could not be used.
#[derive(Debug)]
pub struct ConnectError {
    /// The URL with any password removed.
    pub url: String,
    /// What went wrong.
    pub message: String,
}
impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot connect to database `{}`: {}", self.url, self.message)
    }
}

/// A changeset was invalid: validation errors or a declared constraint violated.
#[derive(Debug, Clone)]
pub struct ChangesetError {
    /// The table the write was aimed at.
    pub table: &'static str,
    /// The field errors.
    pub errors: Errors,
}
impl fmt::Display for ChangesetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid changeset for `{}`: ", self.table)?;
        let mut first = true;
        for (field, e) in self.errors.iter() {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            write!(f, "{field} {}", e.message())?;
        }
        Ok(())
    }
}

/// The class of a database error, so callers can match on it (retry serialization
/// failures and deadlocks, report constraint violations).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DbErrorKind {
    /// Unique or primary-key violation.
    UniqueViolation,
    /// Foreign-key violation.
    ForeignKeyViolation,
    /// NOT NULL violation.
    NotNullViolation,
    /// CHECK constraint violation.
    CheckViolation,
    /// Serialization failure (Postgres SQLSTATE 40001); retry the transaction.
    SerializationFailure,
    /// Deadlock detected (Postgres 40P01) or database locked/busy (SQLite).
    Deadlock,
    /// Statement timeout / lock timeout / query canceled.
    Timeout,
    /// Syntax error or undefined table/column.
    Syntax,
    /// Anything else.
    Other,
}

/// The database rejected a statement.
#[derive(Debug, Clone)]
pub struct DbError {
    /// Classified kind.
    pub kind: DbErrorKind,
    /// The driver's message.
    pub message: String,
    /// SQLSTATE (Postgres) or extended result code (SQLite), when known.
    pub code: Option<String>,
    /// The constraint name, when the database reported one (or one derived like Ecto's
    /// SQLite adapter does: `<table>_<columns>_index` for unique violations).
    pub constraint: Option<String>,
    /// The SQL that failed (parameters are never included).
    pub sql: Option<String>,
}
impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "database error ({:?}", self.kind)?;
        if let Some(c) = &self.code {
            write!(f, ", code {c}")?;
        }
        if let Some(c) = &self.constraint {
            write!(f, ", constraint `{c}`")?;
        }
        write!(f, "): {}", self.message)?;
        if let Some(s) = &self.sql {
            write!(f, " in `{s}`")?;
        }
        Ok(())
    }
}

/// A value read from the database did not fit the Rust field.
#[derive(Debug, Clone)]
pub struct DecodeError {
    /// Column index or name.
    pub column: String,
    /// The Rust type expected.
    pub expected: &'static str,
    /// What went wrong.
    pub message: String,
}
impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot decode column `{}` as {}: {}", self.column, self.expected, self.message)
    }
}

/// No row matched where exactly one was expected.
#[derive(Debug, Clone)]
pub struct NotFoundError {
    /// The table queried.
    pub table: &'static str,
    /// What was looked for (`id = 5`), values rendered for the message only.
    pub lookup: String,
}
impl fmt::Display for NotFoundError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "expected one row in `{}` where {}, found none", self.table, self.lookup)
    }
}

/// More than one row was returned where at most one was expected.
#[derive(Debug, Clone)]
pub struct MultipleResultsError {
    /// The table queried.
    pub table: &'static str,
    /// How many rows came back (at least 2).
    pub count: usize,
}
impl fmt::Display for MultipleResultsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "expected at most one result from `{}` but got {}", self.table, self.count)
    }
}

/// An update or delete matched no row.
#[derive(Debug, Clone)]
pub struct StaleError {
    /// The table.
    pub table: &'static str,
    /// The primary key value, rendered for the message.
    pub id: String,
}
impl fmt::Display for StaleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "attempted to update or delete a stale entry: no row in `{}` with primary key {}", self.table, self.id)
    }
}

/// A migration failed.
#[derive(Debug, Clone)]
pub struct MigrationError {
    /// The migration version, if the failure belongs to one.
    pub version: Option<i64>,
    /// What went wrong.
    pub message: String,
}
impl fmt::Display for MigrationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.version {
            Some(v) => write!(f, "migration {v} failed: {}", self.message),
            None => write!(f, "migration error: {}", self.message),
        }
    }
}

/// A query that cannot be rendered or executed as asked.
#[derive(Debug, Clone)]
pub struct QueryError {
    /// What is wrong with the query.
    pub message: String,
}
impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid query: {}", self.message)
    }
}

pub(crate) fn query_err(msg: impl Into<String>) -> Error {
    Error::Query(QueryError { message: msg.into() })
}

/// Convert a sqlx error into ours, classifying database errors.
pub(crate) fn from_sqlx(e: sqlx::Error, sql: Option<&str>) -> Error {
    match e {
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.into_owned());
            let message = db.message().to_string();
            let mut constraint = db.constraint().map(|s| s.to_string());
            let kind = match db.kind() {
                sqlx::error::ErrorKind::UniqueViolation => DbErrorKind::UniqueViolation,
                sqlx::error::ErrorKind::ForeignKeyViolation => DbErrorKind::ForeignKeyViolation,
                sqlx::error::ErrorKind::NotNullViolation => DbErrorKind::NotNullViolation,
                sqlx::error::ErrorKind::CheckViolation => DbErrorKind::CheckViolation,
                _ => match code.as_deref() {
                    Some("40001") => DbErrorKind::SerializationFailure,
                    Some("40P01") => DbErrorKind::Deadlock,
                    Some("57014") | Some("55P03") => DbErrorKind::Timeout,
                    Some(c) if c.starts_with("42") => DbErrorKind::Syntax,
                    // SQLite: SQLITE_BUSY (5) and SQLITE_LOCKED (6) and their extended codes.
                    Some(c) if is_sqlite_busy(c) => DbErrorKind::Deadlock,
                    _ if message.contains("FOREIGN KEY constraint failed") => DbErrorKind::ForeignKeyViolation,
                    _ if message.contains("syntax error") || message.starts_with("no such") => DbErrorKind::Syntax,
                    _ => DbErrorKind::Other,
                },
            };
            if constraint.is_none() {
                constraint = sqlite_constraint_name(kind, &message);
            }
            Error::Database(DbError { kind, message, code, constraint, sql: sql.map(str::to_string) })
        }
        sqlx::Error::PoolTimedOut => Error::Pool("timed out waiting for a connection from the pool".into()),
        sqlx::Error::PoolClosed => Error::Pool("the pool is closed".into()),
        sqlx::Error::ColumnDecode { index, source } => Error::Decode(DecodeError {
            column: index,
            expected: "field type",
            message: source.to_string(),
        }),
        other => Error::Pool(other.to_string()),
    }
}

fn is_sqlite_busy(code: &str) -> bool {
    match code.parse::<i64>() {
        Ok(n) => n & 0xff == 5 || n & 0xff == 6,
        Err(_) => false,
    }
}

/// Derive a constraint name from SQLite's message the way Ecto's SQLite adapter does.
fn sqlite_constraint_name(kind: DbErrorKind, message: &str) -> Option<String> {
    match kind {
        DbErrorKind::UniqueViolation => {
            // "UNIQUE constraint failed: users.email, users.org_id"
            let rest = message.split("constraint failed: ").nth(1)?;
            let mut table = None;
            let mut cols = Vec::new();
            for part in rest.split(',') {
                let part = part.trim();
                let (t, c) = part.split_once('.')?;
                table.get_or_insert(t.to_string());
                cols.push(c.to_string());
            }
            Some(format!("{}_{}_index", table?, cols.join("_")))
        }
        DbErrorKind::CheckViolation => {
            // "CHECK constraint failed: price_positive"
            message.split("constraint failed: ").nth(1).map(|s| s.trim().to_string())
        }
        _ => None,
    }
}
