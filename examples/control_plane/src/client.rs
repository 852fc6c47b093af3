//! The control plane's side of the agent protocol: one request, one response, over a
//! fresh TCP connection, everything under a deadline.

use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::line_codec::{Line, LineReader};
use crate::protocol::{Request, Response};

/// The longest response line the client accepts (1 MiB: a `Workloads` list can be long).
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// Why an agent did not answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentUnreachable {
    /// The agent's address.
    pub addr: String,
    /// What went wrong.
    pub reason: String,
}

impl std::fmt::Display for AgentUnreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "agent {} did not answer: {}", self.addr, self.reason)
    }
}

impl std::error::Error for AgentUnreachable {}

/// Sends `request` to the agent at `addr` and reads its one response line, all within
/// `timeout`.
pub async fn call(addr: &str, request: &Request, timeout: Duration) -> Result<Response, AgentUnreachable> {
    let fail = |reason: String| AgentUnreachable { addr: addr.to_owned(), reason };
    let exchange = async {
        let stream = TcpStream::connect(addr).await.map_err(|e| fail(format!("connect: {e}")))?;
        let _ = stream.set_nodelay(true);
        let (read, mut write) = stream.into_split();
        write.write_all(&request.to_line()).await.map_err(|e| fail(format!("write: {e}")))?;
        let mut lines = LineReader::new(read, MAX_RESPONSE_BYTES);
        match lines.next_line().await.map_err(|e| fail(format!("read: {e}")))? {
            None => Err(fail("the connection closed before a response".into())),
            Some(Line::TooLong) => Err(fail(format!("the response is longer than {MAX_RESPONSE_BYTES} bytes"))),
            Some(Line::Complete(line)) => {
                serde_json::from_slice(&line).map_err(|e| fail(format!("malformed response: {e}")))
            }
        }
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .unwrap_or_else(|_| Err(fail(format!("no response within {} ms", timeout.as_millis()))))
}
