//! # zzz_jobs
//!
//! An Oban-like job queue on [`zzz_db`]: jobs are rows in a `zzz_jobs` table, so they
//! are as durable as your data, can be inserted in the same transaction as it, and
//! any number of nodes can share one Postgres database (claims use
//! `FOR UPDATE SKIP LOCKED`). SQLite works too, for one node.
//!
//! * **Workers** implement [`Worker`]: typed serde args, a name, default queue,
//!   priority, attempts, timeout, backoff and unique options.
//! * **Results**: `Ok(Outcome::Complete)`, `Err(_)` (retry after backoff, discard when
//!   out of attempts), `Outcome::Cancel`, `Outcome::Snooze(d)`, `Outcome::Discard`.
//!   A panic or a timeout is an error, never a dead worker.
//! * **States** as Oban: scheduled, available, executing, retryable, completed,
//!   discarded, cancelled ([`JobState`]); every failed attempt is kept in [`Job::errors`].
//! * **A node** is a [`Runner`]: queues with per-node limits (pause/resume/scale at
//!   runtime), instant dispatch via `LISTEN/NOTIFY` on Postgres with polling as
//!   fallback, and one leader (a lease in `zzz_peers`) running the stager, pruner,
//!   lifeline and cron. [`Runner::shutdown`] drains gracefully.
//! * **Unique jobs** ([`Unique`]), **cron** ([`CronEntry`]), **telemetry**
//!   ([`Runner::subscribe`]) and **test helpers** ([`testing`]).
//!
//! ```no_run
//! use std::time::Duration;
//! use serde::{Deserialize, Serialize};
//! use zzz_jobs::{Job, Jobs, Outcome, PerformResult, Registry, Runner, Worker};
//!
//! #[derive(Serialize, Deserialize)]
//! struct Args { to: String }
//!
//! struct Mailer;
//! impl Worker for Mailer {
//!     type Args = Args;
//!     const NAME: &'static str = "Mailer";
//!     const QUEUE: &'static str = "mailers";
//!     async fn perform(&self, _job: &Job, args: Args) -> PerformResult {
//!         println!("mail to {}", args.to);
//!         Ok(Outcome::Complete)
//!     }
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let repo = zzz_db::Repo::connect("sqlite://app.db").await?;
//! Jobs::migrate(&repo).await?;
//!
//! // Enqueue, alone or in the same transaction as application data.
//! Jobs::insert(&repo, Mailer::new(Args { to: "a@example.com".into() })).await?;
//! let mut tx = repo.begin().await?;
//! tx.execute_sql("UPDATE users SET invited = 1", vec![]).await?;
//! Jobs::insert_in(&mut tx, Mailer::new(Args { to: "b@example.com".into() }).schedule_in(Duration::from_secs(60))).await?;
//! tx.commit().await?;
//!
//! // Run a node.
//! let runner = Runner::builder(&repo)
//!     .queue("mailers", 10)
//!     .registry(Registry::new().register(Mailer))
//!     .start()
//!     .await?;
//! // … on SIGTERM:
//! runner.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! ## Guarantees and how they are kept
//!
//! * **At-least-once.** A job is claimed (`available → executing`) in one statement
//!   (`WITH … FOR UPDATE SKIP LOCKED … UPDATE … RETURNING` on Postgres, an
//!   `UPDATE … RETURNING` in a `BEGIN IMMEDIATE` transaction on SQLite), so two nodes
//!   never claim the same attempt. Results are written in batches right after the
//!   attempt ends; a node that dies first loses nothing — its jobs stay `executing`
//!   until the leader's lifeline sees the node's heartbeat expire (`peer_ttl`, 30 s by
//!   default) and makes them `available` again, so they may run twice.
//! * **Results only apply to executing jobs**, so a job cancelled while running stays
//!   cancelled.
//! * **One leader** at a time holds a lease row in `zzz_peers`
//!   (renewed every `peer_ttl / 3`; taken over when it expires, at once when the
//!   leader shuts down). It runs the stager, pruner, lifeline and cron. Cron jobs are
//!   also unique per (entry, minute), so a minute is never inserted twice even across
//!   a change of leader.
//! * **Transactional enqueue**: [`Jobs::insert_in`] writes through the caller's
//!   [`Tx`]; on Postgres the insert trigger's `NOTIFY` is only delivered at commit.
//!
//! A [`Runner`] keeps running until [`Runner::shutdown`]; dropping the handle does not
//! stop it. On Postgres it holds one connection of the repo's pool for `LISTEN`.
//!
//! Not here yet: the read-only dashboard page (it belongs with the `zzz` web crate;
//! [`Jobs::counts`] and [`Jobs::list`] give it its data).
#![warn(missing_docs)]

