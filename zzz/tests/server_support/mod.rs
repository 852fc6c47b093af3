//! Shared by the `server_*` integration tests: a small app service, a way to
//! start a server on a free port, and raw HTTP/1 helpers over real sockets.
#![allow(dead_code)] // each test binary uses a different part of this module

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use zzz::server::{ConnectInfo, Server, ServerConfig, Shutdown};

pub type Body = UnsyncBoxBody<Bytes, Infallible>;

/// Upper bound for anything a test waits on; only reached when something is broken.
pub const BOUND: Duration = Duration::from_secs(5);

/// The app under test. Routes:
/// - `/` → `hello`
/// - `/info` → `peer=… local=… tls=… version=…` from [`ConnectInfo`]
/// - `/echo` → the request body, read fully
/// - `/sleep?ms=N` → notifies `started`, sleeps N ms, answers `slept N`
/// - `/stream` → chunked body `one`, then (after `release` is notified) `two`, `three`
/// - `/panic` → panics
/// - `/body-panic` → 200, chunk `one`, then the body panics
/// - `/upgrade` → `101 Switching Protocols` (`Upgrade: echo`), then echoes bytes
#[derive(Clone, Default)]
pub struct App {
    pub started: Arc<Notify>,
    pub release: Arc<Notify>,
}

fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    let mut res = Response::new(Full::new(body.into()).boxed_unsync());
    *res.status_mut() = status;
    res
}

impl tower_service::Service<Request<Incoming>> for App {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: Request<Incoming>) -> Self::Future {
        let app = self.clone();
        Box::pin(async move {
            let path = req.uri().path().to_owned();
            let res = match path.as_str() {
                "/" => text(StatusCode::OK, "hello"),
                "/info" => {
                    let info = req.extensions().get::<ConnectInfo>().copied();
                    match info {
                        Some(i) => text(
                            StatusCode::OK,
                            format!("peer={} local={} tls={} version={:?}", i.peer, i.local, i.tls, req.version()),
                        ),
                        None => text(StatusCode::INTERNAL_SERVER_ERROR, "no ConnectInfo"),
                    }
                }
                "/echo" => {
                    let body = req.into_body().collect().await.map(|c| c.to_bytes());
                    match body {
                        Ok(b) => text(StatusCode::OK, b),
                        Err(e) => text(StatusCode::BAD_REQUEST, format!("body error: {e}")),
                    }
                }
                "/sleep" => {
                    let ms: u64 = req
                        .uri()
                        .query()
                        .and_then(|q| q.strip_prefix("ms="))
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(300);
                    app.started.notify_one();
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    text(StatusCode::OK, format!("slept {ms}"))
                }
                "/stream" => {
                    let release = app.release.clone();
                    let frames = futures_util::stream::unfold(0u8, move |step| {
                        let release = release.clone();
                        async move {
                            let chunk: &'static str = match step {
                                0 => "one",
                                1 => {
                                    release.notified().await;
                                    "two"
                                }
                                2 => "three",
                                _ => return None,
                            };
                            Some((Ok::<_, Infallible>(Frame::data(Bytes::from_static(chunk.as_bytes()))), step + 1))
                        }
                    });
                    Response::new(BodyExt::boxed_unsync(StreamBody::new(frames)))
                }
                "/panic" => panic!("deliberate panic in /panic"),
                "/body-panic" => {
                    let frames = futures_util::stream::unfold(0u8, |step| async move {
                        match step {
                            0 => Some((Ok::<_, Infallible>(Frame::data(Bytes::from_static(b"one"))), 1)),
                            _ => panic!("deliberate panic in the /body-panic body"),
                        }
                    });
                    Response::new(BodyExt::boxed_unsync(StreamBody::new(frames)))
                }
                "/upgrade" => {
                    let upgrade = hyper::upgrade::on(&mut req);
                    tokio::spawn(async move {
                        let Ok(upgraded) = upgrade.await else { return };
                        let mut io = hyper_util::rt::TokioIo::new(upgraded);
                        let mut buf = [0u8; 1024];
                        loop {
                            match io.read(&mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => {
                                    if io.write_all(&buf[..n]).await.is_err() {
                                        return;
                                    }
                                }
                            }
                        }
                    });
                    Response::builder()
                        .status(StatusCode::SWITCHING_PROTOCOLS)
                        .header("connection", "upgrade")
                        .header("upgrade", "echo")
                        .body(http_body_util::Empty::new().boxed_unsync())
                        .unwrap()
                }
                _ => text(StatusCode::NOT_FOUND, "not found"),
            };
            Ok(res)
        })
    }
}

/// A server running in the background.
pub struct Running {
    pub addr: SocketAddr,
    pub shutdown: Shutdown,
    pub handle: JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// Triggers shutdown and waits (bounded) for `serve` to return.
    pub async fn stop(self) {
        self.shutdown.trigger();
        let res = tokio::time::timeout(BOUND + Duration::from_secs(1), self.handle)
            .await
            .expect("serve did not return after shutdown")
            .expect("serve task panicked");
        res.expect("serve returned an error");
    }
}

