//! The user socket ([`UserSocket`]), its channel routes, its configuration, and the
//! per-connection state machine, independent of the transport.
//!
//! A [`SocketEndpoint`] bundles a `UserSocket`, its channel routes, a [`PubSub`] and a
//! [`SocketConfig`]; it is what a router mounts (`socket "/socket" => UserSocket`). Each
//! connection is one task that owns all its channels: decoded frames and mailbox events
//! (broadcasts, app messages) are handled one at a time, so a connection costs one task, one
//! mailbox and its WebSocket buffers.
//!
//! ```
//! use zzz::channels::{Channel, ChannelRoutes, ChannelSocket, ConnectInfo, JoinResult, Params,
//!                     Payload, Refused, SocketEndpoint, UserSocket};
//! use zzz::pubsub::PubSub;
//!
//! struct UserSock;
//! struct Room;
//!
//! impl Channel<String> for Room {
//!     async fn join(&mut self, _topic: &str, _p: Payload, _s: &mut ChannelSocket<String>) -> JoinResult {
//!         Ok(Payload::empty())
//!     }
//! }
//!
//! impl UserSocket for UserSock {
//!     type Assigns = String;
//!     async fn connect(&self, params: &Params, _info: &ConnectInfo) -> Result<String, Refused> {
//!         params.get("user").cloned().ok_or_else(|| Refused::new("user missing"))
//!     }
//!     fn id(&self, user: &String) -> Option<String> {
//!         Some(format!("user_socket:{user}"))
//!     }
//!     fn channels(&self, routes: &mut ChannelRoutes<String>) {
//!         routes.channel("room:*", || Room);
//!     }
//! }
//!
//! let endpoint = SocketEndpoint::new(UserSock, PubSub::new());
//! assert!(endpoint.routes().matches("room:lobby"));
//! assert!(!endpoint.routes().matches("other"));
//! ```

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::FutureExt;
use serde_json::json;
use tokio::sync::mpsc;

use super::channel::{Channel, ChannelSocket, DynChannel, Info, Reply, TerminateReason};
use super::message::{Frame, Message, Payload, Status, events};
use super::serializer::Serializer;
use super::transport::direct::Lane;
use crate::pubsub::{Broadcast, PubSub, Subscriber, SubscriberId};

/// Query parameters of the connection (`?token=…&vsn=2.0.0`).
pub type Params = HashMap<String, String>;

/// What the transport knows about the connection.
#[derive(Debug, Clone, Default)]
pub struct ConnectInfo {
    /// The request URI.
    pub uri: http::Uri,
    /// The request headers.
    pub headers: http::HeaderMap,
    /// The peer address, when known.
    pub peer_addr: Option<SocketAddr>,
    /// The token the client sent as `Sec-WebSocket-Protocol: base64url.bearer.phx.<b64>`
    /// (the phoenix.js `authToken` option), decoded.
    pub auth_token: Option<String>,
}

/// A refused connection (the transport answers 403).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// Why, for the log.
    pub reason: String,
}

impl Refused {
    /// A refusal with a reason (logged, not sent to the client).
    pub fn new(reason: impl Into<String>) -> Refused {
        Refused {
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "connection refused: {}", self.reason)
    }
}

impl std::error::Error for Refused {}

/// A socket handler, like a Phoenix `UserSocket` module.
pub trait UserSocket: Send + Sync + 'static {
    /// Per-connection data produced by `connect`, readable by every channel.
    type Assigns: Send + Sync + 'static;

    /// Authenticate a connection from its params and connect info; `Err` refuses it (403).
    fn connect(
        &self,
        params: &Params,
        info: &ConnectInfo,
    ) -> impl Future<Output = Result<Self::Assigns, Refused>> + Send;

    /// The socket id, e.g. `user_socket:42`. Broadcasting `"disconnect"` to it closes every
    /// connection with this id (close code 1001).
    fn id(&self, assigns: &Self::Assigns) -> Option<String> {
        let _ = assigns;
        None
    }

    /// Declare the channel routes (called once, when the endpoint is built).
    fn channels(&self, routes: &mut ChannelRoutes<Self::Assigns>);
}

