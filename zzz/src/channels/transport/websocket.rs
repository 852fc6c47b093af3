//! The WebSocket transport (`/socket/websocket`), on tokio-tungstenite over any upgraded
//! stream.
//!
//! Two steps, so that any HTTP server (zzz's router, a hyper upgrade, a test shim) can host it:
//! 1. [`upgrade`] checks the upgrade request (WebSocket headers, `check_origin`, `vsn`),
//!    decodes the `authToken` subprotocol, and runs the socket's `connect`. A refusal is an
//!    HTTP response to send as is (400 or 403).
//! 2. [`WebSocketUpgrade::response`] is the `101 Switching Protocols` answer (choosing the
//!    `phoenix` subprotocol when offered); once it is sent, [`WebSocketUpgrade::serve`] runs the
//!    connection on the upgraded stream.
//!
//! With hyper (what the router does):
//!
//! ```no_run
//! use hyper::{Request, Response, body::Incoming};
//! use hyper_util::rt::TokioIo;
//! use zzz::channels::{SocketEndpoint, UserSocket, transport::websocket};
//!
//! async fn socket_route<S: UserSocket>(endpoint: SocketEndpoint<S>, mut req: Request<Incoming>) -> Response<String> {
//!     let on_upgrade = hyper::upgrade::on(&mut req);
//!     let (parts, _body) = req.into_parts();
//!     match websocket::upgrade(&endpoint, &parts, None).await {
//!         Err(rejection) => rejection,
//!         Ok(upgrade) => {
//!             let (head, ()) = upgrade.response().into_parts();
//!             tokio::spawn(async move {
//!                 if let Ok(upgraded) = on_upgrade.await {
//!                     upgrade.serve(TokioIo::new(upgraded)).await;
//!                 }
//!             });
//!             Response::from_parts(head, String::new())
//!         }
//!     }
//! }
//! ```
//!
//! Each connection is one task with small explicit buffers ([`SocketConfig::read_buffer_size`],
//! no write buffering), so idle connections stay cheap.
//!
//! ```
//! use zzz::channels::transport::websocket::{auth_token_from_protocols, accept_key};
//! assert_eq!(accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
//! // phoenix.js sends btoa(token) without "=" padding.
//! assert_eq!(auth_token_from_protocols("phoenix, base64url.bearer.phx.c2VjcmV0").unwrap(), Some("secret".to_string()));
//! ```

use std::net::SocketAddr;

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use futures_util::{SinkExt, StreamExt};
use http::{HeaderValue, Response, StatusCode, header};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::error::Error as WsError;
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

use super::direct::LaneIo;
use super::{Incoming, Transport, run};
use crate::channels::message::Frame;
use crate::channels::serializer::Serializer;
use crate::channels::socket::{
    CheckOrigin, CloseReason, ConnectInfo, Params, SocketConfig, SocketEndpoint, SocketState,
    UserSocket,
};

const BEARER_PREFIX: &str = "base64url.bearer.phx.";

/// The `Sec-WebSocket-Accept` value for a `Sec-WebSocket-Key`.
pub fn accept_key(key: &[u8]) -> String {
    tokio_tungstenite::tungstenite::handshake::derive_accept_key(key)
}

/// Extract the phoenix.js `authToken` from a `Sec-WebSocket-Protocol` header value
/// (`phoenix, base64url.bearer.phx.<base64>`). Accepts standard or URL-safe base64, padded or
/// not. `Ok(None)` when no token protocol is present; `Err` when it does not decode.
pub fn auth_token_from_protocols(value: &str) -> Result<Option<String>, String> {
    for proto in value.split(',').map(str::trim) {
        if let Some(b64) = proto.strip_prefix(BEARER_PREFIX) {
            let normalized: String = b64
                .chars()
                .map(|c| match c {
                    '-' => '+',
                    '_' => '/',
                    c => c,
                })
                .collect();
            let engine = GeneralPurpose::new(
                &base64::alphabet::STANDARD,
                GeneralPurposeConfig::new()
                    .with_decode_padding_mode(DecodePaddingMode::Indifferent),
            );
            let bytes = engine
                .decode(normalized)
                .map_err(|e| format!("auth token is not base64: {e}"))?;
            return String::from_utf8(bytes)
                .map(Some)
                .map_err(|_| "auth token is not UTF-8".to_string());
        }
    }
    Ok(None)
}

fn reject(status: StatusCode, message: impl Into<String>) -> Response<String> {
    let mut res = Response::new(message.into());
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    res
}

fn header_str(parts: &http::request::Parts, name: header::HeaderName) -> Option<&str> {
    parts.headers.get(name).and_then(|v| v.to_str().ok())
}

fn host_only(authority: &str) -> &str {
    // "[::1]:4000" → "[::1]", "example.com:4000" → "example.com"
    if authority.starts_with('[') {
        return authority.split_inclusive(']').next().unwrap_or(authority);
    }
    authority.split(':').next().unwrap_or(authority)
}

