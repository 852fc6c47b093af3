//! The control plane: the HTTP API, the workloads page, the channels socket, and the
//! job runner that dispatches to agents and follows them.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use control_plane::control::{ControlPlane, ServeConfig};
//!
//! let mut config = ServeConfig::for_database("sqlite://control_plane.db");
//! config.agents.push("127.0.0.1:9000".into());
//! let plane = ControlPlane::start(config).await?;
//! let server = zzz::Server::bind("127.0.0.1:4200".parse()?, zzz::ServerConfig::default())?;
//! server.serve(plane.endpoint()).await?;
//! plane.shutdown().await;
//! # Ok(()) }
//! ```

pub mod agents;
pub mod api;
pub mod config;
pub mod jobs;
pub mod page;
pub mod schema;
pub mod socket;
pub mod workloads;

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use zzz::Endpoint;
use zzz::channels::SocketEndpoint;
use zzz::openapi::ApiConfig;
use zzz::pubsub::PubSub;
use zzz_db::{Migrator, Repo, RepoConfig};
use zzz_jobs::{Jobs, Pruner, Runner, Worker};

pub use config::ServeConfig;

zzz::router! {
    /// The control plane's routes.
    pub ControlRouter;

    openapi "/api/openapi.json", docs: "/api/docs" => ApiConfig::new("control_plane", env!("CARGO_PKG_VERSION"))
        .description("Accepts workloads and runs them on agents. State changes are also pushed on the Phoenix channel topics `workload:<id>` and `workloads` at `/socket`. Writes need the bearer token when the server has one (`API_TOKEN`).")
        .bearer_auth("bearer");

    // Requests that run or stop programs: the API token, when one is configured.
    pipeline writes {
        plug api::require_api_token;
    }

    get "/" => page::index, as: root, doc(hidden);
    get "/workloads" => api::list_workloads, as: workloads,
        doc(summary = "List workloads, optionally in one state, a page at a time", tags = ["workloads"]);
    get "/workloads/:id" => api::show_workload, as: workload,
        doc(summary = "A workload with its state", tags = ["workloads"]);
    get "/agents" => api::list_agents, as: agents,
        doc(summary = "Every agent with its health; 503 when none is reachable", tags = ["agents"]);
    socket "/socket" => socket::WorkloadSocket;

    scope "/" {
        pipe_through [writes];
        post "/workloads" => api::create_workload,
            doc(summary = "Submit a workload", tags = ["workloads"], security = ["bearer"]);
        delete "/workloads/:id" => api::stop_workload,
            doc(summary = "Stop a workload", tags = ["workloads"], security = ["bearer"]);
        post "/agents" => api::register_agent,
            doc(summary = "Register an agent by address", tags = ["agents"], security = ["bearer"]);
    }
}

/// What every handler, job and channel shares. Cheap to clone.
#[derive(Clone)]
pub struct App {
    /// The database.
    pub repo: Repo,
    /// Where workload changes are broadcast.
    pub pubsub: PubSub,
    /// The settings.
    pub config: Arc<ServeConfig>,
}

/// Why the control plane could not start.
#[derive(Debug)]
pub struct StartError(pub String);

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StartError {}

impl App {
    /// Connects to the database and migrates it (tables of the control plane and of
    /// zzz_jobs), without starting the job runner.
    pub async fn connect(config: ServeConfig) -> Result<App, StartError> {
        let repo = Repo::connect_with(RepoConfig::new(config.database_url.clone()))
            .await
            .map_err(|e| StartError(format!("DATABASE_URL: cannot connect: {e}")))?;
        Migrator::new(schema::migrations()).run(&repo).await.map_err(|e| StartError(format!("migrations failed: {e}")))?;
        let app = App { repo, pubsub: PubSub::new(), config: Arc::new(config) };
        for addr in &app.config.agents {
            agents::register(&app, &json!({ "addr": addr })).await.map_err(|e| StartError(format!("--agent {addr}: {e}")))?;
        }
        Ok(app)
    }

    /// The HTTP endpoint: API, page, socket, OpenAPI.
    pub fn endpoint(&self) -> Endpoint<ControlRouter> {
        Endpoint::new(ControlRouter::new()).state(self.clone()).socket(SocketEndpoint::new(socket::WorkloadSocket::new(self.clone()), self.pubsub.clone()))
    }
}

/// A started control plane: the app and its job runner.
pub struct ControlPlane {
    app: App,
    runner: Runner,
}

impl ControlPlane {
    /// Connects, migrates, registers the configured agents, starts the job runner
    /// (dispatch, poll, stop and health queues) and the agent health job.
    pub async fn start(config: ServeConfig) -> Result<ControlPlane, StartError> {
        let app = App::connect(config).await?;
        let interval = app.config.poll_interval().min(app.config.health_interval()) / 2;
        let mut builder = Runner::builder(&app.repo)
            .registry(jobs::registry(&app))
            .poll_interval(interval)
            .stage_interval(interval)
            // Finished jobs are history, not state (the workloads table is): keep an hour.
            .pruner(Pruner { max_age: Duration::from_secs(3600), ..Pruner::default() });
        for (queue, limit) in jobs::QUEUES {
            builder = builder.queue(queue, limit);
        }
        let runner = builder.start().await.map_err(|e| StartError(format!("the job runner did not start: {e}")))?;
        Jobs::insert(&app.repo, jobs::AgentHealth::new(jobs::NoArgs {}))
            .await
            .map_err(|e| StartError(format!("could not schedule the agent health checks: {e}")))?;
        Ok(ControlPlane { app, runner })
    }

    /// The shared app.
    pub fn app(&self) -> &App {
        &self.app
    }

    /// The HTTP endpoint.
    pub fn endpoint(&self) -> Endpoint<ControlRouter> {
        self.app.endpoint()
    }

    /// Stops the job runner, letting running jobs finish.
    pub async fn shutdown(&self) {
        self.runner.shutdown().await;
    }
}
