//! PubSub: topic subscribe / broadcast, in-process by default, with an [`Adapter`] for
//! several nodes.
//!
//! Adapters for a cluster of nodes: [`postgres::PostgresAdapter`] (`LISTEN`/`NOTIFY`, feature
//! `pubsub-postgres`) and [`redis::RedisAdapter`] (`PUBLISH`/`SUBSCRIBE`, feature
//! `pubsub-redis`), both on by default; [`PubSub::connect`] picks one from a URL.
//!
//! Subscribers live in a registry sharded by subscriber id, so subscribing from many tasks at
//! once does not contend on one lock. A broadcast is one [`Broadcast`] value shared by `Arc`
//! with every subscriber; channel sockets encode it once per serializer through its
//! fastlane cache, so a broadcast to 100,000 sockets is serialized once.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use zzz::pubsub::PubSub;
//! use serde_json::json;
//!
//! let pubsub = PubSub::new();
//! let mut sub = pubsub.subscribe("room:lobby");
//! pubsub.broadcast("room:lobby", "new_msg", json!({"body": "hi"})).unwrap();
//! let msg = sub.recv().await.unwrap();
//! assert_eq!(msg.event, "new_msg");
//! assert_eq!(msg.payload.get("body").unwrap(), "hi");
//! # }
//! ```

#[cfg(any(feature = "pubsub-postgres", feature = "pubsub-redis"))]
mod envelope;
#[cfg(feature = "pubsub-postgres")]
pub mod postgres;
#[cfg(feature = "pubsub-redis")]
pub mod redis;

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, Weak};

use tokio::sync::mpsc;

use crate::channels::message::{Frame, Payload};
use crate::channels::serializer::{EncodeError, FastlaneCache, Serializer};

/// A message published on a topic.
#[derive(Debug)]
pub struct Broadcast {
    /// The topic.
    pub topic: String,
    /// The event name.
    pub event: String,
    /// The payload.
    pub payload: Payload,
    /// The local subscriber that must not receive it (`broadcast_from`).
    pub from: Option<SubscriberId>,
    cache: FastlaneCache,
}

impl Broadcast {
    /// A new broadcast.
    pub fn new(
        topic: impl Into<String>,
        event: impl Into<String>,
        payload: impl Into<Payload>,
    ) -> Self {
        Broadcast {
            topic: topic.into(),
            event: event.into(),
            payload: payload.into(),
            from: None,
            cache: FastlaneCache::default(),
        }
    }

    /// This broadcast as a wire frame for `ser`, encoded once and shared (fastlane).
    pub fn encoded(&self, ser: Serializer) -> Result<&Frame, &EncodeError> {
        self.cache
            .get_or_encode(ser, &self.topic, &self.event, &self.payload)
    }

    /// This broadcast for `ser` as one complete server WebSocket frame, encoded once and
    /// shared; `None` when it does not encode.
    pub fn websocket_frame(&self, ser: Serializer) -> Option<&bytes::Bytes> {
        self.cache
            .ws_frame(ser, &self.topic, &self.event, &self.payload)
    }
}

/// The identity of a subscriber (unique in this process).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubscriberId(pub u64);

impl SubscriberId {
    /// A fresh, process-unique id.
    pub fn next() -> SubscriberId {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        SubscriberId(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

/// Something that receives broadcasts. `deliver` must not block and must not call back into
/// the PubSub (it runs under a registry read lock); return `false` when the subscriber is
/// gone, and it is removed from the registry.
pub trait Subscriber: Send + Sync + 'static {
    /// Hand a broadcast to the subscriber.
    fn deliver(&self, msg: &Arc<Broadcast>) -> bool;

    /// Start loading what [`deliver`](Self::deliver) will touch (see [`prefetch`]); called
    /// for the next subscriber while the current one delivers. The default does nothing.
    fn prefetch(&self) {}
}

/// Ask the CPU to start loading the cache line at `ptr` (x86-64; elsewhere nothing). Only a
/// hint: it reads nothing into the program and never faults.
#[inline(always)]
pub fn prefetch(ptr: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCHT0 is a hint with no architectural effect: it does not fault on any
    // address and changes no memory or register the program can observe.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(ptr.cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = ptr;
}

/// Where an adapter sends a broadcast.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target<'a> {
    /// Every other node.
    AllNodes,
    /// One named node.
    Node(&'a str),
}

/// Errors of PubSub operations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PubSubError {
    /// The adapter could not hand the message to other nodes.
    Adapter(String),
}

impl fmt::Display for PubSubError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PubSubError::Adapter(e) => write!(f, "pubsub adapter error: {e}"),
        }
    }
}

impl std::error::Error for PubSubError {}

