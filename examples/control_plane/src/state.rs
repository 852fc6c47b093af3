//! The workload state machine, shared by the agent and the control plane.
//!
//! ```text
//! pending ──► running ──► succeeded | failed | stopped
//!    │           │
//!    ├──► failed │        (the runtime refused it)
//!    ├──► stopped│        (stopped before it started)
//!    └──► lost ◄─┘        (control plane only: its agent stopped answering)
//! ```
//!
//! `succeeded`, `failed`, `stopped` and `lost` are final: nothing leaves them.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

zzz_db::db_enum! {
    /// Where a workload is in its life. Stored as text; `lowercase` on the wire.
    #[derive(Serialize, Deserialize, ToSchema, PartialOrd, Ord)]
    #[serde(rename_all = "lowercase")]
    pub enum WorkloadState {
        /// Accepted, not started yet.
        Pending = "pending",
        /// Its process runs.
        Running = "running",
        /// It exited with status 0.
        Succeeded = "succeeded",
        /// It exited otherwise, was killed by a signal, or could not start.
        Failed = "failed",
        /// Stopped on request.
        Stopped = "stopped",
        /// Its agent stopped answering (control plane only).
        Lost = "lost",
    }
}

/// A transition the state machine does not allow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IllegalTransition {
    /// The current state.
    pub from: WorkloadState,
    /// The refused next state.
    pub to: WorkloadState,
}

impl std::fmt::Display for IllegalTransition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.from.is_final() {
            write!(f, "the workload is already {} (a final state), it cannot become {}", self.from, self.to)
        } else {
            write!(f, "a workload cannot go from {} to {}", self.from, self.to)
        }
    }
}

impl std::error::Error for IllegalTransition {}

impl WorkloadState {
    /// Every state, in life order.
    pub const ALL: [WorkloadState; 6] = [
        WorkloadState::Pending,
        WorkloadState::Running,
        WorkloadState::Succeeded,
        WorkloadState::Failed,
        WorkloadState::Stopped,
        WorkloadState::Lost,
    ];

    /// Whether nothing can follow this state.
    pub fn is_final(self) -> bool {
        matches!(self, WorkloadState::Succeeded | WorkloadState::Failed | WorkloadState::Stopped | WorkloadState::Lost)
    }

    /// Whether the machine allows `self → next`.
    pub fn can_become(self, next: WorkloadState) -> bool {
        use WorkloadState::*;
        matches!(
            (self, next),
            (Pending, Running | Failed | Stopped | Lost) | (Running, Succeeded | Failed | Stopped | Lost)
        )
    }

    /// `next` if the machine allows `self → next`, else the refusal.
    pub fn transition(self, next: WorkloadState) -> Result<WorkloadState, IllegalTransition> {
        if self.can_become(next) { Ok(next) } else { Err(IllegalTransition { from: self, to: next }) }
    }

    /// The states that may become `next` (for compare-and-set updates).
    pub fn predecessors(next: WorkloadState) -> Vec<WorkloadState> {
        Self::ALL.into_iter().filter(|s| s.can_become(next)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::WorkloadState::*;
    use super::*;

    #[test]
    fn the_machine_allows_only_forward_moves() {
        assert_eq!(Pending.transition(Running), Ok(Running));
        assert_eq!(Running.transition(Succeeded), Ok(Succeeded));
        assert_eq!(Pending.transition(Failed), Ok(Failed));
        assert!(Running.transition(Pending).is_err());
        assert!(Pending.transition(Succeeded).is_err(), "a workload that never ran cannot succeed");
        for done in [Succeeded, Failed, Stopped, Lost] {
            assert!(done.is_final());
            for next in WorkloadState::ALL {
                let err = done.transition(next).unwrap_err();
                assert!(err.to_string().contains("final state"), "{err}");
            }
        }
        assert_eq!(WorkloadState::predecessors(Lost), vec![Pending, Running]);
    }

    #[test]
    fn states_are_lowercase_on_the_wire() {
        assert_eq!(serde_json::to_string(&Succeeded).unwrap(), "\"succeeded\"");
        assert_eq!(serde_json::from_str::<WorkloadState>("\"lost\"").unwrap(), Lost);
    }
}
