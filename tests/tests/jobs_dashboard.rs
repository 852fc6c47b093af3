//! The zzz_jobs dashboard page mounted in a router: counts per queue and state, and the
//! recent failures with their (escaped) last error, read from a real SQLite jobs table.

use zzz::test::TestClient;
use zzz_db::testing::TestDb;
use zzz_jobs::testing::{DrainOptions, drain_queue};
use zzz_jobs::{Job, JobFailure, Jobs, Outcome, PerformResult, Registry, Worker};

zzz::router! {
    pub AdminRouter;
    get "/admin/jobs" => zzz::jobs::dashboard;
}

struct SendMail;
impl Worker for SendMail {
    type Args = serde_json::Value;
    const NAME: &'static str = "SendMail";
    const QUEUE: &'static str = "mailers";
    async fn perform(&self, _job: &Job, _args: serde_json::Value) -> PerformResult {
        Err(JobFailure::new("smtp down: <script>alert(1)</script>"))
    }
}

struct Report;
impl Worker for Report {
    type Args = serde_json::Value;
    const NAME: &'static str = "Report";
    async fn perform(&self, _job: &Job, _args: serde_json::Value) -> PerformResult {
        Ok(Outcome::Complete)
    }
}

#[tokio::test]
async fn the_dashboard_shows_counts_and_recent_failures() {
    let db = TestDb::sqlite_memory().await.expect("an in-memory SQLite database");
    Jobs::migrate(&db.repo).await.expect("jobs migration");
    for n in 0..2 {
        Jobs::insert(&db.repo, SendMail::new(serde_json::json!({"to": n}))).await.unwrap();
    }
    Jobs::insert(&db.repo, Report::new(serde_json::json!({}))).await.unwrap();
    let registry = Registry::new().register(SendMail).register(Report);
    let failed = drain_queue(&db.repo, &registry, "mailers", DrainOptions::default()).await.unwrap();
    assert_eq!(failed.failure, 2);
    let done = drain_queue(&db.repo, &registry, "default", DrainOptions::default()).await.unwrap();
    assert_eq!(done.success, 1);

    let client = TestClient::new(zzz::Endpoint::new(AdminRouter::new()).state(db.repo.clone()));
    let res = client.get("/admin/jobs").await;
    res.assert_status(200).assert_header("content-type", "text/html; charset=utf-8");
    let html = res.text();
    assert!(html.contains(r#"<tr data-queue="mailers"><td class="text">mailers</td>"#), "{html}");
    assert!(html.contains(r#"<td data-state="retryable">2</td>"#), "{html}");
    assert!(html.contains(r#"<td data-state="completed">1</td>"#), "{html}");
    assert_eq!(html.matches("<tr data-id=").count(), 2, "two recent failures: {html}");
    assert!(html.contains("smtp down: &lt;script&gt;alert(1)&lt;/script&gt;"), "errors are escaped: {html}");
    assert!(!html.contains("<script>"), "{html}");
}

#[tokio::test]
async fn a_missing_jobs_table_is_a_clear_503() {
    let db = TestDb::sqlite_memory().await.expect("an in-memory SQLite database");
    let client = TestClient::new(zzz::Endpoint::new(AdminRouter::new()).state(db.repo.clone()));
    client.get("/admin/jobs").await.assert_status(503).assert_text_contains("could not read the jobs table");
    // Without a repo in the state it is a 500 naming the missing state.
    let bare = TestClient::new(zzz::Endpoint::new(AdminRouter::new()));
    bare.get("/admin/jobs").await.assert_status(500).assert_text_contains("zzz_db::repo::Repo");
}
