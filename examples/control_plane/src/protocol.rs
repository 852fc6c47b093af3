//! The agent protocol: line-delimited JSON over TCP.
//!
//! Every request is one JSON object on one line, with a `type` field; the agent answers
//! every line with exactly one JSON line, in order:
//!
//! | request | response |
//! |---|---|
//! | `{"type":"StartWorkload","workload":{…}}` | `{"type":"Status",…}` (starting an id the agent already has answers its status) |
//! | `{"type":"GetStatus","id":"wl-1"}` | `{"type":"Status","id":"wl-1","state":"running",…}` |
//! | `{"type":"StopWorkload","id":"wl-1"}` | `{"type":"Status",…,"state":"stopped"}` |
//! | `{"type":"ListWorkloads"}` | `{"type":"Workloads","workloads":[…]}` |
//! | `{"type":"Ping"}` | `{"type":"Pong","name":"agent-1","workloads":2}` |
//! | a malformed line, an unknown type, an unknown id, an illegal transition, a full agent | `{"type":"Error","code":"malformed","message":"…"}` |
//!
//! Error codes ([`ErrorCode`]): `malformed`, `line_too_long`, `invalid_workload`,
//! `unknown_workload`, `illegal_transition`, `busy` (retry later or elsewhere).
//!
//! A line longer than [`MAX_LINE_BYTES`] is answered with an `Error` and skipped; the
//! connection stays usable after every error.

use serde::{Deserialize, Serialize};

use crate::state::WorkloadState;

/// The longest request line an agent reads (64 KiB); longer lines are refused.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// What to run: the workload as the control plane accepted it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkloadSpec {
    /// Unique id, e.g. `wl-123`.
    pub id: String,
    /// Container image (container runtimes); informational for `process`.
    #[serde(default)]
    pub image: String,
    /// Which runtime runs it: `process`, `docker`, `containerd`.
    pub runtime_class: String,
    /// Memory limit in MiB (the process runtime applies it as the address-space limit).
    pub memory_mb: u64,
    /// CPU share in millicores (recorded; the process runtime does not enforce it).
    #[serde(default)]
    pub cpu_millicores: u64,
    /// The argv to run.
    pub command: Vec<String>,
}

/// A workload as an agent reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkloadStatus {
    /// The workload id.
    pub id: String,
    /// Its state.
    pub state: WorkloadState,
    /// Exit status, when it exited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// The signal that killed it, when one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    /// Why it failed or was refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The last lines of its stdout and stderr.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub output: Vec<String>,
}

impl WorkloadStatus {
    /// A fresh status in `state`.
    pub fn new(id: &str, state: WorkloadState) -> WorkloadStatus {
        WorkloadStatus { id: id.to_owned(), state, exit_code: None, signal: None, error: None, output: Vec::new() }
    }
}

/// A request line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Request {
    /// Start a workload (idempotent per id).
    StartWorkload {
        /// What to run.
        workload: WorkloadSpec,
    },
    /// The status of one workload.
    GetStatus {
        /// Workload id.
        id: String,
    },
    /// Stop a pending or running workload; answers once it has stopped.
    StopWorkload {
        /// Workload id.
        id: String,
    },
    /// Every workload this agent knows.
    ListWorkloads,
    /// Liveness: answers `Pong`.
    Ping,
}

/// A response line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Response {
    /// One workload's status.
    Status(WorkloadStatus),
    /// Every workload's status.
    Workloads {
        /// By id.
        workloads: Vec<WorkloadStatus>,
    },
    /// The answer to `Ping`.
    Pong {
        /// The agent's name.
        name: String,
        /// How many workloads it knows.
        workloads: usize,
    },
    /// The request could not be served; the connection stays usable.
    Error {
        /// What kind of failure (absent from agents that do not send one).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<ErrorCode>,
        /// What was wrong, naming the field or id.
        message: String,
    },
}

/// The kinds of `Error` response, so a client can tell what to do about one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The line is not a request (bad JSON, unknown type, missing or mistyped field).
    Malformed,
    /// The line is longer than the agent reads.
    LineTooLong,
    /// The workload cannot be run as given (empty command, zero memory).
    InvalidWorkload,
    /// No workload with that id on this agent.
    UnknownWorkload,
    /// The state machine refuses the change (stopping a finished workload).
    IllegalTransition,
    /// The agent is at its limit of running workloads: retry later or elsewhere.
    Busy,
}

/// An `Error` response's code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentError {
    /// The kind of failure.
    pub code: ErrorCode,
    /// What was wrong.
    pub message: String,
}

impl AgentError {
    /// An error of this kind.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> AgentError {
        AgentError { code, message: message.into() }
    }
}

impl std::fmt::Display for AgentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for AgentError {}

impl From<AgentError> for Response {
    fn from(err: AgentError) -> Response {
        Response::Error { code: Some(err.code), message: err.message }
    }
}

impl Response {
    /// An `Error` response.
    pub fn error(code: ErrorCode, message: impl Into<String>) -> Response {
        AgentError::new(code, message).into()
    }

    /// The response as one line, newline included.
    pub fn to_line(&self) -> Vec<u8> {
        let mut line = serde_json::to_vec(self).unwrap_or_else(|e| {
            format!("{{\"type\":\"Error\",\"code\":\"malformed\",\"message\":\"could not encode the response: {e}\"}}").into_bytes()
        });
        line.push(b'\n');
        line
    }
}

impl Request {
    /// Parses one request line; the error message says what was wrong.
    pub fn parse(line: &[u8]) -> Result<Request, String> {
        serde_json::from_slice(line).map_err(|e| format!("malformed request: {e}"))
    }

    /// The request as one line, newline included.
    pub fn to_line(&self) -> Vec<u8> {
        let mut line = serde_json::to_vec(self).expect("requests always encode");
        line.push(b'\n');
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_responses_have_the_documented_shape() {
        let req = Request::parse(br#"{"type":"GetStatus","id":"wl-123"}"#).unwrap();
        assert_eq!(req, Request::GetStatus { id: "wl-123".into() });
        assert_eq!(Request::parse(br#"{"type":"ListWorkloads"}"#).unwrap(), Request::ListWorkloads);
        let status = Response::Status(WorkloadStatus::new("wl-123", WorkloadState::Running));
        assert_eq!(
            String::from_utf8(status.to_line()).unwrap(),
            "{\"type\":\"Status\",\"id\":\"wl-123\",\"state\":\"running\"}\n"
        );
        let err = Request::parse(br#"{"type":"Launch"}"#).unwrap_err();
        assert!(err.contains("unknown variant `Launch`"), "{err}");
        let err = Request::parse(br#"{"type":"GetStatus"}"#).unwrap_err();
        assert!(err.contains("missing field `id`"), "{err}");
    }
}
