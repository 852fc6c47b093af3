//! The [`Channel`] trait and the per-channel [`ChannelSocket`] handed to its callbacks.
//!
//! A channel is created for each successful `phx_join` of a topic matched by the socket's
//! routes, and lives until the client leaves, the channel stops, crashes (a panic in a
//! callback: the client gets `phx_error`, other channels carry on) or the connection ends.
//! The value implementing [`Channel`] is the channel's state.
//!
//! ```
//! use zzz::channels::{Channel, ChannelSocket, JoinResult, Payload, Reply};
//! use serde_json::json;
//!
//! #[derive(Default)]
//! struct Room { messages: usize }
//!
//! impl Channel<String> for Room {
//!     async fn join(&mut self, topic: &str, _payload: Payload, _socket: &mut ChannelSocket<String>) -> JoinResult {
//!         if topic == "room:secret" {
//!             return Err(json!({"reason": "unauthorized"}).into());
//!         }
//!         Ok(Payload::empty())
//!     }
//!
//!     async fn handle_in(&mut self, event: &str, payload: Payload, socket: &mut ChannelSocket<String>) -> Reply {
//!         match event {
//!             "new_msg" => {
//!                 self.messages += 1;
//!                 let user = socket.assigns().clone();
//!                 let body = payload.get("body").cloned().unwrap_or_default();
//!                 let _ = socket.broadcast("new_msg", json!({"user": user, "body": body}));
//!                 Reply::ok(json!({"count": self.messages}))
//!             }
//!             other => Reply::unknown_event(other),
//!         }
//!     }
//! }
//! ```

use std::any::Any;
use std::future::Future;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde_json::json;
use tokio::sync::mpsc;

use super::message::{Frame, Payload, Status};
use super::serializer::Serializer;
use super::socket::{ChannelEvent, ChannelEventKind, SocketEvent};
use crate::pubsub::{PubSub, PubSubError, SubscriberId};

/// The result of [`Channel::join`]: `Ok(reply)` joins, `Err(reply)` refuses (the client gets
/// `phx_reply` with status `error` and this response, e.g. `{"reason": "unauthorized"}`).
pub type JoinResult = Result<Payload, Payload>;

/// A message from the application to a channel (see [`ChannelHandle::send`]); downcast it in
/// [`Channel::handle_info`].
pub type Info = Box<dyn Any + Send>;

/// What [`Channel::handle_in`] answers to a client push.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// `phx_reply` with status `ok` and this response.
    Ok(Payload),
    /// `phx_reply` with status `error` and this response.
    Error(Payload),
    /// No reply now (the channel may answer later with [`ChannelHandle::reply`]).
    NoReply,
    /// Stop the channel: `phx_close` is sent and [`Channel::terminate`] runs.
    Stop(String),
}

impl Reply {
    /// `ok` with a response.
    pub fn ok(response: impl Into<Payload>) -> Reply {
        Reply::Ok(response.into())
    }

    /// `ok` with the empty response `{}`.
    pub fn ok_empty() -> Reply {
        Reply::Ok(Payload::empty())
    }

    /// `error` with a response.
    pub fn error(response: impl Into<Payload>) -> Reply {
        Reply::Error(response.into())
    }

    /// The error reply for an event the channel does not handle:
    /// `{"reason": "unhandled event \"<event>\""}`.
    pub fn unknown_event(event: &str) -> Reply {
        Reply::Error(json!({ "reason": format!("unhandled event \"{event}\"") }).into())
    }
}

impl From<super::message::PayloadError> for Reply {
    /// An error reply `{"reason": "<message>"}`.
    fn from(e: super::message::PayloadError) -> Reply {
        Reply::Error(json!({ "reason": e.0 }).into())
    }
}

/// Why a channel ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TerminateReason {
    /// The client sent `phx_leave`.
    Left,
    /// The client joined the same topic again; this instance is replaced.
    DuplicateJoin,
    /// The channel returned [`Reply::Stop`].
    Stopped(String),
    /// The connection closed (client gone, heartbeat timeout, disconnect, shutdown).
    Closed,
}

/// A Phoenix channel. Implement it for the type holding the channel's state; `A` is the
/// socket's assigns type (what [`UserSocket::connect`](super::UserSocket::connect) returned).
///
/// Callbacks of the channels of one connection run one at a time on the connection's task:
/// keep them short, and spawn long work, sending its result back with [`ChannelHandle`].
pub trait Channel<A: Send + Sync + 'static>: Send + 'static {
    /// Authorize a join of `topic` with the client's payload. The channel is already
    /// subscribed to `topic` while this runs; pushes made here reach the client right after
    /// the join reply, so the initial state (e.g. `presence_state`) can be pushed from here.
    fn join(
        &mut self,
        topic: &str,
        payload: Payload,
        socket: &mut ChannelSocket<A>,
    ) -> impl Future<Output = JoinResult> + Send;

