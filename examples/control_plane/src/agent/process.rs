//! The `process` runtime: the workload's `command` as a child process.
//!
//! - The memory limit is applied in the child before `exec` as `RLIMIT_AS` (the
//!   address-space limit): an allocation beyond `memory_mb` fails inside the workload,
//!   which then fails (e.g. Python's `MemoryError`, exit status 1).
//! - On Linux the child gets `PR_SET_PDEATHSIG = SIGKILL`, so workloads do not outlive
//!   an agent that dies.
//! - stdout and stderr are read as they come; the last [`OUTPUT_LINES`] lines (each cut
//!   at [`OUTPUT_LINE_BYTES`]) are kept.
//! - Exit status 0 is `succeeded`; another status or a signal is `failed`; a stop
//!   request kills the child and is `stopped`.

use std::collections::VecDeque;
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;
use tokio::sync::oneshot;

use super::runtime::{Execution, Outcome, Runtime, RuntimeError};
use crate::protocol::WorkloadSpec;
use crate::state::WorkloadState;

/// How many output lines a workload's status keeps.
pub const OUTPUT_LINES: usize = 20;
/// How long one kept output line may be (longer lines are cut).
pub const OUTPUT_LINE_BYTES: usize = 512;

/// Runs workloads as child processes.
#[derive(Debug, Clone, Default)]
pub struct ProcessRuntime {
    _private: (),
}

impl ProcessRuntime {
    /// The runtime.
    pub fn new() -> ProcessRuntime {
        ProcessRuntime::default()
    }
}

/// The tail of a process's output, shared by its stdout and stderr readers.
#[derive(Clone, Default)]
struct Tail(Arc<Mutex<VecDeque<String>>>);

impl Tail {
    fn push(&self, line: &[u8]) {
        let mut line = &line[..line.len().min(OUTPUT_LINE_BYTES)];
        if line.last() == Some(&b'\r') {
            line = &line[..line.len() - 1];
        }
        let mut lines = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if lines.len() == OUTPUT_LINES {
            lines.pop_front();
        }
        lines.push_back(String::from_utf8_lossy(line).into_owned());
    }

    fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).iter().cloned().collect()
    }
}

/// Reads `pipe` to its end, keeping complete lines (and a last unterminated one) in `tail`.
/// Memory stays bounded: bytes of a line beyond [`OUTPUT_LINE_BYTES`] are dropped.
async fn capture(mut pipe: impl AsyncRead + Unpin, tail: Tail) {
    let mut line = Vec::with_capacity(256);
    let mut chunk = [0u8; 4096];
    loop {
        let n = match pipe.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        for &b in &chunk[..n] {
            if b == b'\n' {
                tail.push(&line);
                line.clear();
            } else if line.len() < OUTPUT_LINE_BYTES {
                line.push(b);
            }
        }
    }
    if !line.is_empty() {
        tail.push(&line);
    }
}