type Factory<A> = Arc<dyn Fn() -> Box<dyn DynChannel<A>> + Send + Sync>;

/// Topic patterns → channel constructors. A pattern is an exact topic or a prefix ending with
/// `*` (`room:*`); the first match wins.
pub struct ChannelRoutes<A> {
    routes: Vec<(String, Factory<A>)>,
}

impl<A> fmt::Debug for ChannelRoutes<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.routes.iter().map(|(p, _)| p))
            .finish()
    }
}

impl<A: Send + Sync + 'static> Default for ChannelRoutes<A> {
    fn default() -> Self {
        ChannelRoutes { routes: Vec::new() }
    }
}

impl<A: Send + Sync + 'static> ChannelRoutes<A> {
    /// Route topics matching `pattern` to channels made by `make` (one per join).
    ///
    /// # Panics
    /// When `*` appears anywhere but at the end of the pattern.
    pub fn channel<C, F>(&mut self, pattern: &str, make: F) -> &mut Self
    where
        C: Channel<A>,
        F: Fn() -> C + Send + Sync + 'static,
    {
        let star = pattern.find('*');
        assert!(
            star.is_none() || star == Some(pattern.len() - 1),
            "channel pattern {pattern:?}: `*` is only allowed at the end"
        );
        self.routes.push((
            pattern.to_owned(),
            Arc::new(move || Box::new(make()) as Box<dyn DynChannel<A>>),
        ));
        self
    }

    /// True when some route matches `topic`.
    pub fn matches(&self, topic: &str) -> bool {
        self.find(topic).is_some()
    }

    fn find(&self, topic: &str) -> Option<&Factory<A>> {
        self.routes
            .iter()
            .find(|(p, _)| pattern_matches(p, topic))
            .map(|(_, f)| f)
    }
}

fn pattern_matches(pattern: &str, topic: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => topic.starts_with(prefix),
        None => pattern == topic,
    }
}

/// Which `Origin` headers a WebSocket upgrade accepts (requests without `Origin`, i.e. not
/// from a browser, are always accepted).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum CheckOrigin {
    /// The origin's host must equal the request's `Host` (without port). The default.
    #[default]
    SameHost,
    /// Any of these origins: `https://example.com`, `//example.com` (any scheme),
    /// `//*.example.com` (any subdomain).
    List(Vec<String>),
    /// Accept any origin.
    Disabled,
}

/// Settings of a socket endpoint.
#[derive(Debug, Clone)]
pub struct SocketConfig {
    /// Channels one connection may have joined at once (default 100).
    pub max_channels_per_transport: usize,
    /// Close a connection that sent nothing (not even a heartbeat) for this long (default 60 s).
    pub timeout: Duration,
    /// Largest accepted incoming message in bytes (default 1 MiB); bigger closes with 1009.
    pub max_message_size: usize,
    /// Initial WebSocket read buffer per connection in bytes (default 2 KiB; grows for big
    /// messages).
    pub read_buffer_size: usize,
    /// Origin check for WebSocket upgrades.
    pub check_origin: CheckOrigin,
    /// A client that does not take queued frames for this long is disconnected (default
    /// 10 s), so a stalled reader cannot make its mailbox grow without end.
    pub write_timeout: Duration,
}

impl Default for SocketConfig {
    fn default() -> Self {
        SocketConfig {
            max_channels_per_transport: 100,
            timeout: Duration::from_secs(60),
            max_message_size: 1 << 20,
            read_buffer_size: 2048,
            check_origin: CheckOrigin::SameHost,
            write_timeout: Duration::from_secs(10),
        }
    }
}

pub(crate) struct EndpointInner<S: UserSocket> {
    pub(crate) handler: S,
    pub(crate) routes: ChannelRoutes<S::Assigns>,
    pub(crate) pubsub: PubSub,
    pub(crate) config: SocketConfig,
    drain: tokio::sync::watch::Sender<bool>,
    connections: AtomicUsize,
}

/// A mounted socket: handler, channel routes, PubSub and config. Cheap to clone.
pub struct SocketEndpoint<S: UserSocket> {
    pub(crate) inner: Arc<EndpointInner<S>>,
}

