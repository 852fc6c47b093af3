//! The Redis adapter: nodes sharing one Redis exchange broadcasts with `PUBLISH`/`SUBSCRIBE`.
//!
//! **One channel per cluster**, as Phoenix's Redis adapter does: every node subscribes to
//! `<prefix>` (default `zzz_pubsub`) for broadcasts and to `<prefix>:<node name>` for
//! [`direct_broadcast`](super::PubSub::direct_broadcast)s addressed to it. A channel per topic
//! would spare nodes the messages of topics they have no subscriber for, but would need a
//! `SUBSCRIBE`/`UNSUBSCRIBE` round trip whenever a topic gains its first or loses its last
//! local subscriber, and ordering between a subscription and the first broadcast would then
//! depend on Redis; with one channel a node receives everything and filters locally, which the
//! registry does anyway.
//!
//! Each message is a JSON envelope naming the sending instance, so a node drops its own echo
//! (a `broadcast` reaches local subscribers once, directly). Redis has no practical payload
//! limit (512 MB), so nothing is chunked.
//!
//! **Lost connections.** The subscribing connection is re-established and the channels
//! subscribed again (logged at `warn`); the publishing connection is reopened and the unsent
//! batch retried. Messages published while a node was cut off are not replayed (at most once,
//! like Phoenix); presence replication notices the gap and asks for a full transfer.
//!
//! ```no_run
//! # async fn demo() -> Result<(), zzz::pubsub::PubSubError> {
//! use zzz::pubsub::PubSub;
//! use zzz::pubsub::redis::{RedisAdapter, RedisConfig};
//!
//! let adapter = RedisAdapter::connect(RedisConfig::new("redis://127.0.0.1:6379").node_name("web-1")).await?;
//! let pubsub = PubSub::with_adapter(adapter);
//! pubsub.broadcast("room:lobby", "new_msg", serde_json::json!({"body": "hi"}))?;
//! # Ok(()) }
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::{MultiplexedConnection, PubSub as RedisPubSub};
use tokio::sync::{mpsc, oneshot};

use super::envelope::{self, Sender};
use super::{Adapter, Broadcast, Dispatcher, PubSubError, Target};

/// At most this many messages go into one pipeline.
const BATCH: usize = 256;

/// Settings of the [`RedisAdapter`].
#[derive(Debug, Clone)]
pub struct RedisConfig {
    url: String,
    prefix: String,
    node_name: Option<String>,
}

impl RedisConfig {
    /// Connect to the Redis at `url` (`redis://host:port[/db]`).
    pub fn new(url: impl Into<String>) -> RedisConfig {
        RedisConfig {
            url: url.into(),
            prefix: "zzz_pubsub".into(),
            node_name: None,
        }
    }

    /// The channel the cluster shares (default `zzz_pubsub`); direct messages go to
    /// `<prefix>:<node>`. Clusters with different prefixes do not see each other.
    pub fn channel_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// This node's name, unique in the cluster (default `node-<pid>-<random>`).
    pub fn node_name(mut self, node: impl Into<String>) -> Self {
        self.node_name = Some(node.into());
        self
    }
}

/// What the publishing task is asked to do.
enum Outgoing {
    /// Publish this envelope on this channel.
    Message(String, String),
    /// Answer once everything queued before has been published.
    Flush(oneshot::Sender<()>),
}

/// PubSub between nodes over Redis (see the [module docs](self)).
pub struct RedisAdapter {
    sender: Arc<Sender>,
    prefix: String,
    client: redis::Client,
    queue: mpsc::UnboundedSender<Outgoing>,
    subscriber: Mutex<Option<RedisPubSub>>,
    stop: Mutex<Option<oneshot::Sender<()>>>,
}

impl std::fmt::Debug for RedisAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisAdapter")
            .field("node", &self.sender.node)
            .field("prefix", &self.prefix)
            .finish()
    }
}

async fn subscribe(client: &redis::Client, channels: &[String]) -> redis::RedisResult<RedisPubSub> {
    let mut ps = client.get_async_pubsub().await?;
    for c in channels {
        ps.subscribe(c).await?;
    }
    Ok(ps)
}

impl RedisAdapter {
    /// Connect (one connection to publish, one to subscribe) and subscribe to the cluster's
    /// channels. Needs a tokio runtime; the background tasks run until the
    /// [`PubSub`](super::PubSub) is dropped.
    ///
    /// # Errors
    /// An invalid URL or an unreachable Redis.
    pub async fn connect(config: RedisConfig) -> Result<RedisAdapter, PubSubError> {
        let err = |what: &str, e: &dyn std::fmt::Display| PubSubError::Adapter(format!("redis pubsub: {what}: {e}"));
        let client = redis::Client::open(config.url.as_str()).map_err(|e| err(&format!("the URL {:?} is invalid", config.url), &e))?;
        let node = config.node_name.unwrap_or_else(envelope::default_node_name);
        let conn = client
            .get_multiplexed_async_connection()
            .await
            .map_err(|e| err(&format!("cannot connect to {}", config.url), &e))?;
        let channels = [config.prefix.clone(), format!("{}:{node}", config.prefix)];
        let ps = subscribe(&client, &channels)
            .await
            .map_err(|e| err(&format!("cannot SUBSCRIBE to {channels:?}"), &e))?;
        let sender = Arc::new(Sender::new(node));
        let (queue, rx) = mpsc::unbounded_channel();
        tokio::spawn(publish_loop(conn, client.clone(), rx));
        Ok(RedisAdapter {
            sender,
            prefix: config.prefix,
            client,
            queue,
            subscriber: Mutex::new(Some(ps)),
            stop: Mutex::new(None),
        })
    }
}