/// Carries broadcasts between nodes. The local delivery is always done by [`PubSub`]
/// itself; an adapter only forwards to other nodes and, when a message arrives from another
/// node, hands it to [`Dispatcher::dispatch`].
///
/// Implementations must not block in `forward` (queue the message for a background task).
pub trait Adapter: Send + Sync + 'static {
    /// This node's name.
    fn node_name(&self) -> &str;
    /// Called once when the PubSub starts; keep the dispatcher to deliver remote messages.
    fn start(&self, dispatcher: Dispatcher);
    /// Send a broadcast to other nodes.
    fn forward(&self, msg: &Broadcast, target: Target<'_>) -> Result<(), PubSubError>;
    /// Completes once every broadcast forwarded before the call has left this node (e.g.
    /// before the process exits). The default completes at once.
    fn flush(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(std::future::ready(()))
    }
}

/// Options of [`PubSub::connect`] shared by the cluster adapters.
#[derive(Debug, Clone, Default)]
pub struct ClusterConfig {
    /// This node's name, unique in the cluster (`None`: `node-<pid>-<random>`).
    pub node: Option<String>,
    /// The Postgres channel or Redis channel prefix the cluster shares (`None`: `zzz_pubsub`).
    pub channel: Option<String>,
}

/// The in-process adapter: one node, nothing to forward.
#[derive(Debug, Clone)]
pub struct LocalAdapter {
    node: String,
}

impl LocalAdapter {
    /// A local adapter for a node named `node`.
    pub fn new(node: impl Into<String>) -> Self {
        LocalAdapter { node: node.into() }
    }
}

impl Adapter for LocalAdapter {
    fn node_name(&self) -> &str {
        &self.node
    }
    fn start(&self, _dispatcher: Dispatcher) {}
    fn forward(&self, _msg: &Broadcast, _target: Target<'_>) -> Result<(), PubSubError> {
        Ok(())
    }
}

/// Delivers messages that arrived from other nodes to this node's subscribers.
#[derive(Clone)]
pub struct Dispatcher {
    inner: Weak<Inner>,
}

impl Dispatcher {
    /// Deliver a remote broadcast locally. Returns false once the PubSub is gone.
    pub fn dispatch(&self, topic: &str, event: &str, payload: Payload) -> bool {
        match self.inner.upgrade() {
            Some(inner) => {
                inner.dispatch(Arc::new(Broadcast::new(topic, event, payload)));
                true
            }
            None => false,
        }
    }
}

type TopicMap = HashMap<String, HashMap<SubscriberId, Arc<dyn Subscriber>>>;

/// Subscribers on one topic from which a broadcast is delivered on several threads.
const PARALLEL_DISPATCH_MIN: usize = 2048;

struct Inner {
    shards: Box<[RwLock<TopicMap>]>,
    /// Threads a large fan-out is split over (the machine's cores).
    parallelism: usize,
    adapter: Box<dyn Adapter>,
}

impl Inner {
    fn shard(&self, id: SubscriberId) -> &RwLock<TopicMap> {
        &self.shards[(id.0 as usize) % self.shards.len()]
    }

    /// Deliver `msg` to every local subscriber of its topic. A large fan-out is split over
    /// the machine's cores (shards `k, k + n, …` on thread `k`): a delivery may be a socket
    /// write ([`crate::channels`] writes broadcasts straight to idle WebSockets), and the
    /// broadcast returns only once every subscriber has it, as on one thread.
    fn dispatch(&self, msg: Arc<Broadcast>) {
        let threads = self.parallelism.min(self.shards.len());
        if threads > 1 && self.subscriber_count(&msg.topic) >= PARALLEL_DISPATCH_MIN {
            std::thread::scope(|scope| {
                for k in 1..threads {
                    let msg = &msg;
                    let spawned = std::thread::Builder::new()
                        .name("zzz-pubsub-dispatch".into())
                        .spawn_scoped(scope, move || self.dispatch_shards(msg, k, threads));
                    if spawned.is_err() {
                        self.dispatch_shards(msg, k, threads);
                    }
                }
                self.dispatch_shards(&msg, 0, threads);
            });
        } else {
            self.dispatch_shards(&msg, 0, 1);
        }
    }

    fn subscriber_count(&self, topic: &str) -> usize {
        self.shards
            .iter()
            .map(|shard| {
                let map = shard.read().unwrap_or_else(|e| e.into_inner());
                map.get(topic).map_or(0, HashMap::len)
            })
            .sum()
    }

