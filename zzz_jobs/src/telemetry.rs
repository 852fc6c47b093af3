//! Job telemetry: start / stop / exception events, sent to subscribers of
//! [`Runner::subscribe`](crate::Runner::subscribe) and logged with `tracing`
//! (target `zzz_jobs`).

use std::sync::Arc;
use std::time::Duration;

use crate::job::Job;

/// Which moment of an attempt an event reports (Oban's `[:oban, :job, :start | :stop | :exception]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// The attempt began.
    Start,
    /// The attempt ended without an error (completed, cancelled, snoozed or discarded).
    Stop,
    /// The attempt failed (error, panic or timeout).
    Exception,
}

/// How an attempt ended (Oban's `state` metadata).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultState {
    /// Completed.
    Success,
    /// Failed; will be retried.
    Failure,
    /// Cancelled by the worker.
    Cancelled,
    /// Discarded: by the worker, or a failure with no attempts left.
    Discard,
    /// Snoozed.
    Snoozed,
}

/// One telemetry event. `Stop` and `Exception` are sent after the result is written
/// to the database, so a subscriber that sees one can read the job's new state.
#[derive(Debug, Clone)]
pub struct JobEvent {
    /// Start, stop or exception.
    pub kind: EventKind,
    /// The job as it was fetched (state `executing`, attempt already incremented).
    pub job: Arc<Job>,
    /// How the attempt ended (`None` for `Start`).
    pub state: Option<ResultState>,
    /// How long `perform` ran (`None` for `Start`).
    pub duration: Option<Duration>,
    /// Time between `scheduled_at` and the attempt's start.
    pub queue_time: Duration,
    /// The error or cancel/discard reason, if any.
    pub error: Option<String>,
}

pub(crate) fn log(e: &JobEvent) {
    let j = &e.job;
    match e.kind {
        EventKind::Start => tracing::debug!(target: "zzz_jobs", event = "job:start", id = j.id, worker = %j.worker, queue = %j.queue, attempt = j.attempt, queue_time_us = e.queue_time.as_micros() as u64),
        EventKind::Stop => tracing::debug!(target: "zzz_jobs", event = "job:stop", id = j.id, worker = %j.worker, queue = %j.queue, attempt = j.attempt, state = ?e.state, duration_us = e.duration.unwrap_or_default().as_micros() as u64),
        EventKind::Exception => tracing::warn!(target: "zzz_jobs", event = "job:exception", id = j.id, worker = %j.worker, queue = %j.queue, attempt = j.attempt, state = ?e.state, duration_us = e.duration.unwrap_or_default().as_micros() as u64, error = e.error.as_deref().unwrap_or("")),
    }
}