impl Drop for RedisAdapter {
    fn drop(&mut self) {
        self.stop.lock().unwrap_or_else(|e| e.into_inner()).take();
    }
}

impl Adapter for RedisAdapter {
    fn node_name(&self) -> &str {
        &self.sender.node
    }

    fn start(&self, dispatcher: Dispatcher) {
        let Some(ps) = self.subscriber.lock().unwrap_or_else(|e| e.into_inner()).take() else {
            tracing::error!("redis pubsub: the adapter was started twice; the second start is ignored");
            return;
        };
        let (stop_tx, stop_rx) = oneshot::channel();
        *self.stop.lock().unwrap_or_else(|e| e.into_inner()) = Some(stop_tx);
        let channels = vec![self.prefix.clone(), format!("{}:{}", self.prefix, self.sender.node)];
        tokio::spawn(subscribe_loop(
            ps,
            self.client.clone(),
            channels,
            self.sender.node.clone(),
            self.sender.instance,
            dispatcher,
            stop_rx,
        ));
    }

    fn forward(&self, msg: &Broadcast, target: Target<'_>) -> Result<(), PubSubError> {
        let channel = match target {
            Target::AllNodes => self.prefix.clone(),
            Target::Node(n) => format!("{}:{n}", self.prefix),
        };
        let text = self.sender.encode(msg, &target);
        self.queue
            .send(Outgoing::Message(channel, text))
            .map_err(|_| PubSubError::Adapter("redis pubsub: the publishing task has stopped".into()))
    }

    fn flush(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        let (tx, rx) = oneshot::channel();
        let queued = self.queue.send(Outgoing::Flush(tx)).is_ok();
        Box::pin(async move {
            if queued {
                let _ = rx.await;
            }
        })
    }
}

async fn publish_loop(conn: MultiplexedConnection, client: redis::Client, mut rx: mpsc::UnboundedReceiver<Outgoing>) {
    let mut conn = Some(conn);
    let mut batch: Vec<(String, String)> = Vec::new();
    let mut flushes = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        while let Some(item) = next.take() {
            match item {
                Outgoing::Message(channel, text) => batch.push((channel, text)),
                Outgoing::Flush(done) => {
                    flushes.push(done);
                    break;
                }
            }
            if batch.len() < BATCH {
                next = rx.try_recv().ok();
            }
        }
        let mut delay = Duration::from_millis(50);
        while !batch.is_empty() {
            let c = match conn.as_mut() {
                Some(c) => c,
                None => match client.get_multiplexed_async_connection().await {
                    Ok(c) => {
                        tracing::warn!("redis pubsub: publishing connection re-established");
                        conn.insert(c)
                    }
                    Err(e) => {
                        tracing::warn!("redis pubsub: cannot reconnect to publish ({e}); retrying in {delay:?}");
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(Duration::from_secs(5));
                        continue;
                    }
                },
            };
            let mut pipe = redis::pipe();
            for (channel, text) in &batch {
                pipe.cmd("PUBLISH").arg(channel).arg(text).ignore();
            }
            match pipe.exec_async(c).await {
                Ok(()) => batch.clear(),
                Err(e) => {
                    tracing::warn!("redis pubsub: PUBLISH failed ({e}); reconnecting in {delay:?}");
                    conn = None;
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
        for done in flushes.drain(..) {
            let _ = done.send(());
        }
    }
}

async fn subscribe_loop(
    ps: RedisPubSub,
    client: redis::Client,
    channels: Vec<String>,
    node: String,
    instance: u64,
    dispatcher: Dispatcher,
    mut stop: oneshot::Receiver<()>,
) {
    let mut ps = Some(ps);
    let mut delay = Duration::from_millis(50);
    loop {
        let current = match ps.take() {
            Some(p) => p,
            None => {
                let attempt = tokio::select! {
                    _ = &mut stop => return,
                    r = subscribe(&client, &channels) => r,
                };
                match attempt {
                    Ok(p) => {
                        tracing::warn!(?channels, "redis pubsub: reconnected and SUBSCRIBEd again");
                        delay = Duration::from_millis(50);
                        p
                    }
                    Err(e) => {
                        tracing::warn!(?channels, "redis pubsub: cannot resubscribe ({e}); retrying in {delay:?}");
                        tokio::select! {
                            _ = &mut stop => return,
                            _ = tokio::time::sleep(delay) => {}
                        }
                        delay = (delay * 2).min(Duration::from_secs(5));
                        continue;
                    }
                }
            }
        };
        let mut messages = current.into_on_message();
        loop {
            let msg = tokio::select! {
                _ = &mut stop => return,
                m = messages.next() => m,
            };
            let Some(msg) = msg else {
                tracing::warn!(?channels, "redis pubsub: the subscribing connection was lost; reconnecting");
                break;
            };
            let text = match std::str::from_utf8(msg.get_payload_bytes()) {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!("redis pubsub: ignoring a message that is not UTF-8: {e}");
                    continue;
                }
            };
            match envelope::decode(text) {
                Ok(inc) if inc.is_for(&node, instance) => {
                    if !dispatcher.dispatch(&inc.topic, &inc.event, inc.payload) {
                        return;
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::warn!("redis pubsub: ignoring a message: {e}"),
            }
        }
    }
}
