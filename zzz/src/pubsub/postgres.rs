//! The Postgres adapter: nodes sharing one database exchange broadcasts with
//! `LISTEN`/`NOTIFY` on one channel.
//!
//! Every node `LISTEN`s on the channel (default `zzz_pubsub`) and sends each broadcast as a
//! `NOTIFY` whose payload is a JSON envelope naming the sending instance (so a node drops its
//! own echo: a `broadcast` reaches the local subscribers once, directly), the target node for
//! [`direct_broadcast`](super::PubSub::direct_broadcast), topic, event and payload.
//!
//! **Large payloads.** `NOTIFY` refuses payloads of 8000 bytes or more. A larger envelope is
//! cut into chunks `#<message id>:<seq>:<count>:<text>` that are sent in the same transaction
//! and reassembled by each receiver. Chunking was chosen over storing the payload in a table
//! and notifying its id because it needs no schema (no DDL rights, no migration), leaves no
//! rows to clean up when a node dies mid-way, and costs no extra query per message on every
//! receiving node. Chunks of one message are committed together, so a receiver gets all of
//! them or none; partial messages (a receiver that lost its connection in the middle) are
//! dropped after a minute.
//!
//! **Lost connections.** The listening connection is re-established and `LISTEN` issued again
//! (logged at `warn`); the sending connection is reopened and the unsent batch retried.
//! Messages published while a node was cut off from Postgres are not replayed (Phoenix's
//! PubSub gives the same at-most-once guarantee); presence replication notices the gap and
//! asks for a full transfer.
//!
//! ```no_run
//! # async fn demo() -> Result<(), zzz::pubsub::PubSubError> {
//! use zzz::pubsub::PubSub;
//! use zzz::pubsub::postgres::{PostgresAdapter, PostgresConfig};
//!
//! let adapter = PostgresAdapter::connect(
//!     PostgresConfig::new("postgres://postgres@127.0.0.1:5432/postgres").node_name("web-1"),
//! )
//! .await?;
//! let pubsub = PubSub::with_adapter(adapter);
//! pubsub.broadcast("room:lobby", "new_msg", serde_json::json!({"body": "hi"}))?;
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgListener, PgPoolOptions};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::envelope::{self, Sender};
use super::{Adapter, Broadcast, Dispatcher, PubSubError, Target};

/// `NOTIFY` payloads must be shorter than this many bytes.
pub const NOTIFY_LIMIT: usize = 8000;
/// The most envelope text one chunk carries (the chunk header needs the rest).
const CHUNK_TEXT: usize = 7900;
/// A message may have at most this many chunks (about 126 MB).
const MAX_CHUNKS: usize = 16_000;
/// Partial messages older than this are dropped.
const PARTIAL_TTL: Duration = Duration::from_secs(60);
/// At most this many envelope bytes go into one `NOTIFY` transaction.
const BATCH_BYTES: usize = 1 << 20;

/// Settings of the [`PostgresAdapter`].
#[derive(Debug, Clone)]
pub struct PostgresConfig {
    url: String,
    channel: String,
    node_name: Option<String>,
}

impl PostgresConfig {
    /// Connect to the database at `url` (`postgres://user:pass@host:port/db`).
    pub fn new(url: impl Into<String>) -> PostgresConfig {
        PostgresConfig {
            url: url.into(),
            channel: "zzz_pubsub".into(),
            node_name: None,
        }
    }

    /// The `LISTEN`/`NOTIFY` channel the cluster shares (default `zzz_pubsub`; at most 63
    /// bytes). Clusters on the same database with different channels do not see each other.
    pub fn channel(mut self, channel: impl Into<String>) -> Self {
        self.channel = channel.into();
        self
    }

    /// This node's name, unique in the cluster (default `node-<pid>-<random>`); it is what
    /// [`direct_broadcast`](super::PubSub::direct_broadcast) addresses.
    pub fn node_name(mut self, node: impl Into<String>) -> Self {
        self.node_name = Some(node.into());
        self
    }
}

/// What the sending task is asked to do.
enum Outgoing {
    /// Send this envelope.
    Message(String),
    /// Answer once everything queued before has been sent.
    Flush(oneshot::Sender<()>),
}