impl<S: UserSocket> Clone for SocketEndpoint<S> {
    fn clone(&self) -> Self {
        SocketEndpoint {
            inner: self.inner.clone(),
        }
    }
}

impl<S: UserSocket> fmt::Debug for SocketEndpoint<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SocketEndpoint")
            .field("routes", &self.inner.routes)
            .field("config", &self.inner.config)
            .finish()
    }
}

impl<S: UserSocket> SocketEndpoint<S> {
    /// An endpoint with the default [`SocketConfig`].
    pub fn new(handler: S, pubsub: PubSub) -> Self {
        Self::with_config(handler, pubsub, SocketConfig::default())
    }

    /// An endpoint with `config`.
    pub fn with_config(handler: S, pubsub: PubSub, config: SocketConfig) -> Self {
        let mut routes = ChannelRoutes::default();
        handler.channels(&mut routes);
        let (drain, _) = tokio::sync::watch::channel(false);
        let connections = AtomicUsize::new(0);
        SocketEndpoint {
            inner: Arc::new(EndpointInner {
                handler,
                routes,
                pubsub,
                config,
                drain,
                connections,
            }),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &SocketConfig {
        &self.inner.config
    }

    /// The PubSub.
    pub fn pubsub(&self) -> &PubSub {
        &self.inner.pubsub
    }

    /// The channel routes.
    pub fn routes(&self) -> &ChannelRoutes<S::Assigns> {
        &self.inner.routes
    }

    /// The handler.
    pub fn handler(&self) -> &S {
        &self.inner.handler
    }

    /// Live connections (states not yet dropped).
    pub fn connection_count(&self) -> usize {
        self.inner.connections.load(Ordering::Acquire)
    }

    /// Close every connection with code 1012 ("service restart": clients reconnect, ideally
    /// to another node) and refuse new ones. For graceful shutdown; wait for
    /// [`connection_count`](Self::connection_count) to reach 0.
    pub fn drain(&self) {
        self.inner.drain.send_replace(true);
    }

    /// True once [`drain`](Self::drain) was called.
    pub fn is_draining(&self) -> bool {
        *self.inner.drain.borrow()
    }

    /// Run `connect` and build the connection's state (transport independent). A panic in
    /// `connect` is a refusal, and so is any connect while draining.
    pub async fn connect(
        &self,
        params: &Params,
        info: &ConnectInfo,
        serializer: Serializer,
    ) -> Result<SocketState<S>, Refused> {
        if self.is_draining() {
            return Err(Refused::new("endpoint is draining"));
        }
        let assigns = AssertUnwindSafe(self.inner.handler.connect(params, info))
            .catch_unwind()
            .await
            .map_err(|_| Refused::new("connect panicked"))??;
        Ok(SocketState::new(self.inner.clone(), assigns, serializer))
    }
}

/// Events delivered to a connection's mailbox. Kept to two words so the per-connection
/// mailbox stays small; everything but broadcasts is boxed.
pub enum SocketEvent {
    /// A PubSub broadcast on a topic the connection subscribed to.
    Broadcast(Arc<Broadcast>),
    /// Something for one channel instance.
    Channel(Box<ChannelEvent>),
    /// Close the connection.
    Close(Box<CloseReason>),
}

/// A mailbox event addressed to one channel instance (ignored once that instance is gone).
#[derive(Debug)]
pub struct ChannelEvent {
    /// The channel's topic.
    pub topic: Arc<str>,
    /// The channel instance ([`ChannelSocket::channel_id`]).
    pub channel_id: u64,
    /// What to do.
    pub kind: ChannelEventKind,
}

/// What a [`ChannelEvent`] asks for.
pub enum ChannelEventKind {
    /// Deliver to [`Channel::handle_info`].
    Info(Info),
    /// Push an event to the client.
    Push {
        /// Event name.
        event: String,
        /// Payload.
        payload: Payload,
    },
    /// Reply late to a client message.
    Reply {
        /// The client message's ref.
        ref_: String,
        /// Reply status.
        status: Status,
        /// Reply response.
        response: Payload,
    },
}

impl fmt::Debug for ChannelEventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChannelEventKind::Info(_) => write!(f, "Info(..)"),
            ChannelEventKind::Push { event, .. } => write!(f, "Push({event})"),
            ChannelEventKind::Reply { ref_, status, .. } => write!(f, "Reply({ref_}, {status:?})"),
        }
    }
}