/// Whether `origin` (an `Origin` header value) passes `check` for a request to `host` (the
/// `Host` header).
pub fn origin_allowed(check: &CheckOrigin, origin: &str, host: Option<&str>) -> bool {
    let Ok(uri) = origin.parse::<http::Uri>() else {
        return false;
    };
    let (Some(scheme), Some(origin_host)) = (uri.scheme_str(), uri.host()) else {
        return false;
    };
    match check {
        CheckOrigin::Disabled => true,
        CheckOrigin::SameHost => {
            host.is_some_and(|h| host_only(h).eq_ignore_ascii_case(origin_host))
        }
        CheckOrigin::List(allowed) => allowed.iter().any(|a| {
            let (want_scheme, rest) = match a.split_once("//") {
                Some(("", rest)) => (None, rest),
                Some((s, rest)) => (Some(s.trim_end_matches(':')), rest),
                None => (None, a.as_str()),
            };
            let want_host = host_only(rest.trim_end_matches('/'));
            let host_ok = match want_host.strip_prefix("*.") {
                Some(suffix) => {
                    origin_host.len() > suffix.len() + 1
                        && origin_host
                            .to_ascii_lowercase()
                            .ends_with(&format!(".{}", suffix.to_ascii_lowercase()))
                }
                None => want_host.eq_ignore_ascii_case(origin_host),
            };
            host_ok && want_scheme.is_none_or(|s| s.eq_ignore_ascii_case(scheme))
        }),
    }
}

/// A WebSocket upgrade that passed every check and whose `connect` succeeded.
pub struct WebSocketUpgrade<S: UserSocket> {
    state: SocketState<S>,
    accept: String,
    protocol: Option<&'static str>,
    ws_config: WebSocketConfig,
    timeout: std::time::Duration,
    write_timeout: std::time::Duration,
}

impl<S: UserSocket> std::fmt::Debug for WebSocketUpgrade<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocketUpgrade")
            .field("state", &self.state)
            .field("protocol", &self.protocol)
            .finish()
    }
}

fn ws_config(config: &SocketConfig) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(config.read_buffer_size)
        .write_buffer_size(0)
        .max_message_size(Some(config.max_message_size))
        .max_frame_size(Some(config.max_message_size))
}

/// Check a WebSocket upgrade request and run `connect`.
///
/// Errors are complete HTTP responses: 400 for a request that is not a valid WebSocket
/// upgrade or carries an undecodable auth token, 403 for a failed origin check, an unsupported
/// `vsn`, or a refused `connect`.
pub async fn upgrade<S: UserSocket>(
    endpoint: &SocketEndpoint<S>,
    parts: &http::request::Parts,
    peer_addr: Option<SocketAddr>,
) -> Result<WebSocketUpgrade<S>, Response<String>> {
    let config = endpoint.config();
    if parts.method != http::Method::GET {
        return Err(reject(
            StatusCode::BAD_REQUEST,
            "websocket upgrade must be a GET request",
        ));
    }
    let is_websocket =
        header_str(parts, header::UPGRADE).is_some_and(|u| u.eq_ignore_ascii_case("websocket"));
    let key = parts.headers.get(header::SEC_WEBSOCKET_KEY);
    let version_ok = header_str(parts, header::SEC_WEBSOCKET_VERSION) == Some("13");
    let (true, Some(key), true) = (is_websocket, key, version_ok) else {
        return Err(reject(
            StatusCode::BAD_REQUEST,
            "not a websocket upgrade (need Upgrade: websocket, Sec-WebSocket-Key and Sec-WebSocket-Version: 13)",
        ));
    };
    if let Some(origin) = header_str(parts, header::ORIGIN) {
        let host = header_str(parts, header::HOST).or(parts.uri.authority().map(|a| a.as_str()));
        if !origin_allowed(&config.check_origin, origin, host) {
            tracing::error!(
                origin,
                "could not check origin for the socket transport; refusing (403)"
            );
            return Err(reject(
                StatusCode::FORBIDDEN,
                format!("origin {origin} is not allowed"),
            ));
        }
    }
    let params: Params = match parts.uri.query() {
        Some(q) => serde_urlencoded::from_str::<Vec<(String, String)>>(q)
            .map_err(|e| {
                reject(
                    StatusCode::BAD_REQUEST,
                    format!("invalid query string: {e}"),
                )
            })?
            .into_iter()
            .collect(),
        None => Params::new(),
    };
    let vsn = params.get("vsn").map(String::as_str);
    let Some(serializer) = Serializer::from_vsn(vsn) else {
        tracing::error!(
            ?vsn,
            "the client's requested transport version does not match any serializer"
        );
        return Err(reject(
            StatusCode::FORBIDDEN,
            format!(
                "unsupported vsn {:?} (supported: 1.0.0, 2.0.0)",
                vsn.unwrap_or_default()
            ),
        ));
    };
    let protocols: Vec<&str> = parts
        .headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let protocols = protocols.join(",");
    let auth_token =
        auth_token_from_protocols(&protocols).map_err(|e| reject(StatusCode::BAD_REQUEST, e))?;
    let protocol = protocols
        .split(',')
        .map(str::trim)
        .any(|p| p == "phoenix")
        .then_some("phoenix");
    let info = ConnectInfo {
        uri: parts.uri.clone(),
        headers: parts.headers.clone(),
        peer_addr,
        auth_token,
    };
    let state = endpoint
        .connect(&params, &info, serializer)
        .await
        .map_err(|refused| {
            tracing::info!("socket connect refused: {}", refused.reason);
            reject(StatusCode::FORBIDDEN, "connection refused")
        })?;
    Ok(WebSocketUpgrade {
        state,
        accept: accept_key(key.as_bytes()),
        protocol,
        ws_config: ws_config(config),
        timeout: config.timeout,
        write_timeout: config.write_timeout,
    })
}

