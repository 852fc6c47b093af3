//! The [`Runner`]: a node's queues, the acker, the Postgres listener, leadership and
//! the leader's plugins (stager, pruner, lifeline, cron).

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use futures_util::FutureExt;
use tokio::sync::{Notify, broadcast, mpsc, oneshot, watch};
use tokio::task::{AbortHandle, JoinHandle};
use zzz_db::Repo;

use crate::cron::CronEntry;
use crate::db::{self, AckKind};
use crate::error::JobsError;
use crate::job::{AttemptError, Job, JobState};
use crate::telemetry::{EventKind, JobEvent, ResultState};
use crate::worker::{Outcome, Registry};
use crate::{Jobs, JobBuilder};

/// Pruner settings (Oban's defaults: jobs finished more than 60 s ago, checked every
/// 30 s, at most 10,000 rows per pass).
#[derive(Debug, Clone, Copy)]
pub struct Pruner {
    /// Delete completed/cancelled/discarded jobs that finished longer ago than this.
    pub max_age: Duration,
    /// How often to prune.
    pub interval: Duration,
    /// Rows deleted per pass.
    pub limit: i64,
}

impl Default for Pruner {
    fn default() -> Self {
        Pruner { max_age: Duration::from_secs(60), interval: Duration::from_secs(30), limit: 10_000 }
    }
}

/// Lifeline settings: how stuck `executing` jobs are rescued.
///
/// A job is rescued when the node that claimed it has stopped heartbeating (its
/// `zzz_peers` row expired: it crashed or was killed), or — like Oban's lifeline —
/// when it has been executing longer than `rescue_after`.
#[derive(Debug, Clone, Copy)]
pub struct Lifeline {
    /// Rescue jobs executing longer than this even if their node is alive (default 60 min).
    pub rescue_after: Duration,
    /// How often to look (default 60 s).
    pub interval: Duration,
}

impl Default for Lifeline {
    fn default() -> Self {
        Lifeline { rescue_after: Duration::from_secs(3600), interval: Duration::from_secs(60) }
    }
}

/// Configures and starts a [`Runner`].
pub struct RunnerBuilder {
    repo: Repo,
    registry: Registry,
    queues: Vec<(String, usize)>,
    node: String,
    poll_interval: Duration,
    stage_interval: Duration,
    peer_ttl: Duration,
    grace: Duration,
    plugins: bool,
    pruner: Option<Pruner>,
    lifeline: Option<Lifeline>,
    cron: Vec<CronEntry>,
    timezone: Tz,
    async_commit: bool,
}

impl RunnerBuilder {
    /// Run these queues: `(name, per-node concurrency limit)`.
    pub fn queue(mut self, name: &str, limit: usize) -> Self {
        self.queues.retain(|(n, _)| n != name);
        self.queues.push((name.to_string(), limit));
        self
    }
    /// The workers this node can run.
    pub fn registry(mut self, registry: Registry) -> Self {
        self.registry = registry;
        self
    }
    /// This node's name (default `<hostname>-<pid>-<random>`); must be unique among
    /// live nodes.
    pub fn node(mut self, node: &str) -> Self {
        self.node = node.to_string();
        self
    }
    /// How often each queue looks for jobs without being notified (default 1 s).
    pub fn poll_interval(mut self, d: Duration) -> Self {
        self.poll_interval = d;
        self
    }
    /// How often the leader stages due scheduled/retryable jobs (default 1 s).
    pub fn stage_interval(mut self, d: Duration) -> Self {
        self.stage_interval = d;
        self
    }
    /// How long a node's heartbeat and the leader's lease last (default 30 s);
    /// both are renewed every third of it.
    pub fn peer_ttl(mut self, d: Duration) -> Self {
        self.peer_ttl = d;
        self
    }
    /// How long [`Runner::shutdown`] waits for running jobs (default 15 s).
    pub fn shutdown_grace_period(mut self, d: Duration) -> Self {
        self.grace = d;
        self
    }
    /// Whether this node may become leader and run the plugins (default true).
    pub fn plugins(mut self, on: bool) -> Self {
        self.plugins = on;
        self
    }
    /// Enable the pruner (off by default, as in Oban where it is opt-in).
    pub fn pruner(mut self, p: Pruner) -> Self {
        self.pruner = Some(p);
        self
    }
    /// Lifeline settings (on by default with [`Lifeline::default`]).
    pub fn lifeline(mut self, l: Lifeline) -> Self {
        self.lifeline = Some(l);
        self
    }
    /// Turn the lifeline off.
    pub fn no_lifeline(mut self) -> Self {
        self.lifeline = None;
        self
    }
    /// Add a cron entry (inserted by the leader only).
    pub fn cron(mut self, entry: CronEntry) -> Self {
        self.cron.push(entry);
        self
    }
    /// The time zone cron expressions are read in (default UTC).
    pub fn timezone(mut self, tz: Tz) -> Self {
        self.timezone = tz;
        self
    }