    /// Handle a client push. The default answers every event with
    /// [`Reply::unknown_event`].
    fn handle_in(
        &mut self,
        event: &str,
        payload: Payload,
        socket: &mut ChannelSocket<A>,
    ) -> impl Future<Output = Reply> + Send {
        let _ = (payload, socket);
        let reply = Reply::unknown_event(event);
        async move { reply }
    }

    /// Broadcast events that go through [`Channel::handle_out`] instead of straight to the
    /// client (Phoenix's `intercept`).
    fn intercepts(&self) -> &'static [&'static str] {
        &[]
    }

    /// Handle an intercepted broadcast; the default pushes it unchanged.
    fn handle_out(
        &mut self,
        event: &str,
        payload: Payload,
        socket: &mut ChannelSocket<A>,
    ) -> impl Future<Output = ()> + Send {
        socket.push(event, payload);
        async {}
    }

    /// Handle a message sent by the application through a [`ChannelHandle`].
    fn handle_info(
        &mut self,
        msg: Info,
        socket: &mut ChannelSocket<A>,
    ) -> impl Future<Output = ()> + Send {
        let _ = (msg, socket);
        async {}
    }

    /// Called when the channel ends (not after a refused join, nor after a panic).
    fn terminate(
        &mut self,
        reason: &TerminateReason,
        socket: &mut ChannelSocket<A>,
    ) -> impl Future<Output = ()> + Send {
        let _ = (reason, socket);
        async {}
    }
}

/// Object-safe form of [`Channel`], used to keep channels of different types in one socket.
pub(crate) trait DynChannel<A>: Send {
    fn join<'a>(
        &'a mut self,
        topic: &'a str,
        payload: Payload,
        socket: &'a mut ChannelSocket<A>,
    ) -> BoxFuture<'a, JoinResult>;
    fn handle_in<'a>(
        &'a mut self,
        event: &'a str,
        payload: Payload,
        socket: &'a mut ChannelSocket<A>,
    ) -> BoxFuture<'a, Reply>;
    fn intercepts(&self) -> &'static [&'static str];
    fn handle_out<'a>(
        &'a mut self,
        event: &'a str,
        payload: Payload,
        socket: &'a mut ChannelSocket<A>,
    ) -> BoxFuture<'a, ()>;
    fn handle_info<'a>(
        &'a mut self,
        msg: Info,
        socket: &'a mut ChannelSocket<A>,
    ) -> BoxFuture<'a, ()>;
    fn terminate<'a>(
        &'a mut self,
        reason: &'a TerminateReason,
        socket: &'a mut ChannelSocket<A>,
    ) -> BoxFuture<'a, ()>;
}

impl<A: Send + Sync + 'static, T: Channel<A>> DynChannel<A> for T {
    fn join<'a>(
        &'a mut self,
        topic: &'a str,
        payload: Payload,
        socket: &'a mut ChannelSocket<A>,
    ) -> BoxFuture<'a, JoinResult> {
        Box::pin(Channel::join(self, topic, payload, socket))
    }
    fn handle_in<'a>(
        &'a mut self,
        event: &'a str,
        payload: Payload,
        socket: &'a mut ChannelSocket<A>,
    ) -> BoxFuture<'a, Reply> {
        Box::pin(Channel::handle_in(self, event, payload, socket))
    }
    fn intercepts(&self) -> &'static [&'static str] {
        Channel::intercepts(self)
    }
    fn handle_out<'a>(
        &'a mut self,
        event: &'a str,
        payload: Payload,
        socket: &'a mut ChannelSocket<A>,
    ) -> BoxFuture<'a, ()> {
        Box::pin(Channel::handle_out(self, event, payload, socket))
    }
    fn handle_info<'a>(
        &'a mut self,
        msg: Info,
        socket: &'a mut ChannelSocket<A>,
    ) -> BoxFuture<'a, ()> {
        Box::pin(Channel::handle_info(self, msg, socket))
    }
    fn terminate<'a>(
        &'a mut self,
        reason: &'a TerminateReason,
        socket: &'a mut ChannelSocket<A>,
    ) -> BoxFuture<'a, ()> {
        Box::pin(Channel::terminate(self, reason, socket))
    }
}

/// The socket as seen from one joined channel: topic, assigns, push and broadcast.
pub struct ChannelSocket<A> {
    pub(crate) topic: String,
    pub(crate) join_ref: Option<String>,
    pub(crate) channel_id: u64,
    pub(crate) message_ref: Option<String>,
    pub(crate) assigns: Arc<A>,
    pub(crate) socket_id: Option<Arc<str>>,
    pub(crate) pubsub: PubSub,
    pub(crate) sub_id: SubscriberId,
    pub(crate) mailbox: mpsc::UnboundedSender<SocketEvent>,
    pub(crate) serializer: Serializer,
    pub(crate) outbox: Vec<Frame>,
    pub(crate) guards: Vec<Box<dyn Any + Send + Sync>>,
}

