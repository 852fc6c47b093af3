//! Workers, job results, the job builder, unique options and backoff.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use serde::Serialize;
use serde::de::{Deserialize, DeserializeOwned};

use crate::job::{Job, JobState};

/// What a job's `perform` decided (the `Ok` side of [`PerformResult`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Done: the job becomes `completed`.
    Complete,
    /// Stop for good without failing: the job becomes `cancelled`; the reason is
    /// recorded in `errors`.
    Cancel(String),
    /// Run again after this long: the job goes back to `scheduled`, its attempt is
    /// rolled back (max_attempts kept) and `meta.snoozed` is incremented.
    Snooze(Duration),
    /// Fail for good: the job becomes `discarded` (Oban's deprecated `:discard`).
    Discard(String),
}

/// A failed attempt (the `Err` side of [`PerformResult`]): the job is retried after
/// the worker's backoff, or discarded when its attempts are used up. Any
/// `std::error::Error` converts into it, so `?` works inside `perform`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobFailure {
    /// The message recorded in the job's `errors`.
    pub message: String,
}

impl JobFailure {
    /// A failure with this message.
    pub fn new(message: impl Into<String>) -> Self {
        JobFailure { message: message.into() }
    }
}

impl<E: std::error::Error> From<E> for JobFailure {
    fn from(e: E) -> Self {
        JobFailure { message: e.to_string() }
    }
}

impl std::fmt::Display for JobFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// What `perform` returns: `Ok(Outcome::Complete)` on success.
pub type PerformResult = Result<Outcome, JobFailure>;

/// A kind of job: a name, typed arguments, default options and the code to run.
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use zzz_jobs::{Job, Outcome, PerformResult, Worker};
///
/// #[derive(Serialize, Deserialize)]
/// struct Welcome { user_id: i64 }
///
/// struct WelcomeEmail;
/// impl Worker for WelcomeEmail {
///     type Args = Welcome;
///     const NAME: &'static str = "WelcomeEmail";
///     const QUEUE: &'static str = "mailers";
///     const MAX_ATTEMPTS: i32 = 5;
///     async fn perform(&self, _job: &Job, args: Welcome) -> PerformResult {
///         if args.user_id < 0 {
///             return Ok(Outcome::Cancel("no such user".into()));
///         }
///         Ok(Outcome::Complete)
///     }
/// }
///
/// let job = WelcomeEmail::new(Welcome { user_id: 7 }).priority(1).schedule_in(std::time::Duration::from_secs(60));
/// assert_eq!(job.queue_name(), "mailers");
/// ```
pub trait Worker: Send + Sync + 'static {
    /// The arguments, stored as JSON in the job's `args`.
    type Args: Serialize + DeserializeOwned + Send + 'static;
    /// The name stored in the job's `worker` column; unique per application.
    const NAME: &'static str;
    /// Default queue.
    const QUEUE: &'static str = "default";
    /// Default priority, 0 (highest) … 9.
    const PRIORITY: i32 = 0;
    /// Default attempts before discarding.
    const MAX_ATTEMPTS: i32 = 20;
    /// Default tags.
    const TAGS: &'static [&'static str] = &[];

    /// Default unique options (none).
    fn unique() -> Option<Unique> {
        None
    }

    /// How long one attempt may run before it fails with a timeout error. The
    /// default is the job's own [`JobBuilder::timeout`] (kept in `meta.timeout_ms`),
    /// else no limit (Oban's `:infinity`).
    fn timeout(&self, job: &Job) -> Option<Duration> {
        job.meta.get("timeout_ms").and_then(|v| v.as_u64()).map(Duration::from_millis)
    }

    /// How long to wait before retrying after a failed attempt `job.attempt`
    /// (default: [`backoff`], Oban's `15 + 2^attempt` s with up to 10% jitter).
    fn backoff(&self, job: &Job) -> Duration {
        backoff(job.attempt, job.max_attempts)
    }

    /// Run one attempt.
    fn perform(&self, job: &Job, args: Self::Args) -> impl Future<Output = PerformResult> + Send;

    /// A new job for this worker with its default options (Oban's `Worker.new/2`).
    #[allow(clippy::new_ret_no_self)]
    fn new(args: Self::Args) -> JobBuilder
    where
        Self: Sized,
    {
        let mut b = JobBuilder::raw(Self::NAME, serde_json::Value::Null);
        b.args = serde_json::to_value(&args).map_err(|e| e.to_string());
        b.queue = Self::QUEUE.to_string();
        b.priority = Self::PRIORITY;
        b.max_attempts = Self::MAX_ATTEMPTS;
        b.tags = Self::TAGS.iter().map(|t| t.to_string()).collect();
        b.unique = Self::unique();
        b
    }
}

