//! The zzz_jobs behaviour suite, run against SQLite (a private database file) and a
//! real PostgreSQL (a private schema on ZZZ_TEST_DATABASE_URL, default
//! postgres://postgres@127.0.0.1:5432/postgres). If Postgres is down, the Postgres
//! cases fail with a message saying how to start it.
//!
//! Every case in `cases` is instantiated twice by `both!`: `sqlite::<case>` and
//! `postgres::<case>`. Waits are for conditions (with a generous deadline that only
//! turns a hang into a failure), never timing assertions.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::json;
use zzz_db::testing::TestDb;
use zzz_db::{Dialect, Repo};
use zzz_jobs::testing::{DrainOptions, Filter, all_enqueued, assert_enqueued, drain_queue, perform_job, refute_enqueued};
use zzz_jobs::{
    CronEntry, EventKind, Job, JobBuilder, JobState, Jobs, JobsError, Lifeline, Outcome, PerformResult, Pruner, Registry,
    ReplaceField, ResultState, Runner, Unique, UniqueField, UniqueStates, Worker,
};

// ------------------------------------------------------------------ workers

/// What a [`Scripted`] job does.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
struct Script {
    #[serde(default)]
    action: String,
    #[serde(default)]
    sleep_ms: u64,
    #[serde(default)]
    timeout_ms: Option<u64>,
    #[serde(default)]
    n: i64,
}

fn script(action: &str) -> Script {
    Script { action: action.into(), ..Default::default() }
}

#[derive(Clone, Default)]
struct Log {
    runs: Arc<Mutex<Vec<(i64, i32)>>>,
    running: Arc<AtomicUsize>,
    max_running: Arc<AtomicUsize>,
}

impl Log {
    fn runs(&self) -> Vec<(i64, i32)> {
        self.runs.lock().unwrap().clone()
    }
}

/// A worker doing what its args say; retries have no backoff.
struct Scripted(Log);

impl Worker for Scripted {
    type Args = Script;
    const NAME: &'static str = "Scripted";
    const MAX_ATTEMPTS: i32 = 3;

    fn timeout(&self, job: &Job) -> Option<Duration> {
        job.args.get("timeout_ms").and_then(|v| v.as_u64()).map(Duration::from_millis)
    }
    fn backoff(&self, _job: &Job) -> Duration {
        Duration::ZERO
    }
    async fn perform(&self, job: &Job, s: Script) -> PerformResult {
        self.0.runs.lock().unwrap().push((job.id, job.attempt));
        let now = self.0.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.0.max_running.fetch_max(now, Ordering::SeqCst);
        if s.sleep_ms > 0 {
            tokio::time::sleep(Duration::from_millis(s.sleep_ms)).await;
        }
        self.0.running.fetch_sub(1, Ordering::SeqCst);
        match s.action.as_str() {
            "fail" => Err(zzz_jobs::JobFailure::new(format!("failed attempt {}", job.attempt))),
            "fail_once" if job.attempt == 1 => Err(zzz_jobs::JobFailure::new("first attempt fails")),
            "panic" => panic!("boom in job {}", job.id),
            "cancel" => Ok(Outcome::Cancel("not needed".into())),
            "discard" => Ok(Outcome::Discard("bad input".into())),
            "snooze_once" if job.snoozed() == 0 => Ok(Outcome::Snooze(Duration::ZERO)),
            "io" => {
                let e = std::io::Error::other("disk on fire");
                Err(e)?
            }
            _ => Ok(Outcome::Complete),
        }
    }
}

/// Always fails, with the default backoff.
struct Flaky;
impl Worker for Flaky {
    type Args = serde_json::Value;
    const NAME: &'static str = "Flaky";
    async fn perform(&self, _job: &Job, _args: serde_json::Value) -> PerformResult {
        Err(zzz_jobs::JobFailure::new("nope"))
    }
}

/// Unique by default on the `key` arg, forever.
struct Uniq;
impl Worker for Uniq {
    type Args = serde_json::Value;
    const NAME: &'static str = "Uniq";
    fn unique() -> Option<Unique> {
        Some(Unique::new().keys(&["key"]).infinity())
    }
    async fn perform(&self, _job: &Job, _args: serde_json::Value) -> PerformResult {
        Ok(Outcome::Complete)
    }
}

// ------------------------------------------------------------------ helpers

async fn setup(db: &TestDb) -> Repo {
    Jobs::migrate(&db.repo).await.expect("migrate");
    db.repo.clone()
}

fn registry(log: &Log) -> Registry {
    Registry::new().register(Scripted(log.clone())).register(Flaky).register(Uniq)
}

async fn runner(repo: &Repo, log: &Log) -> Runner {
    Runner::builder(repo)
        .queue("default", 5)
        .registry(registry(log))
        .stage_interval(Duration::from_millis(30))
        .poll_interval(Duration::from_millis(200))
        .start()
        .await
        .expect("start runner")
}