impl Runtime for ProcessRuntime {
    fn class(&self) -> &'static str {
        "process"
    }

    fn start(&self, spec: &WorkloadSpec, stop: oneshot::Receiver<()>) -> Result<Execution, RuntimeError> {
        let Some((program, args)) = spec.command.split_first() else {
            return Err(RuntimeError::Start(format!("workload {}: command is empty", spec.id)));
        };
        let limit = spec.memory_mb.saturating_mul(1024 * 1024);
        let mut cmd = Command::new(program);
        cmd.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
        // SAFETY: the closure runs in the forked child before exec and only makes
        // async-signal-safe system calls (setrlimit, prctl), touching no shared state.
        unsafe {
            cmd.pre_exec(move || {
                let rlimit = libc::rlimit { rlim_cur: limit as libc::rlim_t, rlim_max: limit as libc::rlim_t };
                if libc::setrlimit(libc::RLIMIT_AS, &rlimit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                #[cfg(target_os = "linux")]
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| RuntimeError::Start(format!("workload {}: could not start {program:?}: {e}", spec.id)))?;
        let tail = Tail::default();
        let readers = [
            child.stdout.take().map(|p| tokio::spawn(capture(p, tail.clone()))),
            child.stderr.take().map(|p| tokio::spawn(capture(p, tail.clone()))),
        ];
        let id = spec.id.clone();
        Ok(Box::pin(async move {
            let (status, stopped) = tokio::select! {
                status = child.wait() => (status, false),
                // A dropped sender is not a stop request: only `Ok(())` stops the run.
                Ok(()) = stop => {
                    let _ = child.start_kill();
                    (child.wait().await, true)
                }
            };
            // The pipes close when the process exits, unless it left children holding them.
            for reader in readers.into_iter().flatten() {
                let _ = tokio::time::timeout(Duration::from_secs(1), reader).await;
            }
            let output = tail.lines();
            match status {
                Err(e) => Outcome {
                    state: WorkloadState::Failed,
                    exit_code: None,
                    signal: None,
                    error: Some(format!("workload {id}: waiting for the process failed: {e}")),
                    output,
                },
                Ok(status) => {
                    let (exit_code, signal) = (status.code(), status.signal());
                    let (state, error) = if stopped {
                        (WorkloadState::Stopped, None)
                    } else if status.success() {
                        (WorkloadState::Succeeded, None)
                    } else if let Some(code) = exit_code {
                        (WorkloadState::Failed, Some(format!("exited with status {code}")))
                    } else {
                        (WorkloadState::Failed, Some(format!("killed by signal {}", signal.unwrap_or_default())))
                    };
                    Outcome { state, exit_code, signal, error, output }
                }
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(command: &[&str], memory_mb: u64) -> WorkloadSpec {
        WorkloadSpec {
            id: "t".into(),
            image: String::new(),
            runtime_class: "process".into(),
            memory_mb,
            cpu_millicores: 100,
            command: command.iter().map(|s| s.to_string()).collect(),
        }
    }

    async fn run(command: &[&str], memory_mb: u64) -> Outcome {
        let (_stop, rx) = oneshot::channel();
        ProcessRuntime::new().start(&spec(command, memory_mb), rx).unwrap().await
    }

    #[tokio::test]
    async fn exit_status_and_the_last_lines_of_output_are_captured() {
        let out = run(&["sh", "-c", "for i in $(seq 1 30); do echo line $i; done; echo oops >&2; exit 3"], 256).await;
        assert_eq!(out.state, WorkloadState::Failed);
        assert_eq!(out.exit_code, Some(3));
        assert_eq!(out.output.len(), OUTPUT_LINES);
        assert!(out.output.contains(&"oops".to_string()), "{:?}", out.output);
        assert!(out.output.contains(&"line 30".to_string()), "{:?}", out.output);
        assert!(!out.output.contains(&"line 1".to_string()), "only the last lines are kept: {:?}", out.output);
        assert_eq!(run(&["true"], 64).await.state, WorkloadState::Succeeded);
    }

    #[tokio::test]
    async fn the_memory_limit_is_applied() {
        let alloc = ["python3", "-c", "x = bytearray(256 * 1024 * 1024); print('allocated')"];
        let over = run(&alloc, 64).await;
        assert_eq!(over.state, WorkloadState::Failed, "{over:?}");
        assert!(over.output.iter().any(|l| l.contains("MemoryError")), "{over:?}");
        let under = run(&alloc, 1024).await;
        assert_eq!(under.state, WorkloadState::Succeeded, "the same program fits in 1 GiB: {under:?}");
    }

    #[tokio::test]
    async fn stop_kills_the_process_and_a_missing_program_is_refused() {
        let (stop, rx) = oneshot::channel();
        let run = ProcessRuntime::new().start(&spec(&["sleep", "30"], 64), rx).unwrap();
        stop.send(()).unwrap();
        let out = run.await;
        assert_eq!(out.state, WorkloadState::Stopped);
        assert_eq!(out.signal, Some(libc::SIGKILL));
        let (_stop, rx) = oneshot::channel();
        let err = ProcessRuntime::new().start(&spec(&["/no/such/program"], 64), rx).err().unwrap();
        assert!(err.to_string().contains("could not start \"/no/such/program\""), "{err}");
    }
}
