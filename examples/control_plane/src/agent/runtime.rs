//! The runtime interface: how an agent runs a workload.
//!
//! A [`Runtime`] serves one `runtime_class`. [`Runtimes`] holds the agent's runtimes and
//! picks one per workload: [`ProcessRuntime`](super::process::ProcessRuntime) for
//! `process`, and [`ContainerRuntime`] for `docker` and `containerd`, which checks for
//! its engine and refuses clearly when there is none.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::oneshot;

use crate::protocol::WorkloadSpec;
use crate::state::WorkloadState;

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// `Succeeded`, `Failed` or `Stopped`.
    pub state: WorkloadState,
    /// The exit status, when the process exited.
    pub exit_code: Option<i32>,
    /// The signal that ended it, when one did.
    pub signal: Option<i32>,
    /// Why it failed, in words.
    pub error: Option<String>,
    /// The last lines of its output.
    pub output: Vec<String>,
}

/// A run in progress: resolves when it ends.
pub type Execution = Pin<Box<dyn Future<Output = Outcome> + Send>>;

/// Why a runtime could not start a workload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuntimeError {
    /// No runtime serves this class.
    UnknownClass {
        /// The class asked for.
        class: String,
        /// The classes this agent has.
        known: Vec<&'static str>,
    },
    /// The runtime exists but cannot run anything here (e.g. no container engine).
    Unavailable(String),
    /// The workload could not be started (e.g. the program does not exist).
    Start(String),
}

impl std::fmt::Display for RuntimeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RuntimeError::UnknownClass { class, known } => {
                write!(f, "unknown runtime_class {class:?}; this agent has {}", known.join(", "))
            }
            RuntimeError::Unavailable(why) | RuntimeError::Start(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for RuntimeError {}

/// Runs workloads of one `runtime_class`.
pub trait Runtime: Send + Sync + 'static {
    /// The `runtime_class` this runtime serves.
    fn class(&self) -> &'static str;

    /// Starts `spec`. The returned future resolves when the run ends; when `stop`
    /// fires first, the run is ended and resolves as `Stopped`.
    fn start(&self, spec: &WorkloadSpec, stop: oneshot::Receiver<()>) -> Result<Execution, RuntimeError>;
}

/// The runtimes of one agent, by class.
#[derive(Clone, Default)]
pub struct Runtimes {
    runtimes: Vec<Arc<dyn Runtime>>,
}

impl Runtimes {
    /// No runtimes.
    pub fn new() -> Runtimes {
        Runtimes::default()
    }

    /// What an agent has by default: `process`, and the `docker` / `containerd`
    /// runtimes that refuse when their engine is missing.
    pub fn standard() -> Runtimes {
        Runtimes::new()
            .with(super::process::ProcessRuntime::new())
            .with(ContainerRuntime::docker())
            .with(ContainerRuntime::containerd())
    }

    /// Adds (or replaces) the runtime of its class.
    pub fn with(mut self, runtime: impl Runtime) -> Runtimes {
        self.runtimes.retain(|r| r.class() != runtime.class());
        self.runtimes.push(Arc::new(runtime));
        self
    }

    /// The runtime for `class`.
    pub fn get(&self, class: &str) -> Result<Arc<dyn Runtime>, RuntimeError> {
        self.runtimes.iter().find(|r| r.class() == class).cloned().ok_or_else(|| RuntimeError::UnknownClass {
            class: class.to_owned(),
            known: self.runtimes.iter().map(|r| r.class()).collect(),
        })
    }
}

/// A container runtime (`docker`, `containerd`): available only where its engine's
/// socket exists. This agent does not drive container engines, so it refuses every
/// workload with a message that says why — which engine it looked for and where.
#[derive(Debug, Clone)]
pub struct ContainerRuntime {
    class: &'static str,
    engine: &'static str,
    socket: PathBuf,
}

impl ContainerRuntime {
    /// `docker`, looking for the Docker engine at `/var/run/docker.sock`.
    pub fn docker() -> ContainerRuntime {
        ContainerRuntime { class: "docker", engine: "Docker engine", socket: PathBuf::from("/var/run/docker.sock") }
    }

    /// `containerd`, looking for containerd at `/run/containerd/containerd.sock`.
    pub fn containerd() -> ContainerRuntime {
        ContainerRuntime { class: "containerd", engine: "containerd", socket: PathBuf::from("/run/containerd/containerd.sock") }
    }

    /// The same runtime looking for its engine's socket elsewhere.
    pub fn with_socket(mut self, socket: impl Into<PathBuf>) -> ContainerRuntime {
        self.socket = socket.into();
        self
    }

    /// Whether the engine's socket exists.
    pub fn is_available(&self) -> bool {
        self.socket.exists()
    }
}

impl Runtime for ContainerRuntime {
    fn class(&self) -> &'static str {
        self.class
    }

    fn start(&self, spec: &WorkloadSpec, _stop: oneshot::Receiver<()>) -> Result<Execution, RuntimeError> {
        let socket = self.socket.display();
        if !self.is_available() {
            return Err(RuntimeError::Unavailable(format!(
                "runtime_class {:?} is not available on this agent: no {} socket at {socket} (workload {})",
                self.class, self.engine, spec.id
            )));
        }
        Err(RuntimeError::Unavailable(format!(
            "runtime_class {:?}: a {} answers at {socket}, but this agent cannot drive container engines; use runtime_class \"process\"",
            self.class, self.engine
        )))
    }
}
