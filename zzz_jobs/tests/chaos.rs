//! Multi-process chaos test (its own `main`, no libtest harness).
//!
//! The parent creates a private Postgres schema, inserts `ZZZ_CHAOS_JOBS` jobs
//! (default 20,000, the size; set it lower for a quick run), and starts 4 child
//! processes (this same binary with `ZZZ_CHAOS_CHILD` set), each a [`Runner`] node.
//! While they work, it SIGKILLs a random child every 100–400 ms and restarts it. At
//! the end every job must be `completed` — none lost, none stuck — and each job must
//! have run at least once; the number of duplicate executions (at-least-once
//! delivery after a kill) is reported. Each execution is recorded in a `chaos_runs`
//! table by the job itself.
//!
//! Fails (exit code 1) if Postgres cannot be reached, with a hint how to start it.

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use zzz_db::testing::TestDb;
use zzz_db::{Repo, RepoConfig, Value};
use zzz_jobs::{Job, Jobs, Lifeline, Outcome, PerformResult, Registry, Runner, Worker};

struct ChaosWork(Repo);

impl Worker for ChaosWork {
    type Args = serde_json::Value;
    const NAME: &'static str = "ChaosWork";
    async fn perform(&self, job: &Job, args: serde_json::Value) -> PerformResult {
        self.0
            .execute_sql("INSERT INTO chaos_runs (job_id, node) VALUES (?, ?)", vec![Value::Int(job.id), Value::Text(job.attempted_by[0].clone())])
            .await?;
        let ms = args["ms"].as_u64().unwrap_or(5);
        tokio::time::sleep(Duration::from_millis(ms)).await;
        Ok(Outcome::Complete)
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    if let Ok(url) = std::env::var("ZZZ_CHAOS_CHILD") {
        rt.block_on(child(url));
    } else {
        rt.block_on(parent());
    }
}

async fn child(url: String) {
    let repo = Repo::connect_with(RepoConfig::new(url).pool_size(6)).await.expect("child connect");
    let runner = Runner::builder(&repo)
        .queue("default", 10)
        .registry(Registry::new().register(ChaosWork(repo.clone())))
        .peer_ttl(Duration::from_millis(900))
        .stage_interval(Duration::from_millis(100))
        .poll_interval(Duration::from_millis(200))
        .lifeline(Lifeline { rescue_after: Duration::from_secs(3600), interval: Duration::from_millis(200) })
        .start()
        .await
        .expect("child runner");
    let _keep = runner;
    // Work until SIGKILLed (or the parent disappears).
    loop {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}

fn spawn_child(url: &str) -> Child {
    Command::new(std::env::current_exe().expect("current exe")).env("ZZZ_CHAOS_CHILD", url).spawn().expect("spawn child")
}

fn rand_below(n: u64) -> u64 {
    (uuid::Uuid::new_v4().as_u128() as u64) % n
}

async fn count(repo: &Repo, sql: &'static str) -> i64 {
    repo.query_scalar::<i64>(sql, vec![]).await.expect("count").unwrap_or(0)
}

async fn parent() {
    let n: i64 = std::env::var("ZZZ_CHAOS_JOBS").ok().and_then(|s| s.parse().ok()).unwrap_or(20_000);
    let db = TestDb::postgres().await.expect("test schema");
    let repo = db.repo.clone();
    Jobs::migrate(&repo).await.expect("migrate");
    repo.execute_raw("CREATE TABLE chaos_runs (id BIGSERIAL PRIMARY KEY, job_id BIGINT NOT NULL, node TEXT NOT NULL)").await.expect("runs table");
    let schema: String = repo.query_scalar("SELECT current_schema()", vec![]).await.unwrap().unwrap();
    let base = zzz_db::testing::postgres_url();
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options[search_path]={schema}");

    let mut left = n;
    while left > 0 {
        let k = left.min(5_000);
        let jobs = (0..k).map(|_| ChaosWork::new(serde_json::json!({"ms": 2 + rand_below(15)}))).collect();
        Jobs::insert_all(&repo, jobs).await.expect("insert");
        left -= k;
    }
    println!("chaos: {n} jobs, 4 worker processes, schema {schema}");

    let start = Instant::now();
    let deadline = start + Duration::from_secs(600);
    let mut children: Vec<Child> = (0..4).map(|_| spawn_child(&url)).collect();
    let mut kills = 0u32;
    // Let work start, then kill a random node every 100-400 ms while at least 10% is left.
    while count(&repo, "SELECT COUNT(*) FROM zzz_jobs WHERE state = 'completed'").await < n / 20 {
        assert!(Instant::now() < deadline, "no progress");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    loop {
        let done = count(&repo, "SELECT COUNT(*) FROM zzz_jobs WHERE state = 'completed'").await;
        if done >= n - n / 10 && kills >= 3 {
            break;
        }
        assert!(Instant::now() < deadline, "chaos phase did not finish: {done}/{n} completed");
        let i = rand_below(4) as usize;
        children[i].kill().expect("SIGKILL");
        children[i].wait().expect("reap");
        kills += 1;
        tokio::time::sleep(Duration::from_millis(100 + rand_below(300))).await;
        children[i] = spawn_child(&url);
    }
    println!("chaos: {kills} SIGKILLs in {:.1}s; draining", start.elapsed().as_secs_f64());
    loop {
        let done = count(&repo, "SELECT COUNT(*) FROM zzz_jobs WHERE state = 'completed'").await;
        if done == n {
            break;
        }
        if Instant::now() > deadline {
            let by_state = Jobs::counts(&repo).await.unwrap();
            for c in &mut children {
                let _ = c.kill();
            }
            panic!("not every job completed: {done}/{n}; by state: {by_state:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let elapsed = start.elapsed();
    for c in &mut children {
        let _ = c.kill();
        let _ = c.wait();
    }
    let total = count(&repo, "SELECT COUNT(*) FROM zzz_jobs").await;
    let runs = count(&repo, "SELECT COUNT(*) FROM chaos_runs").await;
    let distinct = count(&repo, "SELECT COUNT(DISTINCT job_id) FROM chaos_runs").await;
    let not_completed = count(&repo, "SELECT COUNT(*) FROM zzz_jobs WHERE state <> 'completed'").await;
    println!(
        "chaos: {n} jobs, {kills} SIGKILLs, {:.1}s: completed {}, lost 0, executions {runs}, duplicate executions {}",
        elapsed.as_secs_f64(),
        n - not_completed,
        runs - distinct
    );
    assert_eq!(total, n, "jobs table changed size");
    assert_eq!(not_completed, 0);
    assert_eq!(distinct, n, "every job ran at least once");
    db.cleanup().await;
    println!("chaos: ok");
}
