//! The LongPoll transport (`/socket/longpoll`), the phoenix.js fallback when WebSockets are
//! blocked. Transport independent: a server hands each request's parts and body to
//! [`LongPoll::handle`] and sends back the response.
//!
//! Protocol (as phoenix.js expects): the HTTP status is always 200 and the real one is in the
//! JSON body. A `GET` without a known token runs `connect` and opens a session:
//! `{"status":410,"token":T,"messages":[]}` (or `{"status":403}` when refused). A `GET` with
//! the token (header `x-phoenix-longpoll-token` or `?token=`) waits up to `window` for server
//! messages: `{"status":200,"token":T,"messages":["[…]", …]}`, or `204` with none. A `POST` of
//! `application/x-ndjson` (one V2 JSON array per line, base64 for binary, at most 100 lines)
//! answers `{"status":200}`; `410` means the session is gone. The session ends when the
//! client stops polling for [`SocketConfig::timeout`](crate::channels::SocketConfig::timeout).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! # use zzz::channels::{Channel, ChannelRoutes, ChannelSocket, ConnectInfo, JoinResult, Params,
//! #                     Payload, Refused, SocketEndpoint, UserSocket};
//! # struct Sock;
//! # impl UserSocket for Sock {
//! #     type Assigns = ();
//! #     async fn connect(&self, _p: &Params, _i: &ConnectInfo) -> Result<(), Refused> { Ok(()) }
//! #     fn channels(&self, _r: &mut ChannelRoutes<()>) {}
//! # }
//! use zzz::channels::transport::longpoll::LongPoll;
//! use zzz::pubsub::PubSub;
//!
//! let lp = LongPoll::new(SocketEndpoint::new(Sock, PubSub::new()));
//! let req = http::Request::get("/socket/longpoll?vsn=2.0.0").body(()).unwrap();
//! let (parts, ()) = req.into_parts();
//! let res = lp.handle(&parts, bytes::Bytes::new(), None).await;
//! let body: serde_json::Value = serde_json::from_str(res.body()).unwrap();
//! assert_eq!(body["status"], 410);
//! assert!(body["token"].is_string());
//! # }
//! ```

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, RandomState};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use bytes::Bytes;
use http::{HeaderValue, Method, Response, StatusCode, header};
use serde_json::{Value, json};
use tokio::sync::{Notify, mpsc};

use super::websocket::origin_allowed;
use super::{Incoming, Transport, run};
use crate::channels::message::{Frame, Utf8Bytes};
use crate::channels::serializer::Serializer;
use crate::channels::socket::{CloseReason, ConnectInfo, Params, SocketEndpoint, UserSocket};

const TOKEN_HEADER: &str = "x-phoenix-longpoll-token";
const AUTH_TOKEN_HEADER: &str = "x-phoenix-authtoken";
const MAX_BATCH: usize = 100;

struct Session {
    token: String,
    to_socket: mpsc::UnboundedSender<Incoming>,
    outbox: Mutex<VecDeque<String>>,
    notify: Notify,
    closed: AtomicBool,
}

impl Session {
    fn take_messages(&self) -> Vec<String> {
        self.outbox
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
            .collect()
    }
}

type Sessions = Arc<Mutex<HashMap<String, Arc<Session>>>>;

struct LongPollTransport {
    rx: mpsc::UnboundedReceiver<Incoming>,
    session: Arc<Session>,
    sessions: Sessions,
    token: String,
}

impl LongPollTransport {
    fn end(&self) {
        self.session.closed.store(true, Ordering::Release);
        self.session.notify.notify_waiters();
        self.sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.token);
    }
}

impl Transport for LongPollTransport {
    async fn recv(&mut self) -> Incoming {
        self.rx.recv().await.unwrap_or(Incoming::Closed)
    }

