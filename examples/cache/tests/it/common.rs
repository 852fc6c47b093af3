//! Shared by the cache tests: a real server on a free port over a temporary data
//! directory, and a small HTTP client (hyper) plus raw-socket helpers.



use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use cache::Cache;
use cache::config::Config;
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use zzz::{Body, HeaderMap, Method, StatusCode, Shutdown};

/// A running cache server.
pub struct TestServer {
    pub addr: SocketAddr,
    pub cache: Cache,
    pub dir: PathBuf,
    shutdown: Shutdown,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl TestServer {
    /// Starts a server on `dir` with the config `configure` adjusts.
    pub async fn start(dir: &Path, configure: impl FnOnce(&mut Config)) -> TestServer {
        let mut config = Config::for_dir(dir);
        configure(&mut config);
        let cache = Cache::new(config).expect("the cache opens");
        let server = zzz::Server::bind("127.0.0.1:0".parse().unwrap(), zzz::ServerConfig::default()).expect("bind");
        let addr = server.local_addr();
        let shutdown = Shutdown::new();
        let signal = shutdown.clone();
        let endpoint = cache::endpoint(cache.clone());
        let task = tokio::spawn(async move { server.serve_with_shutdown(endpoint, async move { signal.requested().await }).await });
        TestServer { addr, cache, dir: dir.to_path_buf(), shutdown, task }
    }

    /// Stops the server as SIGTERM would: drains, then flushes the index journal.
    pub async fn stop(self) {
        self.shutdown.trigger();
        self.task.await.expect("server task").expect("server stops cleanly");
        self.cache.store.flush().expect("flush");
    }

    /// `http://addr`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Sends one request.
    pub async fn send(&self, method: &str, path: &str, headers: &[(&str, &str)], body: impl Into<Bytes>) -> Reply {
        send(self.addr, method, path, headers, body).await
    }

    /// GET with no headers.
    pub async fn get(&self, path: &str) -> Reply {
        self.send("GET", path, &[], Bytes::new()).await
    }

    /// PUT with no headers.
    pub async fn put(&self, path: &str, body: impl Into<Bytes>) -> Reply {
        self.send("PUT", path, &[], body).await
    }

    /// Files of unfinished uploads.
    pub fn tmp_files(&self) -> usize {
        std::fs::read_dir(self.dir.join("tmp")).map(|d| d.count()).unwrap_or(0)
    }

    /// Stored content files.
    pub fn blob_files(&self) -> usize {
        fn walk(p: &Path) -> usize {
            std::fs::read_dir(p).map(|d| d.flatten().map(|e| if e.path().is_dir() { walk(&e.path()) } else { 1 }).sum()).unwrap_or(0)
        }
        walk(&self.dir.join("blobs"))
    }
}

/// A response, fully read.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

/// Sends one request with hyper's client.
pub async fn send(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: impl Into<Bytes>) -> Reply {
    let client: Client<HttpConnector, Body> = Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    let body: Bytes = body.into();
    let mut request = zzz::http::Request::builder().method(Method::from_bytes(method.as_bytes()).unwrap()).uri(format!("http://{addr}{path}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if method == "PUT" || method == "POST" {
        request = request.header("content-length", body.len());
    }
    let response = client.request(request.body(Body::from(body)).unwrap()).await.expect("request");
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("body").to_bytes();
    Reply { status: parts.status, headers: parts.headers, body }
}

/// Writes raw bytes on a fresh connection and reads what comes back until the
/// server closes it or `read_timeout` passes.
pub async fn raw(addr: SocketAddr, request: &[u8], close_after_write: bool) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request).await.expect("write");
    if close_after_write {
        drop(stream);
        return String::new();
    }
    let mut out = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// Polls `check` for up to 10 s.
pub async fn eventually(mut check: impl FnMut() -> bool) -> bool {
    for _ in 0..200 {
        if check() {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    check()
}

/// sha256 hex of bytes.
pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}