impl fmt::Debug for SocketEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SocketEvent::Broadcast(b) => write!(f, "Broadcast({}, {})", b.topic, b.event),
            SocketEvent::Channel(c) => write!(f, "Channel({c:?})"),
            SocketEvent::Close(c) => write!(f, "Close({c:?})"),
        }
    }
}

/// Why and how the server closes a connection (a WebSocket close code and reason).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseReason {
    /// The WebSocket close code.
    pub code: u16,
    /// A short human-readable reason (at most 123 bytes on the wire).
    pub reason: String,
}

impl CloseReason {
    /// A close reason.
    pub fn new(code: u16, reason: impl Into<String>) -> Self {
        let mut reason = reason.into();
        if reason.len() > 123 {
            let mut cut = 123;
            while !reason.is_char_boundary(cut) {
                cut -= 1;
            }
            reason.truncate(cut);
        }
        CloseReason { code, reason }
    }
}

/// The subscriber for the socket id topic (`disconnect`): always through the mailbox.
struct SocketSubscriber(mpsc::UnboundedSender<SocketEvent>);

impl Subscriber for SocketSubscriber {
    fn deliver(&self, msg: &Arc<Broadcast>) -> bool {
        self.0.send(SocketEvent::Broadcast(msg.clone())).is_ok()
    }
}

/// The subscriber for one joined channel topic: events the channel does not intercept are
/// written straight to the socket when the connection has a lane and is idle (see
/// [`crate::channels::transport::direct`]); everything else goes through the mailbox.
struct TopicSubscriber {
    lane: Option<Arc<Lane>>,
    tx: mpsc::UnboundedSender<SocketEvent>,
    serializer: Serializer,
    intercepts: &'static [&'static str],
}

impl Subscriber for TopicSubscriber {
    fn deliver(&self, msg: &Arc<Broadcast>) -> bool {
        if let Some(lane) = &self.lane
            && msg.event != "disconnect"
            && !self.intercepts.contains(&msg.event.as_str())
            && let Some(frame) = msg.websocket_frame(self.serializer)
            && lane.try_deliver(frame)
        {
            return true;
        }
        self.tx.send(SocketEvent::Broadcast(msg.clone())).is_ok()
    }

    fn prefetch(&self) {
        if let Some(lane) = &self.lane {
            lane.prefetch();
        }
    }
}

struct ChannelEntry<A> {
    channel: Box<dyn DynChannel<A>>,
    socket: ChannelSocket<A>,
    intercepts: &'static [&'static str],
}

fn next_channel_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

fn reason(text: &str) -> Payload {
    Payload::Json(json!({ "reason": text }))
}

/// One connection's protocol state: its channels, refs, assigns and outgoing frames.
///
/// Transports feed it decoded frames and mailbox events and write what it queues; see
/// [`crate::channels::transport`].
pub struct SocketState<S: UserSocket> {
    endpoint: Arc<EndpointInner<S>>,
    assigns: Arc<S::Assigns>,
    id: Option<Arc<str>>,
    serializer: Serializer,
    sub_id: SubscriberId,
    lane: Option<Arc<Lane>>,
    tx: mpsc::UnboundedSender<SocketEvent>,
    rx: Option<mpsc::UnboundedReceiver<SocketEvent>>,
    channels: HashMap<String, Box<ChannelEntry<S::Assigns>>>,
    out: Vec<Frame>,
    close: Option<CloseReason>,
}