    /// On Postgres, write the queue's own bookkeeping (claims, results, staging,
    /// heartbeats, lifeline, pruning) with `synchronous_commit = off`, on a small
    /// pool of its own (default false).
    ///
    /// Each claim and each batch of results is then one commit that does not wait for
    /// the WAL flush, which on a disk with slow fsync is most of its cost. What it
    /// trades: if the *Postgres server* crashes, the last fraction of a second of
    /// claims and results may be lost, so those jobs run again — the same
    /// at-least-once outcome as a node crash. Job inserts and application data are
    /// unaffected (they go through the application's repo, with its settings).
    pub fn async_commit(mut self, on: bool) -> Self {
        self.async_commit = on;
        self
    }

    /// Start the node: heartbeat, try to lead, then start the queues and plugins.
    pub async fn start(self) -> Result<Runner, JobsError> {
        for (name, limit) in &self.queues {
            if name.is_empty() {
                return Err(JobsError::Config("queue name is empty".into()));
            }
            if *limit == 0 {
                return Err(JobsError::Config(format!("queue `{name}` has limit 0")));
            }
        }
        let (events, _) = broadcast::channel(16_384);
        let (ack_tx, ack_rx) = mpsc::unbounded_channel();
        let (stop_tx, _) = watch::channel(false);
        let bookkeeping = match (self.async_commit, self.repo.postgres_pool()) {
            (true, Some(pool)) => {
                let opts = (*pool.connect_options()).clone().options([("synchronous_commit", "off")]);
                let size = (self.queues.len() as u32 + 4).min(pool.options().get_max_connections().max(2));
                Some(sqlx::postgres::PgPoolOptions::new().max_connections(size).connect_lazy_with(opts))
            }
            _ => None,
        };
        let exec = Exec { repo: self.repo.clone(), pool: bookkeeping };
        let schema = match self.repo.postgres_pool() {
            Some(pool) => Some(db::current_schema(pool).await?),
            None => None,
        };
        let inner = Arc::new(Inner {
            schema: schema.clone(),
            exec: exec.clone(),
            repo: self.repo.clone(),
            registry: self.registry,
            node: self.node,
            poll_interval: self.poll_interval,
            stage_interval: self.stage_interval,
            peer_ttl: self.peer_ttl,
            grace: self.grace,
            plugins: self.plugins,
            pruner: self.pruner,
            lifeline: self.lifeline,
            cron: self.cron,
            timezone: self.timezone,
            queues: Mutex::new(HashMap::new()),
            events: events.clone(),
            ack_tx,
            stop: stop_tx,
            leader: AtomicBool::new(false),
            rebooted: AtomicBool::new(false),
            tasks: Mutex::new(Vec::new()),
        });
        let acker = tokio::spawn(ack_loop(exec, events, ack_rx));
        inner.tasks.lock().expect("tasks").push(acker);

        inner.peer_tick().await?;

        for (name, limit) in &self.queues {
            inner.start_queue(name, *limit);
        }
        if let (Some(pool), Some(schema)) = (self.repo.postgres_pool(), schema) {
            let h = tokio::spawn(listen_loop(Arc::downgrade(&inner), pool.clone(), schema));
            inner.tasks.lock().expect("tasks").push(h);
        }
        let mut hs = vec![tokio::spawn(peer_loop(inner.clone())), tokio::spawn(stage_loop(inner.clone()))];
        if inner.pruner.is_some() {
            hs.push(tokio::spawn(prune_loop(inner.clone())));
        }
        if inner.lifeline.is_some() {
            hs.push(tokio::spawn(lifeline_loop(inner.clone())));
        }
        if inner.cron.iter().any(|c| !c.is_reboot()) {
            hs.push(tokio::spawn(cron_loop(inner.clone())));
        }
        inner.tasks.lock().expect("tasks").extend(hs);
        Ok(Runner { inner })
    }
}

pub(crate) struct QueueState {
    pub(crate) name: String,
    limit: AtomicUsize,
    paused: AtomicBool,
    pub(crate) wake: Notify,
    running: Mutex<HashMap<i64, AbortHandle>>,
    producer: Mutex<Option<JoinHandle<()>>>,
    /// Held by the producer from its pause check to the end of a fetch.
    fetching: tokio::sync::Mutex<()>,
}

/// Where the runner's bookkeeping statements run: the application's repo, or a
/// dedicated asynchronous-commit pool (see [`RunnerBuilder::async_commit`]).
#[derive(Clone)]
struct Exec {
    repo: Repo,
    pool: Option<sqlx::PgPool>,
}