    fn dispatch_shards(&self, msg: &Arc<Broadcast>, first: usize, step: usize) {
        for shard in self.shards.iter().skip(first).step_by(step) {
            let mut dead = Vec::new();
            {
                let map = shard.read().unwrap_or_else(|e| e.into_inner());
                if let Some(subs) = map.get(&msg.topic) {
                    // Start loading the subscribers two ahead and what the next one will
                    // touch while this one delivers: with thousands of subscribers each
                    // delivery otherwise waits on memory.
                    let mut two_ahead = subs.values().skip(2);
                    let mut one_ahead = subs.values().skip(1);
                    for (id, sub) in subs {
                        if let Some(next) = two_ahead.next() {
                            prefetch(Arc::as_ptr(next).cast::<u8>());
                        }
                        if let Some(next) = one_ahead.next() {
                            next.prefetch();
                        }
                        if Some(*id) != msg.from && !sub.deliver(msg) {
                            dead.push(*id);
                        }
                    }
                }
            }
            if !dead.is_empty() {
                let mut map = shard.write().unwrap_or_else(|e| e.into_inner());
                if let Some(subs) = map.get_mut(&msg.topic) {
                    for id in dead {
                        subs.remove(&id);
                    }
                    if subs.is_empty() {
                        map.remove(&msg.topic);
                    }
                }
            }
        }
    }
}

/// A handle to a PubSub; cheap to clone.
#[derive(Clone)]
pub struct PubSub {
    inner: Arc<Inner>,
}

impl fmt::Debug for PubSub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PubSub")
            .field("node", &self.node_name())
            .finish()
    }
}

impl Default for PubSub {
    fn default() -> Self {
        PubSub::new()
    }
}

impl PubSub {
    /// An in-process PubSub (node name `local`).
    pub fn new() -> PubSub {
        PubSub::with_adapter(LocalAdapter::new("local"))
    }

    /// A PubSub that forwards broadcasts to other nodes through `adapter`.
    pub fn with_adapter(adapter: impl Adapter) -> PubSub {
        let parallelism = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        let shards = (0..(parallelism * 4).max(4))
            .map(|_| RwLock::new(HashMap::new()))
            .collect();
        let inner = Arc::new(Inner {
            shards,
            parallelism,
            adapter: Box::new(adapter),
        });
        inner.adapter.start(Dispatcher {
            inner: Arc::downgrade(&inner),
        });
        PubSub { inner }
    }

    /// A PubSub for a cluster chosen by `url`: `postgres://…` or `postgresql://…` (Postgres
    /// `LISTEN`/`NOTIFY`) or `redis://…` (Redis pub/sub; TLS `rediss://` is not built in),
    /// with the node name and shared channel of `cluster` (defaults: a made-up unique name,
    /// `zzz_pubsub`). Needs a tokio runtime.
    ///
    /// # Errors
    /// An unknown scheme (or one whose feature is off), or an unreachable service.
    pub async fn connect(url: &str, cluster: &ClusterConfig) -> Result<PubSub, PubSubError> {
        let scheme = url.split("://").next().unwrap_or_default();
        #[cfg(not(any(feature = "pubsub-postgres", feature = "pubsub-redis")))]
        let _ = cluster;
        match scheme {
            #[cfg(feature = "pubsub-postgres")]
            "postgres" | "postgresql" => {
                let mut config = postgres::PostgresConfig::new(url);
                if let Some(node) = &cluster.node {
                    config = config.node_name(node);
                }
                if let Some(channel) = &cluster.channel {
                    config = config.channel(channel);
                }
                Ok(PubSub::with_adapter(postgres::PostgresAdapter::connect(config).await?))
            }
            #[cfg(feature = "pubsub-redis")]
            "redis" => {
                let mut config = redis::RedisConfig::new(url);
                if let Some(node) = &cluster.node {
                    config = config.node_name(node);
                }
                if let Some(channel) = &cluster.channel {
                    config = config.channel_prefix(channel);
                }
                Ok(PubSub::with_adapter(redis::RedisAdapter::connect(config).await?))
            }
            _ => Err(PubSubError::Adapter(format!(
                "no PubSub adapter for {scheme:?} URLs: use postgres:// (feature pubsub-postgres) or redis:// (feature pubsub-redis)"
            ))),
        }
    }

    /// This node's name.
    pub fn node_name(&self) -> &str {
        self.inner.adapter.node_name()
    }

    /// Wait until every broadcast made so far has left this node (see [`Adapter::flush`]);
    /// call it before exiting so a last message (e.g. presence's shutdown notice) is not lost.
    pub async fn flush(&self) {
        self.inner.adapter.flush().await
    }