impl<A> std::fmt::Debug for ChannelSocket<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelSocket")
            .field("topic", &self.topic)
            .field("join_ref", &self.join_ref)
            .field("socket_id", &self.socket_id)
            .finish_non_exhaustive()
    }
}

impl<A> ChannelSocket<A> {
    /// The channel's topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The ref of the join that created this channel.
    pub fn join_ref(&self) -> Option<&str> {
        self.join_ref.as_deref()
    }

    /// The ref of the client message being handled (inside `handle_in`), for a later
    /// [`ChannelHandle::reply`].
    pub fn message_ref(&self) -> Option<&str> {
        self.message_ref.as_deref()
    }

    /// The socket's assigns (from `connect`).
    pub fn assigns(&self) -> &A {
        &self.assigns
    }

    /// The socket's id (from [`UserSocket::id`](super::UserSocket::id)).
    pub fn socket_id(&self) -> Option<&str> {
        self.socket_id.as_deref()
    }

    /// The PubSub the socket uses.
    pub fn pubsub(&self) -> &PubSub {
        &self.pubsub
    }

    /// This connection's subscriber id (what `broadcast_from` excludes).
    pub fn subscriber_id(&self) -> SubscriberId {
        self.sub_id
    }

    /// A unique id of this channel instance (a new one on each join).
    pub fn channel_id(&self) -> u64 {
        self.channel_id
    }

    /// Push an event to this client on this channel.
    pub fn push(&mut self, event: &str, payload: impl Into<Payload>) {
        let payload = payload.into();
        match self.serializer.encode_push(
            self.join_ref.as_deref(),
            None,
            &self.topic,
            event,
            &payload,
        ) {
            Ok(frame) => self.outbox.push(frame),
            Err(e) => tracing::warn!(topic = %self.topic, event, "push dropped: {e}"),
        }
    }

    /// Broadcast an event to every subscriber of this channel's topic (this client included).
    pub fn broadcast(&self, event: &str, payload: impl Into<Payload>) -> Result<(), PubSubError> {
        self.pubsub.broadcast(&self.topic, event, payload)
    }

    /// Broadcast to every subscriber of the topic except this connection.
    pub fn broadcast_from(
        &self,
        event: &str,
        payload: impl Into<Payload>,
    ) -> Result<(), PubSubError> {
        self.pubsub
            .broadcast_from(self.sub_id, &self.topic, event, payload)
    }

    /// A handle to send messages, pushes and replies to this channel from elsewhere.
    pub fn handle(&self) -> ChannelHandle {
        ChannelHandle {
            tx: self.mailbox.clone(),
            channel_id: self.channel_id,
            topic: self.topic.clone().into(),
        }
    }

    /// Keep `guard` alive until the channel ends; it is dropped then (leave, close, crash or
    /// disconnect). Presence uses this to untrack.
    pub fn keep_until_close(&mut self, guard: impl Any + Send + Sync) {
        self.guards.push(Box::new(guard));
    }
}

/// A cloneable handle to one channel instance, usable from any task.
///
/// Every method returns `false` when the channel or its connection is gone.
#[derive(Clone, Debug)]
pub struct ChannelHandle {
    pub(crate) tx: mpsc::UnboundedSender<SocketEvent>,
    pub(crate) channel_id: u64,
    pub(crate) topic: Arc<str>,
}

impl ChannelHandle {
    /// The channel's topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    fn send_event(&self, kind: ChannelEventKind) -> bool {
        let ev = ChannelEvent {
            topic: self.topic.clone(),
            channel_id: self.channel_id,
            kind,
        };
        self.tx.send(SocketEvent::Channel(Box::new(ev))).is_ok()
    }

    /// Deliver `msg` to [`Channel::handle_info`].
    pub fn send(&self, msg: impl Any + Send) -> bool {
        self.send_event(ChannelEventKind::Info(Box::new(msg)))
    }

    /// Push an event to the client on this channel.
    pub fn push(&self, event: &str, payload: impl Into<Payload>) -> bool {
        self.send_event(ChannelEventKind::Push {
            event: event.to_owned(),
            payload: payload.into(),
        })
    }

    /// Reply later to the client message with ref `message_ref` (after [`Reply::NoReply`]).
    pub fn reply(&self, message_ref: &str, status: Status, response: impl Into<Payload>) -> bool {
        self.send_event(ChannelEventKind::Reply {
            ref_: message_ref.to_owned(),
            status,
            response: response.into(),
        })
    }
}