/// Oban's default backoff: `15 + 2^attempt` seconds plus up to 10% random jitter
/// (added, never subtracted). When `max_attempts > 20` the attempt is first scaled to
/// `round(attempt / max_attempts * 20)` so the whole schedule spans the same ~3 weeks.
pub fn backoff(attempt: i32, max_attempts: i32) -> Duration {
    let base = backoff_base(attempt, max_attempts);
    let jitter = base * 0.1 * random_unit();
    Duration::from_secs_f64(base + jitter)
}

/// The deterministic part of [`backoff`] in seconds (no jitter).
pub fn backoff_base(attempt: i32, max_attempts: i32) -> f64 {
    let attempt = attempt.max(0);
    let scaled = if max_attempts > 20 {
        ((attempt as f64 / max_attempts as f64) * 20.0).round() as i32
    } else {
        attempt
    };
    let pow = scaled.clamp(0, 100);
    (15.0 + 2f64.powi(pow)).min(1e12)
}

/// A uniformly distributed number in [0, 1).
fn random_unit() -> f64 {
    let bits = uuid::Uuid::new_v4().as_u128() as u64 >> 11;
    bits as f64 / (1u64 << 53) as f64
}

/// Which fields make two jobs "the same" for [`Unique`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UniqueField {
    /// The worker name.
    Worker,
    /// The queue.
    Queue,
    /// The args (or only [`Unique::keys`] of them).
    Args,
    /// The meta (or only [`Unique::keys`] of it).
    Meta,
}

/// Oban's unique state groups: among which existing jobs a duplicate is looked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UniqueStates {
    /// Every state.
    All,
    /// available, scheduled, executing, retryable.
    Incomplete,
    /// scheduled only.
    Scheduled,
    /// available, scheduled, executing, retryable, completed (the default).
    Successful,
}

impl UniqueStates {
    /// The states of the group.
    pub fn states(self) -> &'static [JobState] {
        use JobState::*;
        match self {
            UniqueStates::All => &JobState::ALL,
            UniqueStates::Incomplete => &[Available, Scheduled, Executing, Retryable],
            UniqueStates::Scheduled => &[Scheduled],
            UniqueStates::Successful => &[Available, Scheduled, Executing, Retryable, Completed],
        }
    }
}

/// Which timestamp [`Unique::period`] is measured against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UniqueTimestamp {
    /// `inserted_at` (the default).
    InsertedAt,
    /// `scheduled_at`.
    ScheduledAt,
}

/// Unique-job options: an insert that matches an existing job (same fields, within the
/// period, in one of the states) inserts nothing and returns that job with
/// [`Job::conflict`] set. Defaults as Oban: fields worker+queue+args, period 60 s,
/// states [`UniqueStates::Successful`], timestamp `inserted_at`.
///
/// Fields are compared with the existing rows themselves (any job matches, whether
/// or not it was inserted as unique): `worker` and `queue` by equality, `args` and
/// `meta` by JSON equality — or, with [`Unique::keys`], by the values of those keys
/// only (a key missing from the new job matches anything). Concurrent inserts of
/// the same job are serialised (a Postgres advisory lock on a fingerprint of the
/// fields; SQLite's write lock), so exactly one of them inserts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unique {
    /// Fields compared.
    pub fields: Vec<UniqueField>,
    /// When non-empty, only these keys of args/meta are compared.
    pub keys: Vec<String>,
    /// `None` = forever (Oban's `:infinity`).
    pub period: Option<Duration>,
    /// States searched.
    pub states: UniqueStates,
    /// Timestamp the period applies to.
    pub timestamp: UniqueTimestamp,
}

impl Default for Unique {
    fn default() -> Self {
        Unique {
            fields: vec![UniqueField::Args, UniqueField::Queue, UniqueField::Worker],
            keys: vec![],
            period: Some(Duration::from_secs(60)),
            states: UniqueStates::Successful,
            timestamp: UniqueTimestamp::InsertedAt,
        }
    }
}