    /// Register `subscriber` under `id` for `topic` (idempotent for the same id and topic).
    pub fn subscribe_with(&self, id: SubscriberId, topic: &str, subscriber: Arc<dyn Subscriber>) {
        let mut map = self
            .inner
            .shard(id)
            .write()
            .unwrap_or_else(|e| e.into_inner());
        map.entry(topic.to_owned())
            .or_default()
            .insert(id, subscriber);
    }

    /// Remove subscriber `id` from `topic`.
    pub fn unsubscribe(&self, id: SubscriberId, topic: &str) {
        let mut map = self
            .inner
            .shard(id)
            .write()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(subs) = map.get_mut(topic) {
            subs.remove(&id);
            if subs.is_empty() {
                map.remove(topic);
            }
        }
    }

    /// Subscribe with a mailbox; dropping the [`Subscription`] unsubscribes.
    pub fn subscribe(&self, topic: &str) -> Subscription {
        let (tx, rx) = mpsc::unbounded_channel();
        let id = SubscriberId::next();
        self.subscribe_with(id, topic, Arc::new(MailboxSubscriber(tx)));
        Subscription {
            id,
            topic: topic.to_owned(),
            pubsub: self.clone(),
            rx,
        }
    }

    /// How many local subscribers `topic` has.
    pub fn subscriber_count(&self, topic: &str) -> usize {
        self.inner.subscriber_count(topic)
    }

    /// Broadcast to every subscriber of `topic` on every node.
    pub fn broadcast(
        &self,
        topic: &str,
        event: &str,
        payload: impl Into<Payload>,
    ) -> Result<(), PubSubError> {
        self.publish(
            Broadcast::new(topic, event, payload),
            Some(Target::AllNodes),
        )
    }

    /// Broadcast to every subscriber except `from` (on this node; other nodes get it all).
    pub fn broadcast_from(
        &self,
        from: SubscriberId,
        topic: &str,
        event: &str,
        payload: impl Into<Payload>,
    ) -> Result<(), PubSubError> {
        let mut msg = Broadcast::new(topic, event, payload);
        msg.from = Some(from);
        self.publish(msg, Some(Target::AllNodes))
    }

    /// Broadcast to this node's subscribers only.
    pub fn local_broadcast(&self, topic: &str, event: &str, payload: impl Into<Payload>) {
        self.inner
            .dispatch(Arc::new(Broadcast::new(topic, event, payload)));
    }

    /// Broadcast to this node's subscribers except `from`.
    pub fn local_broadcast_from(
        &self,
        from: SubscriberId,
        topic: &str,
        event: &str,
        payload: impl Into<Payload>,
    ) {
        let mut msg = Broadcast::new(topic, event, payload);
        msg.from = Some(from);
        self.inner.dispatch(Arc::new(msg));
    }

    /// Broadcast to the subscribers on one node (this one or another).
    pub fn direct_broadcast(
        &self,
        node: &str,
        topic: &str,
        event: &str,
        payload: impl Into<Payload>,
    ) -> Result<(), PubSubError> {
        let msg = Broadcast::new(topic, event, payload);
        if node == self.node_name() {
            self.inner.dispatch(Arc::new(msg));
            Ok(())
        } else {
            self.inner.adapter.forward(&msg, Target::Node(node))
        }
    }

    /// Deliver an already-built broadcast: locally, then to other nodes when `target` is set.
    pub fn publish(&self, msg: Broadcast, target: Option<Target<'_>>) -> Result<(), PubSubError> {
        let msg = Arc::new(msg);
        self.inner.dispatch(msg.clone());
        match target {
            Some(t) => self.inner.adapter.forward(&msg, t),
            None => Ok(()),
        }
    }
}

struct MailboxSubscriber(mpsc::UnboundedSender<Arc<Broadcast>>);

impl Subscriber for MailboxSubscriber {
    fn deliver(&self, msg: &Arc<Broadcast>) -> bool {
        self.0.send(msg.clone()).is_ok()
    }
}

/// A mailbox subscription to one topic; unsubscribes when dropped.
pub struct Subscription {
    id: SubscriberId,
    topic: String,
    pubsub: PubSub,
    rx: mpsc::UnboundedReceiver<Arc<Broadcast>>,
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("id", &self.id)
            .field("topic", &self.topic)
            .finish()
    }
}

impl Subscription {
    /// This subscriber's id (for `broadcast_from`).
    pub fn id(&self) -> SubscriberId {
        self.id
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Wait for the next broadcast.
    pub async fn recv(&mut self) -> Option<Arc<Broadcast>> {
        self.rx.recv().await
    }

    /// The next broadcast if one is already queued.
    pub fn try_recv(&mut self) -> Option<Arc<Broadcast>> {
        self.rx.try_recv().ok()
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.pubsub.unsubscribe(self.id, &self.topic);
    }
}
