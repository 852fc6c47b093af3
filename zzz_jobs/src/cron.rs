//! Cron entries: standard 5-field expressions and `@` aliases, in a time zone.

use std::fmt;

use chrono::{DateTime, Timelike, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

use crate::error::JobsError;
use crate::worker::{JobBuilder, Unique, UniqueField, UniqueStates};

/// When a cron entry fires.
#[derive(Clone)]
enum Schedule {
    /// Every minute matching the expression.
    Expr(Box<Cron>),
    /// Once, when the node first becomes leader (`@reboot`).
    Reboot,
}

/// A periodic job: an expression and the job to insert (Oban's `{"0 * * * *", Worker, args: …}`).
///
/// Supported: five fields (minute 0-59, hour 0-23, day of month 1-31, month 1-12 or
/// JAN-DEC, day of week 0-6 or SUN-SAT) with `*`, `n`, `a-b`, `*/n`, `a-b/n` and
/// lists; and `@hourly`, `@daily`/`@midnight`, `@weekly`, `@monthly`,
/// `@yearly`/`@annually`, `@reboot`.
#[derive(Clone)]
pub struct CronEntry {
    expression: String,
    schedule: Schedule,
    pub(crate) job: JobBuilder,
}

impl fmt::Debug for CronEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CronEntry").field("expression", &self.expression).field("worker", &self.job.worker).finish()
    }
}

impl CronEntry {
    /// Parse `expression`; `job` is inserted each time it fires.
    pub fn new(expression: &str, job: JobBuilder) -> Result<CronEntry, JobsError> {
        let expr = expression.trim();
        let err = |m: String| JobsError::InvalidCron { expression: expression.to_string(), message: m };
        let schedule = if expr.eq_ignore_ascii_case("@reboot") {
            Schedule::Reboot
        } else {
            let expr = if expr.eq_ignore_ascii_case("@midnight") { "@daily" } else { expr };
            if !expr.starts_with('@') && expr.split_whitespace().count() != 5 {
                return Err(err(format!("expected 5 fields (minute hour day month weekday), got {}", expr.split_whitespace().count())));
            }
            let parser = CronParser::builder().seconds(Seconds::Disallowed).year(Year::Disallowed).build();
            Schedule::Expr(Box::new(parser.parse(expr).map_err(|e| err(e.to_string()))?))
        };
        Ok(CronEntry { expression: expression.to_string(), schedule, job })
    }

    /// The expression as given.
    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// Whether this is an `@reboot` entry.
    pub fn is_reboot(&self) -> bool {
        matches!(self.schedule, Schedule::Reboot)
    }

    /// Whether the entry fires in the minute containing `at`, in time zone `tz`.
    pub fn matches(&self, at: DateTime<Utc>, tz: Tz) -> bool {
        match &self.schedule {
            Schedule::Reboot => false,
            Schedule::Expr(c) => c.is_time_matching(&minute(at).with_timezone(&tz)).unwrap_or(false),
        }
    }

    /// The job to insert for the minute `at`: tagged in meta with the expression and
    /// the minute, and unique on them forever, so a minute is inserted at most once
    /// even if leadership changes hands within it.
    pub(crate) fn job_for(&self, at: DateTime<Utc>) -> JobBuilder {
        let stamp = if self.is_reboot() { "reboot".to_string() } else { crate::db::ts(minute(at)) };
        let mut job = self.job.clone().meta("cron", true).meta("cron_expr", self.expression.clone());
        if !self.is_reboot() {
            job = job.meta("cron_at", stamp);
            job.unique = Some(
                Unique::new()
                    .fields(&[UniqueField::Worker, UniqueField::Queue, UniqueField::Args, UniqueField::Meta])
                    .infinity()
                    .states(UniqueStates::All),
            );
        }
        job
    }
}

/// `at` truncated to the minute.
pub(crate) fn minute(at: DateTime<Utc>) -> DateTime<Utc> {
    at.with_second(0).and_then(|t| t.with_nanosecond(0)).unwrap_or(at)
}

/// Parse an IANA time zone name.
pub fn parse_timezone(name: &str) -> Result<Tz, JobsError> {
    name.parse::<Tz>().map_err(|_| JobsError::UnknownTimezone(name.to_string()))
}
