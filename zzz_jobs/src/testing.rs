//! Test helpers (Oban.Testing): assert/refute enqueued, perform a job inline, drain
//! a queue inline. They work on any [`Repo`], including a zzz_db sandbox.

use std::sync::Arc;

use chrono::Utc;
use zzz_db::Repo;

use crate::db;
use crate::error::JobsError;
use crate::job::{Job, JobState};
use crate::runner::{classify, run_attempt};
use crate::telemetry::ResultState;
use crate::worker::{PerformResult, Registry, Worker};

/// Which enqueued jobs to look for. Empty fields match anything; `args` and `meta`
/// match when every key given has the same value in the job (a subset match).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Worker name.
    pub worker: Option<String>,
    /// Queue name.
    pub queue: Option<String>,
    /// Args subset.
    pub args: Option<serde_json::Value>,
    /// Meta subset.
    pub meta: Option<serde_json::Value>,
    /// Priority.
    pub priority: Option<i32>,
}

impl Filter {
    /// Jobs of worker `W`.
    pub fn worker<W: Worker>() -> Self {
        Filter { worker: Some(W::NAME.to_string()), ..Default::default() }
    }
    /// Any job.
    pub fn any() -> Self {
        Filter::default()
    }
    /// Only in this queue.
    pub fn queue(mut self, q: &str) -> Self {
        self.queue = Some(q.to_string());
        self
    }
    /// Only with these args (subset).
    pub fn args(mut self, args: serde_json::Value) -> Self {
        self.args = Some(args);
        self
    }
    /// Only with this meta (subset).
    pub fn meta(mut self, meta: serde_json::Value) -> Self {
        self.meta = Some(meta);
        self
    }
    /// Only with this priority.
    pub fn priority(mut self, p: i32) -> Self {
        self.priority = Some(p);
        self
    }
    /// Whether a job matches.
    pub fn matches(&self, j: &Job) -> bool {
        self.worker.as_deref().is_none_or(|w| w == j.worker)
            && self.queue.as_deref().is_none_or(|q| q == j.queue)
            && self.priority.is_none_or(|p| p == j.priority)
            && self.args.as_ref().is_none_or(|a| subset(a, &j.args))
            && self.meta.as_ref().is_none_or(|m| subset(m, &j.meta))
    }
}

fn subset(want: &serde_json::Value, have: &serde_json::Value) -> bool {
    match (want, have) {
        (serde_json::Value::Object(w), serde_json::Value::Object(h)) => w.iter().all(|(k, v)| h.get(k).is_some_and(|hv| subset(v, hv))),
        (w, h) => w == h,
    }
}

/// Enqueued (available or scheduled) jobs matching `filter`, by id.
pub async fn all_enqueued(repo: &Repo, filter: &Filter) -> Result<Vec<Job>, JobsError> {
    let mut h = repo.raw().await?;
    let jobs = db::list(&mut h.executor(), &[JobState::Available, JobState::Scheduled], filter.queue.as_deref()).await?;
    Ok(jobs.into_iter().filter(|j| filter.matches(j)).collect())
}

/// Panic unless a matching job is enqueued; the message lists what is.
pub async fn assert_enqueued(repo: &Repo, filter: &Filter) {
    let found = all_enqueued(repo, filter).await.expect("assert_enqueued: query failed");
    if found.is_empty() {
        let all = all_enqueued(repo, &Filter::any()).await.unwrap_or_default();
        let listed: Vec<String> = all.iter().map(|j| format!("{} {} {}", j.worker, j.queue, j.args)).collect();
        panic!("expected a job matching {filter:?} to be enqueued; enqueued jobs: {listed:#?}");
    }
}

/// Panic if a matching job is enqueued.
pub async fn refute_enqueued(repo: &Repo, filter: &Filter) {
    let found = all_enqueued(repo, filter).await.expect("refute_enqueued: query failed");
    if !found.is_empty() {
        panic!("expected no job matching {filter:?} to be enqueued, found {}: {:#?}", found.len(), found.iter().map(|j| j.id).collect::<Vec<_>>());
    }
}

/// Run a worker's `perform` inline on a job built in memory (attempt 1, nothing
/// written to a database). A panic is returned as an error, as in a queue.
pub async fn perform_job<W: Worker>(worker: W, args: W::Args) -> PerformResult {
    let now = Utc::now();
    let job = Job {
        id: 0,
        state: JobState::Executing,
        queue: W::QUEUE.to_string(),
        worker: W::NAME.to_string(),
        args: serde_json::to_value(&args).map_err(|e| crate::worker::JobFailure::new(format!("cannot encode args: {e}")))?,
        meta: serde_json::json!({}),
        tags: W::TAGS.iter().map(|t| t.to_string()).collect(),
        errors: vec![],
        attempt: 1,
        attempted_by: vec!["test".into()],
        max_attempts: W::MAX_ATTEMPTS,
        priority: W::PRIORITY,
        inserted_at: now,
        scheduled_at: now,
        attempted_at: Some(now),
        completed_at: None,
        discarded_at: None,
        cancelled_at: None,
        conflict: false,
    };
    let reg = Registry::new().register(worker);
    run_attempt(&reg, Arc::new(job)).await.outcome.map_err(crate::worker::JobFailure::new)
}

/// Options for [`drain_queue`].
#[derive(Debug, Clone, Copy, Default)]
pub struct DrainOptions {
    /// Also run jobs scheduled in the future (and retries waiting for their backoff).
    /// This stages the scheduled jobs of every queue, not only the drained one.
    pub with_scheduled: bool,
    /// Stop after this many attempts.
    pub with_limit: Option<usize>,
}

/// What [`drain_queue`] ran, by result.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DrainSummary {
    /// Completed.
    pub success: usize,
    /// Failed and retryable.
    pub failure: usize,
    /// Cancelled.
    pub cancelled: usize,
    /// Discarded.
    pub discard: usize,
    /// Snoozed.
    pub snoozed: usize,
}

/// Run `queue`'s available jobs inline, one at a time, until none is left (jobs
/// inserted by jobs run too), writing each result as a queue would.
pub async fn drain_queue(repo: &Repo, registry: &Registry, queue: &str, opts: DrainOptions) -> Result<DrainSummary, JobsError> {
    let mut sum = DrainSummary::default();
    let mut ran = 0usize;
    loop {
        if opts.with_limit.is_some_and(|l| ran >= l) {
            break;
        }
        let mut h = repo.raw().await?;
        if opts.with_scheduled {
            db::stage(&mut h.executor(), Utc::now() + chrono::Duration::days(365 * 100), 5_000).await?;
        }
        let mut jobs = db::fetch(&mut h.executor(), queue, 1, "drain", Utc::now()).await?;
        drop(h);
        let Some(job) = jobs.pop() else { break };
        ran += 1;
        let job = Arc::new(job);
        let result = run_attempt(registry, job.clone()).await;
        let now = Utc::now();
        let (ack, _, state, _) = classify(&job, &result, now);
        let mut h = repo.raw().await?;
        match ack {
            None => {
                db::complete_many(&mut h.executor(), &[job.id], now).await?;
            }
            Some(a) => db::ack(&mut h.executor(), job.id, &a, now).await?,
        }
        match state {
            ResultState::Success => sum.success += 1,
            ResultState::Failure => sum.failure += 1,
            ResultState::Cancelled => sum.cancelled += 1,
            ResultState::Discard => sum.discard += 1,
            ResultState::Snoozed => sum.snoozed += 1,
        }
    }
    Ok(sum)
}