enum Held<'a> {
    Pool(&'a sqlx::PgPool),
    Repo(zzz_db::RawHandle<'a>),
}

impl Held<'_> {
    fn executor(&mut self) -> zzz_db::RawExecutor<'_> {
        match self {
            Held::Pool(p) => zzz_db::RawExecutor::PgPool(p),
            Held::Repo(h) => h.executor(),
        }
    }
}

impl Exec {
    async fn raw(&self) -> Result<Held<'_>, zzz_db::Error> {
        Ok(match &self.pool {
            Some(p) => Held::Pool(p),
            None => Held::Repo(self.repo.raw().await?),
        })
    }
}

struct Inner {
    /// The Postgres schema notifications are scoped to (`None` on SQLite).
    schema: Option<String>,
    exec: Exec,
    repo: Repo,
    registry: Registry,
    node: String,
    poll_interval: Duration,
    stage_interval: Duration,
    peer_ttl: Duration,
    grace: Duration,
    plugins: bool,
    pruner: Option<Pruner>,
    lifeline: Option<Lifeline>,
    cron: Vec<CronEntry>,
    timezone: Tz,
    queues: Mutex<HashMap<String, Arc<QueueState>>>,
    events: broadcast::Sender<JobEvent>,
    ack_tx: mpsc::UnboundedSender<AckMsg>,
    stop: watch::Sender<bool>,
    leader: AtomicBool,
    rebooted: AtomicBool,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

enum AckMsg {
    Done { job: Arc<Job>, result: AttemptResult, duration: Duration, queue_time: Duration },
    Flush(oneshot::Sender<()>),
}

/// What one attempt produced, before it is written.
pub(crate) struct AttemptResult {
    pub(crate) outcome: Result<Outcome, String>,
    pub(crate) backoff: Duration,
}

/// Run one attempt of `job` with its worker: timeout and panics become errors.
pub(crate) async fn run_attempt(registry: &Registry, job: Arc<Job>) -> AttemptResult {
    let Some(w) = registry.get(&job.worker) else {
        return AttemptResult {
            outcome: Err(format!("unknown worker `{}` (not in this node's registry)", job.worker)),
            backoff: crate::worker::backoff(job.attempt, job.max_attempts),
        };
    };
    let fut = AssertUnwindSafe(w.perform(job.clone())).catch_unwind();
    let res = match w.timeout(&job) {
        Some(d) => match tokio::time::timeout(d, fut).await {
            Ok(r) => r,
            Err(_) => Ok(Err(crate::worker::JobFailure::new(format!("timeout: attempt exceeded {d:?}")))),
        },
        None => fut.await,
    };
    let outcome = match res {
        Ok(Ok(o)) => Ok(o),
        Ok(Err(f)) => Err(f.message),
        Err(panic) => {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic payload".into());
            Err(format!("panic: {msg}"))
        }
    };
    AttemptResult { outcome, backoff: w.backoff(&job) }
}

/// How an attempt result is written, and what telemetry reports.
pub(crate) fn classify(job: &Job, r: &AttemptResult, now: DateTime<Utc>) -> (Option<AckKind>, EventKind, ResultState, Option<String>) {
    let err = |m: &str| AttemptError { at: now, attempt: job.attempt, error: m.to_string() };
    match &r.outcome {
        Ok(Outcome::Complete) => (None, EventKind::Stop, ResultState::Success, None),
        Ok(Outcome::Cancel(m)) => (Some(AckKind::Cancel { error: err(m) }), EventKind::Stop, ResultState::Cancelled, Some(m.clone())),
        Ok(Outcome::Discard(m)) => (Some(AckKind::Discard { error: err(m) }), EventKind::Stop, ResultState::Discard, Some(m.clone())),
        Ok(Outcome::Snooze(d)) => {
            let until = now + chrono::Duration::from_std(*d).unwrap_or(chrono::Duration::MAX);
            (Some(AckKind::Snooze { until }), EventKind::Stop, ResultState::Snoozed, None)
        }
        Err(m) => {
            if job.attempt >= job.max_attempts {
                let k = AckKind::Fail { state: JobState::Discarded, retry_at: job.scheduled_at, error: err(m) };
                (Some(k), EventKind::Exception, ResultState::Discard, Some(m.clone()))
            } else {
                let retry_at = now + chrono::Duration::from_std(r.backoff).unwrap_or(chrono::Duration::MAX);
                let k = AckKind::Fail { state: JobState::Retryable, retry_at, error: err(m) };
                (Some(k), EventKind::Exception, ResultState::Failure, Some(m.clone()))
            }
        }
    }
}

pub(crate) fn queue_time(job: &Job) -> Duration {
    job.attempted_at.map(|a| (a - job.scheduled_at).to_std().unwrap_or_default()).unwrap_or_default()
}

/// A running node. Cheap to clone. Call [`Runner::shutdown`] to stop it gracefully.
#[derive(Clone)]
pub struct Runner {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner").field("node", &self.inner.node).field("leader", &self.is_leader()).finish()
    }
}