    async fn send(&mut self, frames: Vec<Frame>) -> bool {
        {
            let mut out = self
                .session
                .outbox
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            for frame in frames {
                match frame {
                    Frame::Text(t) => out.push_back(t.as_str().to_owned()),
                    Frame::Binary(_) => tracing::warn!(
                        "binary frame dropped: the longpoll transport carries text only"
                    ),
                }
            }
        }
        self.session.notify.notify_waiters();
        true
    }

    async fn close(&mut self, reason: CloseReason) {
        tracing::debug!(
            code = reason.code,
            "longpoll session closed: {}",
            reason.reason
        );
        self.end();
    }
}

impl Drop for LongPollTransport {
    fn drop(&mut self) {
        self.end();
    }
}

/// The LongPoll transport for one socket endpoint. Cheap to clone.
pub struct LongPoll<S: UserSocket> {
    endpoint: SocketEndpoint<S>,
    sessions: Sessions,
    window: Duration,
}

impl<S: UserSocket> Clone for LongPoll<S> {
    fn clone(&self) -> Self {
        LongPoll {
            endpoint: self.endpoint.clone(),
            sessions: self.sessions.clone(),
            window: self.window,
        }
    }
}

impl<S: UserSocket> std::fmt::Debug for LongPoll<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LongPoll")
            .field("sessions", &self.session_count())
            .field("window", &self.window)
            .finish()
    }
}