impl Unique {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }
    /// Compare these fields.
    pub fn fields(mut self, fields: &[UniqueField]) -> Self {
        self.fields = fields.to_vec();
        self
    }
    /// Compare only these keys of args/meta.
    pub fn keys(mut self, keys: &[&str]) -> Self {
        self.keys = keys.iter().map(|k| k.to_string()).collect();
        self
    }
    /// Look back this far.
    pub fn period(mut self, period: Duration) -> Self {
        self.period = Some(period);
        self
    }
    /// Look back forever.
    pub fn infinity(mut self) -> Self {
        self.period = None;
        self
    }
    /// Search these states.
    pub fn states(mut self, states: UniqueStates) -> Self {
        self.states = states;
        self
    }
    /// Measure the period against this timestamp.
    pub fn timestamp(mut self, ts: UniqueTimestamp) -> Self {
        self.timestamp = ts;
        self
    }

    /// `v` restricted to [`Unique::keys`] (all of it when there are no keys).
    pub(crate) fn pick(&self, v: &serde_json::Value) -> serde_json::Value {
        if self.keys.is_empty() {
            return v.clone();
        }
        let mut m = serde_json::Map::new();
        if let Some(o) = v.as_object() {
            for k in &self.keys {
                if let Some(x) = o.get(k) {
                    m.insert(k.clone(), x.clone());
                }
            }
        }
        serde_json::Value::Object(m)
    }

    /// The fingerprint of a job's unique fields (32 hex chars), used as the lock key
    /// that serialises concurrent inserts of the same job.
    pub(crate) fn key(&self, worker: &str, queue: &str, args: &serde_json::Value, meta: &serde_json::Value) -> String {
        let pick = |v: &serde_json::Value| -> serde_json::Value {
            if self.keys.is_empty() {
                return v.clone();
            }
            let mut m = serde_json::Map::new();
            if let Some(o) = v.as_object() {
                for k in &self.keys {
                    if let Some(x) = o.get(k) {
                        m.insert(k.clone(), x.clone());
                    }
                }
            }
            serde_json::Value::Object(m)
        };
        let mut canon = String::new();
        for (field, tag) in [(UniqueField::Worker, "w"), (UniqueField::Queue, "q"), (UniqueField::Args, "a"), (UniqueField::Meta, "m")] {
            if !self.fields.contains(&field) {
                continue;
            }
            let part = match field {
                UniqueField::Worker => serde_json::Value::String(worker.to_string()),
                UniqueField::Queue => serde_json::Value::String(queue.to_string()),
                UniqueField::Args => pick(args),
                UniqueField::Meta => pick(&strip_internal_meta(meta)),
            };
            canon.push_str(tag);
            canon.push('=');
            canon.push_str(&canonical_json(&part));
            canon.push('\u{1}');
        }
        if !self.keys.is_empty() {
            canon.push_str("k=");
            canon.push_str(&self.keys.join(","));
        }
        format!("{:016x}{:016x}", fnv1a(canon.as_bytes(), 0xcbf2_9ce4_8422_2325), fnv1a(canon.as_bytes(), 0x6c62_272e_07bb_0142))
    }
}

/// Meta keys the queue itself maintains do not count for uniqueness.
fn strip_internal_meta(meta: &serde_json::Value) -> serde_json::Value {
    match meta {
        serde_json::Value::Object(o) => {
            let mut o = o.clone();
            o.remove("snoozed");
            serde_json::Value::Object(o)
        }
        other => other.clone(),
    }
}

/// JSON with object keys sorted at every level.
fn canonical_json(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Object(o) => {
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort();
            let inner: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", serde_json::Value::String(k.clone()), canonical_json(&o[k])))
                .collect();
            format!("{{{}}}", inner.join(","))
        }
        serde_json::Value::Array(a) => format!("[{}]", a.iter().map(canonical_json).collect::<Vec<_>>().join(",")),
        other => other.to_string(),
    }
}

fn fnv1a(bytes: &[u8], seed: u64) -> u64 {
    let mut h = seed;
    for b in bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// A field that [`JobBuilder::replace`] may overwrite on a unique conflict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplaceField {
    /// `args`.
    Args,
    /// `max_attempts`.
    MaxAttempts,
    /// `meta`.
    Meta,
    /// `priority`.
    Priority,
    /// `queue`.
    Queue,
    /// `scheduled_at`.
    ScheduledAt,
    /// `tags`.
    Tags,
    /// `worker`.
    Worker,
}

/// A job to insert: worker, args and options. Build one with [`Worker::new`] (typed)
/// or [`JobBuilder::raw`] (a worker name and JSON args).
#[derive(Debug, Clone)]
pub struct JobBuilder {
    pub(crate) worker: String,
    pub(crate) args: Result<serde_json::Value, String>,
    pub(crate) queue: String,
    pub(crate) priority: i32,
    pub(crate) max_attempts: i32,
    pub(crate) tags: Vec<String>,
    pub(crate) meta: serde_json::Map<String, serde_json::Value>,
    pub(crate) scheduled_at: Option<DateTime<Utc>>,
    pub(crate) schedule_in: Option<Duration>,
    pub(crate) unique: Option<Unique>,
    pub(crate) replace: Vec<(JobState, Vec<ReplaceField>)>,
}

