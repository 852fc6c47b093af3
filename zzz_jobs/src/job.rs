//! The [`Job`] row, its [`JobState`], and the per-attempt error record.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A job's lifecycle state (Oban's states, minus the Pro-only `suspended`).
///
/// ```text
/// scheduled ──stager──▶ available ──fetch──▶ executing ──ok──▶ completed
///     ▲                     ▲                  │ │ │
///     └──────snooze─────────┼──────────────────┘ │ └──cancel──▶ cancelled
///                           │      error (attempts left)        
///  retryable ──stager───────┘◀───────────────────┘ error (none left) / discard ──▶ discarded
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Waiting for its `scheduled_at` (inserted for later, or snoozed).
    Scheduled,
    /// Ready to be fetched by a queue.
    Available,
    /// Claimed by a node and running.
    Executing,
    /// Failed with attempts left; runs again at `scheduled_at` (the backoff).
    Retryable,
    /// Finished successfully.
    Completed,
    /// Failed for good: attempts exhausted, or discarded by the worker.
    Discarded,
    /// Cancelled by the worker or by [`Jobs::cancel`](crate::Jobs::cancel).
    Cancelled,
}

impl JobState {
    /// Every state.
    pub const ALL: [JobState; 7] = [
        JobState::Scheduled,
        JobState::Available,
        JobState::Executing,
        JobState::Retryable,
        JobState::Completed,
        JobState::Discarded,
        JobState::Cancelled,
    ];

    /// The name stored in the `state` column.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Scheduled => "scheduled",
            JobState::Available => "available",
            JobState::Executing => "executing",
            JobState::Retryable => "retryable",
            JobState::Completed => "completed",
            JobState::Discarded => "discarded",
            JobState::Cancelled => "cancelled",
        }
    }

    /// Whether the job will never run again (completed, discarded or cancelled).
    pub fn is_final(self) -> bool {
        matches!(self, JobState::Completed | JobState::Discarded | JobState::Cancelled)
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `state` value that is not one of the seven job states.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownState(pub String);

impl fmt::Display for UnknownState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown job state `{}`", self.0)
    }
}
impl std::error::Error for UnknownState {}

impl FromStr for JobState {
    type Err = UnknownState;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JobState::ALL.into_iter().find(|st| st.as_str() == s).ok_or_else(|| UnknownState(s.to_string()))
    }
}

/// One failed attempt, appended to [`Job::errors`] (Oban's `%{at, attempt, error}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptError {
    /// When the attempt failed.
    pub at: DateTime<Utc>,
    /// The attempt number that failed (1-based).
    pub attempt: i32,
    /// The error message (a returned error, a panic message, or a timeout).
    pub error: String,
}

/// A job row: every column of the `zzz_jobs` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// Primary key.
    pub id: i64,
    /// Lifecycle state.
    pub state: JobState,
    /// Queue name.
    pub queue: String,
    /// Worker name ([`Worker::NAME`](crate::Worker::NAME)).
    pub worker: String,
    /// Arguments as JSON (the worker's serde-serialized `Args`).
    pub args: serde_json::Value,
    /// Free-form metadata (a JSON object); `snoozed` counts snoozes.
    pub meta: serde_json::Value,
    /// Tags.
    pub tags: Vec<String>,
    /// One entry per failed attempt, oldest first.
    pub errors: Vec<AttemptError>,
    /// Attempts started so far (0 before the first run).
    pub attempt: i32,
    /// Who claimed the latest attempt: `[node]` (Oban's `attempted_by`).
    pub attempted_by: Vec<String>,
    /// Attempts allowed before the job is discarded.
    pub max_attempts: i32,
    /// 0 (highest) … 9 (lowest).
    pub priority: i32,
    /// When the job was inserted.
    pub inserted_at: DateTime<Utc>,
    /// When the job becomes (or became) available.
    pub scheduled_at: DateTime<Utc>,
    /// When the latest attempt started.
    pub attempted_at: Option<DateTime<Utc>>,
    /// When the job completed.
    pub completed_at: Option<DateTime<Utc>>,
    /// When the job was discarded.
    pub discarded_at: Option<DateTime<Utc>>,
    /// When the job was cancelled.
    pub cancelled_at: Option<DateTime<Utc>>,
    /// Set on the job returned by an insert when a unique job already existed: this
    /// is that existing job (possibly updated by `replace`), and nothing was inserted.
    /// Not a column.
    #[serde(default)]
    pub conflict: bool,
}

impl Job {
    /// The number of times this job was snoozed (`meta.snoozed`).
    pub fn snoozed(&self) -> i64 {
        self.meta.get("snoozed").and_then(|v| v.as_i64()).unwrap_or(0)
    }

    /// The node that ran the latest attempt.
    pub fn attempted_by_node(&self) -> Option<&str> {
        self.attempted_by.first().map(String::as_str)
    }
}
