//! Shared helpers for the black-box tests: start an app on a real socket, speak raw
//! bytes to it.

pub mod browser;
pub mod tools;

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A server running on `127.0.0.1:<random port>` for the length of a test.
pub struct RunningServer {
    /// Where it listens.
    pub addr: SocketAddr,
    shutdown: zzz::Shutdown,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl RunningServer {
    /// Serves `endpoint` with `config` on a free loopback port.
    pub fn start<R: zzz::Router>(endpoint: zzz::Endpoint<R>, config: zzz::ServerConfig) -> RunningServer {
        let server = zzz::Server::bind(SocketAddr::from(([127, 0, 0, 1], 0)), config).expect("bind a loopback port");
        let addr = server.local_addr();
        let shutdown = server.shutdown_signal();
        let stop = shutdown.clone();
        let task = tokio::spawn(async move { server.serve_with_shutdown(endpoint, async move { stop.requested().await }).await });
        RunningServer { addr, shutdown, task }
    }

    /// Shuts the server down gracefully and waits for it.
    pub async fn stop(self) {
        self.shutdown.trigger();
        self.task.await.expect("server task").expect("server ran cleanly");
    }
}

/// Sends raw bytes, then reads until the server closes the connection or `wait`
/// passes with nothing more. Returns what came back (lossy UTF-8) and whether the
/// server closed the connection.
pub async fn raw_exchange(addr: SocketAddr, request: &[u8], wait: Duration) -> (String, bool) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request).await.expect("write request");
    read_until_quiet(&mut stream, wait).await
}

/// Reads until EOF (closed = true) or until `wait` passes with no new bytes.
pub async fn read_until_quiet(stream: &mut TcpStream, wait: Duration) -> (String, bool) {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match tokio::time::timeout(wait, stream.read(&mut buf)).await {
            Ok(Ok(0)) => return (String::from_utf8_lossy(&out).into_owned(), true),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Ok(Err(_)) => return (String::from_utf8_lossy(&out).into_owned(), true),
            Err(_) => return (String::from_utf8_lossy(&out).into_owned(), false),
        }
    }
}

/// The status code of the first response in `text`, if any.
pub fn first_status(text: &str) -> Option<u16> {
    let line = text.lines().next()?;
    let mut parts = line.split_whitespace();
    let version = parts.next()?;
    if !version.starts_with("HTTP/") {
        return None;
    }
    parts.next()?.parse().ok()
}

/// How many HTTP responses `text` holds (status lines).
pub fn count_responses(text: &str) -> usize {
    text.matches("HTTP/1.1 ").count() + text.matches("HTTP/1.0 ").count()
}

/// A well-formed GET over a fresh connection: proves the server still serves.
pub async fn healthy(addr: SocketAddr) -> bool {
    let (text, _) = raw_exchange(addr, b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", Duration::from_secs(5)).await;
    first_status(&text) == Some(200) && text.ends_with("Hello, World!")
}