/// What [`Runner::shutdown`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Jobs still running when the grace period ended; they were stopped and put
    /// back to `available` (or `discarded` if out of attempts).
    pub released: Vec<i64>,
}

impl Runner {
    /// Configure a node on `repo` (migrated with [`Jobs::migrate`]).
    pub fn builder(repo: &Repo) -> RunnerBuilder {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "node".into());
        let rnd = uuid::Uuid::new_v4().simple().to_string();
        RunnerBuilder {
            repo: repo.clone(),
            registry: Registry::new(),
            queues: vec![],
            node: format!("{host}-{}-{}", std::process::id(), &rnd[..8]),
            poll_interval: Duration::from_secs(1),
            stage_interval: Duration::from_secs(1),
            peer_ttl: Duration::from_secs(30),
            grace: Duration::from_secs(15),
            plugins: true,
            pruner: None,
            lifeline: Some(Lifeline::default()),
            cron: vec![],
            timezone: Tz::UTC,
            async_commit: false,
        }
    }

    /// This node's name.
    pub fn node(&self) -> &str {
        &self.inner.node
    }

    /// Whether this node currently holds the leadership (runs plugins and cron).
    pub fn is_leader(&self) -> bool {
        self.inner.leader.load(Ordering::SeqCst)
    }

    /// Telemetry events of this node's jobs.
    pub fn subscribe(&self) -> broadcast::Receiver<JobEvent> {
        self.inner.events.subscribe()
    }

    /// Insert a job and wake its queue on this node.
    pub async fn insert(&self, job: JobBuilder) -> Result<Job, JobsError> {
        Jobs::insert(&self.inner.repo, job).await
    }

    /// Stop fetching new jobs for `queue` on this node (running jobs finish). When
    /// this returns, no fetch of the queue is in flight on this node.
    pub async fn pause_queue(&self, queue: &str) -> Result<(), JobsError> {
        let q = self.queue(queue)?;
        q.paused.store(true, Ordering::SeqCst);
        drop(q.fetching.lock().await);
        Ok(())
    }

    /// Resume a paused queue on this node.
    pub async fn resume_queue(&self, queue: &str) -> Result<(), JobsError> {
        let q = self.queue(queue)?;
        q.paused.store(false, Ordering::SeqCst);
        q.wake.notify_one();
        Ok(())
    }

    /// Change a queue's concurrency limit on this node.
    pub fn scale_queue(&self, queue: &str, limit: usize) -> Result<(), JobsError> {
        if limit == 0 {
            return Err(JobsError::Config(format!("queue `{queue}` cannot be scaled to 0; pause it instead")));
        }
        let q = self.queue(queue)?;
        q.limit.store(limit, Ordering::SeqCst);
        q.wake.notify_one();
        Ok(())
    }

    /// Start another queue at runtime.
    pub fn start_queue(&self, queue: &str, limit: usize) -> Result<(), JobsError> {
        if limit == 0 || queue.is_empty() {
            return Err(JobsError::Config(format!("queue `{queue}` needs a name and a limit > 0")));
        }
        self.inner.start_queue(queue, limit);
        Ok(())
    }

    /// Pause `queue` on every node sharing this database (Postgres; on SQLite, this
    /// node). Other nodes apply it when the notification arrives.
    pub async fn pause_queue_everywhere(&self, queue: &str) -> Result<(), JobsError> {
        self.inner.broadcast(SignalAction::Pause { queue: queue.to_string() }).await
    }

    /// Resume `queue` on every node (see [`Runner::pause_queue_everywhere`]).
    pub async fn resume_queue_everywhere(&self, queue: &str) -> Result<(), JobsError> {
        self.inner.broadcast(SignalAction::Resume { queue: queue.to_string() }).await
    }

    /// Set `queue`'s per-node limit on every node (see [`Runner::pause_queue_everywhere`]).
    pub async fn scale_queue_everywhere(&self, queue: &str, limit: usize) -> Result<(), JobsError> {
        if limit == 0 {
            return Err(JobsError::Config(format!("queue `{queue}` cannot be scaled to 0; pause it instead")));
        }
        self.inner.broadcast(SignalAction::Scale { queue: queue.to_string(), limit }).await
    }

    /// Cancel a job (as [`Jobs::cancel`]) and, if an attempt is running on any node,
    /// stop it there (Oban's `cancel_job`). Returns the cancelled job, or `None` if
    /// it had already finished.
    pub async fn cancel_job(&self, id: i64) -> Result<Option<Job>, JobsError> {
        let job = Jobs::cancel(&self.inner.repo, id).await?;
        if job.is_some() {
            self.inner.broadcast(SignalAction::Cancel { id }).await?;
        }
        Ok(job)
    }

    /// `(limit, running, paused)` of a queue on this node.
    pub fn queue_status(&self, queue: &str) -> Result<(usize, usize, bool), JobsError> {
        let q = self.queue(queue)?;
        let running = q.running.lock().expect("running").len();
        Ok((q.limit.load(Ordering::SeqCst), running, q.paused.load(Ordering::SeqCst)))
    }

    fn queue(&self, queue: &str) -> Result<Arc<QueueState>, JobsError> {
        self.inner.queues.lock().expect("queues").get(queue).cloned().ok_or_else(|| JobsError::Config(format!("queue `{queue}` is not running on this node")))
    }

    /// Insert the cron jobs due in the minute containing `at`, if this node is the
    /// leader (the cron plugin calls this at each minute boundary). Returns how many
    /// jobs were inserted (a minute already inserted, by any node, counts 0).
    pub async fn cron_tick(&self, at: DateTime<Utc>) -> Result<usize, JobsError> {
        self.inner.cron_tick(at).await
    }

    /// Run the stager once (whatever the leadership); returns the queues staged.
    pub async fn stage_now(&self) -> Result<Vec<String>, JobsError> {
        self.inner.stage().await
    }

    /// Run the lifeline once (whatever the leadership); returns how many jobs it rescued.
    pub async fn rescue_now(&self) -> Result<u64, JobsError> {
        let l = self.inner.lifeline.unwrap_or_default();
        let now = Utc::now();
        let mut h = self.inner.exec.raw().await?;
        db::rescue(&mut h.executor(), now, now - chrono::Duration::from_std(l.rescue_after).unwrap_or(chrono::Duration::MAX)).await
    }

    /// Stop: queues stop fetching, running jobs get the grace period to finish, the
    /// rest are stopped and released for another node; results are flushed, and the
    /// node gives up its heartbeat and leadership.
    pub async fn shutdown(&self) -> ShutdownReport {
        let inner = &self.inner;
        let _ = inner.stop.send(true);
        let queues: Vec<Arc<QueueState>> = inner.queues.lock().expect("queues").values().cloned().collect();
        for q in &queues {
            q.wake.notify_one();
            let producer = q.producer.lock().expect("producer").take();
            if let Some(p) = producer {
                let _ = p.await;
            }
        }
        let deadline = Instant::now() + inner.grace;
        loop {
            let running: usize = queues.iter().map(|q| q.running.lock().expect("running").len()).sum();
            if running == 0 || Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let mut released = Vec::new();
        for q in &queues {
            let left: Vec<(i64, AbortHandle)> = q.running.lock().expect("running").drain().collect();
            for (id, h) in left {
                h.abort();
                released.push(id);
            }
        }
        released.sort_unstable();
        // Results of jobs that did finish are written before anything else changes.
        let (tx, rx) = oneshot::channel();
        if inner.ack_tx.send(AckMsg::Flush(tx)).is_ok() {
            let _ = rx.await;
        }
        if !released.is_empty() {
            match inner.exec.raw().await {
                Ok(mut h) => {
                    if let Err(e) = db::release(&mut h.executor(), &released, Utc::now()).await {
                        tracing::error!(target: "zzz_jobs", error = %e, "could not release jobs at shutdown; the lifeline will rescue them");
                    }
                }
                Err(e) => {
                    tracing::error!(target: "zzz_jobs", error = %e, "could not release jobs at shutdown; the lifeline will rescue them");
                }
            }
        }
        let tasks: Vec<JoinHandle<()>> = inner.tasks.lock().expect("tasks").drain(..).collect();
        for t in tasks {
            t.abort();
        }
        if let Ok(mut h) = inner.exec.raw().await {
            let _ = db::resign(&mut h.executor(), &inner.node).await;
        }
        inner.leader.store(false, Ordering::SeqCst);
        tracing::info!(target: "zzz_jobs", node = %inner.node, released = released.len(), "queue shutdown");
        ShutdownReport { released }
    }
}