impl<S: UserSocket> WebSocketUpgrade<S> {
    /// The `101 Switching Protocols` response to send before [`serve`](Self::serve).
    pub fn response(&self) -> Response<()> {
        let mut res = Response::new(());
        *res.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let h = res.headers_mut();
        h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        if let Ok(v) = HeaderValue::from_str(&self.accept) {
            h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
        }
        if let Some(p) = self.protocol {
            h.insert(header::SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(p));
        }
        res
    }

    /// The connection's state (id, assigns, serializer).
    pub fn state(&self) -> &SocketState<S> {
        &self.state
    }

    /// Run the connection on the upgraded stream until it ends.
    pub async fn serve<IO>(self, io: IO)
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let ws = WebSocketStream::from_raw_socket(io, Role::Server, Some(self.ws_config)).await;
        run(
            self.state,
            WsTransport { ws },
            self.timeout,
            self.write_timeout,
        )
        .await;
    }
}

impl<S: UserSocket> WebSocketUpgrade<S> {
    /// Like [`serve`](Self::serve) for a connection whose plain TCP `stream` the server
    /// shares with it (`upgraded` is the same connection as hyper hands it over): broadcasts
    /// may then be written straight to the socket (see [`super::direct`]).
    pub(crate) async fn serve_shared<IO>(mut self, upgraded: IO, stream: std::sync::Arc<tokio::net::TcpStream>)
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let Some(lane) = self.state.install_lane(stream) else {
            return self.serve(upgraded).await;
        };
        self.serve(LaneIo::new(upgraded, lane)).await;
    }
}

/// Run a connection whose WebSocket handshake was already completed by someone else.
pub async fn serve_websocket<S, IO>(io: IO, state: SocketState<S>, config: &SocketConfig)
where
    S: UserSocket,
    IO: AsyncRead + AsyncWrite + Unpin + Send,
{
    let ws = WebSocketStream::from_raw_socket(io, Role::Server, Some(ws_config(config))).await;
    run(
        state,
        WsTransport { ws },
        config.timeout,
        config.write_timeout,
    )
    .await;
}

struct WsTransport<IO> {
    ws: WebSocketStream<IO>,
}

impl<IO: AsyncRead + AsyncWrite + Unpin + Send> Transport for WsTransport<IO> {
    async fn recv(&mut self) -> Incoming {
        match self.ws.next().await {
            Some(Ok(WsMessage::Text(t))) => Incoming::Frame(Frame::Text(t)),
            Some(Ok(WsMessage::Binary(b))) => Incoming::Frame(Frame::Binary(b)),
            Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_) | WsMessage::Frame(_))) => {
                Incoming::Activity
            }
            Some(Ok(WsMessage::Close(_))) | None => {
                // tungstenite queued the close reply; push it out.
                let _ = self.ws.flush().await;
                Incoming::Closed
            }
            Some(Err(WsError::Capacity(e))) => {
                Incoming::Violation(CloseReason::new(1009, format!("message too big: {e}")))
            }
            Some(Err(WsError::Protocol(e))) => {
                Incoming::Violation(CloseReason::new(1002, format!("protocol error: {e}")))
            }
            Some(Err(WsError::Utf8(_))) => {
                Incoming::Violation(CloseReason::new(1007, "text frame is not UTF-8"))
            }
            Some(Err(_)) => Incoming::Closed,
        }
    }

    async fn send(&mut self, frames: Vec<Frame>) -> bool {
        for frame in frames {
            let msg = match frame {
                Frame::Text(t) => WsMessage::Text(t),
                Frame::Binary(b) => WsMessage::Binary(b),
            };
            if self.ws.feed(msg).await.is_err() {
                return false;
            }
        }
        self.ws.flush().await.is_ok()
    }

    async fn close(&mut self, reason: CloseReason) {
        let frame = CloseFrame {
            code: reason.code.into(),
            reason: reason.reason.into(),
        };
        let _ = self.ws.close(Some(frame)).await;
    }
}