fn random_token() -> String {
    // SipHash keyed from OS randomness (std's RandomState) over a counter and the clock:
    // unpredictable without the process's keys.
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let mut raw = [0u8; 24];
    raw[..8].copy_from_slice(&RandomState::new().hash_one((n, t, 1u8)).to_le_bytes());
    raw[8..16].copy_from_slice(&RandomState::new().hash_one((t, n, 2u8)).to_le_bytes());
    raw[16..].copy_from_slice(&(t as u64).to_le_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

fn json_response(body: Value) -> Response<String> {
    let mut res = Response::new(body.to_string());
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    res
}

fn status(code: u16) -> Response<String> {
    json_response(json!({ "status": code }))
}

impl<S: UserSocket> LongPoll<S> {
    /// The transport for `endpoint`, with a 10 s poll window.
    pub fn new(endpoint: SocketEndpoint<S>) -> Self {
        LongPoll {
            endpoint,
            sessions: Default::default(),
            window: Duration::from_secs(10),
        }
    }

    /// Set how long a poll waits for messages before answering 204.
    pub fn with_window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// Open sessions.
    pub fn session_count(&self) -> usize {
        self.sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    fn session(&self, parts: &http::request::Parts, params: &Params) -> Option<Arc<Session>> {
        let token = parts
            .headers
            .get(TOKEN_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .or_else(|| params.get("token").cloned())?;
        self.sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&token)
            .cloned()
    }

    /// Handle one `/socket/longpoll` request (the body is only read for `POST`).
    pub async fn handle(
        &self,
        parts: &http::request::Parts,
        body: Bytes,
        peer_addr: Option<SocketAddr>,
    ) -> Response<String> {
        let config = self.endpoint.config();
        if let Some(origin) = parts
            .headers
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok())
        {
            let host = parts
                .headers
                .get(header::HOST)
                .and_then(|v| v.to_str().ok());
            if !origin_allowed(&config.check_origin, origin, host) {
                tracing::error!(
                    origin,
                    "could not check origin for the longpoll transport; refusing"
                );
                return status(403);
            }
        }
        let params: Params = parts
            .uri
            .query()
            .and_then(|q| serde_urlencoded::from_str::<Vec<(String, String)>>(q).ok())
            .unwrap_or_default()
            .into_iter()
            .collect();
        match parts.method {
            Method::OPTIONS => {
                let mut res = Response::new(String::new());
                let h = res.headers_mut();
                if let Some(req_headers) = parts.headers.get(header::ACCESS_CONTROL_REQUEST_HEADERS)
                {
                    h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, req_headers.clone());
                }
                h.insert(
                    header::ACCESS_CONTROL_ALLOW_ORIGIN,
                    HeaderValue::from_static("*"),
                );
                h.insert(
                    header::ACCESS_CONTROL_ALLOW_METHODS,
                    HeaderValue::from_static("get, post, options"),
                );
                h.insert(
                    header::ACCESS_CONTROL_MAX_AGE,
                    HeaderValue::from_static("3600"),
                );
                res
            }
            Method::GET => match self.session(parts, &params) {
                Some(session) => self.poll(session).await,
                None => self.new_session(parts, &params, peer_addr).await,
            },
            Method::POST => match self.session(parts, &params) {
                Some(session) => publish(parts, &body, &session),
                None => status(410),
            },
            _ => {
                let mut res = Response::new(String::new());
                *res.status_mut() = StatusCode::BAD_REQUEST;
                res
            }
        }
    }

    async fn new_session(
        &self,
        parts: &http::request::Parts,
        params: &Params,
        peer_addr: Option<SocketAddr>,
    ) -> Response<String> {
        let Some(serializer) = Serializer::from_vsn(params.get("vsn").map(String::as_str)) else {
            return status(403);
        };
        let auth_token = parts
            .headers
            .get(AUTH_TOKEN_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let info = ConnectInfo {
            uri: parts.uri.clone(),
            headers: parts.headers.clone(),
            peer_addr,
            auth_token,
        };
        let state = match self.endpoint.connect(params, &info, serializer).await {
            Ok(state) => state,
            Err(refused) => {
                tracing::info!("longpoll connect refused: {}", refused.reason);
                return status(403);
            }
        };
        let token = random_token();
        let (to_socket, rx) = mpsc::unbounded_channel();
        let session = Arc::new(Session {
            token: token.clone(),
            to_socket,
            outbox: Mutex::new(VecDeque::new()),
            notify: Notify::new(),
            closed: AtomicBool::new(false),
        });
        self.sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(token.clone(), session.clone());
        let transport = LongPollTransport {
            rx,
            session,
            sessions: self.sessions.clone(),
            token: token.clone(),
        };
        let config = self.endpoint.config();
        tokio::spawn(run(state, transport, config.timeout, config.write_timeout));
        json_response(json!({ "status": 410, "token": token, "messages": [] }))
    }

    async fn poll(&self, session: Arc<Session>) -> Response<String> {
        let token = session.token.clone();
        // a poll counts as activity for the idle timeout (longpoll clients send no heartbeats)
        let _ = session.to_socket.send(Incoming::Activity);
        let deadline = tokio::time::Instant::now() + self.window;
        loop {
            let notified = session.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let messages = session.take_messages();
            if !messages.is_empty() {
                return json_response(
                    json!({ "status": 200, "token": token, "messages": messages }),
                );
            }
            if session.closed.load(Ordering::Acquire) {
                return status(410);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return json_response(json!({ "status": 204, "token": token, "messages": [] }));
            }
        }
    }
}

fn publish(parts: &http::request::Parts, body: &Bytes, session: &Session) -> Response<String> {
    let send = |incoming: Incoming| session.to_socket.send(incoming).is_ok();
    let ndjson = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-ndjson"));
    let Ok(text) = std::str::from_utf8(body) else {
        return status(400);
    };
    let mut ok = true;
    if ndjson {
        for line in text
            .split('\n')
            .map(|l| l.trim_end_matches('\r'))
            .filter(|l| !l.is_empty())
            .take(MAX_BATCH)
        {
            let frame = if line.starts_with('[') {
                Frame::Text(Utf8Bytes::from(line))
            } else {
                match base64::engine::general_purpose::STANDARD.decode(line) {
                    Ok(bytes) => Frame::Binary(bytes.into()),
                    Err(_) => return status(400),
                }
            };
            ok &= send(Incoming::Frame(frame));
        }
    } else {
        ok = send(Incoming::Frame(Frame::Text(Utf8Bytes::from(text))));
    }
    if ok { status(200) } else { status(410) }
}