/// Starts `app` on 127.0.0.1, a free port, with `config`.
pub fn start_with(config: ServerConfig, app: App) -> Running {
    let server = Server::bind("127.0.0.1:0".parse().unwrap(), config).expect("bind");
    run(server, app)
}

pub fn start(config: ServerConfig) -> Running {
    start_with(config, App::default())
}

/// Serves `app` on an already built server until its shutdown handle fires.
pub fn run(server: Server, app: App) -> Running {
    let addr = server.local_addr();
    let shutdown = server.shutdown_signal();
    let handle = tokio::spawn(server.serve_with_shutdown(app, std::future::pending()));
    Running { addr, shutdown, handle }
}

/// A parsed HTTP/1 response.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    }

    pub fn body_str(&self) -> &str {
        std::str::from_utf8(&self.body).expect("utf-8 body")
    }
}

/// Reads bytes until `needle` is in `buf`; `false` on EOF first.
async fn fill_until(stream: &mut TcpStream, buf: &mut Vec<u8>, needle: &[u8]) -> std::io::Result<bool> {
    loop {
        if buf.windows(needle.len()).any(|w| w == needle) {
            return Ok(true);
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(false);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

async fn fill_to(stream: &mut TcpStream, buf: &mut Vec<u8>, len: usize) -> std::io::Result<()> {
    while buf.len() < len {
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "EOF inside a response body"));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok(())
}

/// Reads one full HTTP/1 response (content-length, chunked, or until EOF),
/// skipping interim 1xx responses only if `skip_informational`. Bytes read past
/// the response stay in `buf`.
pub async fn read_response_buf(stream: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<RawResponse> {
    if !fill_until(stream, buf, b"\r\n\r\n").await? {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!("connection closed before a response head; got {:?}", String::from_utf8_lossy(buf)),
        ));
    }
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    buf.drain(..end);
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line in {head:?}"));
    let mut res = RawResponse { status, head, body: Vec::new() };
    if (100..200).contains(&status) || status == 204 || status == 304 {
        return Ok(res);
    }
    if let Some(len) = res.header("content-length") {
        let len: usize = len.parse().expect("content-length");
        fill_to(stream, buf, len).await?;
        res.body = buf.drain(..len).collect();
    } else if res.header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            if !fill_until(stream, buf, b"\r\n").await? {
                return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "EOF in chunk size"));
            }
            let line_end = buf.windows(2).position(|w| w == b"\r\n").unwrap();
            let size_line = String::from_utf8_lossy(&buf[..line_end]).into_owned();
            let size = usize::from_str_radix(size_line.split(';').next().unwrap().trim(), 16).expect("chunk size");
            buf.drain(..line_end + 2);
            fill_to(stream, buf, size + 2).await?;
            res.body.extend(buf.drain(..size));
            buf.drain(..2);
            if size == 0 {
                break;
            }
        }
    } else {
        stream.read_to_end(buf).await?;
        res.body = std::mem::take(buf);
    }
    Ok(res)
}

/// Reads one full response from `stream`, bounded by [`BOUND`].
pub async fn read_response(stream: &mut TcpStream) -> RawResponse {
    let mut buf = Vec::new();
    tokio::time::timeout(BOUND, read_response_buf(stream, &mut buf))
        .await
        .expect("no response in time")
        .expect("reading the response")
}

/// Connects, sends `raw`, and reads one response.
pub async fn send_raw(addr: SocketAddr, raw: &[u8]) -> RawResponse {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(raw).await.expect("write request");
    read_response(&mut stream).await
}

/// `GET path` on a fresh connection; asserts nothing.
pub async fn get(addr: SocketAddr, path: &str) -> RawResponse {
    send_raw(addr, format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").as_bytes()).await
}

/// Waits (bounded) until the peer closes `stream`: `Ok(bytes)` with whatever
/// arrived before EOF or reset, `Err` if it was still open after `within`.
pub async fn wait_closed(stream: &mut TcpStream, within: Duration) -> Result<Vec<u8>, Vec<u8>> {
    let mut got = Vec::new();
    let res = tokio::time::timeout(within, async {
        let mut chunk = [0u8; 4096];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    match res {
        Ok(()) => Ok(got),
        Err(_) => Err(got),
    }
}

/// An HTTP/2 client connection over `io` (prior knowledge), driven in the
/// background; the handle resolves when the server closes the connection.
pub async fn h2_client<I>(
    io: I,
) -> (hyper::client::conn::http2::SendRequest<http_body_util::Empty<Bytes>>, JoinHandle<()>)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (send, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(io),
    )
    .await
    .expect("HTTP/2 handshake");
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    (send, driver)
}

/// Sends `GET uri` on an HTTP/2 connection and returns (status, version, body).
pub async fn h2_get(
    send: &mut hyper::client::conn::http2::SendRequest<http_body_util::Empty<Bytes>>,
    uri: &str,
) -> (StatusCode, http::Version, String) {
    let req = Request::get(uri).body(http_body_util::Empty::new()).unwrap();
    let res = tokio::time::timeout(BOUND, send.send_request(req)).await.expect("h2 response in time").expect("h2 request");
    let (parts, body) = res.into_parts();
    let body = body.collect().await.expect("h2 body").to_bytes();
    (parts.status, parts.version, String::from_utf8(body.to_vec()).unwrap())
}
