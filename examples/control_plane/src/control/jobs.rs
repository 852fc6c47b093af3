//! The background work, as zzz_jobs workers:
//!
//! - [`Dispatch`] (queue `dispatch`): gives a pending workload to a healthy agent;
//!   retried every `retry_backoff` while no agent is reachable.
//! - [`PollStatus`] (queue `poll`, one per workload, enqueued by the dispatch before it
//!   starts the workload): asks the workload's agent for its status every
//!   `poll_interval` (by snoozing) until it reaches a final state.
//! - [`StopWorkload`] (queue `stop`): tells the agent to stop a workload; retried while
//!   the agent is unreachable, given up once the workload is final (e.g. `lost`).
//! - [`AgentHealth`] (queue `health`, one unique job): pings every agent every
//!   `health_interval`; an agent silent for `lost_timeout` has its workloads marked
//!   `lost`.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use zzz_jobs::{Job, JobFailure, Jobs, Outcome, PerformResult, Registry, Unique, UniqueField, UniqueStates, Worker};
use zzz_db::{Query, Set};

use super::App;
use super::agents;
use super::schema::Workload;
use super::workloads::{self, apply_status, now, transition};
use crate::client::call;
use crate::protocol::{ErrorCode, Request, Response};
use crate::state::WorkloadState;

/// The args of the per-workload jobs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkloadRef {
    /// Workload id.
    pub id: String,
}

/// The queues and their per-node concurrency.
pub const QUEUES: [(&str, usize); 4] = [("dispatch", 5), ("poll", 10), ("stop", 5), ("health", 1)];

/// Every worker of the control plane, sharing `app`.
pub fn registry(app: &App) -> Registry {
    Registry::new()
        .register(Dispatch { app: app.clone() })
        .register(PollStatus { app: app.clone() })
        .register(StopWorkload { app: app.clone() })
        .register(AgentHealth { app: app.clone() })
}

fn db_failure(err: zzz_db::Error) -> JobFailure {
    JobFailure::new(format!("database: {err}"))
}

/// Gives a pending workload to an agent.
pub struct Dispatch {
    app: App,
}

impl Worker for Dispatch {
    type Args = WorkloadRef;
    const NAME: &'static str = "Dispatch";
    const QUEUE: &'static str = "dispatch";
    /// With a one-second backoff, about a day of retries while no agent answers.
    const MAX_ATTEMPTS: i32 = 100_000;

    fn backoff(&self, _job: &Job) -> Duration {
        self.app.config.retry_backoff()
    }

