//! The `{{zzz:worker}}` job: enqueue it with
//! `zzz_jobs::Jobs::insert(&repo, {{zzz:worker}}::new({{zzz:schema}}Args { id })).await?`.

use serde::{Deserialize, Serialize};
use zzz_jobs::{Job, Outcome, PerformResult, Worker};

/// What a `{{zzz:worker}}` job carries (stored as JSON in the job's row).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct {{zzz:schema}}Args {
    /// The id of the record to work on.
    pub id: i64,
}

/// Performs `{{zzz:worker}}` jobs from the `{{zzz:queue}}` queue.
#[derive(Clone, Copy, Debug, Default)]
pub struct {{zzz:worker}};

impl Worker for {{zzz:worker}} {
    type Args = {{zzz:schema}}Args;
    const NAME: &'static str = "{{zzz:worker}}";
    const QUEUE: &'static str = "{{zzz:queue}}";

    async fn perform(&self, job: &Job, args: {{zzz:schema}}Args) -> PerformResult {
        tracing::info!(job = job.id, attempt = job.attempt, id = args.id, "{{zzz:worker}} performed");
        Ok(Outcome::Complete)
    }
}
