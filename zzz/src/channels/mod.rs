//! Phoenix Channels, wire-compatible with the official `phoenix` JavaScript client.
//!
//! - [`UserSocket`]: authenticates a connection (`connect`), names it (`id`) and routes topics
//!   to channels (`channels`: `room:*` → `RoomChannel`).
//! - [`Channel`]: join / handle_in / intercepts + handle_out / handle_info / terminate.
//! - [`SocketEndpoint`]: a mounted socket (handler + routes + [`PubSub`](crate::pubsub::PubSub) +
//!   [`SocketConfig`]).
//! - [`SocketState`]: one connection's protocol state machine, independent of the transport.
//! - [`transport::websocket`]: the WebSocket transport (`/socket/websocket`).
//! - [`testing`]: an in-process client for tests.
//!
//! Mounting (what a server or router does for `socket "/socket" => UserSocket`):
//! - `GET /socket/websocket`: [`transport::websocket::upgrade`]`(&endpoint, &parts, peer)` →
//!   on `Err(response)` send that 400/403; on `Ok(upgrade)` send `upgrade.response()` (101),
//!   then run `upgrade.serve(io)` on the upgraded stream (any `AsyncRead + AsyncWrite`), in its
//!   own task.
//! - `GET|POST|OPTIONS /socket/longpoll` (optional fallback): keep one
//!   [`transport::longpoll::LongPoll`] per endpoint and answer each request with
//!   `longpoll.handle(&parts, body, peer).await`.
//! - On shutdown: [`SocketEndpoint::drain`], then wait for
//!   [`SocketEndpoint::connection_count`] to reach 0.
//!
//! Protocol: V2 JSON `[join_ref, ref, topic, event, payload]`, V1 JSON objects and V2 binary
//! frames, chosen by `vsn`; `phx_join` / `phx_reply` / `phx_leave` / `phx_close` /
//! `phx_error`; heartbeats on topic `phoenix`; duplicate joins close the old channel
//! (`phx_close` with the old join_ref) first; messages with a stale join_ref are ignored; a
//! panic in a channel callback becomes `phx_error` for that channel only.
//!
//! ```
//! use zzz::channels::{Channel, ChannelRoutes, ChannelSocket, ConnectInfo, JoinResult, Params,
//!                     Payload, Refused, Reply, SocketEndpoint, UserSocket};
//! use zzz::pubsub::PubSub;
//! use serde_json::json;
//!
//! struct UserSocketImpl;
//! struct RoomChannel;
//!
//! impl Channel<String> for RoomChannel {
//!     async fn join(&mut self, _topic: &str, _payload: Payload, _socket: &mut ChannelSocket<String>) -> JoinResult {
//!         Ok(Payload::empty())
//!     }
//!     async fn handle_in(&mut self, event: &str, payload: Payload, socket: &mut ChannelSocket<String>) -> Reply {
//!         match event {
//!             "new_msg" => {
//!                 let body = payload.get("body").cloned().unwrap_or_default();
//!                 let _ = socket.broadcast("new_msg", json!({"user": socket.assigns(), "body": body}));
//!                 Reply::ok_empty()
//!             }
//!             other => Reply::unknown_event(other),
//!         }
//!     }
//! }
//!
//! impl UserSocket for UserSocketImpl {
//!     type Assigns = String;
//!     async fn connect(&self, params: &Params, _info: &ConnectInfo) -> Result<String, Refused> {
//!         params.get("user").cloned().ok_or_else(|| Refused::new("missing user"))
//!     }
//!     fn channels(&self, routes: &mut ChannelRoutes<String>) {
//!         routes.channel("room:*", || RoomChannel);
//!     }
//! }
//!
//! let endpoint = SocketEndpoint::new(UserSocketImpl, PubSub::new());
//! # let _ = endpoint;
//! ```

pub mod channel;
pub mod message;
pub mod mount;
pub mod serializer;
pub mod socket;
pub mod testing;
pub mod transport;

pub use channel::{
    Channel, ChannelHandle, ChannelSocket, Info, JoinResult, Reply, TerminateReason,
};
pub use message::{Frame, Message, Payload, PayloadError, Status, events};
pub use serializer::{DecodeError, EncodeError, Serializer};
pub use socket::{
    ChannelEvent, ChannelEventKind, ChannelRoutes, CheckOrigin, CloseReason, ConnectInfo, Params,
    Refused, SocketConfig, SocketEndpoint, SocketEvent, SocketState, UserSocket,
};