impl JobBuilder {
    /// A job for a worker by name with JSON args and the global defaults (queue
    /// `default`, priority 0, 20 attempts).
    pub fn raw(worker: &str, args: serde_json::Value) -> Self {
        JobBuilder {
            worker: worker.to_string(),
            args: Ok(args),
            queue: "default".to_string(),
            priority: 0,
            max_attempts: 20,
            tags: vec![],
            meta: serde_json::Map::new(),
            scheduled_at: None,
            schedule_in: None,
            unique: None,
            replace: vec![],
        }
    }
    /// Put it in this queue.
    pub fn queue(mut self, queue: &str) -> Self {
        self.queue = queue.to_string();
        self
    }
    /// The queue it goes to.
    pub fn queue_name(&self) -> &str {
        &self.queue
    }
    /// The worker name.
    pub fn worker_name(&self) -> &str {
        &self.worker
    }
    /// 0 (highest) … 9 (lowest).
    pub fn priority(mut self, p: i32) -> Self {
        self.priority = p;
        self
    }
    /// Attempts before discarding (≥ 1).
    pub fn max_attempts(mut self, n: i32) -> Self {
        self.max_attempts = n;
        self
    }
    /// Make it available at this time (state `scheduled` until then).
    pub fn scheduled_at(mut self, at: DateTime<Utc>) -> Self {
        self.scheduled_at = Some(at);
        self.schedule_in = None;
        self
    }
    /// Make it available this long after the insert.
    pub fn schedule_in(mut self, d: Duration) -> Self {
        self.schedule_in = Some(d);
        self.scheduled_at = None;
        self
    }
    /// Replace the tags.
    pub fn tags(mut self, tags: &[&str]) -> Self {
        self.tags = tags.iter().map(|t| t.to_string()).collect();
        self
    }
    /// Set one meta key.
    pub fn meta(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.meta.insert(key.to_string(), value.into());
        self
    }
    /// Limit each attempt of this job to `d` (stored as `meta.timeout_ms`; used by
    /// the default [`Worker::timeout`]).
    pub fn timeout(self, d: Duration) -> Self {
        let ms = d.as_millis().min(u64::MAX as u128) as u64;
        self.meta("timeout_ms", ms)
    }
    /// Make it unique (replaces the worker's default unique options).
    pub fn unique(mut self, u: Unique) -> Self {
        self.unique = Some(u);
        self
    }
    /// Not unique, even if the worker's default is.
    pub fn not_unique(mut self) -> Self {
        self.unique = None;
        self
    }
    /// On a unique conflict with a job in `state`, overwrite these fields of the
    /// existing job with this job's values (Oban's `replace:`).
    pub fn replace(mut self, state: JobState, fields: &[ReplaceField]) -> Self {
        self.replace.retain(|(s, _)| *s != state);
        self.replace.push((state, fields.to_vec()));
        self
    }
}

/// A type-erased worker, as stored in a [`Registry`].
pub(crate) trait ErasedWorker: Send + Sync {
    fn perform(&self, job: Arc<Job>) -> BoxFuture<'static, PerformResult>;
    fn timeout(&self, job: &Job) -> Option<Duration>;
    fn backoff(&self, job: &Job) -> Duration;
}

struct Erased<W>(Arc<W>);

impl<W: Worker> ErasedWorker for Erased<W> {
    fn perform(&self, job: Arc<Job>) -> BoxFuture<'static, PerformResult> {
        let w = self.0.clone();
        Box::pin(async move {
            let args = W::Args::deserialize(&job.args)
                .map_err(|e| JobFailure::new(format!("cannot decode args for worker `{}`: {e}", W::NAME)))?;
            w.perform(&job, args).await
        })
    }
    fn timeout(&self, job: &Job) -> Option<Duration> {
        self.0.timeout(job)
    }
    fn backoff(&self, job: &Job) -> Duration {
        self.0.backoff(job)
    }
}

/// The workers a node can run, by name.
#[derive(Clone, Default)]
pub struct Registry {
    workers: HashMap<String, Arc<dyn ErasedWorker>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&String> = self.workers.keys().collect();
        names.sort();
        f.debug_struct("Registry").field("workers", &names).finish()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }
    /// Add a worker (replacing one with the same name).
    pub fn register<W: Worker>(mut self, worker: W) -> Self {
        self.workers.insert(W::NAME.to_string(), Arc::new(Erased(Arc::new(worker))));
        self
    }
    /// Whether a worker with this name is registered.
    pub fn contains(&self, name: &str) -> bool {
        self.workers.contains_key(name)
    }
    pub(crate) fn get(&self, name: &str) -> Option<&Arc<dyn ErasedWorker>> {
        self.workers.get(name)
    }
}