impl Inner {
    fn start_queue(self: &Arc<Self>, name: &str, limit: usize) {
        let mut qs = self.queues.lock().expect("queues");
        if let Some(q) = qs.get(name) {
            q.limit.store(limit, Ordering::SeqCst);
            q.wake.notify_one();
            return;
        }
        let q = Arc::new(QueueState {
            name: name.to_string(),
            limit: AtomicUsize::new(limit),
            paused: AtomicBool::new(false),
            wake: Notify::new(),
            running: Mutex::new(HashMap::new()),
            producer: Mutex::new(None),
            fetching: tokio::sync::Mutex::new(()),
        });
        crate::register_local(&q);
        let h = tokio::spawn(produce(self.clone(), q.clone()));
        *q.producer.lock().expect("producer") = Some(h);
        qs.insert(name.to_string(), q);
    }

    fn stopping(&self) -> bool {
        *self.stop.borrow()
    }

    async fn peer_tick(self: &Arc<Self>) -> Result<(), JobsError> {
        let now = Utc::now();
        let expires = now + chrono::Duration::from_std(self.peer_ttl).unwrap_or(chrono::Duration::MAX);
        let mut h = self.exec.raw().await?;
        let mut ex = h.executor();
        db::heartbeat(&mut ex, &self.node, now, expires).await?;
        let lead = self.plugins && db::elect(&mut ex, &self.node, now, expires).await?;
        drop(h);
        let was = self.leader.swap(lead, Ordering::SeqCst);
        if lead && !was {
            tracing::info!(target: "zzz_jobs", node = %self.node, "became leader");
            if !self.rebooted.swap(true, Ordering::SeqCst) {
                let reboot: Vec<JobBuilder> = self.cron.iter().filter(|c| c.is_reboot()).map(|c| c.job_for(now)).collect();
                if !reboot.is_empty() {
                    Jobs::insert_all(&self.repo, reboot).await?;
                }
            }
        } else if !lead && was {
            tracing::info!(target: "zzz_jobs", node = %self.node, "lost leadership");
        }
        Ok(())
    }