mod cron;
mod db;
mod error;
mod job;
mod migration;
mod runner;
pub mod telemetry;
pub mod testing;
mod worker;

use std::sync::{Arc, Mutex, Weak};

use chrono::Utc;
use zzz_db::{Repo, Tx};

pub use cron::{CronEntry, parse_timezone};
pub use error::JobsError;
pub use job::{AttemptError, Job, JobState, UnknownState};
pub use migration::{MIGRATION_VERSION, migrate, migrations};
pub use runner::{Lifeline, Pruner, Runner, RunnerBuilder, ShutdownReport};
pub use telemetry::{EventKind, JobEvent, ResultState};
pub use worker::{
    JobBuilder, JobFailure, Outcome, PerformResult, Registry, ReplaceField, Unique, UniqueField, UniqueStates, UniqueTimestamp, Worker,
    backoff, backoff_base,
};

/// Re-exported for [`Runner::builder`]'s `timezone`.
pub use chrono_tz::Tz;

/// Inserting and managing jobs without a running node.
#[derive(Debug, Clone, Copy)]
pub struct Jobs;

impl Jobs {
    /// Create the jobs tables (runs [`migrations()`]; idempotent).
    pub async fn migrate(repo: &Repo) -> Result<(), JobsError> {
        migrate(repo).await
    }

    /// Insert one job. A unique job that conflicts returns the existing job with
    /// [`Job::conflict`] set.
    pub async fn insert(repo: &Repo, job: JobBuilder) -> Result<Job, JobsError> {
        let mut v = Self::insert_all(repo, vec![job]).await?;
        Ok(v.remove(0))
    }

    /// Insert many jobs in one statement (unique ones are checked one by one, in the
    /// same transaction). The result is in input order.
    pub async fn insert_all(repo: &Repo, jobs: Vec<JobBuilder>) -> Result<Vec<Job>, JobsError> {
        let new = prepare_all(jobs)?;
        let out = {
            let mut h = repo.raw().await?;
            db::insert(&mut h.executor(), new).await?
        };
        wake_local(&out);
        Ok(out)
    }

    /// Insert one job inside a transaction: it exists if and only if the transaction
    /// commits. On Postgres nodes are notified at commit.
    pub async fn insert_in(tx: &mut Tx<'_>, job: JobBuilder) -> Result<Job, JobsError> {
        let mut v = Self::insert_all_in(tx, vec![job]).await?;
        Ok(v.remove(0))
    }

    /// Insert many jobs inside a transaction.
    pub async fn insert_all_in(tx: &mut Tx<'_>, jobs: Vec<JobBuilder>) -> Result<Vec<Job>, JobsError> {
        let new = prepare_all(jobs)?;
        db::insert(&mut tx.raw(), new).await
    }

    /// The node currently holding an unexpired leadership lease, if any.
    pub async fn leader(repo: &Repo) -> Result<Option<String>, JobsError> {
        let mut h = repo.raw().await?;
        db::leader(&mut h.executor(), Utc::now()).await
    }

    /// A job by id.
    pub async fn get(repo: &Repo, id: i64) -> Result<Job, JobsError> {
        let mut h = repo.raw().await?;
        db::get(&mut h.executor(), id).await?.ok_or(JobsError::NotFound(id))
    }

    /// Jobs in any of `states` (every state when empty), optionally of one queue, by id.
    pub async fn list(repo: &Repo, states: &[JobState], queue: Option<&str>) -> Result<Vec<Job>, JobsError> {
        let mut h = repo.raw().await?;
        db::list(&mut h.executor(), states, queue).await
    }

    /// The newest `limit` jobs in any of `states` (every state when empty), newest first —
    /// what a dashboard shows as "recent failures" without loading the whole table.
    pub async fn recent(repo: &Repo, states: &[JobState], limit: i64) -> Result<Vec<Job>, JobsError> {
        let mut h = repo.raw().await?;
        db::recent(&mut h.executor(), states, limit).await
    }

