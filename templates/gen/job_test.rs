//! The `{{zzz:worker}}` job, performed inline and through its queue.

use zzz_jobs::testing::{DrainOptions, Filter, assert_enqueued, drain_queue, perform_job};
use zzz_jobs::{Jobs, Outcome, Worker};

use {{zzz:app}}::jobs::{{zzz:module}}::{ {{zzz:schema}}Args, {{zzz:worker}} };

use crate::support;

#[tokio::test]
async fn {{zzz:module}}_completes() {
    assert!(matches!(perform_job({{zzz:worker}}, {{zzz:schema}}Args { id: 1 }).await, Ok(Outcome::Complete)));
}

#[tokio::test]
async fn {{zzz:module}}_runs_from_its_queue() {
    let app = support::app().await;
    Jobs::migrate(&app.repo).await.expect("the jobs table");
    Jobs::insert(&app.repo, {{zzz:worker}}::new({{zzz:schema}}Args { id: 7 })).await.expect("enqueue");
    assert_enqueued(&app.repo, &Filter::worker::<{{zzz:worker}}>().args(serde_json::json!({"id": 7}))).await;
    let summary = drain_queue(&app.repo, &{{zzz:app}}::jobs::registry(), "{{zzz:queue}}", DrainOptions::default()).await.expect("drain");
    assert_eq!(summary.success, 1);
    app.cleanup().await;
}