    async fn stage(&self) -> Result<Vec<String>, JobsError> {
        let mut h = self.exec.raw().await?;
        let queues = db::stage(&mut h.executor(), Utc::now(), 5_000).await?;
        drop(h);
        let qs = self.queues.lock().expect("queues");
        for name in &queues {
            if let Some(q) = qs.get(name) {
                q.wake.notify_one();
            }
        }
        Ok(queues)
    }

    async fn cron_tick(&self, at: DateTime<Utc>) -> Result<usize, JobsError> {
        if !self.leader.load(Ordering::SeqCst) {
            return Ok(0);
        }
        let due: Vec<JobBuilder> = self.cron.iter().filter(|c| c.matches(at, self.timezone)).map(|c| c.job_for(at)).collect();
        if due.is_empty() {
            return Ok(0);
        }
        let jobs = Jobs::insert_all(&self.repo, due).await?;
        Ok(jobs.iter().filter(|j| !j.conflict).count())
    }
}

/// Sleep `d` unless the node is stopping; false when stopping.
async fn nap(stop: &mut watch::Receiver<bool>, d: Duration) -> bool {
    if *stop.borrow() {
        return false;
    }
    tokio::select! {
        _ = tokio::time::sleep(d) => !*stop.borrow(),
        _ = stop.changed() => false,
    }
}

async fn produce(inner: Arc<Inner>, q: Arc<QueueState>) {
    let mut stop = inner.stop.subscribe();
    let mut backlog = false;
    loop {
        if inner.stopping() {
            return;
        }
        let fetching = q.fetching.lock().await;
        if !q.paused.load(Ordering::SeqCst) {
            let limit = q.limit.load(Ordering::SeqCst);
            let mut running = q.running.lock().expect("running").len();
            let mut demand = limit.saturating_sub(running);
            // With a backlog, a claim of a few jobs costs one commit just like a claim
            // of many: give finishing jobs up to 2 ms to free more slots first.
            if backlog && demand > 0 && demand < limit.div_ceil(2) && running > 0 {
                let until = tokio::time::Instant::now() + Duration::from_millis(2);
                loop {
                    tokio::select! {
                        _ = q.wake.notified() => {}
                        _ = tokio::time::sleep_until(until) => {}
                    }
                    running = q.running.lock().expect("running").len();
                    demand = limit.saturating_sub(running);
                    if demand >= limit.div_ceil(2) || running == 0 || tokio::time::Instant::now() >= until {
                        break;
                    }
                }
            }
            if demand > 0 {
                let res = match inner.exec.raw().await {
                    Ok(mut h) => db::fetch(&mut h.executor(), &q.name, demand as i64, &inner.node, Utc::now()).await,
                    Err(e) => Err(e.into()),
                };
                match res {
                    Ok(jobs) => {
                        backlog = jobs.len() == demand;
                        for job in jobs {
                            spawn_attempt(&inner, &q, job);
                        }
                    }
                    Err(e) => {
                        drop(fetching);
                        tracing::warn!(target: "zzz_jobs", queue = %q.name, error = %e, "fetch failed; retrying");
                        if !nap(&mut stop, inner.poll_interval).await {
                            return;
                        }
                        continue;
                    }
                }
            }
        }
        drop(fetching);
        tokio::select! {
            _ = q.wake.notified() => {}
            _ = tokio::time::sleep(inner.poll_interval) => {}
            _ = stop.changed() => {}
        }
    }
}