impl<S: UserSocket> fmt::Debug for SocketState<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SocketState")
            .field("id", &self.id)
            .field("serializer", &self.serializer)
            .field("channels", &self.channels.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl<S: UserSocket> SocketState<S> {
    fn new(endpoint: Arc<EndpointInner<S>>, assigns: S::Assigns, serializer: Serializer) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let id = endpoint.handler.id(&assigns).map(Arc::<str>::from);
        let sub_id = SubscriberId::next();
        if let Some(id) = &id {
            endpoint
                .pubsub
                .subscribe_with(sub_id, id, Arc::new(SocketSubscriber(tx.clone())));
        }
        endpoint.connections.fetch_add(1, Ordering::AcqRel);
        SocketState {
            endpoint,
            assigns: Arc::new(assigns),
            id,
            serializer,
            sub_id,
            lane: None,
            tx,
            rx: Some(rx),
            channels: HashMap::new(),
            out: Vec::new(),
            close: None,
        }
    }

    /// The socket id.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// The assigns from `connect`.
    pub fn assigns(&self) -> &S::Assigns {
        &self.assigns
    }

    /// The serializer negotiated for this connection.
    pub fn serializer(&self) -> Serializer {
        self.serializer
    }

    /// Topics currently joined.
    pub fn joined_topics(&self) -> Vec<&str> {
        self.channels.keys().map(String::as_str).collect()
    }

    /// A sender into this connection's mailbox (e.g. to close it from elsewhere).
    pub fn mailbox(&self) -> mpsc::UnboundedSender<SocketEvent> {
        self.tx.clone()
    }

    /// A receiver that changes to `true` when the endpoint starts draining.
    pub fn drain_signal(&self) -> tokio::sync::watch::Receiver<bool> {
        self.endpoint.drain.subscribe()
    }

    /// Take the mailbox receiver (once; the transport loop owns it).
    pub fn take_mailbox(&mut self) -> Option<mpsc::UnboundedReceiver<SocketEvent>> {
        self.rx.take()
    }

    /// Give the connection a lane over its TCP stream (taking the mailbox): from now on
    /// broadcasts on channels joined afterwards may be written straight to the socket (the
    /// transport installs it before it handles any frame). `None` when the mailbox was
    /// already taken or channels are already joined.
    pub(crate) fn install_lane(&mut self, stream: Arc<tokio::net::TcpStream>) -> Option<Arc<Lane>> {
        if !self.channels.is_empty() || self.lane.is_some() {
            return None;
        }
        let rx = self.rx.take()?;
        let lane = Arc::new(Lane::new(stream, rx));
        self.lane = Some(lane.clone());
        Some(lane)
    }

    /// The lane installed by [`install_lane`](Self::install_lane), if any.
    pub(crate) fn lane(&self) -> Option<Arc<Lane>> {
        self.lane.clone()
    }

    /// Frames queued for the client since the last call.
    pub fn take_output(&mut self) -> Vec<Frame> {
        std::mem::take(&mut self.out)
    }

    /// A close requested by the protocol (heartbeat timeout is the transport's).
    pub fn take_close(&mut self) -> Option<CloseReason> {
        self.close.take()
    }

    /// Handle one client frame.
    pub async fn handle_frame(&mut self, frame: &Frame) {
        match self.serializer.decode(frame) {
            Ok(msg) => self.handle_message(msg).await,
            Err(e) => {
                tracing::warn!("closing socket: {e}");
                let code = if matches!(frame, Frame::Binary(_)) && self.serializer == Serializer::V1
                {
                    1003
                } else {
                    1007
                };
                self.close = Some(CloseReason::new(code, e.to_string()));
            }
        }
    }

    fn reply(
        &mut self,
        join_ref: Option<&str>,
        ref_: Option<&str>,
        topic: &str,
        status: Status,
        response: &Payload,
    ) {
        match self
            .serializer
            .encode_reply(join_ref, ref_, topic, status, response)
        {
            Ok(f) => self.out.push(f),
            Err(e) => tracing::warn!(topic, "reply dropped: {e}"),
        }
    }

    fn control(&mut self, join_ref: Option<&str>, topic: &str, event: &str, payload: &Payload) {
        match self
            .serializer
            .encode_push(join_ref, join_ref, topic, event, payload)
        {
            Ok(f) => self.out.push(f),
            Err(e) => tracing::warn!(topic, "{event} dropped: {e}"),
        }
    }

    /// Handle one decoded client message.
    pub async fn handle_message(&mut self, msg: Message) {
        if msg.topic == events::PHOENIX_TOPIC && msg.event == events::HEARTBEAT {
            self.reply(
                None,
                msg.ref_.as_deref(),
                events::PHOENIX_TOPIC,
                Status::Ok,
                &Payload::empty(),
            );
            return;
        }
        if !msg.payload.is_object() {
            self.reply(
                msg.join_ref.as_deref(),
                msg.ref_.as_deref(),
                &msg.topic,
                Status::Error,
                &reason("payload must be a JSON object"),
            );
            return;
        }
        // None: topic not joined; Some(true): the message belongs to the current join (or
        // carries no join_ref); Some(false): a stale join_ref, ignored.
        let current = self
            .channels
            .get(&msg.topic)
            .map(|e| msg.join_ref.is_none() || msg.join_ref == e.socket.join_ref);
        match (current, msg.event.as_str()) {
            (None, events::JOIN) => self.join(msg).await,
            (Some(_), events::JOIN) => {
                tracing::debug!(topic = %msg.topic, "duplicate join; closing the existing channel");
                self.close_channel(&msg.topic, TerminateReason::DuplicateJoin)
                    .await;
                self.join(msg).await;
            }
            (Some(true), events::LEAVE) => {
                self.reply(
                    msg.join_ref.as_deref(),
                    msg.ref_.as_deref(),
                    &msg.topic,
                    Status::Ok,
                    &Payload::empty(),
                );
                self.close_channel(&msg.topic, TerminateReason::Left).await;
            }
            (None, events::LEAVE) => {
                self.reply(
                    msg.join_ref.as_deref(),
                    msg.ref_.as_deref(),
                    &msg.topic,
                    Status::Ok,
                    &Payload::empty(),
                );
            }
            (Some(true), _) => self.handle_in(msg).await,
            (Some(false), _) => {
                tracing::debug!(topic = %msg.topic, event = %msg.event, "ignoring a message with a stale join_ref");
            }
            (None, _) => {
                self.reply(
                    None,
                    msg.ref_.as_deref(),
                    &msg.topic,
                    Status::Error,
                    &reason("unmatched topic"),
                );
            }
        }
    }

    async fn join(&mut self, msg: Message) {
        let Message {
            join_ref,
            ref_,
            topic,
            payload,
            ..
        } = msg;
        let Some(factory) = self.endpoint.routes.find(&topic).cloned() else {
            tracing::warn!(topic, "ignoring unmatched topic");
            self.reply(
                None,
                ref_.as_deref(),
                &topic,
                Status::Error,
                &reason("unmatched topic"),
            );
            return;
        };
        if self.channels.len() >= self.endpoint.config.max_channels_per_transport {
            tracing::error!(
                socket_id = ?self.id,
                "reached max channels per transport limit of {}",
                self.endpoint.config.max_channels_per_transport
            );
            self.reply(
                join_ref.as_deref(),
                ref_.as_deref(),
                &topic,
                Status::Error,
                &reason("too many channels joined"),
            );
            return;
        }
        let mut channel = factory();
        let intercepts = channel.intercepts();
        let mut socket = ChannelSocket {
            topic: topic.clone(),
            join_ref: join_ref.clone(),
            channel_id: next_channel_id(),
            message_ref: ref_.clone(),
            assigns: self.assigns.clone(),
            socket_id: self.id.clone(),
            pubsub: self.endpoint.pubsub.clone(),
            sub_id: self.sub_id,
            mailbox: self.tx.clone(),
            serializer: self.serializer,
            outbox: Vec::new(),
            guards: Vec::new(),
        };
        // Subscribe first: broadcasts sent while `join` runs wait in the mailbox and are
        // delivered after the join reply instead of being lost.
        self.endpoint.pubsub.subscribe_with(
            self.sub_id,
            &topic,
            self.topic_subscriber(intercepts),
        );
        let result = AssertUnwindSafe(channel.join(&topic, payload, &mut socket))
            .catch_unwind()
            .await;
        socket.message_ref = None;
        match result {
            Ok(Ok(response)) => {
                self.reply(
                    join_ref.as_deref(),
                    ref_.as_deref(),
                    &topic,
                    Status::Ok,
                    &response,
                );
                self.out.append(&mut socket.outbox);
                let joined_intercepts = channel.intercepts();
                if joined_intercepts != intercepts {
                    // `intercepts` changed during `join`: the subscriber must use the new list.
                    self.endpoint.pubsub.subscribe_with(
                        self.sub_id,
                        &topic,
                        self.topic_subscriber(joined_intercepts),
                    );
                }
                let intercepts = joined_intercepts;
                self.channels.insert(
                    topic,
                    Box::new(ChannelEntry {
                        channel,
                        socket,
                        intercepts,
                    }),
                );
            }
            Ok(Err(response)) => {
                self.unsubscribe(&topic);
                self.reply(
                    join_ref.as_deref(),
                    ref_.as_deref(),
                    &topic,
                    Status::Error,
                    &response,
                );
            }
            Err(_) => {
                tracing::error!(topic, "channel join panicked");
                self.unsubscribe(&topic);
                self.reply(
                    join_ref.as_deref(),
                    ref_.as_deref(),
                    &topic,
                    Status::Error,
                    &reason("join crashed"),
                );
            }
        }
    }

    fn topic_subscriber(&self, intercepts: &'static [&'static str]) -> Arc<dyn Subscriber> {
        Arc::new(TopicSubscriber {
            lane: self.lane.clone(),
            tx: self.tx.clone(),
            serializer: self.serializer,
            intercepts,
        })
    }

    fn unsubscribe(&self, topic: &str) {
        if self.id.as_deref() != Some(topic) {
            self.endpoint.pubsub.unsubscribe(self.sub_id, topic);
        }
    }

    async fn handle_in(&mut self, msg: Message) {
        let Message {
            ref_,
            topic,
            event,
            payload,
            ..
        } = msg;
        let Some(entry) = self.channels.get_mut(&topic) else {
            return;
        };
        entry.socket.message_ref = ref_.clone();
        let result = AssertUnwindSafe(entry.channel.handle_in(&event, payload, &mut entry.socket))
            .catch_unwind()
            .await;
        entry.socket.message_ref = None;
        self.out.append(&mut entry.socket.outbox);
        let join_ref = entry.socket.join_ref.clone();
        match result {
            Ok(Reply::Ok(r)) => {
                self.reply(join_ref.as_deref(), ref_.as_deref(), &topic, Status::Ok, &r)
            }
            Ok(Reply::Error(r)) => self.reply(
                join_ref.as_deref(),
                ref_.as_deref(),
                &topic,
                Status::Error,
                &r,
            ),
            Ok(Reply::NoReply) => {}
            Ok(Reply::Stop(why)) => {
                self.close_channel(&topic, TerminateReason::Stopped(why))
                    .await
            }
            Err(_) => self.crash(&topic, &event),
        }
    }

    /// End a channel normally: terminate, unsubscribe, `phx_close` with its join_ref.
    async fn close_channel(&mut self, topic: &str, why: TerminateReason) {
        let Some(mut entry) = self.channels.remove(topic) else {
            return;
        };
        let ChannelEntry {
            channel, socket, ..
        } = &mut *entry;
        let result = AssertUnwindSafe(channel.terminate(&why, socket))
            .catch_unwind()
            .await;
        if result.is_err() {
            tracing::error!(topic, "channel terminate panicked");
        }
        self.out.append(&mut entry.socket.outbox);
        self.unsubscribe(topic);
        let join_ref = entry.socket.join_ref.clone();
        drop(entry);
        self.control(join_ref.as_deref(), topic, events::CLOSE, &Payload::empty());
    }

    /// A callback panicked: drop the channel and tell the client with `phx_error`.
    fn crash(&mut self, topic: &str, during: &str) {
        tracing::error!(topic, "channel crashed while handling {during:?}");
        if let Some(entry) = self.channels.remove(topic) {
            self.unsubscribe(topic);
            let join_ref = entry.socket.join_ref.clone();
            drop(entry);
            self.control(
                join_ref.as_deref(),
                topic,
                events::ERROR,
                &reason("channel_crash"),
            );
        }
    }

    /// Handle one mailbox event.
    pub async fn handle_event(&mut self, event: SocketEvent) {
        match event {
            SocketEvent::Broadcast(b) => self.handle_broadcast(b).await,
            SocketEvent::Channel(ev) => {
                let ChannelEvent {
                    topic,
                    channel_id,
                    kind,
                } = *ev;
                let Some(entry) = self.channels.get_mut(&*topic) else {
                    return;
                };
                if entry.socket.channel_id != channel_id {
                    return;
                }
                match kind {
                    ChannelEventKind::Info(msg) => {
                        let result =
                            AssertUnwindSafe(entry.channel.handle_info(msg, &mut entry.socket))
                                .catch_unwind()
                                .await;
                        self.out.append(&mut entry.socket.outbox);
                        if result.is_err() {
                            self.crash(&topic, "handle_info");
                        }
                    }
                    ChannelEventKind::Push { event, payload } => {
                        entry.socket.push(&event, payload);
                        self.out.append(&mut entry.socket.outbox);
                    }
                    ChannelEventKind::Reply {
                        ref_,
                        status,
                        response,
                    } => {
                        let join_ref = entry.socket.join_ref.clone();
                        self.reply(join_ref.as_deref(), Some(&ref_), &topic, status, &response);
                    }
                }
            }
            SocketEvent::Close(reason) => self.close = Some(*reason),
        }
    }

    /// Deliver a broadcast without awaiting anything: the socket-id `disconnect`, topics not
    /// joined, and non-intercepted events (the encoded frame is shared, fastlane). Returns
    /// `false` only for an intercepted event, which needs [`handle_event`](Self::handle_event).
    pub fn fastlane(&mut self, b: &Arc<Broadcast>) -> bool {
        if b.event == "disconnect" && self.id.as_deref() == Some(b.topic.as_str()) {
            self.close = Some(CloseReason::new(1001, "disconnected"));
            return true;
        }
        let Some(entry) = self.channels.get(&b.topic) else {
            return true;
        };
        if entry.intercepts.contains(&b.event.as_str()) {
            return false;
        }
        match b.encoded(self.serializer) {
            Ok(frame) => self.out.push(frame.clone()),
            Err(e) => tracing::warn!(topic = %b.topic, event = %b.event, "broadcast dropped: {e}"),
        }
        true
    }

    async fn handle_broadcast(&mut self, b: Arc<Broadcast>) {
        if self.fastlane(&b) {
            return;
        }
        let Some(entry) = self.channels.get_mut(&b.topic) else {
            return;
        };
        let result = AssertUnwindSafe(entry.channel.handle_out(
            &b.event,
            b.payload.clone(),
            &mut entry.socket,
        ))
        .catch_unwind()
        .await;
        self.out.append(&mut entry.socket.outbox);
        if result.is_err() {
            self.crash(&b.topic, "handle_out");
        }
    }

    /// The connection is ending: run every channel's `terminate` (reason `Closed`).
    pub async fn shutdown(&mut self) {
        let topics: Vec<String> = self.channels.keys().cloned().collect();
        for topic in topics {
            if let Some(mut entry) = self.channels.remove(&topic) {
                let ChannelEntry {
                    channel, socket, ..
                } = &mut *entry;
                let _ = AssertUnwindSafe(channel.terminate(&TerminateReason::Closed, socket))
                    .catch_unwind()
                    .await;
                self.unsubscribe(&topic);
            }
        }
    }
}

impl<S: UserSocket> Drop for SocketState<S> {
    fn drop(&mut self) {
        self.endpoint.connections.fetch_sub(1, Ordering::AcqRel);
        for topic in self.channels.keys() {
            self.endpoint.pubsub.unsubscribe(self.sub_id, topic);
        }
        if let Some(id) = &self.id {
            self.endpoint.pubsub.unsubscribe(self.sub_id, id);
        }
    }
}