/// Wait until job `id` is in `state` (panics after 30 s with the job's last state).
async fn wait_state(repo: &Repo, id: i64, state: JobState) -> Job {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let j = Jobs::get(repo, id).await.expect("get");
        if j.state == state {
            return j;
        }
        if std::time::Instant::now() > deadline {
            panic!("job {id} never reached {state}; it is {:?}", j);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn wait_until<F: FnMut() -> bool>(what: &str, mut f: F) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !f() {
        if std::time::Instant::now() > deadline {
            panic!("timed out waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn run(action: &str) -> JobBuilder {
    Scripted::new(script(action))
}

// ------------------------------------------------------------------ cases

mod cases {
    use super::*;

    pub async fn insert_then_complete(db: &TestDb) {
        let repo = setup(db).await;
        let log = Log::default();
        let job = Jobs::insert(&repo, run("ok").tags(&["a", "b"]).meta("source", "test").priority(3)).await.unwrap();
        assert_eq!(job.state, JobState::Available);
        assert_eq!((job.queue.as_str(), job.worker.as_str(), job.priority, job.max_attempts, job.attempt), ("default", "Scripted", 3, 3, 0));
        assert_eq!(job.tags, vec!["a", "b"]);
        assert_eq!(job.meta, json!({"source": "test"}));
        assert_eq!(job.args["action"], "ok");
        assert!(!job.conflict);

        let r = runner(&repo, &log).await;
        let mut events = r.subscribe();
        let done = wait_state(&repo, job.id, JobState::Completed).await;
        assert_eq!(done.attempt, 1);
        assert_eq!(done.attempted_by, vec![r.node().to_string()]);
        assert!(done.completed_at.is_some() && done.attempted_at.is_some());
        assert!(done.errors.is_empty());
        assert_eq!(log.runs(), vec![(job.id, 1)]);
        // Telemetry: a stop event for the job with the success state.
        let second = Jobs::insert(&repo, run("ok")).await.unwrap();
        let mut saw_start = false;
        loop {
            let e = events.recv().await.unwrap();
            if e.job.id != second.id {
                continue;
            }
            match e.kind {
                EventKind::Start => saw_start = true,
                EventKind::Stop => {
                    assert_eq!(e.state, Some(ResultState::Success));
                    assert!(e.duration.is_some());
                    break;
                }
                EventKind::Exception => panic!("unexpected exception {e:?}"),
            }
        }
        assert!(saw_start);
        assert_eq!(Jobs::get(&repo, second.id).await.unwrap().state, JobState::Completed);
        r.shutdown().await;
    }

    pub async fn error_retries_then_discards(db: &TestDb) {
        let repo = setup(db).await;
        let log = Log::default();
        let r = runner(&repo, &log).await;
        let mut events = r.subscribe();
        let job = Jobs::insert(&repo, run("fail").max_attempts(2)).await.unwrap();
        let mut states = vec![];
        while states.len() < 2 {
            let e = events.recv().await.unwrap();
            if e.job.id == job.id && e.kind == EventKind::Exception {
                states.push(e.state.unwrap());
            }
        }
        assert_eq!(states, vec![ResultState::Failure, ResultState::Discard]);
        let j = wait_state(&repo, job.id, JobState::Discarded).await;
        assert_eq!(j.attempt, 2);
        assert!(j.discarded_at.is_some());
        assert_eq!(j.errors.len(), 2);
        assert_eq!((j.errors[0].attempt, j.errors[0].error.as_str()), (1, "failed attempt 1"));
        assert_eq!((j.errors[1].attempt, j.errors[1].error.as_str()), (2, "failed attempt 2"));
        assert_eq!(log.runs(), vec![(job.id, 1), (job.id, 2)]);

        // Fails once, then succeeds: retryable → available → completed.
        let job = Jobs::insert(&repo, run("fail_once")).await.unwrap();
        let j = wait_state(&repo, job.id, JobState::Completed).await;
        assert_eq!((j.attempt, j.errors.len()), (2, 1));
        // A `?` on a std error is a failure too.
        let job = Jobs::insert(&repo, run("io").max_attempts(1)).await.unwrap();
        let j = wait_state(&repo, job.id, JobState::Discarded).await;
        assert_eq!(j.errors[0].error, "disk on fire");
        r.shutdown().await;
    }

    pub async fn default_backoff_schedules_retry(db: &TestDb) {
        let repo = setup(db).await;
        let log = Log::default();
        let r = runner(&repo, &log).await;
        let before = Utc::now();
        let job = Jobs::insert(&repo, Flaky::new(json!({}))).await.unwrap();
        let j = wait_state(&repo, job.id, JobState::Retryable).await;
        let after = Utc::now();
        // Attempt 1: 15 + 2^1 = 17 s, plus at most 10% jitter.
        let lo = before + chrono::Duration::seconds(17);
        let hi = after + chrono::Duration::milliseconds(18_700);
        assert!(j.scheduled_at >= lo && j.scheduled_at <= hi, "retry at {} not in [{lo}, {hi}]", j.scheduled_at);
        assert_eq!(j.errors.len(), 1);
        // Not due yet: the stager leaves it alone.
        assert!(r.stage_now().await.unwrap().is_empty());
        r.shutdown().await;
    }

    pub async fn panic_and_timeout_are_errors(db: &TestDb) {
        let repo = setup(db).await;
        let log = Log::default();
        let r = runner(&repo, &log).await;
        let p = Jobs::insert(&repo, run("panic").max_attempts(1)).await.unwrap();
        let mut slow = script("ok");
        slow.sleep_ms = 60_000;
        slow.timeout_ms = Some(50);
        let t = Jobs::insert(&repo, Scripted::new(slow).max_attempts(1)).await.unwrap();
        let p = wait_state(&repo, p.id, JobState::Discarded).await;
        assert!(p.errors[0].error.starts_with("panic: boom in job"), "{:?}", p.errors);
        let t = wait_state(&repo, t.id, JobState::Discarded).await;
        assert!(t.errors[0].error.starts_with("timeout"), "{:?}", t.errors);
        // A per-job timeout, with the worker's default `timeout`.
        struct Slow;
        impl Worker for Slow {
            type Args = serde_json::Value;
            const NAME: &'static str = "Slow";
            async fn perform(&self, _job: &Job, _a: serde_json::Value) -> PerformResult {
                tokio::time::sleep(Duration::from_secs(600)).await;
                Ok(Outcome::Complete)
            }
        }
        let s = Jobs::insert(&repo, Slow::new(json!({})).timeout(Duration::from_millis(30)).max_attempts(1).queue("slow")).await.unwrap();
        assert_eq!(s.meta["timeout_ms"], 30);
        let sum = drain_queue(&repo, &Registry::new().register(Slow), "slow", DrainOptions::default()).await.unwrap();
        assert_eq!(sum.discard, 1);
        let s = Jobs::get(&repo, s.id).await.unwrap();
        assert!(s.errors[0].error.starts_with("timeout"), "{:?}", s.errors);
        // The queue still works after a panic.
        let ok = Jobs::insert(&repo, run("ok")).await.unwrap();
        wait_state(&repo, ok.id, JobState::Completed).await;
        r.shutdown().await;
    }

    pub async fn cancel_discard_snooze(db: &TestDb) {
        let repo = setup(db).await;
        let log = Log::default();
        let r = runner(&repo, &log).await;
        let c = Jobs::insert(&repo, run("cancel")).await.unwrap();
        let d = Jobs::insert(&repo, run("discard")).await.unwrap();
        let s = Jobs::insert(&repo, run("snooze_once")).await.unwrap();
        let c = wait_state(&repo, c.id, JobState::Cancelled).await;
        assert!(c.cancelled_at.is_some());
        assert_eq!(c.errors[0].error, "not needed");
        let d = wait_state(&repo, d.id, JobState::Discarded).await;
        assert_eq!((d.attempt, d.errors[0].error.as_str()), (1, "bad input"));
        // Snoozed once (attempt rolled back, meta.snoozed = 1), then completed on the
        // next attempt, which is attempt 1 again; max_attempts unchanged.
        let s = wait_state(&repo, s.id, JobState::Completed).await;
        assert_eq!((s.attempt, s.snoozed(), s.max_attempts), (1, 1, 3));
        assert!(s.errors.is_empty());
        let runs: Vec<(i64, i32)> = log.runs().into_iter().filter(|(id, _)| *id == s.id).collect();
        assert_eq!(runs, vec![(s.id, 1), (s.id, 1)]);

        // Cancelling an executing job: its later result is not written.
        let mut events = r.subscribe();
        let mut slow = script("ok");
        slow.sleep_ms = 300;
        let x = Jobs::insert(&repo, Scripted::new(slow)).await.unwrap();
        wait_state(&repo, x.id, JobState::Executing).await;
        assert_eq!(Jobs::cancel(&repo, x.id).await.unwrap().unwrap().state, JobState::Cancelled);
        loop {
            let e = events.recv().await.unwrap();
            if e.job.id == x.id && e.kind == EventKind::Stop {
                break;
            }
        }
        assert_eq!(Jobs::get(&repo, x.id).await.unwrap().state, JobState::Cancelled);
        r.shutdown().await;
    }

    pub async fn snooze_sets_scheduled(db: &TestDb) {
        let repo = setup(db).await;
        struct Sleepy;
        impl Worker for Sleepy {
            type Args = serde_json::Value;
            const NAME: &'static str = "Sleepy";
            async fn perform(&self, _job: &Job, _a: serde_json::Value) -> PerformResult {
                Ok(Outcome::Snooze(Duration::from_secs(3600)))
            }
        }
        let job = Jobs::insert(&repo, Sleepy::new(json!({}))).await.unwrap();
        let sum = drain_queue(&repo, &Registry::new().register(Sleepy), "default", DrainOptions::default()).await.unwrap();
        assert_eq!(sum.snoozed, 1);
        let j = Jobs::get(&repo, job.id).await.unwrap();
        assert_eq!((j.state, j.attempt, j.snoozed()), (JobState::Scheduled, 0, 1));
        assert!(j.scheduled_at > Utc::now() + chrono::Duration::minutes(59));
    }

    pub async fn scheduled_jobs_wait_for_their_time(db: &TestDb) {
        let repo = setup(db).await;
        let log = Log::default();
        let later = Jobs::insert(&repo, run("ok").schedule_in(Duration::from_secs(3600))).await.unwrap();
        assert_eq!(later.state, JobState::Scheduled);
        let soon = Jobs::insert(&repo, run("ok").scheduled_at(Utc::now() + chrono::Duration::milliseconds(300))).await.unwrap();
        assert_eq!(soon.state, JobState::Scheduled);
        let past = Jobs::insert(&repo, run("ok").scheduled_at(Utc::now() - chrono::Duration::seconds(5))).await.unwrap();
        assert_eq!(past.state, JobState::Available);
        let r = runner(&repo, &log).await;
        wait_state(&repo, soon.id, JobState::Completed).await;
        wait_state(&repo, past.id, JobState::Completed).await;
        assert_eq!(Jobs::get(&repo, later.id).await.unwrap().state, JobState::Scheduled);
        assert!(!log.runs().iter().any(|(id, _)| *id == later.id));
        r.shutdown().await;
    }

    pub async fn transactional_enqueue(db: &TestDb) {
        let repo = setup(db).await;
        repo.execute_raw("CREATE TABLE accounts (id BIGINT PRIMARY KEY, name TEXT NOT NULL)").await.unwrap();
        // Rolled back: neither the row nor the job exists.
        let mut tx = repo.begin().await.unwrap();
        tx.execute_sql("INSERT INTO accounts (id, name) VALUES (1, 'a')", vec![]).await.unwrap();
        let j1 = Jobs::insert_in(&mut tx, run("ok").meta("account", 1)).await.unwrap();
        tx.rollback().await.unwrap();
        assert!(matches!(Jobs::get(&repo, j1.id).await, Err(JobsError::NotFound(_))));
        refute_enqueued(&repo, &Filter::worker::<Scripted>().meta(json!({"account": 1}))).await;
        // Committed: both exist.
        let mut tx = repo.begin().await.unwrap();
        tx.execute_sql("INSERT INTO accounts (id, name) VALUES (2, 'b')", vec![]).await.unwrap();
        let j2 = Jobs::insert_all_in(&mut tx, vec![run("ok").meta("account", 2), run("ok").meta("account", 2)]).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(all_enqueued(&repo, &Filter::worker::<Scripted>().meta(json!({"account": 2}))).await.unwrap().len(), 2);
        assert_eq!(Jobs::get(&repo, j2[0].id).await.unwrap().state, JobState::Available);
        // A failing statement after the insert rolls the job back with it (Repo::transaction).
        let res: Result<(), zzz_db::Error> = repo
            .transaction(|tx| {
                Box::pin(async move {
                    Jobs::insert_in(tx, run("ok").meta("account", 3)).await?;
                    tx.execute_sql("INSERT INTO accounts (id, name) VALUES (2, 'dup')", vec![]).await?;
                    Ok(())
                })
            })
            .await;
        assert!(res.is_err());
        refute_enqueued(&repo, &Filter::any().meta(json!({"account": 3}))).await;
    }

    pub async fn unique_jobs(db: &TestDb) {
        let repo = setup(db).await;
        // Default unique: worker + queue + args, 60 s, successful states.
        let u = Unique::new();
        let a = Jobs::insert(&repo, run("ok").unique(u.clone())).await.unwrap();
        let b = Jobs::insert(&repo, run("ok").unique(u.clone())).await.unwrap();
        assert!(!a.conflict && b.conflict);
        assert_eq!(a.id, b.id);
        let c = Jobs::insert(&repo, run("other").unique(u.clone())).await.unwrap();
        assert!(!c.conflict && c.id != a.id);
        let d = Jobs::insert(&repo, run("ok").queue("other").unique(u.clone())).await.unwrap();
        assert!(!d.conflict, "a different queue is a different job");
        // Period elapsed (0 s): no conflict.
        let e = Jobs::insert(&repo, run("ok").unique(u.clone().period(Duration::ZERO))).await.unwrap();
        assert!(!e.conflict);

        // Existing rows are compared by their fields, whether inserted as unique or not.
        let plain = Jobs::insert(&repo, JobBuilder::raw("Raw", json!({"a": 1, "b": {"c": 2, "d": [1, 2]}}))).await.unwrap();
        let dup = Jobs::insert(&repo, JobBuilder::raw("Raw", json!({"b": {"d": [1, 2], "c": 2}, "a": 1})).unique(u.clone())).await.unwrap();
        assert!(dup.conflict);
        assert_eq!(dup.id, plain.id);
        let other = Jobs::insert(&repo, JobBuilder::raw("Raw", json!({"a": 1, "b": {"c": 2, "d": [2, 1]}})).unique(u.clone())).await.unwrap();
        assert!(!other.conflict, "array order matters");

        // Keys: only `key` counts (worker default: forever).
        let k1 = Jobs::insert(&repo, Uniq::new(json!({"key": 1, "x": 1}))).await.unwrap();
        let k2 = Jobs::insert(&repo, Uniq::new(json!({"x": 2, "key": 1}))).await.unwrap();
        let k3 = Jobs::insert(&repo, Uniq::new(json!({"key": 2}))).await.unwrap();
        assert!(!k1.conflict && k2.conflict && !k3.conflict);
        assert_eq!(k2.id, k1.id);
        assert_eq!(k2.args, json!({"key": 1, "x": 1}), "the existing job is returned unchanged");

        // States: a completed job conflicts under `successful` but not `incomplete`.
        let reg = registry(&Log::default());
        drain_queue(&repo, &reg, "default", DrainOptions::default()).await.unwrap();
        assert_eq!(Jobs::get(&repo, k1.id).await.unwrap().state, JobState::Completed);
        let again = Jobs::insert(&repo, Uniq::new(json!({"key": 1}))).await.unwrap();
        assert!(again.conflict);
        let inc = Unique::new().keys(&["key"]).infinity().states(UniqueStates::Incomplete);
        let fresh = Jobs::insert(&repo, Uniq::new(json!({"key": 1})).unique(inc.clone())).await.unwrap();
        assert!(!fresh.conflict);

        // Meta as a field.
        let m = Unique::new().fields(&[UniqueField::Worker, UniqueField::Meta]);
        let m1 = Jobs::insert(&repo, run("a").meta("tenant", 1).unique(m.clone())).await.unwrap();
        let m2 = Jobs::insert(&repo, run("b").meta("tenant", 1).unique(m.clone())).await.unwrap();
        let m3 = Jobs::insert(&repo, run("a").meta("tenant", 2).unique(m.clone())).await.unwrap();
        assert!(!m1.conflict && m2.conflict && !m3.conflict);

        // Replace: a scheduled duplicate moves the existing job's scheduled_at and priority.
        let r = Unique::new().infinity().states(UniqueStates::Incomplete);
        let at1 = Utc::now() + chrono::Duration::hours(1);
        let at2 = Utc::now() + chrono::Duration::hours(2);
        let s1 = Jobs::insert(&repo, run("later").unique(r.clone()).scheduled_at(at1)).await.unwrap();
        let s2 = Jobs::insert(
            &repo,
            run("later").unique(r.clone()).scheduled_at(at2).priority(7).replace(JobState::Scheduled, &[ReplaceField::ScheduledAt, ReplaceField::Priority]),
        )
        .await
        .unwrap();
        assert!(s2.conflict);
        assert_eq!(s2.id, s1.id);
        assert_eq!(s2.priority, 7);
        assert!((s2.scheduled_at - at2).num_milliseconds().abs() < 2);
        // Replace only applies to the listed states.
        let s3 = Jobs::insert(&repo, run("later").unique(r).priority(1).replace(JobState::Available, &[ReplaceField::Priority])).await.unwrap();
        assert!(s3.conflict);
        assert_eq!(s3.priority, 7);

        // Bulk insert mixing unique and plain jobs keeps input order.
        let out = Jobs::insert_all(&repo, vec![run("p1"), Uniq::new(json!({"key": 2})), run("p2")]).await.unwrap();
        assert_eq!(out.len(), 3);
        assert_eq!(out[0].args["action"], "p1");
        assert!(out[1].conflict && out[1].id == k3.id);
        assert_eq!(out[2].args["action"], "p2");
    }

    pub async fn unique_under_concurrency(db: &TestDb) {
        let repo = setup(db).await;
        let mut hs = vec![];
        for _ in 0..8 {
            let repo = repo.clone();
            hs.push(tokio::spawn(async move { Jobs::insert(&repo, Uniq::new(json!({"key": "same"}))).await.unwrap() }));
        }
        let mut fresh = 0;
        for h in hs {
            if !h.await.unwrap().conflict {
                fresh += 1;
            }
        }
        assert_eq!(fresh, 1);
        assert_eq!(all_enqueued(&repo, &Filter::worker::<Uniq>()).await.unwrap().len(), 1);
    }

    pub async fn priority_order_and_concurrency_limit(db: &TestDb) {
        let repo = setup(db).await;
        let log = Log::default();
        let r = Runner::builder(&repo).queue("serial", 1).queue("pair", 2).registry(registry(&log)).start().await.unwrap();
        r.pause_queue("serial").await.unwrap();
        assert_eq!(r.queue_status("serial").unwrap(), (1, 0, true));
        let mut ids = vec![];
        for p in [5, 0, 9, 3] {
            ids.push((p, Jobs::insert(&repo, run("ok").queue("serial").priority(p)).await.unwrap().id));
        }
        r.resume_queue("serial").await.unwrap();
        for (_, id) in &ids {
            wait_state(&repo, *id, JobState::Completed).await;
        }
        let order: Vec<i64> = log.runs().iter().map(|(id, _)| *id).collect();
        let mut by_priority = ids.clone();
        by_priority.sort();
        assert_eq!(order, by_priority.iter().map(|(_, id)| *id).collect::<Vec<_>>());
        assert_eq!(log.max_running.load(Ordering::SeqCst), 1);

        // Limit 2: never more than 2 at once, even with 10 slow jobs.
        let log2 = Log::default();
        let r2 = Runner::builder(&repo).queue("pair", 2).registry(registry(&log2)).plugins(false).start().await.unwrap();
        r.pause_queue("pair").await.unwrap();
        let mut s = script("ok");
        s.sleep_ms = 20;
        let jobs = Jobs::insert_all(&repo, (0..10).map(|_| Scripted::new(s.clone()).queue("pair")).collect()).await.unwrap();
        for j in &jobs {
            wait_state(&repo, j.id, JobState::Completed).await;
        }
        assert!(log2.max_running.load(Ordering::SeqCst) <= 2);
        // Scale at runtime.
        r2.scale_queue("pair", 4).unwrap();
        assert_eq!(r2.queue_status("pair").unwrap().0, 4);
        assert!(r2.scale_queue("pair", 0).is_err());
        assert!(r2.pause_queue("nope").await.is_err());
        r2.shutdown().await;
        r.shutdown().await;
    }

    pub async fn graceful_shutdown(db: &TestDb) {
        let repo = setup(db).await;
        let log = Log::default();
        let r = Runner::builder(&repo).queue("default", 5).registry(registry(&log)).shutdown_grace_period(Duration::from_secs(30)).start().await.unwrap();
        let mut s = script("ok");
        s.sleep_ms = 300;
        let job = Jobs::insert(&repo, Scripted::new(s)).await.unwrap();
        wait_state(&repo, job.id, JobState::Executing).await;
        let report = r.shutdown().await;
        assert!(report.released.is_empty());
        // The running job was allowed to finish and its result written.
        assert_eq!(Jobs::get(&repo, job.id).await.unwrap().state, JobState::Completed);
        // After shutdown nothing is fetched.
        let idle = Jobs::insert(&repo, run("ok")).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(Jobs::get(&repo, idle.id).await.unwrap().state, JobState::Available);

        // A job outliving the grace period is stopped and released for another node.
        let r = Runner::builder(&repo).queue("slow", 5).registry(registry(&log)).shutdown_grace_period(Duration::from_millis(100)).start().await.unwrap();
        let mut s = script("ok");
        s.sleep_ms = 600_000;
        let stuck = Jobs::insert(&repo, Scripted::new(s).queue("slow")).await.unwrap();
        wait_state(&repo, stuck.id, JobState::Executing).await;
        let report = r.shutdown().await;
        assert_eq!(report.released, vec![stuck.id]);
        let j = Jobs::get(&repo, stuck.id).await.unwrap();
        assert_eq!((j.state, j.attempt), (JobState::Available, 1));
        assert_eq!(Jobs::leader(&repo).await.unwrap(), None, "leadership given up");
    }

    pub async fn lifeline_rescues_orphans(db: &TestDb) {
        let repo = setup(db).await;
        let log = Log::default();
        // A job claimed by a node that died without a trace (no heartbeat row).
        let orphan = Jobs::insert(&repo, run("ok")).await.unwrap();
        let exhausted = Jobs::insert(&repo, run("ok").max_attempts(1)).await.unwrap();
        let sql = match repo.dialect() {
            Dialect::Postgres => "UPDATE zzz_jobs SET state = 'executing', attempt = 1, attempted_by = ARRAY['dead-node'], attempted_at = now()",
            Dialect::Sqlite => "UPDATE zzz_jobs SET state = 'executing', attempt = 1, attempted_by = '[\"dead-node\"]', attempted_at = '2000-01-01T00:00:00.000000Z'",
        };
        repo.execute_sql(sql, vec![]).await.unwrap();
        let r = Runner::builder(&repo).queue("default", 5).registry(registry(&log)).lifeline(Lifeline { rescue_after: Duration::from_secs(3600), interval: Duration::from_millis(50) }).start().await.unwrap();
        // The lifeline (on the leader) moves it back; the queue runs it (attempt 2).
        let j = wait_state(&repo, orphan.id, JobState::Completed).await;
        assert_eq!(j.attempt, 2);
        let x = wait_state(&repo, exhausted.id, JobState::Discarded).await;
        assert_eq!(x.attempt, 1);
        // A live node's executing jobs are left alone.
        let mut s = script("ok");
        s.sleep_ms = 400;
        let live = Jobs::insert(&repo, Scripted::new(s)).await.unwrap();
        wait_state(&repo, live.id, JobState::Executing).await;
        assert_eq!(r.rescue_now().await.unwrap(), 0);
        wait_state(&repo, live.id, JobState::Completed).await;
        r.shutdown().await;
    }

    pub async fn pruner_deletes_old_finished_jobs(db: &TestDb) {
        let repo = setup(db).await;
        let log = Log::default();
        let old = Jobs::insert(&repo, run("ok")).await.unwrap();
        let keep = Jobs::insert(&repo, run("ok").schedule_in(Duration::from_secs(3600))).await.unwrap();
        let sql = match repo.dialect() {
            Dialect::Postgres => "UPDATE zzz_jobs SET state = 'completed', completed_at = now() - interval '2 hours' WHERE state = 'available'",
            Dialect::Sqlite => "UPDATE zzz_jobs SET state = 'completed', completed_at = '2000-01-01T00:00:00.000000Z' WHERE state = 'available'",
        };
        repo.execute_sql(sql, vec![]).await.unwrap();
        let r = Runner::builder(&repo)
            .queue("default", 1)
            .registry(registry(&log))
            .pruner(Pruner { max_age: Duration::from_secs(60), interval: Duration::from_millis(50), limit: 10 })
            .start()
            .await
            .unwrap();
        wait_until_async(|| async { matches!(Jobs::get(&repo, old.id).await, Err(JobsError::NotFound(_))) }).await;
        assert_eq!(Jobs::get(&repo, keep.id).await.unwrap().state, JobState::Scheduled);
        r.shutdown().await;
    }

    pub async fn cron_one_leader_inserts(db: &TestDb) {
        let repo = setup(db).await;
        let log = Log::default();
        let entry = CronEntry::new("*/5 * * * *", Scripted::new(script("ok")).queue("cron")).unwrap();
        let reboot = CronEntry::new("@reboot", Scripted::new(script("boot")).queue("cron")).unwrap();
        let mut nodes = vec![];
        for i in 0..3 {
            nodes.push(
                Runner::builder(&repo)
                    .node(&format!("node-{i}"))
                    .queue("other", 1)
                    .registry(registry(&log))
                    .peer_ttl(Duration::from_secs(2))
                    .cron(entry.clone())
                    .cron(reboot.clone())
                    .start()
                    .await
                    .unwrap(),
            );
        }
        assert_eq!(nodes.iter().filter(|n| n.is_leader()).count(), 1, "exactly one leader");
        let leader = nodes.iter().position(|n| n.is_leader()).unwrap();
        assert_eq!(Jobs::leader(&repo).await.unwrap().as_deref(), Some(nodes[leader].node()));
        // @reboot ran once, on the leader.
        assert_eq!(all_enqueued(&repo, &Filter::worker::<Scripted>().args(json!({"action": "boot"}))).await.unwrap().len(), 1);

        // Every node ticks the same minute at once: one job.
        let t = chrono::DateTime::parse_from_rfc3339("2030-01-01T10:05:00Z").unwrap().with_timezone(&Utc);
        let mut total = 0;
        let ticks: Vec<_> = nodes.iter().map(|n| n.cron_tick(t)).collect();
        for n in futures_util::future::join_all(ticks).await {
            total += n.unwrap();
        }
        assert_eq!(total, 1);
        // The same minute again (e.g. a new leader re-ticking it): nothing more.
        assert_eq!(nodes[leader].cron_tick(t + chrono::Duration::seconds(30)).await.unwrap(), 0);
        // A minute the expression does not match: nothing.
        assert_eq!(nodes[leader].cron_tick(t + chrono::Duration::minutes(1)).await.unwrap(), 0);
        let jobs = all_enqueued(&repo, &Filter::any().queue("cron").meta(json!({"cron_expr": "*/5 * * * *"}))).await.unwrap();
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].meta["cron_at"], "2030-01-01T10:05:00.000000Z");

        // Failover: the leader stops; another node takes over.
        nodes[leader].shutdown().await;
        let rest: Vec<Runner> = nodes.iter().enumerate().filter(|(i, _)| *i != leader).map(|(_, n)| n.clone()).collect();
        wait_until("a new leader", || rest.iter().filter(|n| n.is_leader()).count() == 1).await;
        let new_leader = rest.iter().find(|n| n.is_leader()).unwrap();
        assert_eq!(new_leader.cron_tick(t + chrono::Duration::minutes(5)).await.unwrap(), 1);
        for n in rest {
            n.shutdown().await;
        }
    }

    pub async fn leader_failover_after_crash(db: &TestDb) {
        let repo = setup(db).await;
        // A "crashed" leader: its lease is in the table but it never renews it.
        let expires = Utc::now() + chrono::Duration::seconds(3);
        let sql = match repo.dialect() {
            Dialect::Postgres => "INSERT INTO zzz_peers (name, node, started_at, expires_at) VALUES ('leader', 'ghost', now(), now() + interval '3 seconds')",
            Dialect::Sqlite => "INSERT INTO zzz_peers (name, node, started_at, expires_at) VALUES ('leader', 'ghost', '2000-01-01T00:00:00.000000Z', ?)",
        };
        let args = if repo.dialect() == Dialect::Sqlite { vec![zzz_db::Value::Text(expires.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string())] } else { vec![] };
        repo.execute_sql(sql, args).await.unwrap();
        let r = Runner::builder(&repo).queue("default", 1).peer_ttl(Duration::from_millis(300)).start().await.unwrap();
        assert!(!r.is_leader(), "the ghost's lease is still valid");
        wait_until("lease expiry hands over leadership", || r.is_leader()).await;
        r.shutdown().await;
    }

    pub async fn notify_dispatches_without_polling(db: &TestDb) {
        let repo = setup(db).await;
        let log = Log::default();
        let r = Runner::builder(&repo)
            .queue("default", 2)
            .registry(registry(&log))
            .poll_interval(Duration::from_secs(3600))
            .stage_interval(Duration::from_millis(20))
            .start()
            .await
            .unwrap();
        // Inserted behind the library's back (raw SQL): only a NOTIFY (Postgres) or the
        // stager (SQLite, via a scheduled row) can wake the queue.
        let sql = match repo.dialect() {
            Dialect::Postgres => "INSERT INTO zzz_jobs (worker, args) VALUES ('Scripted', '{\"action\":\"ok\"}')",
            Dialect::Sqlite => "INSERT INTO zzz_jobs (state, worker, args, inserted_at, scheduled_at) VALUES ('scheduled', 'Scripted', '{\"action\":\"ok\"}', '2000-01-01T00:00:00.000000Z', '2000-01-01T00:00:00.000000Z')",
        };
        repo.execute_sql(sql, vec![]).await.unwrap();
        let id: i64 = repo.query_scalar("SELECT MAX(id) FROM zzz_jobs", vec![]).await.unwrap().unwrap();
        wait_state(&repo, id, JobState::Completed).await;
        // Through the API the in-process wake dispatches at once as well.
        let j = Jobs::insert(&repo, run("ok")).await.unwrap();
        wait_state(&repo, j.id, JobState::Completed).await;
        r.shutdown().await;
    }

    pub async fn signals_and_cancel_running_job(db: &TestDb) {
        let repo = setup(db).await;
        let log = Log::default();
        let grace = Duration::from_millis(100);
        let a = Runner::builder(&repo).queue("default", 3).registry(registry(&log)).shutdown_grace_period(grace).start().await.unwrap();
        let b = Runner::builder(&repo).queue("default", 3).registry(registry(&log)).shutdown_grace_period(grace).start().await.unwrap();
        // A long job on node b (a is paused locally), cancelled from node a.
        a.pause_queue("default").await.unwrap();
        let mut s = script("ok");
        s.sleep_ms = 600_000;
        let long = Jobs::insert(&repo, Scripted::new(s.clone())).await.unwrap();
        wait_state(&repo, long.id, JobState::Executing).await;
        assert_eq!(b.queue_status("default").unwrap().1, 1);
        let c = a.cancel_job(long.id).await.unwrap().unwrap();
        assert_eq!(c.state, JobState::Cancelled);
        let cross_node = repo.dialect() == Dialect::Postgres;
        if cross_node {
            // b hears the signal and stops the attempt, freeing its slot.
            wait_until("b stops the cancelled job", || b.queue_status("default").unwrap().1 == 0).await;
        } else {
            // SQLite is one node: the signal is local, so b's attempt runs on (its
            // result is not written: the job stays cancelled).
            assert!(b.cancel_job(long.id).await.unwrap().is_none(), "already cancelled");
        }
        // On the same node, cancel_job stops the attempt at once.
        a.resume_queue("default").await.unwrap();
        b.pause_queue("default").await.unwrap();
        let long2 = Jobs::insert(&repo, Scripted::new(s)).await.unwrap();
        wait_state(&repo, long2.id, JobState::Executing).await;
        a.cancel_job(long2.id).await.unwrap().unwrap();
        assert_eq!(a.queue_status("default").unwrap().1, 0);
        assert_eq!(Jobs::get(&repo, long2.id).await.unwrap().state, JobState::Cancelled);
        b.resume_queue("default").await.unwrap();

        // Pause / scale / resume everywhere.
        a.pause_queue_everywhere("default").await.unwrap();
        assert!(a.queue_status("default").unwrap().2);
        a.scale_queue_everywhere("default", 7).await.unwrap();
        assert_eq!(a.queue_status("default").unwrap().0, 7);
        if cross_node {
            wait_until("b paused and scaled by a's signals", || b.queue_status("default").unwrap() == (7, 0, true)).await;
        }
        a.resume_queue_everywhere("default").await.unwrap();
        assert!(!a.queue_status("default").unwrap().2);
        if cross_node {
            wait_until("b resumed", || !b.queue_status("default").unwrap().2).await;
        }
        assert!(a.scale_queue_everywhere("default", 0).await.is_err());
        a.shutdown().await;
        b.shutdown().await;
    }

    pub async fn two_nodes_share_a_queue(db: &TestDb) {
        let repo = setup(db).await;
        let log = Log::default();
        let a = Runner::builder(&repo).queue("default", 10).registry(registry(&log)).start().await.unwrap();
        // Node b keeps its bookkeeping with asynchronous commit (Postgres; a no-op on SQLite).
        let b = Runner::builder(&repo).queue("default", 10).registry(registry(&log)).async_commit(true).start().await.unwrap();
        let jobs = Jobs::insert_all(&repo, (0..300).map(|i| Scripted::new(Script { action: "ok".into(), n: i, ..Default::default() })).collect()).await.unwrap();
        for j in &jobs {
            wait_state(&repo, j.id, JobState::Completed).await;
        }
        let mut seen: HashMap<i64, usize> = HashMap::new();
        for (id, _) in log.runs() {
            *seen.entry(id).or_default() += 1;
        }
        assert_eq!(seen.len(), 300);
        assert!(seen.values().all(|n| *n == 1), "a job ran twice");
        a.shutdown().await;
        b.shutdown().await;
    }

    pub async fn management_and_counts(db: &TestDb) {
        let repo = setup(db).await;
        let j = Jobs::insert(&repo, run("ok").schedule_in(Duration::from_secs(60))).await.unwrap();
        let c = Jobs::cancel(&repo, j.id).await.unwrap().unwrap();
        assert_eq!(c.state, JobState::Cancelled);
        assert!(Jobs::cancel(&repo, j.id).await.unwrap().is_none(), "already final");
        let r = Jobs::retry(&repo, j.id).await.unwrap().unwrap();
        assert_eq!((r.state, r.cancelled_at), (JobState::Available, None));
        Jobs::insert(&repo, run("ok").queue("q2")).await.unwrap();
        let counts = Jobs::counts(&repo).await.unwrap();
        assert_eq!(counts, vec![("default".to_string(), JobState::Available, 1), ("q2".to_string(), JobState::Available, 1)]);
        assert_eq!(Jobs::list(&repo, &[JobState::Available], Some("q2")).await.unwrap().len(), 1);
        // Invalid options are named errors.
        let e = Jobs::insert(&repo, run("ok").priority(10)).await.unwrap_err();
        assert!(matches!(e, JobsError::InvalidJob { field: "priority", .. }), "{e}");
        let e = Jobs::insert(&repo, run("ok").max_attempts(0)).await.unwrap_err();
        assert!(matches!(e, JobsError::InvalidJob { field: "max_attempts", .. }));
        let e = Jobs::insert(&repo, run("ok").queue("")).await.unwrap_err();
        assert!(matches!(e, JobsError::InvalidJob { field: "queue", .. }));
        assert!(Runner::builder(&repo).queue("x", 0).start().await.is_err());
        // An unknown worker fails the attempt (and is retried like any error).
        let u = Jobs::insert(&repo, JobBuilder::raw("Nobody", json!({})).max_attempts(1).queue("q3")).await.unwrap();
        drain_queue(&repo, &Registry::new(), "q3", DrainOptions::default()).await.unwrap();
        let u = Jobs::get(&repo, u.id).await.unwrap();
        assert_eq!(u.state, JobState::Discarded);
        assert!(u.errors[0].error.contains("unknown worker `Nobody`"));
    }

    pub async fn testing_helpers(db: &TestDb) {
        let repo = setup(db).await;
        let log = Log::default();
        // In a sandbox, as an app's tests would use them.
        let sb = repo.sandbox().await.unwrap();
        Jobs::insert(&sb, run("ok").meta("k", "v")).await.unwrap();
        Jobs::insert(&sb, run("fail").max_attempts(2)).await.unwrap();
        Jobs::insert(&sb, run("ok").schedule_in(Duration::from_secs(600))).await.unwrap();
        assert_enqueued(&sb, &Filter::worker::<Scripted>().args(json!({"action": "ok"})).meta(json!({"k": "v"}))).await;
        refute_enqueued(&sb, &Filter::worker::<Flaky>()).await;
        refute_enqueued(&repo, &Filter::any()).await;
        let sum = drain_queue(&sb, &registry(&log), "default", DrainOptions::default()).await.unwrap();
        assert_eq!((sum.success, sum.failure), (1, 1));
        let sum = drain_queue(&sb, &registry(&log), "default", DrainOptions { with_scheduled: true, with_limit: None }).await.unwrap();
        assert_eq!((sum.success, sum.discard), (1, 1));
        refute_enqueued(&sb, &Filter::any()).await;
        drop(sb);
        // perform_job runs inline without a database.
        assert_eq!(perform_job(Scripted(log.clone()), script("cancel")).await, Ok(Outcome::Cancel("not needed".into())));
        assert!(perform_job(Scripted(log.clone()), script("panic")).await.unwrap_err().message.starts_with("panic"));
    }
}

async fn wait_until_async<F, Fut>(mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !f().await {
        assert!(std::time::Instant::now() < deadline, "timed out waiting for a condition");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

macro_rules! both {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let db = zzz_db::testing::TestDb::sqlite_file().await.unwrap();
                    super::cases::$case(&db).await;
                    db.cleanup().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let db = zzz_db::testing::TestDb::postgres().await.unwrap();
                    super::cases::$case(&db).await;
                    db.cleanup().await;
                }
            )*
        }
    };
}