    async fn perform(&self, _job: &Job, args: WorkloadRef) -> PerformResult {
        let app = &self.app;
        let Some(workload) = workloads::get(app, &args.id).await.map_err(db_failure)? else {
            return Ok(Outcome::Cancel(format!("workload {} no longer exists", args.id)));
        };
        if workload.state != WorkloadState::Pending {
            return Ok(Outcome::Complete);
        }
        if workload.stop_requested {
            transition(app, &workload.id, WorkloadState::Stopped, |s| s).await.map_err(db_failure)?;
            return Ok(Outcome::Complete);
        }
        // A retried dispatch goes back to the agent it chose, while that one is healthy:
        // the first attempt may have started the workload there without hearing back.
        let chosen = match &workload.agent {
            Some(addr) if agents::is_healthy(app, addr).await.map_err(db_failure)? => addr.clone(),
            _ => match agents::pick(app).await.map_err(db_failure)? {
                Some(addr) => addr,
                None => return Err(JobFailure::new("no agent is reachable; retrying")),
            },
        };
        if workload.agent.as_deref() != Some(&chosen) {
            let pending = Query::from::<Workload>()
                .filter(Workload::id.eq(workload.id.clone()) & Workload::state.eq(WorkloadState::Pending));
            let set = Set::new().set(Workload::agent, Some(chosen.clone())).set(Workload::updated_at, now());
            app.repo.update_all(pending, set).await.map_err(db_failure)?;
        }
        // The poll is enqueued before the start (one per workload: a retried dispatch
        // inserts none), so a dispatch that fails after the agent started the workload
        // still leaves someone following it.
        Jobs::insert(&app.repo, PollStatus::new(WorkloadRef { id: workload.id.clone() }))
            .await
            .map_err(|e| JobFailure::new(format!("could not enqueue the status poll: {e}")))?;
        let request = Request::StartWorkload { workload: workload.spec() };
        match call(&chosen, &request, app.config.agent_timeout()).await? {
            Response::Status(status) => {
                tracing::info!(workload = %workload.id, agent = %chosen, state = %status.state, "dispatched");
                let current = Workload { agent: Some(chosen.clone()), ..workload };
                let started = status.state;
                if apply_status(app, &current, status).await.map_err(db_failure)?.is_none() && !started.is_final() {
                    // Stopped (or lost) while the start was on its way: do not leave it running.
                    let now = workloads::get(app, &current.id).await.map_err(db_failure)?;
                    if now.is_some_and(|w| w.state.is_final()) {
                        tracing::info!(workload = %current.id, agent = %chosen, "finished during dispatch; stopping it on the agent");
                        let _ = call(&chosen, &Request::StopWorkload { id: current.id.clone() }, app.config.agent_timeout()).await;
                        return Ok(Outcome::Complete);
                    }
                }
                Ok(Outcome::Complete)
            }
            Response::Error { code: Some(ErrorCode::Busy), message } => {
                // Full: forget the choice, so the retry picks the least busy agent again.
                let pending = Query::from::<Workload>()
                    .filter(Workload::id.eq(workload.id.clone()) & Workload::state.eq(WorkloadState::Pending));
                let set = Set::new().set(Workload::agent, None::<String>).set(Workload::updated_at, now());
                app.repo.update_all(pending, set).await.map_err(db_failure)?;
                Err(JobFailure::new(format!("agent {chosen} is busy: {message}")))
            }
            Response::Error { message, .. } => {
                let error = Some(format!("agent {chosen} refused the workload: {message}"));
                transition(app, &workload.id, WorkloadState::Failed, |s| s.set(Workload::error, error)).await.map_err(db_failure)?;
                Ok(Outcome::Complete)
            }
            other => Err(JobFailure::new(format!("agent {chosen} answered StartWorkload with {other:?}"))),
        }
    }
}

/// Follows a dispatched workload until it ends.
pub struct PollStatus {
    app: App,
}

impl Worker for PollStatus {
    type Args = WorkloadRef;
    const NAME: &'static str = "PollStatus";
    const QUEUE: &'static str = "poll";
    const MAX_ATTEMPTS: i32 = 100_000;

    /// One poll per workload until it is done.
    fn unique() -> Option<Unique> {
        Some(Unique::new().fields(&[UniqueField::Worker, UniqueField::Args]).infinity().states(UniqueStates::Incomplete))
    }

    fn backoff(&self, _job: &Job) -> Duration {
        self.app.config.poll_interval()
    }

    async fn perform(&self, _job: &Job, args: WorkloadRef) -> PerformResult {
        let app = &self.app;
        let Some(workload) = workloads::get(app, &args.id).await.map_err(db_failure)? else {
            return Ok(Outcome::Cancel(format!("workload {} no longer exists", args.id)));
        };
        if workload.state.is_final() {
            return Ok(Outcome::Complete);
        }
        // Pending: the dispatch is still choosing an agent or talking to it.
        let (WorkloadState::Running, Some(agent)) = (workload.state, workload.agent.clone()) else {
            return Ok(Outcome::Snooze(app.config.poll_interval()));
        };
        match call(&agent, &Request::GetStatus { id: workload.id.clone() }, app.config.agent_timeout()).await {
            Ok(Response::Status(status)) => {
                let final_now = status.state.is_final();
                apply_status(app, &workload, status).await.map_err(db_failure)?;
                if final_now {
                    return Ok(Outcome::Complete);
                }
            }
            Ok(Response::Error { code: None | Some(ErrorCode::UnknownWorkload), message }) => {
                // The agent answers but no longer knows the workload (it restarted).
                let error = Some(format!("agent {agent} no longer knows the workload: {message}"));
                transition(app, &workload.id, WorkloadState::Lost, |s| s.set(Workload::error, error)).await.map_err(db_failure)?;
                return Ok(Outcome::Complete);
            }
            Ok(other) => tracing::warn!(workload = %workload.id, %agent, "unexpected answer to GetStatus: {other:?}"),
            // The health check decides when a silent agent's workloads are lost.
            Err(err) => tracing::debug!(workload = %workload.id, %err, "status poll failed"),
        }
        Ok(Outcome::Snooze(app.config.poll_interval()))
    }
}