    /// `(queue, state, count)` for every non-empty combination.
    pub async fn counts(repo: &Repo) -> Result<Vec<(String, JobState, i64)>, JobsError> {
        let mut h = repo.raw().await?;
        db::counts(&mut h.executor())
            .await?
            .into_iter()
            .map(|(q, s, n)| Ok((q, s.parse().map_err(|e: UnknownState| JobsError::Decode(e.to_string()))?, n)))
            .collect()
    }

    /// Cancel a job that has not finished. An attempt already executing is not
    /// interrupted (Oban kills it), but its result is not written: results only
    /// apply to jobs still `executing`. Returns the cancelled job, or `None` if it
    /// had already finished.
    pub async fn cancel(repo: &Repo, id: i64) -> Result<Option<Job>, JobsError> {
        let mut h = repo.raw().await?;
        db::cancel(&mut h.executor(), id, Utc::now()).await
    }

    /// Make a job that is not available or executing available now, allowing one
    /// more attempt if its attempts were used up. `None` if it was available or executing.
    pub async fn retry(repo: &Repo, id: i64) -> Result<Option<Job>, JobsError> {
        let mut h = repo.raw().await?;
        let j = db::retry(&mut h.executor(), id, Utc::now()).await?;
        if let Some(j) = &j {
            let mut ex = h.executor();
            db::notify(&mut ex, &j.queue).await?;
            drop(h);
            wake_local(std::slice::from_ref(j));
        }
        Ok(j)
    }
}

fn prepare_all(jobs: Vec<JobBuilder>) -> Result<Vec<db::NewJob>, JobsError> {
    let now = Utc::now();
    jobs.into_iter().map(|j| prepare(j, now)).collect()
}

fn prepare(j: JobBuilder, now: chrono::DateTime<Utc>) -> Result<db::NewJob, JobsError> {
    if j.worker.is_empty() {
        return Err(JobsError::InvalidJob { field: "worker", message: "must not be empty".into() });
    }
    if j.queue.is_empty() {
        return Err(JobsError::InvalidJob { field: "queue", message: "must not be empty".into() });
    }
    if !(0..=9).contains(&j.priority) {
        return Err(JobsError::InvalidJob { field: "priority", message: format!("must be 0..=9, got {}", j.priority) });
    }
    if j.max_attempts < 1 {
        return Err(JobsError::InvalidJob { field: "max_attempts", message: format!("must be at least 1, got {}", j.max_attempts) });
    }
    let args = j.args.map_err(|message| JobsError::ArgsEncode { worker: j.worker.clone(), message })?;
    let scheduled_at = match (j.scheduled_at, j.schedule_in) {
        (Some(at), _) => at,
        (None, Some(d)) => now + chrono::Duration::from_std(d).map_err(|e| JobsError::InvalidJob { field: "schedule_in", message: e.to_string() })?,
        (None, None) => now,
    };
    let state = if scheduled_at > now { JobState::Scheduled } else { JobState::Available };
    let meta = serde_json::Value::Object(j.meta);
    let unique_key = j.unique.as_ref().map(|u| u.key(&j.worker, &j.queue, &args, &meta));
    Ok(db::NewJob {
        state,
        queue: j.queue,
        worker: j.worker,
        args,
        meta,
        tags: j.tags,
        max_attempts: j.max_attempts,
        priority: j.priority,
        inserted_at: now,
        scheduled_at,
        unique_key,
        unique: j.unique,
        replace: j.replace,
    })
}

/// Queues running in this process, so inserts wake them at once on SQLite too.
static LOCAL_QUEUES: Mutex<Vec<Weak<runner::QueueState>>> = Mutex::new(Vec::new());

fn register_local(q: &Arc<runner::QueueState>) {
    let mut l = LOCAL_QUEUES.lock().expect("local queues");
    l.retain(|w| w.strong_count() > 0);
    l.push(Arc::downgrade(q));
}

fn wake_local(jobs: &[Job]) {
    let mut queues: Vec<&str> = jobs.iter().filter(|j| j.state == JobState::Available && !j.conflict).map(|j| j.queue.as_str()).collect();
    if queues.is_empty() {
        return;
    }
    queues.sort_unstable();
    queues.dedup();
    let l = LOCAL_QUEUES.lock().expect("local queues");
    for w in l.iter() {
        if let Some(q) = w.upgrade()
            && queues.contains(&q.name.as_str())
        {
            q.wake.notify_one();
        }
    }
}
