//! The HTTP API handlers and their documented request and response types.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::Value as JsonValue;
use utoipa::openapi::{RefOr, schema::Schema};
use utoipa::{IntoParams, PartialSchema, ToSchema};
use zzz::openapi::{OperationDoc, OperationOutput};
use zzz::plugs::{AuthRejection, BearerToken, halt_with};
use zzz::{Conn, IntoResponse, Json, Path, Query, Response, State, StatusCode};

use super::App;
use super::agents::{self, AgentView};
use super::workloads::{self, CreateError, StopRequest, WorkloadView};
use crate::state::WorkloadState;

/// The largest page of `GET /workloads`.
pub const MAX_PER_PAGE: u32 = 100;

// ----- authentication -----

/// The `writes` pipeline's plug: with an API token configured, the request needs
/// `Authorization: Bearer <token>`, else 401 with `WWW-Authenticate`.
pub async fn require_api_token(conn: Conn) -> Conn {
    let Some(token) = conn.state::<App>().and_then(|app| app.config.api_token.clone()) else {
        return conn;
    };
    match BearerToken::from_conn(&conn) {
        Ok(BearerToken(given)) if token.matches(&given) => conn,
        Ok(_) => halt_with(conn, AuthRejection::new("Bearer", "the bearer token is not valid").with_error("invalid_token")),
        Err(missing) => halt_with(conn, missing),
    }
}

// ----- response types -----

/// A 201 with a JSON body.
pub struct Created<T>(pub T);

impl<T: Serialize> IntoResponse for Created<T> {
    fn into_response(self) -> Response {
        (StatusCode::CREATED, Json(self.0)).into_response()
    }
}

impl<T: ToSchema> OperationOutput for Created<T> {
    fn document(op: &mut OperationDoc) {
        let schema = op.schema_ref::<T>();
        op.add_response("201", "Created", Some(("application/json", schema)));
    }
}

/// A 202 with a JSON body: accepted, finished later.
pub struct Accepted<T>(pub T);

impl<T: Serialize> IntoResponse for Accepted<T> {
    fn into_response(self) -> Response {
        (StatusCode::ACCEPTED, Json(self.0)).into_response()
    }
}

impl<T: ToSchema> OperationOutput for Accepted<T> {
    fn document(op: &mut OperationDoc) {
        let schema = op.schema_ref::<T>();
        op.add_response("202", "Accepted: the stop is under way (or done)", Some(("application/json", schema)));
    }
}

/// The body of a 404, 409 or 503: what was wrong.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The reason, naming the id or field.
    pub error: String,
}

/// What the API answers when a request cannot be served.
#[derive(Debug)]
pub enum ApiError {
    /// 404.
    NotFound(String),
    /// 409.
    Conflict(String),
    /// 422 (changeset errors) or a database failure (503/500).
    Db(zzz_db::Error),
}

impl From<zzz_db::Error> for ApiError {
    fn from(err: zzz_db::Error) -> ApiError {
        ApiError::Db(err)
    }
}

fn error_json(status: StatusCode, message: String) -> Response {
    tracing::info!(status = status.as_u16(), %message, "request refused");
    (status, Json(ErrorBody { error: message })).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::NotFound(message) => error_json(StatusCode::NOT_FOUND, message),
            ApiError::Conflict(message) => error_json(StatusCode::CONFLICT, message),
            ApiError::Db(err) => err.into_response(),
        }
    }
}

impl OperationOutput for ApiError {
    fn document(op: &mut OperationDoc) {
        let schema = op.schema_ref::<ErrorBody>();
        op.add_response("404", "No workload with this id", Some(("application/json", schema.clone())));
        op.add_response("409", "The id is taken, or the workload already finished", Some(("application/json", schema)));
        <zzz_db::Error as OperationOutput>::document(op);
    }
}

// ----- request types -----

/// The body of `POST /workloads` (documentation; the handler casts it with a changeset,
/// so a bad field is a 422 naming it).
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct NewWorkload {
    /// Unique id: letters, digits, `.`, `_`, `-`; at most 63 characters.
    #[schema(pattern = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$", min_length = 1, max_length = 63)]
    id: String,
    /// Container image (container runtimes).
    #[schema(max_length = 255)]
    image: Option<String>,
    /// Which runtime runs it.
    runtime_class: RuntimeClass,
    /// Memory limit in MiB.
    #[schema(minimum = 1, maximum = 1048576)]
    memory_mb: i64,
    /// CPU share in millicores.
    #[schema(minimum = 0, maximum = 1024000)]
    cpu_millicores: Option<i64>,
    /// The argv to run, e.g. `["sleep", "1"]`.
    #[schema(min_items = 1, max_items = 256)]
    command: Vec<Arg>,
}

/// One command-line argument.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(max_length = 4096)]
#[allow(dead_code)]
pub struct Arg(String);

/// The runtime classes.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RuntimeClass {
    /// A child process of the agent, with its memory limit applied.
    Process,
    /// A Docker container (refused unless the agent has a Docker engine).
    Docker,
    /// A containerd container (refused unless the agent has containerd).
    Containerd,
}

/// Request params cast by a changeset, documented as `T`.
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub struct Params<T> {
    value: JsonValue,
    #[serde(skip)]
    _doc: std::marker::PhantomData<T>,
}

impl<T: ToSchema> PartialSchema for Params<T> {
    fn schema() -> RefOr<Schema> {
        T::schema()
    }
}

impl<T: ToSchema> ToSchema for Params<T> {
    fn name() -> Cow<'static, str> {
        T::name()
    }
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        T::schemas(schemas);
    }
}

/// The body of `POST /agents`.
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct NewAgent {
    /// The agent's `host:port`.
    #[schema(pattern = r"^[A-Za-z0-9.-]+:[1-9][0-9]{0,3}$", max_length = 255)]
    addr: String,
}

