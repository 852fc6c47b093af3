//! The workloads context: every read and write of workloads goes through here, and
//! every state change is broadcast on `workload:<id>` and `workloads`.

use chrono::{NaiveDateTime, Timelike, Utc};
use serde::Serialize;
use serde_json::Value as JsonValue;
use utoipa::ToSchema;
use zzz_db::{Query, Set};
use zzz_jobs::{Jobs, Worker};

use super::App;
use super::jobs::{Dispatch, StopWorkload, WorkloadRef};
use super::schema::{Workload, create_changeset};
use crate::protocol::WorkloadStatus;
use crate::state::WorkloadState;

/// The event name of every workload broadcast.
pub const CHANGED_EVENT: &str = "state_changed";
/// The topic every workload change is broadcast on.
pub const ALL_TOPIC: &str = "workloads";

/// One workload's topic.
pub fn topic(id: &str) -> String {
    format!("workload:{id}")
}

/// A workload as the API shows it (and as broadcasts carry it).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WorkloadView {
    /// Chosen by the client.
    pub id: String,
    /// Container image (container runtimes), when given.
    pub image: Option<String>,
    /// `process`, `docker` or `containerd`.
    pub runtime_class: String,
    /// Memory limit in MiB.
    pub memory_mb: i64,
    /// CPU share in millicores.
    pub cpu_millicores: i64,
    /// The argv.
    pub command: Vec<String>,
    /// Where it is in its life.
    pub state: WorkloadState,
    /// The agent (`host:port`) it was given to.
    pub agent: Option<String>,
    /// Exit status, once exited.
    pub exit_code: Option<i64>,
    /// The signal that ended it.
    pub signal: Option<i64>,
    /// Why it failed, was refused or was lost.
    pub error: Option<String>,
    /// The last lines of its output.
    pub output: Vec<String>,
    /// Whether a stop was asked for.
    pub stop_requested: bool,
    /// When it was accepted (UTC).
    #[schema(format = DateTime)]
    pub inserted_at: String,
    /// When it last changed (UTC).
    #[schema(format = DateTime)]
    pub updated_at: String,
}

/// RFC 3339 in UTC.
pub fn timestamp(at: NaiveDateTime) -> String {
    format!("{}Z", at.format("%Y-%m-%dT%H:%M:%S"))
}

/// Now, in UTC, to the second (as zzz_db stores timestamps).
pub fn now() -> NaiveDateTime {
    let now = Utc::now().naive_utc();
    now.with_nanosecond(0).unwrap_or(now)
}

impl From<&Workload> for WorkloadView {
    fn from(w: &Workload) -> WorkloadView {
        WorkloadView {
            id: w.id.clone(),
            image: w.image.clone(),
            runtime_class: w.runtime_class.clone(),
            memory_mb: w.memory_mb.unwrap_or_default(),
            cpu_millicores: w.cpu_millicores,
            command: w.command.as_ref().map(|c| c.0.clone()).unwrap_or_default(),
            state: w.state,
            agent: w.agent.clone(),
            exit_code: w.exit_code,
            signal: w.signal,
            error: w.error.clone(),
            output: w.output.0.clone(),
            stop_requested: w.stop_requested,
            inserted_at: timestamp(w.inserted_at),
            updated_at: timestamp(w.updated_at),
        }
    }
}

/// Why a workload could not be created.
#[derive(Debug)]
pub enum CreateError {
    /// The id is taken.
    Duplicate(String),
    /// Anything else (invalid params: `Error::Changeset`).
    Db(zzz_db::Error),
}

/// Tells every subscriber of the workload's topics what it looks like now.
pub fn broadcast(app: &App, workload: &Workload) {
    let view = serde_json::to_value(WorkloadView::from(workload)).unwrap_or(JsonValue::Null);
    for topic in [topic(&workload.id), ALL_TOPIC.to_owned()] {
        if let Err(err) = app.pubsub.broadcast(&topic, CHANGED_EVENT, view.clone()) {
            tracing::warn!(%err, topic, "could not broadcast a workload change");
        }
    }
}

/// Validates and stores a new workload (`pending`) and enqueues its dispatch in the same
/// transaction, then broadcasts it.
pub async fn create(app: &App, params: &JsonValue) -> Result<Workload, CreateError> {
    let changeset = create_changeset(params);
    if !changeset.is_valid() {
        // Bad params never take the database's write lock.
        return Err(CreateError::Db(changeset.apply_action().unwrap_err()));
    }
    let id = changeset.field(Workload::id).unwrap_or_default();
    let result = async {
        let mut tx = app.repo.begin_immediate().await?;
        let workload = tx
            .insert(changeset.put_change(Workload::state, WorkloadState::Pending).put_change(Workload::output, zzz_db::Json(Vec::new())))
            .await?;
        Jobs::insert_in(&mut tx, Dispatch::new(WorkloadRef { id: workload.id.clone() }))
            .await
            .map_err(|e| zzz_db::Error::Pool(format!("could not enqueue the dispatch: {e}")))?;
        tx.commit().await?;
        Ok::<_, zzz_db::Error>(workload)
    }
    .await;
    match result {
        Ok(workload) => {
            tracing::info!(workload = %workload.id, "workload accepted");
            broadcast(app, &workload);
            Ok(workload)
        }
        Err(err) if is_duplicate_id(&err) => Err(CreateError::Duplicate(id)),
        Err(err) => Err(CreateError::Db(err)),
    }
}

