//! [`JobsError`]: everything that can go wrong outside a job's own `perform`.

use std::fmt;

/// An error from inserting, fetching, configuring or managing jobs.
#[derive(Debug)]
pub enum JobsError {
    /// A job option is out of range (priority, max_attempts, empty queue or worker name).
    InvalidJob {
        /// The option.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// A worker's `Args` could not be serialized to JSON.
    ArgsEncode {
        /// The worker.
        worker: String,
        /// The serde error.
        message: String,
    },
    /// A cron expression could not be parsed.
    InvalidCron {
        /// The expression.
        expression: String,
        /// Why.
        message: String,
    },
    /// A time zone name is not in the IANA database.
    UnknownTimezone(String),
    /// A database statement failed.
    Database(sqlx::Error),
    /// A zzz_db operation (connect, migrate) failed.
    Repo(zzz_db::Error),
    /// A stored row could not be decoded into a [`Job`](crate::Job).
    Decode(String),
    /// The runner was configured wrongly (e.g. a queue with limit 0, a duplicate worker).
    Config(String),
    /// No job with this id.
    NotFound(i64),
}

impl fmt::Display for JobsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JobsError::InvalidJob { field, message } => write!(f, "invalid job option `{field}`: {message}"),
            JobsError::ArgsEncode { worker, message } => write!(f, "cannot encode args for worker `{worker}`: {message}"),
            JobsError::InvalidCron { expression, message } => write!(f, "invalid cron expression `{expression}`: {message}"),
            JobsError::UnknownTimezone(tz) => write!(f, "unknown time zone `{tz}` (expected an IANA name like `Europe/Paris`)"),
            JobsError::Database(e) => write!(f, "jobs database error: {e}"),
            JobsError::Repo(e) => write!(f, "jobs repo error: {e}"),
            JobsError::Decode(m) => write!(f, "cannot decode job row: {m}"),
            JobsError::Config(m) => write!(f, "invalid jobs configuration: {m}"),
            JobsError::NotFound(id) => write!(f, "no job with id {id}"),
        }
    }
}

impl std::error::Error for JobsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            JobsError::Database(e) => Some(e),
            JobsError::Repo(e) => Some(e),
            _ => None,
        }
    }
}

impl From<sqlx::Error> for JobsError {
    fn from(e: sqlx::Error) -> Self {
        JobsError::Database(e)
    }
}

impl From<zzz_db::Error> for JobsError {
    fn from(e: zzz_db::Error) -> Self {
        JobsError::Repo(e)
    }
}

impl From<JobsError> for zzz_db::Error {
    /// Lets `?` on a jobs insert work inside `Repo::transaction` closures whose error
    /// type is `zzz_db::Error`.
    fn from(e: JobsError) -> Self {
        match e {
            JobsError::Repo(e) => e,
            other => zzz_db::Error::Query(zzz_db::error::QueryError { message: other.to_string() }),
        }
    }
}