/// PubSub between nodes over Postgres `LISTEN`/`NOTIFY` (see the [module docs](self)).
pub struct PostgresAdapter {
    sender: Arc<Sender>,
    channel: String,
    queue: mpsc::UnboundedSender<Outgoing>,
    listener: Mutex<Option<PgListener>>,
    stop: Mutex<Option<oneshot::Sender<()>>>,
}

impl std::fmt::Debug for PostgresAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresAdapter")
            .field("node", &self.sender.node)
            .field("channel", &self.channel)
            .finish()
    }
}

impl PostgresAdapter {
    /// Connect (one connection to send, one to listen) and `LISTEN` on the channel. Needs a
    /// tokio runtime; the background tasks run until the [`PubSub`](super::PubSub) is dropped.
    ///
    /// # Errors
    /// An invalid URL or channel name, or a database that cannot be reached.
    pub async fn connect(config: PostgresConfig) -> Result<PostgresAdapter, PubSubError> {
        let err = |what: &str, e: &dyn std::fmt::Display| PubSubError::Adapter(format!("postgres pubsub: {what}: {e}"));
        if config.channel.is_empty() || config.channel.len() > 63 {
            return Err(PubSubError::Adapter(format!(
                "postgres pubsub: the channel name must be 1 to 63 bytes, got {:?}",
                config.channel
            )));
        }
        let node = config.node_name.unwrap_or_else(envelope::default_node_name);
        let options = PgConnectOptions::from_str(&config.url)
            .map_err(|e| err("the database URL is invalid", &e))?
            .application_name(&format!("zzz-pubsub {node}"));
        let conn = PgConnection::connect_with(&options)
            .await
            .map_err(|e| err(&format!("cannot connect to {}", redact(&config.url)), &e))?;
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .max_lifetime(None)
            .idle_timeout(None)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options.clone())
            .await
            .map_err(|e| err(&format!("cannot connect to {}", redact(&config.url)), &e))?;
        let mut listener = PgListener::connect_with(&pool)
            .await
            .map_err(|e| err("cannot open the listening connection", &e))?;
        listener.ignore_pool_close_event(true);
        listener
            .listen(&config.channel)
            .await
            .map_err(|e| err(&format!("LISTEN {:?} failed", config.channel), &e))?;

        let sender = Arc::new(Sender::new(node));
        let (queue, rx) = mpsc::unbounded_channel();
        tokio::spawn(send_loop(
            conn,
            options,
            config.channel.clone(),
            sender.clone(),
            rx,
        ));
        Ok(PostgresAdapter {
            sender,
            channel: config.channel,
            queue,
            listener: Mutex::new(Some(listener)),
            stop: Mutex::new(None),
        })
    }

    /// The channel this adapter listens and notifies on.
    pub fn channel_name(&self) -> &str {
        &self.channel
    }
}

impl Drop for PostgresAdapter {
    fn drop(&mut self) {
        // dropping the stop sender ends the listening task
        self.stop.lock().unwrap_or_else(|e| e.into_inner()).take();
    }
}

impl Adapter for PostgresAdapter {
    fn node_name(&self) -> &str {
        &self.sender.node
    }

    fn start(&self, dispatcher: Dispatcher) {
        let Some(listener) = self.listener.lock().unwrap_or_else(|e| e.into_inner()).take() else {
            tracing::error!("postgres pubsub: the adapter was started twice; the second start is ignored");
            return;
        };
        let (stop_tx, stop_rx) = oneshot::channel();
        *self.stop.lock().unwrap_or_else(|e| e.into_inner()) = Some(stop_tx);
        tokio::spawn(listen_loop(
            listener,
            self.channel.clone(),
            self.sender.node.clone(),
            self.sender.instance,
            dispatcher,
            stop_rx,
        ));
    }