fn is_duplicate_id(err: &zzz_db::Error) -> bool {
    err.changeset_errors()
        .is_some_and(|errors| errors.on("id").iter().any(|e| e.opt("constraint").and_then(JsonValue::as_str) == Some("unique")))
}

/// One workload.
pub async fn get(app: &App, id: &str) -> Result<Option<Workload>, zzz_db::Error> {
    app.repo.get::<Workload>(id.to_owned()).await
}

/// One page of workloads (oldest first), optionally in one state, and how many there are.
pub async fn list(app: &App, state: Option<WorkloadState>, page: u32, per_page: u32) -> Result<(Vec<Workload>, i64), zzz_db::Error> {
    let mut query = Query::from::<Workload>();
    if let Some(state) = state {
        query = query.filter(Workload::state.eq(state));
    }
    let total = app.repo.count(query.clone()).await?;
    let offset = i64::from(page.saturating_sub(1)) * i64::from(per_page);
    let rows = app
        .repo
        .all(query.order_by(Workload::inserted_at.asc()).order_by(Workload::id.asc()).limit(i64::from(per_page)).offset(offset))
        .await?;
    Ok((rows, total))
}

/// Moves a workload to `to` if the state machine allows it from its current state
/// (compare-and-set in one UPDATE), with `more` changes; broadcasts the result.
/// `Ok(None)` when the workload is not in a state that may become `to`.
pub async fn transition(app: &App, id: &str, to: WorkloadState, more: impl FnOnce(Set) -> Set) -> Result<Option<Workload>, zzz_db::Error> {
    let query = Query::from::<Workload>()
        .filter(Workload::id.eq(id.to_owned()) & Workload::state.in_list(WorkloadState::predecessors(to)));
    let set = more(Set::new().set(Workload::state, to).set(Workload::updated_at, now()));
    let changed = app.repo.update_all_returning(query, set).await?.into_iter().next();
    if let Some(workload) = &changed {
        tracing::info!(workload = id, state = %to, "workload state changed");
        broadcast(app, workload);
    }
    Ok(changed)
}

/// Records what an agent reported, when it is a new state.
pub async fn apply_status(app: &App, workload: &Workload, status: WorkloadStatus) -> Result<Option<Workload>, zzz_db::Error> {
    if status.state == workload.state {
        return Ok(None);
    }
    if !workload.state.can_become(status.state) {
        tracing::warn!(workload = %workload.id, from = %workload.state, to = %status.state, "ignoring an agent's report: illegal transition");
        return Ok(None);
    }
    transition(app, &workload.id, status.state, |set| {
        set.set(Workload::exit_code, status.exit_code.map(i64::from))
            .set(Workload::signal, status.signal.map(i64::from))
            .set(Workload::error, status.error)
            .set(Workload::output, zzz_db::Json(status.output))
    })
    .await
}

/// What `DELETE /workloads/:id` did.
#[derive(Debug)]
pub enum StopRequest {
    /// It had not been given to an agent: stopped at once.
    Stopped(Workload),
    /// A stop job was enqueued; the workload is stopped once its agent confirms.
    Requested(Workload),
    /// It had already finished.
    AlreadyFinal(Workload),
}

/// Asks for a workload to stop.
pub async fn request_stop(app: &App, workload: Workload) -> Result<StopRequest, zzz_db::Error> {
    if workload.state.is_final() {
        return Ok(StopRequest::AlreadyFinal(workload));
    }
    if workload.state == WorkloadState::Pending && workload.agent.is_none() {
        let error = Some("stopped before it was dispatched".to_owned());
        if let Some(stopped) =
            transition(app, &workload.id, WorkloadState::Stopped, |s| s.set(Workload::stop_requested, true).set(Workload::error, error)).await?
        {
            return Ok(StopRequest::Stopped(stopped));
        }
    }
    let mut tx = app.repo.begin_immediate().await?;
    let updated = tx
        .update_all_returning(
            Query::from::<Workload>().filter(Workload::id.eq(workload.id.clone())),
            Set::new().set(Workload::stop_requested, true).set(Workload::updated_at, now()),
        )
        .await?
        .into_iter()
        .next()
        .unwrap_or(workload);
    Jobs::insert_in(&mut tx, StopWorkload::new(WorkloadRef { id: updated.id.clone() }))
        .await
        .map_err(|e| zzz_db::Error::Pool(format!("could not enqueue the stop: {e}")))?;
    tx.commit().await?;
    broadcast(app, &updated);
    Ok(StopRequest::Requested(updated))
}

/// Marks every unfinished workload of `agent` lost (its agent stopped answering).
pub async fn mark_lost(app: &App, agent: &str, why: &str) -> Result<Vec<Workload>, zzz_db::Error> {
    let query = Query::from::<Workload>().filter(
        Workload::agent.eq(agent.to_owned()) & Workload::state.in_list(WorkloadState::predecessors(WorkloadState::Lost)),
    );
    let ids: Vec<String> = app.repo.all(query.select(Workload::id)).await?;
    let mut lost = Vec::new();
    for id in ids {
        let error = Some(why.to_owned());
        if let Some(w) = transition(app, &id, WorkloadState::Lost, |s| s.set(Workload::error, error)).await? {
            lost.push(w);
        }
    }
    Ok(lost)
}
