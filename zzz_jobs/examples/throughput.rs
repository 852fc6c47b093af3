//! Throughput benchmark: insert N no-op jobs and drain them with one node.
//!
//! ```text
//! cargo run --release -p zzz_jobs --example throughput -- --jobs 100000 --database postgres://postgres@127.0.0.1:5432/postgres
//! ```
//!
//! Options: `--jobs N` (default 20000), `--database URL` (default
//! `ZZZ_TEST_DATABASE_URL` or the local test Postgres), `--limit C` (queue
//! concurrency, default 1000), `--single N` (jobs inserted one by one for the single
//! insert rate, default 2000), `--drop-gin` (drop the GIN indexes on args/meta
//! first, to measure what they cost), `--async-commit` (the runner's bookkeeping
//! with `synchronous_commit = off`, see `RunnerBuilder::async_commit`). On Postgres it works in a fresh schema dropped at the
//! end; on SQLite it empties the jobs table first. The last line is `jobs/s: <n>`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use zzz_db::{Repo, RepoConfig};
use zzz_jobs::{Job, JobState, Jobs, Outcome, PerformResult, Registry, Runner, Worker};

struct Noop(Arc<AtomicUsize>);

impl Worker for Noop {
    type Args = serde_json::Value;
    const NAME: &'static str = "Noop";
    const QUEUE: &'static str = "bench";
    async fn perform(&self, _job: &Job, _args: serde_json::Value) -> PerformResult {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(Outcome::Complete)
    }
}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = arg("--jobs").map(|s| s.parse()).transpose()?.unwrap_or(20_000);
    let limit: usize = arg("--limit").map(|s| s.parse()).transpose()?.unwrap_or(1000);
    let single: usize = arg("--single").map(|s| s.parse()).transpose()?.unwrap_or(2_000);
    let url = arg("--database")
        .or_else(|| std::env::var("ZZZ_TEST_DATABASE_URL").ok())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".into());

    let (repo, cleanup) = if url.starts_with("postgres") {
        let admin = Repo::connect(&url).await?;
        let schema = format!("zzz_jobs_bench_{}", std::process::id());
        admin.execute_raw(&format!("CREATE SCHEMA {schema}")).await?;
        let sep = if url.contains('?') { '&' } else { '?' };
        let repo = Repo::connect_with(RepoConfig::new(format!("{url}{sep}options[search_path]={schema}")).pool_size(16)).await?;
        (repo, Some((admin, schema)))
    } else {
        let repo = Repo::connect_with(RepoConfig::new(&url).pool_size(8)).await?;
        (repo, None)
    };
    Jobs::migrate(&repo).await?;
    repo.execute_raw("DELETE FROM zzz_jobs").await?;
    if std::env::args().any(|a| a == "--drop-gin") {
        repo.execute_raw("DROP INDEX IF EXISTS zzz_jobs_args_index; DROP INDEX IF EXISTS zzz_jobs_meta_index").await?;
        println!("GIN indexes on args/meta dropped");
    }
    println!("database: {:?}, jobs: {n}, queue limit: {limit}", repo.dialect());

    // Single inserts.
    let t = Instant::now();
    for i in 0..single {
        Jobs::insert(&repo, Noop::new(serde_json::json!({"i": i})).queue("single")).await?;
    }
    let single_rate = single as f64 / t.elapsed().as_secs_f64();
    println!("insert single: {single} jobs in {:.3}s = {single_rate:.0} jobs/s", t.elapsed().as_secs_f64());
    repo.execute_raw("DELETE FROM zzz_jobs").await?;

    // Bulk inserts, 5000 per statement.
    let t = Instant::now();
    let mut left = n;
    let mut i = 0;
    while left > 0 {
        let k = left.min(5_000);
        let batch = (0..k).map(|j| Noop::new(serde_json::json!({"i": i + j}))).collect();
        Jobs::insert_all(&repo, batch).await?;
        i += k;
        left -= k;
    }
    let bulk_rate = n as f64 / t.elapsed().as_secs_f64();
    println!("insert bulk: {n} jobs in {:.3}s = {bulk_rate:.0} jobs/s", t.elapsed().as_secs_f64());

    // Drain.
    let done = Arc::new(AtomicUsize::new(0));
    let t = Instant::now();
    let runner = Runner::builder(&repo)
        .queue("bench", limit)
        .async_commit(std::env::args().any(|a| a == "--async-commit"))
        .registry(Registry::new().register(Noop(done.clone())))
        .start()
        .await?;
    while done.load(Ordering::Relaxed) < n {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let ran = t.elapsed();
    loop {
        let completed: i64 = repo
            .query_scalar("SELECT COUNT(*) FROM zzz_jobs WHERE state = 'completed'", vec![])
            .await?
            .unwrap_or(0);
        if completed as usize >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let elapsed = t.elapsed();
    runner.shutdown().await;
    let left = Jobs::list(&repo, &[JobState::Available, JobState::Executing], None).await?.len();
    println!("executed: {n} in {:.3}s; all marked completed after {:.3}s; left: {left}", ran.as_secs_f64(), elapsed.as_secs_f64());
    if let Some((admin, schema)) = cleanup {
        repo.close().await;
        admin.execute_raw(&format!("DROP SCHEMA {schema} CASCADE")).await?;
    }
    println!("jobs/s: {:.0}", n as f64 / elapsed.as_secs_f64());
    Ok(())
}
