//! The agent's registry of workloads: their specs, states and stop handles.
//!
//! Every state change goes through [`WorkloadState::transition`], so an illegal one
//! (stopping a finished workload, say) is refused with the machine's reason.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{oneshot, watch};

use super::runtime::{Outcome, Runtimes};
use crate::protocol::{AgentError, ErrorCode, WorkloadSpec, WorkloadStatus};
use crate::state::WorkloadState;

/// How long a `StopWorkload` waits for the workload to end before answering.
pub const STOP_WAIT: Duration = Duration::from_secs(10);
/// How long a finished workload's status is kept for the control plane to read (then it
/// is forgotten, so a long-lived agent does not grow without bound).
pub const FINISHED_RETENTION: Duration = Duration::from_secs(3600);

struct Entry {
    status: WorkloadStatus,
    stop: Option<oneshot::Sender<()>>,
    /// Becomes true when the workload reaches a final state.
    done: watch::Receiver<bool>,
    done_tx: watch::Sender<bool>,
    /// When it reached its final state.
    finished_at: Option<Instant>,
}

/// The workloads of one agent.
#[derive(Clone)]
pub struct Registry {
    runtimes: Runtimes,
    max_running: usize,
    entries: Arc<Mutex<BTreeMap<String, Entry>>>,
}

impl Registry {
    /// An empty registry running at most `max_running` workloads at once on `runtimes`.
    pub fn new(runtimes: Runtimes, max_running: usize) -> Registry {
        Registry { runtimes, max_running, entries: Arc::default() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts `spec`: registers it `pending`, then asks its runtime to run it
    /// (`running`) or records the runtime's refusal (`failed`). Starting an id that is
    /// already registered changes nothing and answers its status, so a control plane may
    /// safely retry a start whose answer it did not get. Workloads finished more than
    /// [`FINISHED_RETENTION`] ago are forgotten here. A full agent answers `busy`.
    pub fn start(&self, spec: WorkloadSpec) -> Result<WorkloadStatus, AgentError> {
        let invalid = |message: String| Err(AgentError::new(ErrorCode::InvalidWorkload, message));
        if spec.id.is_empty() {
            return invalid("workload.id is empty".into());
        }
        if spec.command.is_empty() {
            return invalid(format!("workload {}: command is empty", spec.id));
        }
        if spec.memory_mb == 0 {
            return invalid(format!("workload {}: memory_mb must be greater than 0", spec.id));
        }
        let (stop_tx, stop_rx) = oneshot::channel();
        let (done_tx, done) = watch::channel(false);
        {
            let mut entries = self.lock();
            if let Some(existing) = entries.get(&spec.id) {
                return Ok(existing.status.clone());
            }
            entries.retain(|_, e| e.finished_at.is_none_or(|at| at.elapsed() < FINISHED_RETENTION));
            let running = entries.values().filter(|e| !e.status.state.is_final()).count();
            if running >= self.max_running {
                return Err(AgentError::new(
                    ErrorCode::Busy,
                    format!("agent at capacity: {running} workloads running (at most {}); retry later", self.max_running),
                ));
            }
            let status = WorkloadStatus::new(&spec.id, WorkloadState::Pending);
            entries.insert(spec.id.clone(), Entry { status, stop: Some(stop_tx), done, done_tx, finished_at: None });
        }
        let started = self.runtimes.get(&spec.runtime_class).and_then(|runtime| runtime.start(&spec, stop_rx));
        match started {
            Err(err) => {
                tracing::warn!(workload = %spec.id, %err, "workload refused");
                self.finish(&spec.id, Outcome { state: WorkloadState::Failed, exit_code: None, signal: None, error: Some(err.to_string()), output: vec![] })
            }
            Ok(run) => {
                self.update(&spec.id, |status| status.state = WorkloadState::Running)?;
                tracing::info!(workload = %spec.id, command = ?spec.command, memory_mb = spec.memory_mb, "workload running");
                let registry = self.clone();
                let id = spec.id.clone();
                tokio::spawn(async move {
                    let outcome = run.await;
                    tracing::info!(workload = %id, state = %outcome.state, exit_code = ?outcome.exit_code, signal = ?outcome.signal, "workload ended");
                    if let Err(err) = registry.finish(&id, outcome) {
                        tracing::warn!(workload = %id, %err, "could not record the end of the workload");
                    }
                });
                self.status(&spec.id)
            }
        }
    }

    /// Applies `change` to a workload's status if the state machine allows the new state.
    fn update(&self, id: &str, change: impl FnOnce(&mut WorkloadStatus)) -> Result<WorkloadStatus, AgentError> {
        let mut entries = self.lock();
        let entry = entries.get_mut(id).ok_or_else(|| unknown(id))?;
        let mut next = entry.status.clone();
        change(&mut next);
        entry.status.state.transition(next.state).map_err(|e| AgentError::new(ErrorCode::IllegalTransition, format!("workload {id}: {e}")))?;
        entry.status = next;
        if entry.status.state.is_final() {
            entry.stop = None;
            entry.finished_at = Some(Instant::now());
            let _ = entry.done_tx.send(true);
        }
        Ok(entry.status.clone())
    }

    /// Records how a run ended.
    fn finish(&self, id: &str, outcome: Outcome) -> Result<WorkloadStatus, AgentError> {
        self.update(id, |status| {
            status.state = outcome.state;
            status.exit_code = outcome.exit_code;
            status.signal = outcome.signal;
            status.error = outcome.error;
            status.output = outcome.output;
        })
    }

    /// One workload's status.
    pub fn status(&self, id: &str) -> Result<WorkloadStatus, AgentError> {
        self.lock().get(id).map(|e| e.status.clone()).ok_or_else(|| unknown(id))
    }

    /// Every workload's status, by id.
    pub fn list(&self) -> Vec<WorkloadStatus> {
        self.lock().values().map(|e| e.status.clone()).collect()
    }

    /// How many workloads are registered.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no workload is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Stops a pending or running workload and waits (up to [`STOP_WAIT`]) until it has
    /// ended. A finished workload cannot be stopped: that transition is refused.
    pub async fn stop(&self, id: &str) -> Result<WorkloadStatus, AgentError> {
        let mut done = {
            let mut entries = self.lock();
            let entry = entries.get_mut(id).ok_or_else(|| unknown(id))?;
            entry
                .status
                .state
                .transition(WorkloadState::Stopped)
                .map_err(|e| AgentError::new(ErrorCode::IllegalTransition, format!("cannot stop workload {id}: {e}")))?;
            if let Some(stop) = entry.stop.take() {
                let _ = stop.send(());
            }
            entry.done.clone()
        };
        if tokio::time::timeout(STOP_WAIT, done.wait_for(|d| *d)).await.is_err() {
            tracing::warn!(workload = id, "the workload did not end within {STOP_WAIT:?} of the stop request");
        }
        self.status(id)
    }
}

fn unknown(id: &str) -> AgentError {
    AgentError::new(ErrorCode::UnknownWorkload, format!("no workload with id {id:?} on this agent"))
}
