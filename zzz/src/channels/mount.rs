//! Serving a socket from the router: `socket "/socket" => UserSocket;` routes
//! `GET /socket/websocket` to [`websocket`] and `GET|POST /socket/longpoll` to
//! [`longpoll`]. Both find the app's [`SocketEndpoint`] in the endpoint's state, put
//! there with [`Endpoint::socket`](crate::Endpoint::socket):
//!
//! ```no_run
//! use zzz::channels::{ChannelRoutes, ConnectInfo, Params, Refused, SocketEndpoint, UserSocket};
//! use zzz::pubsub::PubSub;
//!
//! #[derive(Clone)]
//! struct UserSocketImpl;
//!
//! impl UserSocket for UserSocketImpl {
//!     type Assigns = String;
//!     async fn connect(&self, params: &Params, _: &ConnectInfo) -> Result<String, Refused> {
//!         params.get("user").cloned().ok_or_else(|| Refused::new("user missing"))
//!     }
//!     fn channels(&self, _routes: &mut ChannelRoutes<String>) {}
//! }
//!
//! zzz::router! {
//!     pub AppRouter;
//!     socket "/socket" => UserSocketImpl;
//! }
//!
//! let pubsub = PubSub::new();
//! let endpoint = zzz::Endpoint::new(AppRouter::new())
//!     .socket(SocketEndpoint::new(UserSocketImpl, pubsub));
//! ```

use http::StatusCode;
use hyper_util::rt::TokioIo;

use super::socket::{SocketEndpoint, UserSocket};
use super::transport::longpoll::LongPoll;
use super::transport::websocket::upgrade;
use crate::body::Body;
use crate::conn::Conn;
use crate::response::{Response, error_response};
use crate::server::io::SharedStream;

/// A socket endpoint with its LongPoll sessions, kept in the endpoint's state.
pub struct SocketMount<S: UserSocket> {
    endpoint: SocketEndpoint<S>,
    longpoll: LongPoll<S>,
}

impl<S: UserSocket> Clone for SocketMount<S> {
    fn clone(&self) -> Self {
        SocketMount { endpoint: self.endpoint.clone(), longpoll: self.longpoll.clone() }
    }
}

impl<S: UserSocket> SocketMount<S> {
    /// A mount for `endpoint`, with a LongPoll transport beside its WebSocket.
    pub fn new(endpoint: SocketEndpoint<S>) -> SocketMount<S> {
        let longpoll = LongPoll::new(endpoint.clone());
        SocketMount { endpoint, longpoll }
    }

    /// The socket endpoint.
    pub fn endpoint(&self) -> &SocketEndpoint<S> {
        &self.endpoint
    }
}

fn missing<S>() -> Response {
    error_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        format!(
            "no socket endpoint for `{}`: give it to the endpoint with `Endpoint::socket(SocketEndpoint::new(..))`",
            std::any::type_name::<S>()
        ),
    )
}

/// `GET <mount>/websocket`: checks the upgrade (origin, `vsn`, `connect`), answers
/// `101 Switching Protocols` and runs the socket on the upgraded connection.
pub async fn websocket<S: UserSocket>(conn: Conn) -> Response {
    let Some(mount) = conn.state::<SocketMount<S>>().cloned() else { return missing::<S>() };
    let peer = conn.remote_addr();
    let (mut parts, _body) = conn.into_request().into_parts();
    let on_upgrade = parts.extensions.remove::<hyper::upgrade::OnUpgrade>();
    let upgrade = match upgrade(&mount.endpoint, &parts, peer).await {
        Ok(upgrade) => upgrade,
        Err(refused) => return refused.map(Body::from),
    };
    let Some(on_upgrade) = on_upgrade else {
        return error_response(
            StatusCode::UPGRADE_REQUIRED,
            "this connection cannot be upgraded to a WebSocket (use HTTP/1.1, or the LongPoll transport)".into(),
        );
    };
    // Plain TCP from zzz's server: the connection's stream, shared for direct broadcasts.
    let shared = parts.extensions.get::<SharedStream>().cloned();
    let response = upgrade.response().map(|()| Body::empty());
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => match shared.and_then(|s| s.0.take()) {
                Some(stream) => upgrade.serve_shared(TokioIo::new(upgraded), stream).await,
                None => upgrade.serve(TokioIo::new(upgraded)).await,
            },
            Err(err) => tracing::info!(%err, "websocket upgrade did not complete"),
        }
    });
    response
}

/// `GET|POST <mount>/longpoll`: the LongPoll transport (the JS client's fallback).
pub async fn longpoll<S: UserSocket>(mut conn: Conn) -> Response {
    let Some(mount) = conn.state::<SocketMount<S>>().cloned() else { return missing::<S>() };
    let peer = conn.remote_addr();
    let body = if conn.method() == http::Method::POST {
        match conn.read_body().await {
            Ok(body) => body,
            Err(err) => return error_response(StatusCode::PAYLOAD_TOO_LARGE, err.to_string()),
        }
    } else {
        bytes::Bytes::new()
    };
    let (parts, _) = conn.into_request().into_parts();
    mount.longpoll.handle(&parts, body, peer).await.map(Body::from)
}