fn spawn_attempt(inner: &Arc<Inner>, q: &Arc<QueueState>, job: Job) {
    let job = Arc::new(job);
    let id = job.id;
    let qt = queue_time(&job);
    let start = JobEvent { kind: EventKind::Start, job: job.clone(), state: None, duration: None, queue_time: qt, error: None };
    crate::telemetry::log(&start);
    let _ = inner.events.send(start);
    let (inner2, q2) = (inner.clone(), q.clone());
    let mut running = q.running.lock().expect("running");
    let h = tokio::spawn(async move {
        let t0 = Instant::now();
        let result = run_attempt(&inner2.registry, job.clone()).await;
        let duration = t0.elapsed();
        let _ = inner2.ack_tx.send(AckMsg::Done { job, result, duration, queue_time: qt });
        q2.running.lock().expect("running").remove(&id);
        q2.wake.notify_one();
    });
    running.insert(id, h.abort_handle());
}

async fn ack_loop(repo: Exec, events: broadcast::Sender<JobEvent>, mut rx: mpsc::UnboundedReceiver<AckMsg>) {
    let mut batch = Vec::new();
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < 5_000 {
            match rx.try_recv() {
                Ok(m) => batch.push(m),
                Err(_) => break,
            }
        }
        let now = Utc::now();
        let mut completed = Vec::new();
        let mut others = Vec::new();
        let mut evs = Vec::new();
        let mut flushes = Vec::new();
        for m in batch.drain(..) {
            match m {
                AckMsg::Flush(tx) => flushes.push(tx),
                AckMsg::Done { job, result, duration, queue_time } => {
                    let (ack, kind, state, error) = classify(&job, &result, now);
                    match ack {
                        None => completed.push(job.id),
                        Some(a) => others.push((job.id, a)),
                    }
                    evs.push(JobEvent { kind, job, state: Some(state), duration: Some(duration), queue_time, error });
                }
            }
        }
        write_acks(&repo, &completed, &others, now).await;
        for e in evs {
            crate::telemetry::log(&e);
            let _ = events.send(e);
        }
        for f in flushes {
            let _ = f.send(());
        }
    }
}

/// Write results, retrying while the database is unreachable (a job whose result
/// cannot be written stays `executing` and is rescued by the lifeline).
async fn write_acks(repo: &Exec, completed: &[i64], others: &[(i64, AckKind)], now: DateTime<Utc>) {
    let mut done_completed = completed.is_empty();
    let mut next_other = 0;
    for attempt in 0..20u32 {
        let r: Result<(), JobsError> = async {
            let mut h = repo.raw().await?;
            let mut ex = h.executor();
            if !done_completed {
                db::complete_many(&mut ex, completed, now).await?;
                done_completed = true;
            }
            while next_other < others.len() {
                let (id, k) = &others[next_other];
                db::ack(&mut ex, *id, k, now).await?;
                next_other += 1;
            }
            Ok(())
        }
        .await;
        match r {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(target: "zzz_jobs", error = %e, attempt, "writing job results failed; retrying");
                tokio::time::sleep(Duration::from_millis(50 * (attempt as u64 + 1).min(20))).await;
            }
        }
    }
    tracing::error!(target: "zzz_jobs", "giving up writing job results; the lifeline will rescue those jobs");
}