// ----- workloads -----

/// `POST /workloads`.
pub async fn create_workload(State(app): State<App>, Json(params): Json<Params<NewWorkload>>) -> Result<Created<WorkloadView>, ApiError> {
    match workloads::create(&app, &params.value).await {
        Ok(workload) => Ok(Created(WorkloadView::from(&workload))),
        Err(CreateError::Duplicate(id)) => Err(ApiError::Conflict(format!("a workload with id {id:?} already exists"))),
        Err(CreateError::Db(err)) => Err(ApiError::Db(err)),
    }
}

/// `GET /workloads/:id`.
pub async fn show_workload(State(app): State<App>, Path(id): Path<String>) -> Result<Json<WorkloadView>, ApiError> {
    match workloads::get(&app, &id).await? {
        Some(workload) => Ok(Json(WorkloadView::from(&workload))),
        None => Err(not_found(&id)),
    }
}

fn not_found(id: &str) -> ApiError {
    ApiError::NotFound(format!("no workload with id {id:?}"))
}

/// The query of `GET /workloads`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Only workloads in this state.
    pub state: Option<WorkloadState>,
    /// Page number, from 1.
    #[param(minimum = 1, maximum = 1000000)]
    pub page: Option<u32>,
    /// Workloads per page (default 50, at most 100).
    #[param(minimum = 1, maximum = 100)]
    pub per_page: Option<u32>,
}

/// One page of `GET /workloads`.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkloadPage {
    /// The workloads, oldest first.
    pub data: Vec<WorkloadView>,
    /// This page's number.
    pub page: u32,
    /// The page size.
    pub per_page: u32,
    /// How many workloads match, on every page.
    pub total: i64,
}

/// `GET /workloads?state=&page=&per_page=`.
pub async fn list_workloads(State(app): State<App>, Query(params): Query<ListParams>) -> Result<Json<WorkloadPage>, Response> {
    let page = params.page.unwrap_or(1);
    let per_page = params.per_page.unwrap_or(50);
    if page == 0 || page > 1_000_000 {
        return Err((StatusCode::BAD_REQUEST, "query parameter \"page\": must be from 1 to 1000000").into_response());
    }
    if per_page == 0 || per_page > MAX_PER_PAGE {
        return Err((StatusCode::BAD_REQUEST, format!("query parameter \"per_page\": must be from 1 to {MAX_PER_PAGE}")).into_response());
    }
    let (rows, total) = workloads::list(&app, params.state, page, per_page).await.map_err(IntoResponse::into_response)?;
    Ok(Json(WorkloadPage { data: rows.iter().map(WorkloadView::from).collect(), page, per_page, total }))
}

/// `DELETE /workloads/:id`: stop it.
pub async fn stop_workload(State(app): State<App>, Path(id): Path<String>) -> Result<Accepted<WorkloadView>, ApiError> {
    let Some(workload) = workloads::get(&app, &id).await? else {
        return Err(not_found(&id));
    };
    match workloads::request_stop(&app, workload).await? {
        StopRequest::Stopped(w) | StopRequest::Requested(w) => Ok(Accepted(WorkloadView::from(&w))),
        StopRequest::AlreadyFinal(w) => Err(ApiError::Conflict(format!("workload {:?} already finished: it is {}", w.id, w.state))),
    }
}

// ----- agents -----

/// `GET /agents` and its 503.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgentList {
    /// Every registered agent.
    pub agents: Vec<AgentView>,
}

/// The 503 of `GET /agents`: no agent answered its last health check.
#[derive(Debug, Serialize, ToSchema)]
pub struct NoAgentReachable {
    /// What is wrong and how to fix it.
    pub error: String,
    /// Every registered agent, with its last error.
    pub agents: Vec<AgentView>,
}

impl IntoResponse for NoAgentReachable {
    fn into_response(self) -> Response {
        tracing::warn!(error = %self.error, "GET /agents: no agent reachable");
        (StatusCode::SERVICE_UNAVAILABLE, Json(self)).into_response()
    }
}

impl OperationOutput for NoAgentReachable {
    fn document(op: &mut OperationDoc) {
        let schema = op.schema_ref::<NoAgentReachable>();
        op.add_response("503", "No agent is reachable", Some(("application/json", schema)));
    }
}

/// `GET /agents`: every agent with its health (from the last health check).
pub async fn list_agents(State(app): State<App>) -> Result<Json<AgentList>, Result<NoAgentReachable, zzz_db::Error>> {
    let agents = agents::views(&app).await.map_err(Err)?;
    if agents.iter().any(|a| a.healthy) {
        return Ok(Json(AgentList { agents }));
    }
    let error = if agents.is_empty() {
        "no agent is registered: start one with `control_plane agent --listen HOST:PORT` and pass `--agent HOST:PORT` to serve, or POST /agents".to_owned()
    } else {
        let addrs: Vec<&str> = agents.iter().map(|a| a.addr.as_str()).collect();
        format!("no agent is reachable (tried {}); workloads wait as pending until one answers", addrs.join(", "))
    };
    Err(Ok(NoAgentReachable { error, agents }))
}

/// `POST /agents`: register an agent by address (idempotent: 201 with the agent).
pub async fn register_agent(State(app): State<App>, Json(params): Json<Params<NewAgent>>) -> Result<Created<AgentView>, zzz_db::Error> {
    let record = agents::register(&app, &params.value).await?;
    let view = agents::views(&app).await?.into_iter().find(|a| a.addr == record.addr);
    Ok(Created(view.unwrap_or(AgentView {
        addr: record.addr,
        name: record.name,
        healthy: record.healthy,
        last_seen_at: None,
        last_error: record.last_error,
        active_workloads: 0,
    })))
}
