//! The agent: a TCP server speaking the [line protocol](crate::protocol), running
//! workloads through its [runtimes](runtime).
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! use control_plane::agent::{Agent, AgentConfig};
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:9000").await?;
//! Agent::new(AgentConfig::named("agent-1")).serve(listener).await
//! # }
//! ```

pub mod process;
pub mod registry;
pub mod runtime;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

use crate::line_codec::{Line, LineReader};
use crate::protocol::{ErrorCode, MAX_LINE_BYTES, Request, Response};
use registry::Registry;
use runtime::Runtimes;

/// An agent's settings.
#[derive(Clone)]
pub struct AgentConfig {
    /// The name it answers `Ping` with.
    pub name: String,
    /// The longest request line (default [`MAX_LINE_BYTES`]).
    pub max_line_bytes: usize,
    /// At most this many connections at once (default 256); more are closed at once.
    pub max_connections: usize,
    /// At most this many workloads pending or running at once (default 256); more
    /// starts are answered `busy`.
    pub max_running: usize,
    /// A connection that sends nothing for this long is closed (default 5 minutes).
    pub idle_timeout: Duration,
    /// The runtimes (default [`Runtimes::standard`]).
    pub runtimes: Runtimes,
}

impl AgentConfig {
    /// The defaults, with this name.
    pub fn named(name: impl Into<String>) -> AgentConfig {
        AgentConfig {
            name: name.into(),
            max_line_bytes: MAX_LINE_BYTES,
            max_connections: 256,
            max_running: 256,
            idle_timeout: Duration::from_secs(300),
            runtimes: Runtimes::standard(),
        }
    }
}

/// A running agent: its config and its workloads.
#[derive(Clone)]
pub struct Agent {
    config: Arc<AgentConfig>,
    registry: Registry,
    connections: Arc<AtomicUsize>,
}

impl Agent {
    /// An agent with no workloads yet.
    pub fn new(config: AgentConfig) -> Agent {
        let registry = Registry::new(config.runtimes.clone(), config.max_running);
        Agent { config: Arc::new(config), registry, connections: Arc::default() }
    }

    /// Its workloads.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Accepts connections on `listener` until the task is dropped; each connection
    /// is served in its own task.
    pub async fn serve(self, listener: TcpListener) -> std::io::Result<()> {
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors and the like: wait, do not spin.
                    tracing::warn!(%err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            if self.connections.fetch_add(1, Ordering::SeqCst) >= self.config.max_connections {
                self.connections.fetch_sub(1, Ordering::SeqCst);
                tracing::warn!(%peer, max = self.config.max_connections, "too many connections; closing this one");
                continue;
            }
            let agent = self.clone();
            tokio::spawn(async move {
                if let Err(err) = agent.serve_connection(stream).await {
                    tracing::debug!(%peer, %err, "connection ended with an error");
                }
                agent.connections.fetch_sub(1, Ordering::SeqCst);
            });
        }
    }

    /// Serves one connection: one response line per request line, in order.
    pub async fn serve_connection(&self, stream: TcpStream) -> std::io::Result<()> {
        let _ = stream.set_nodelay(true);
        let (read, mut write) = stream.into_split();
        let mut lines = LineReader::new(read, self.config.max_line_bytes);
        loop {
            let line = match tokio::time::timeout(self.config.idle_timeout, lines.next_line()).await {
                Err(_) => return Ok(()),
                Ok(line) => line?,
            };
            let response = match line {
                None => return Ok(()),
                Some(Line::Complete(line)) if line.iter().all(u8::is_ascii_whitespace) => continue,
                Some(Line::Complete(line)) => match Request::parse(&line) {
                    Ok(request) => self.handle(request).await,
                    Err(message) => {
                        tracing::info!(%message, "malformed request line");
                        Response::error(ErrorCode::Malformed, message)
                    }
                },
                Some(Line::TooLong) => {
                    tracing::info!(max = self.config.max_line_bytes, "request line too long");
                    Response::error(ErrorCode::LineTooLong, format!("request line longer than {} bytes; skipped", self.config.max_line_bytes))
                }
            };
            write.write_all(&response.to_line()).await?;
        }
    }

    /// Answers one request.
    pub async fn handle(&self, request: Request) -> Response {
        let answer = match request {
            Request::StartWorkload { workload } => self.registry.start(workload),
            Request::GetStatus { id } => self.registry.status(&id),
            Request::StopWorkload { id } => self.registry.stop(&id).await,
            Request::ListWorkloads => return Response::Workloads { workloads: self.registry.list() },
            Request::Ping => return Response::Pong { name: self.config.name.clone(), workloads: self.registry.len() },
        };
        match answer {
            Ok(status) => Response::Status(status),
            Err(err) => err.into(),
        }
    }
}