async fn listen_loop(inner: std::sync::Weak<Inner>, pool: sqlx::PgPool, schema: String) {
    #[derive(serde::Deserialize)]
    struct Payload {
        schema: String,
        queue: String,
    }
    loop {
        let mut listener = match sqlx::postgres::PgListener::connect_with(&pool).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(target: "zzz_jobs", error = %e, "LISTEN connection failed; polling until it is back");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if let Err(e) = listener.listen_all([db::NOTIFY_CHANNEL, db::SIGNAL_CHANNEL]).await {
            tracing::warn!(target: "zzz_jobs", error = %e, "LISTEN failed");
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        loop {
            match listener.recv().await {
                Ok(n) => {
                    let Some(inner) = inner.upgrade() else { return };
                    if n.channel() == db::SIGNAL_CHANNEL {
                        if let Ok(sig) = serde_json::from_str::<Signal>(n.payload())
                            && sig.schema == schema
                        {
                            inner.apply(&sig);
                        }
                    } else if let Ok(p) = serde_json::from_str::<Payload>(n.payload())
                        && p.schema == schema
                        && let Some(q) = inner.queues.lock().expect("queues").get(&p.queue)
                    {
                        q.wake.notify_one();
                    }
                }
                Err(e) => {
                    tracing::warn!(target: "zzz_jobs", error = %e, "LISTEN connection lost; reconnecting");
                    break;
                }
            }
        }
    }
}

/// A control message to every node on the same Postgres schema.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Signal {
    schema: String,
    action: SignalAction,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum SignalAction {
    Pause { queue: String },
    Resume { queue: String },
    Scale { queue: String, limit: usize },
    Cancel { id: i64 },
}

impl Inner {
    /// Apply a signal on this node (unknown queues are ignored).
    fn apply(&self, sig: &Signal) {
        let queue = |name: &str| self.queues.lock().expect("queues").get(name).cloned();
        match &sig.action {
            SignalAction::Pause { queue: name } => {
                if let Some(q) = queue(name) {
                    q.paused.store(true, Ordering::SeqCst);
                }
            }
            SignalAction::Resume { queue: name } => {
                if let Some(q) = queue(name) {
                    q.paused.store(false, Ordering::SeqCst);
                    q.wake.notify_one();
                }
            }
            SignalAction::Scale { queue: name, limit } => {
                if let Some(q) = queue(name) {
                    q.limit.store(*limit, Ordering::SeqCst);
                    q.wake.notify_one();
                }
            }
            SignalAction::Cancel { id } => {
                let queues: Vec<Arc<QueueState>> = self.queues.lock().expect("queues").values().cloned().collect();
                for q in queues {
                    let h = q.running.lock().expect("running").remove(id);
                    if let Some(h) = h {
                        h.abort();
                        q.wake.notify_one();
                        tracing::info!(target: "zzz_jobs", id, queue = %q.name, "cancelled running job");
                    }
                }
            }
        }
    }

    /// Apply locally, and on Postgres tell every other node too.
    async fn broadcast(&self, action: SignalAction) -> Result<(), JobsError> {
        let sig = Signal { schema: self.schema.clone().unwrap_or_default(), action };
        self.apply(&sig);
        if self.schema.is_some() {
            let payload = serde_json::to_string(&sig).map_err(|e| JobsError::Decode(e.to_string()))?;
            let mut h = self.repo.raw().await?;
            db::signal(&mut h.executor(), &payload).await?;
        }
        Ok(())
    }
}

async fn peer_loop(inner: Arc<Inner>) {
    let mut stop = inner.stop.subscribe();
    let every = inner.peer_ttl / 3;
    while nap(&mut stop, every).await {
        if let Err(e) = inner.peer_tick().await {
            tracing::warn!(target: "zzz_jobs", error = %e, "heartbeat failed");
        }
    }
}

async fn stage_loop(inner: Arc<Inner>) {
    let mut stop = inner.stop.subscribe();
    while nap(&mut stop, inner.stage_interval).await {
        if inner.leader.load(Ordering::SeqCst)
            && let Err(e) = inner.stage().await
        {
            tracing::warn!(target: "zzz_jobs", error = %e, "stager failed");
        }
    }
}

async fn prune_loop(inner: Arc<Inner>) {
    let Some(p) = inner.pruner else { return };
    let mut stop = inner.stop.subscribe();
    while nap(&mut stop, p.interval).await {
        if !inner.leader.load(Ordering::SeqCst) {
            continue;
        }
        let before = Utc::now() - chrono::Duration::from_std(p.max_age).unwrap_or(chrono::Duration::MAX);
        let mut h = match inner.exec.raw().await {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(target: "zzz_jobs", error = %e, "pruner could not reach the database");
                continue;
            }
        };
        match db::prune(&mut h.executor(), before, p.limit).await {
            Ok(n) if n > 0 => tracing::debug!(target: "zzz_jobs", pruned = n, "pruner"),
            Ok(_) => {}
            Err(e) => tracing::warn!(target: "zzz_jobs", error = %e, "pruner failed"),
        }
    }
}

async fn lifeline_loop(inner: Arc<Inner>) {
    let Some(l) = inner.lifeline else { return };
    let mut stop = inner.stop.subscribe();
    while nap(&mut stop, l.interval).await {
        if !inner.leader.load(Ordering::SeqCst) {
            continue;
        }
        let now = Utc::now();
        let before = now - chrono::Duration::from_std(l.rescue_after).unwrap_or(chrono::Duration::MAX);
        let mut h = match inner.exec.raw().await {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(target: "zzz_jobs", error = %e, "lifeline could not reach the database");
                continue;
            }
        };
        let mut ex = h.executor();
        match db::rescue(&mut ex, now, before).await {
            Ok(n) if n > 0 => tracing::info!(target: "zzz_jobs", rescued = n, "lifeline rescued orphaned jobs"),
            Ok(_) => {}
            Err(e) => tracing::warn!(target: "zzz_jobs", error = %e, "lifeline failed"),
        }
        let _ = db::prune_peers(&mut ex, now - chrono::Duration::from_std(inner.peer_ttl * 10).unwrap_or(chrono::Duration::MAX)).await;
    }
}

async fn cron_loop(inner: Arc<Inner>) {
    let mut stop = inner.stop.subscribe();
    loop {
        let now = Utc::now();
        let next = crate::cron::minute(now) + chrono::Duration::minutes(1);
        let wait = (next - now).to_std().unwrap_or_default();
        if !nap(&mut stop, wait).await {
            return;
        }
        if let Err(e) = inner.cron_tick(next).await {
            tracing::warn!(target: "zzz_jobs", error = %e, "cron insert failed");
        }
    }
}