/// Tells a workload's agent to stop it.
pub struct StopWorkload {
    app: App,
}

impl Worker for StopWorkload {
    type Args = WorkloadRef;
    const NAME: &'static str = "StopWorkload";
    const QUEUE: &'static str = "stop";
    const MAX_ATTEMPTS: i32 = 100_000;

    fn backoff(&self, _job: &Job) -> Duration {
        self.app.config.retry_backoff()
    }

    async fn perform(&self, _job: &Job, args: WorkloadRef) -> PerformResult {
        let app = &self.app;
        let Some(workload) = workloads::get(app, &args.id).await.map_err(db_failure)? else {
            return Ok(Outcome::Cancel(format!("workload {} no longer exists", args.id)));
        };
        if workload.state.is_final() {
            return Ok(Outcome::Complete);
        }
        let Some(agent) = workload.agent.clone() else {
            // Never given to an agent: nothing runs, so it is stopped here.
            transition(app, &workload.id, WorkloadState::Stopped, |s| s).await.map_err(db_failure)?;
            return Ok(Outcome::Complete);
        };
        // Stopping waits for the process to end on the agent (up to 10 s).
        let timeout = app.config.agent_timeout() + Duration::from_secs(10);
        match call(&agent, &Request::StopWorkload { id: workload.id.clone() }, timeout).await? {
            Response::Status(status) => {
                apply_status(app, &workload, status).await.map_err(db_failure)?;
                Ok(Outcome::Complete)
            }
            Response::Error { message, .. } => {
                // Refused: it finished meanwhile, or the agent never got it. Read the truth.
                tracing::info!(workload = %workload.id, %agent, %message, "agent refused the stop");
                if let Ok(Response::Status(status)) = call(&agent, &Request::GetStatus { id: workload.id.clone() }, app.config.agent_timeout()).await {
                    apply_status(app, &workload, status).await.map_err(db_failure)?;
                } else if workload.state == WorkloadState::Pending {
                    transition(app, &workload.id, WorkloadState::Stopped, |s| s).await.map_err(db_failure)?;
                }
                Ok(Outcome::Complete)
            }
            other => Err(JobFailure::new(format!("agent {agent} answered StopWorkload with {other:?}"))),
        }
    }
}

/// Pings every agent, forever (one job, snoozing between rounds).
pub struct AgentHealth {
    app: App,
}

/// The args of [`AgentHealth`] (none).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NoArgs {}

impl Worker for AgentHealth {
    type Args = NoArgs;
    const NAME: &'static str = "AgentHealth";
    const QUEUE: &'static str = "health";
    const MAX_ATTEMPTS: i32 = 100_000;

    /// One health job at a time, across restarts and nodes.
    fn unique() -> Option<Unique> {
        Some(Unique::new().fields(&[UniqueField::Worker]).infinity().states(UniqueStates::Incomplete))
    }

    fn backoff(&self, _job: &Job) -> Duration {
        self.app.config.health_interval()
    }

    async fn perform(&self, _job: &Job, _args: NoArgs) -> PerformResult {
        check_all(&self.app).await.map_err(db_failure)?;
        Ok(Outcome::Snooze(self.app.config.health_interval()))
    }
}

/// Checks every agent at once; returns how many answered.
pub async fn check_all(app: &App) -> Result<usize, zzz_db::Error> {
    let agents = agents::all(app).await?;
    let checks = agents.iter().map(|agent| agents::check(app, agent));
    let results = futures_util::future::join_all(checks).await;
    let mut up = 0;
    for result in results {
        if result? {
            up += 1;
        }
    }
    Ok(up)
}