both!(
    insert_then_complete,
    error_retries_then_discards,
    default_backoff_schedules_retry,
    panic_and_timeout_are_errors,
    cancel_discard_snooze,
    snooze_sets_scheduled,
    scheduled_jobs_wait_for_their_time,
    transactional_enqueue,
    unique_jobs,
    unique_under_concurrency,
    priority_order_and_concurrency_limit,
    graceful_shutdown,
    lifeline_rescues_orphans,
    pruner_deletes_old_finished_jobs,
    cron_one_leader_inserts,
    leader_failover_after_crash,
    notify_dispatches_without_polling,
    two_nodes_share_a_queue,
    signals_and_cancel_running_job,
    management_and_counts,
    testing_helpers,
);

// ------------------------------------------------------------------ no database

#[test]
fn backoff_matches_oban() {
    use zzz_jobs::{backoff, backoff_base};
    assert_eq!(backoff_base(1, 20), 17.0);
    assert_eq!(backoff_base(5, 20), 47.0);
    assert_eq!(backoff_base(20, 20), 15.0 + 1_048_576.0);
    // max_attempts > 20 scales the attempt: 20 of 40 → 10.
    assert_eq!(backoff_base(20, 40), 15.0 + 1024.0);
    assert_eq!(backoff_base(40, 40), 15.0 + 1_048_576.0);
    for attempt in 1..=20 {
        let base = backoff_base(attempt, 20);
        for _ in 0..50 {
            let d = backoff(attempt, 20).as_secs_f64();
            assert!(d >= base && d <= base * 1.1 + 1e-9, "attempt {attempt}: {d} outside [{base}, {}]", base * 1.1);
        }
    }
    // Attempt 20 starts after the 19 waits that follow attempts 1..19: 12.1 days
    // without jitter, at most 13.4 with it (Oban documents ~13 d 8 h).
    let total: f64 = (1..=19).map(|a| backoff_base(a, 20)).sum();
    assert!((total / 86_400.0) > 12.1 && (total * 1.1 / 86_400.0) < 13.4, "{total}");
}