    fn forward(&self, msg: &Broadcast, target: Target<'_>) -> Result<(), PubSubError> {
        let text = self.sender.encode(msg, &target);
        self.queue
            .send(Outgoing::Message(text))
            .map_err(|_| PubSubError::Adapter("postgres pubsub: the sending task has stopped".into()))
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

/// The URL without its password, for error messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// The `NOTIFY` payloads for one envelope: itself when short enough, else its chunks.
fn notifications(sender: &Sender, text: String, out: &mut Vec<String>) {
    if text.len() < NOTIFY_LIMIT {
        out.push(text);
        return;
    }
    let mut pieces = Vec::new();
    let mut rest = text.as_str();
    while !rest.is_empty() {
        let mut cut = CHUNK_TEXT.min(rest.len());
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        pieces.push(&rest[..cut]);
        rest = &rest[cut..];
    }
    let id = format!("{:016x}.{:x}", sender.instance, sender.next_id());
    let count = pieces.len();
    for (i, piece) in pieces.into_iter().enumerate() {
        out.push(format!("#{id}:{i}:{count}:{piece}"));
    }
}

async fn send_loop(
    conn: PgConnection,
    options: PgConnectOptions,
    channel: String,
    sender: Arc<Sender>,
    mut rx: mpsc::UnboundedReceiver<Outgoing>,
) {
    let mut conn = Some(conn);
    let mut batch: Vec<String> = Vec::new();
    let mut flushes: Vec<oneshot::Sender<()>> = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        let mut bytes = 0;
        while let Some(item) = next.take() {
            match item {
                Outgoing::Message(text) => {
                    bytes += text.len();
                    notifications(&sender, text, &mut batch);
                }
                Outgoing::Flush(done) => {
                    flushes.push(done);
                    break;
                }
            }
            if bytes < BATCH_BYTES {
                next = rx.try_recv().ok();
            }
        }
        let mut delay = Duration::from_millis(50);
        let mut refused = 0;
        while !batch.is_empty() {
            let c = match conn.as_mut() {
                Some(c) => c,
                None => match PgConnection::connect_with(&options).await {
                    Ok(c) => {
                        tracing::warn!(channel, "postgres pubsub: sending connection re-established");
                        conn.insert(c)
                    }
                    Err(e) => {
                        tracing::warn!(channel, "postgres pubsub: cannot reconnect to send ({e}); retrying in {delay:?}");
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(Duration::from_secs(5));
                        continue;
                    }
                },
            };
            match notify(c, &channel, &batch).await {
                Ok(()) => {
                    batch.clear();
                    refused = 0;
                }
                // A statement error may come from a connection the server is closing
                // (e.g. terminated by an administrator): retry once on a new connection.
                Err(sqlx::Error::Database(e)) if refused == 0 => {
                    tracing::warn!(channel, "postgres pubsub: NOTIFY refused ({e}); retrying on a new connection");
                    refused += 1;
                    conn = None;
                }
                // Refused again: something in the batch itself (e.g. a character the server
                // encoding lacks). Send one by one so only what is refused is dropped.
                Err(sqlx::Error::Database(_)) => {
                    for n in batch.drain(..) {
                        if let Err(e) = notify(c, &channel, std::slice::from_ref(&n)).await {
                            tracing::error!(channel, "postgres pubsub: dropping a notification the database refuses ({} bytes): {e}", n.len());
                        }
                    }
                    refused = 0;
                }
                Err(e) => {
                    tracing::warn!(channel, "postgres pubsub: NOTIFY failed ({e}); reconnecting in {delay:?}");
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

/// `NOTIFY` each of `payloads` on `channel`, in order, in one transaction.
async fn notify(conn: &mut PgConnection, channel: &str, payloads: &[String]) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_notify($1, n) FROM unnest($2::text[]) WITH ORDINALITY AS t(n, i) ORDER BY i")
        .bind(channel)
        .bind(payloads)
        .execute(conn)
        .await
        .map(|_| ())
}

/// A message being reassembled from chunks.
struct Partial {
    parts: Vec<Option<String>>,
    received: usize,
    started: Instant,
}

/// Reassembles chunked notifications.
#[derive(Default)]
struct Reassembler {
    partial: HashMap<String, Partial>,
}

impl Reassembler {
    /// The whole envelope once `payload` completes one (or is one); errors name the problem.
    fn push(&mut self, payload: &str, own_instance: &str) -> Result<Option<String>, String> {
        let Some(chunk) = payload.strip_prefix('#') else {
            return Ok(Some(payload.to_owned()));
        };
        let mut fields = chunk.splitn(4, ':');
        let (Some(id), Some(seq), Some(count), Some(text)) = (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err("a chunk header is not `#id:seq:count:`".into());
        };
        if id.starts_with(own_instance) {
            return Ok(None);
        }
        let seq: usize = seq.parse().map_err(|e| format!("chunk sequence {seq:?}: {e}"))?;
        let count: usize = count.parse().map_err(|e| format!("chunk count {count:?}: {e}"))?;
        if count == 0 || count > MAX_CHUNKS || seq >= count {
            return Err(format!("chunk {seq} of {count} is out of range"));
        }
        let now = Instant::now();
        self.partial.retain(|id, p| {
            let keep = now.duration_since(p.started) < PARTIAL_TTL;
            if !keep {
                tracing::warn!(id, "postgres pubsub: dropping a message whose chunks did not all arrive");
            }
            keep
        });
        let p = self.partial.entry(id.to_owned()).or_insert_with(|| Partial {
            parts: vec![None; count],
            received: 0,
            started: now,
        });
        if p.parts.len() != count {
            return Err(format!("message {id} announced {} chunks, then {count}", p.parts.len()));
        }
        if p.parts[seq].is_none() {
            p.parts[seq] = Some(text.to_owned());
            p.received += 1;
        }
        if p.received < count {
            return Ok(None);
        }
        let p = self.partial.remove(id).expect("present");
        Ok(Some(p.parts.into_iter().flatten().collect()))
    }
}

async fn listen_loop(
    mut listener: PgListener,
    channel: String,
    node: String,
    instance: u64,
    dispatcher: Dispatcher,
    mut stop: oneshot::Receiver<()>,
) {
    let own = format!("{instance:016x}");
    let mut chunks = Reassembler::default();
    let mut delay = Duration::from_millis(50);
    loop {
        let received = tokio::select! {
            _ = &mut stop => return,
            r = listener.try_recv() => r,
        };
        match received {
            Ok(Some(n)) => {
                delay = Duration::from_millis(50);
                let text = match chunks.push(n.payload(), &own) {
                    Ok(Some(t)) => t,
                    Ok(None) => continue,
                    Err(e) => {
                        tracing::warn!(channel, "postgres pubsub: ignoring a notification: {e}");
                        continue;
                    }
                };
                match envelope::decode(&text) {
                    Ok(inc) if inc.is_for(&node, instance) => {
                        if !dispatcher.dispatch(&inc.topic, &inc.event, inc.payload) {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(channel, "postgres pubsub: ignoring a notification: {e}"),
                }
            }
            Ok(None) => {
                tracing::warn!(channel, "postgres pubsub: the listening connection was lost; reconnected and LISTENing again");
            }
            Err(e) => {
                tracing::warn!(channel, "postgres pubsub: listening failed ({e}); reconnecting in {delay:?}");
                tokio::select! {
                    _ = &mut stop => return,
                    _ = tokio::time::sleep(delay) => {}
                }
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_reassemble_in_any_order_and_skip_own() {
        let s = Sender::new("a".into());
        let text = "héllo wörld ".repeat(2000);
        let mut out = Vec::new();
        notifications(&s, text.clone(), &mut out);
        assert!(out.len() > 2);
        assert!(out.iter().all(|n| n.len() < NOTIFY_LIMIT));
        let mut r = Reassembler::default();
        let mut whole = None;
        for n in out.iter().rev() {
            if let Some(t) = r.push(n, "ffff").unwrap() {
                whole = Some(t);
            }
        }
        assert_eq!(whole.as_deref(), Some(text.as_str()));
        assert!(r.partial.is_empty());
        let own = format!("{:016x}", s.instance);
        assert_eq!(r.push(&out[0], &own).unwrap(), None);
        assert!(r.partial.is_empty(), "own chunks are not kept");
        assert!(r.push("#x:5:2:", "ffff").unwrap_err().contains("out of range"));
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
    }
}