#[test]
fn cron_expressions() {
    use zzz_jobs::{Tz, parse_timezone};
    let job = || JobBuilder::raw("W", json!({}));
    let at = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
    let e = CronEntry::new("*/15 * * * *", job()).unwrap();
    assert!(e.matches(at("2030-01-01T10:15:30Z"), Tz::UTC));
    assert!(!e.matches(at("2030-01-01T10:16:00Z"), Tz::UTC));
    let e = CronEntry::new("0 9 * * MON-FRI", job()).unwrap();
    assert!(e.matches(at("2030-01-07T09:00:00Z"), Tz::UTC)); // a Monday
    assert!(!e.matches(at("2030-01-06T09:00:00Z"), Tz::UTC)); // a Sunday
    // Time zone: 09:00 in Paris is 08:00 UTC in January.
    let paris = parse_timezone("Europe/Paris").unwrap();
    assert!(e.matches(at("2030-01-07T08:00:00Z"), paris));
    assert!(!e.matches(at("2030-01-07T09:00:00Z"), paris));
    for (alias, yes, no) in [
        ("@hourly", "2030-01-01T10:00:00Z", "2030-01-01T10:01:00Z"),
        ("@daily", "2030-01-02T00:00:00Z", "2030-01-02T01:00:00Z"),
        ("@midnight", "2030-01-02T00:00:00Z", "2030-01-02T00:30:00Z"),
        ("@weekly", "2030-01-06T00:00:00Z", "2030-01-07T00:00:00Z"),
        ("@monthly", "2030-02-01T00:00:00Z", "2030-02-02T00:00:00Z"),
        ("@yearly", "2031-01-01T00:00:00Z", "2031-02-01T00:00:00Z"),
        ("@annually", "2031-01-01T00:00:00Z", "2031-01-02T00:00:00Z"),
    ] {
        let e = CronEntry::new(alias, job()).unwrap();
        assert!(e.matches(at(yes), Tz::UTC), "{alias} at {yes}");
        assert!(!e.matches(at(no), Tz::UTC), "{alias} at {no}");
    }
    assert!(CronEntry::new("1,3,5 0-5/2 1 JAN *", job()).unwrap().matches(at("2030-01-01T04:03:00Z"), Tz::UTC));
    assert!(CronEntry::new("@reboot", job()).unwrap().is_reboot());
    for bad in ["* * * *", "0 0 0 * * *", "61 * * * *", "* 24 * * *", "nonsense"] {
        assert!(matches!(CronEntry::new(bad, job()), Err(JobsError::InvalidCron { .. })), "{bad} should be rejected");
    }
    assert!(matches!(parse_timezone("Mars/Olympus"), Err(JobsError::UnknownTimezone(_))));
}
