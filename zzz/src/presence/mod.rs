//! Presence: who is on a topic, with the payloads the phoenix.js `Presence` client expects.
//!
//! [`Presence::track`] registers a key (e.g. a user id) with metadata for a channel; the entry
//! is removed when the channel ends (leave, crash, disconnect) or on [`Presence::untrack`].
//! Every change is sent to the topic's subscribers on this node as a `presence_diff`
//! broadcast `{"joins": {key: {"metas": [...]}}, "leaves": {...}}`; [`Presence::list`] gives
//! `{key: {"metas": [{..., "phx_ref": "..."}]}}` for the `presence_state` push. An update is a
//! leave of the old meta plus a join of the new one carrying `phx_ref_prev`.
//!
//! The state is a delta CRDT ([`state`]) replicated between nodes over PubSub by
//! [`Presence::start_replication`] ([`replication`]).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use zzz::presence::Presence;
//! use zzz::pubsub::PubSub;
//! use serde_json::json;
//!
//! let pubsub = PubSub::new();
//! let presence = Presence::new(pubsub.clone());
//! let mut diffs = pubsub.subscribe("room:1");
//! let phx_ref = presence.track_owner(7, "room:1", "alice", json!({"online_at": 1})).unwrap();
//! let list = presence.list("room:1");
//! assert_eq!(list["alice"]["metas"][0]["phx_ref"], json!(phx_ref));
//! let diff = diffs.recv().await.unwrap();
//! assert_eq!(diff.event, "presence_diff");
//! assert_eq!(diff.payload.get("joins").unwrap()["alice"]["metas"][0]["online_at"], json!(1));
//! presence.untrack_all(7);
//! assert_eq!(presence.list("room:1"), json!({}));
//! # }
//! ```

pub mod replication;
pub mod state;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use serde_json::{Map, Value, json};

use crate::channels::ChannelSocket;
use crate::pubsub::PubSub;
use state::{Delta, Diff, Entry, State};

/// The event of presence diffs.
pub const DIFF_EVENT: &str = "presence_diff";
/// The event the app pushes the full list with.
pub const STATE_EVENT: &str = "presence_state";

/// Errors of presence operations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PresenceError {
    /// Metadata must be a JSON object.
    MetaNotObject,
    /// `update` of a key this owner does not track on the topic.
    NotTracked {
        /// The topic.
        topic: String,
        /// The key.
        key: String,
    },
}

impl fmt::Display for PresenceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PresenceError::MetaNotObject => write!(f, "presence metadata must be a JSON object"),
            PresenceError::NotTracked { topic, key } => {
                write!(f, "{key:?} is not tracked on {topic:?}")
            }
        }
    }
}

impl std::error::Error for PresenceError {}

struct Inner {
    pubsub: PubSub,
    state: Mutex<State>,
    node_hash: u16,
    counter: AtomicU64,
}

/// A presence tracker on one node. Cheap to clone.
#[derive(Clone)]
pub struct Presence {
    inner: Arc<Inner>,
}

impl fmt::Debug for Presence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.inner.state.lock().unwrap_or_else(|e| e.into_inner());
        f.debug_struct("Presence")
            .field("replica", &st.replica())
            .field("entries", &st.len())
            .finish()
    }
}

/// Untracks a channel's presences when the channel ends.
struct Guard {
    presence: Weak<Inner>,
    owner: u64,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(inner) = self.presence.upgrade() {
            Presence { inner }.untrack_all(self.owner);
        }
    }
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

impl Presence {
    /// A tracker that publishes diffs on `pubsub`.
    pub fn new(pubsub: PubSub) -> Presence {
        static INSTANCE: AtomicU64 = AtomicU64::new(0);
        // node name + process + start time + instance: unique per incarnation even when two
        // containers share a node name and pid
        let replica = format!(
            "{}:{}:{:x}:{}",
            pubsub.node_name(),
            std::process::id(),
            now_nanos(),
            INSTANCE.fetch_add(1, Ordering::Relaxed)
        );
        let node_hash = replica
            .bytes()
            .fold(0u16, |h, b| h.wrapping_mul(31).wrapping_add(b as u16));
        Presence {
            inner: Arc::new(Inner {
                pubsub,
                state: Mutex::new(State::new(&replica)),
                node_hash,
                counter: AtomicU64::new(0),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new unique `phx_ref`: URL-safe base64 of nanosecond time, node hash and a counter.
    fn make_ref(&self) -> String {
        let mut raw = [0u8; 12];
        raw[..8].copy_from_slice(&now_nanos().to_be_bytes());
        raw[8..10].copy_from_slice(&self.inner.node_hash.to_be_bytes());
        let n = self.inner.counter.fetch_add(1, Ordering::Relaxed) as u16;
        raw[10..].copy_from_slice(&n.to_be_bytes());
        base64::engine::general_purpose::URL_SAFE.encode(raw)
    }

    /// Track `key` with `meta` on the channel's topic, for as long as the channel lives.
    /// Returns the new `phx_ref`.
    pub fn track<A>(
        &self,
        socket: &mut ChannelSocket<A>,
        key: &str,
        meta: Value,
    ) -> Result<String, PresenceError> {
        let owner = socket.channel_id();
        let first = self.lock().owned(owner, None, None).is_empty();
        let phx_ref = self.track_owner(owner, socket.topic(), key, meta)?;
        if first {
            socket.keep_until_close(Guard {
                presence: Arc::downgrade(&self.inner),
                owner,
            });
        }
        Ok(phx_ref)
    }

    /// Track `key` on `topic` for an arbitrary owner id (untrack it yourself with
    /// [`untrack_owner`](Self::untrack_owner) or [`untrack_all`](Self::untrack_all)).
    pub fn track_owner(
        &self,
        owner: u64,
        topic: &str,
        key: &str,
        meta: Value,
    ) -> Result<String, PresenceError> {
        let Value::Object(mut meta) = meta else {
            return Err(PresenceError::MetaNotObject);
        };
        let phx_ref = self.make_ref();
        meta.insert("phx_ref".into(), Value::String(phx_ref.clone()));
        let entry = {
            let mut st = self.lock();
            let tag = st.add(owner, topic, key, meta);
            st.get(&tag).cloned()
        };
        self.publish(Diff {
            joins: entry.into_iter().collect(),
            leaves: Vec::new(),
        });
        Ok(phx_ref)
    }

    /// Stop tracking `key` for this channel.
    pub fn untrack<A>(&self, socket: &ChannelSocket<A>, key: &str) {
        self.untrack_owner(socket.channel_id(), socket.topic(), key);
    }

    /// Stop tracking `key` on `topic` for `owner`.
    pub fn untrack_owner(&self, owner: u64, topic: &str, key: &str) {
        self.remove_where(owner, Some(topic), Some(key));
    }

    /// Stop tracking everything `owner` tracks.
    pub fn untrack_all(&self, owner: u64) {
        self.remove_where(owner, None, None);
    }

    fn remove_where(&self, owner: u64, topic: Option<&str>, key: Option<&str>) {
        let leaves: Vec<Entry> = {
            let mut st = self.lock();
            st.owned(owner, topic, key)
                .iter()
                .filter_map(|t| st.remove(t))
                .collect()
        };
        if !leaves.is_empty() {
            self.publish(Diff {
                joins: Vec::new(),
                leaves,
            });
        }
    }

    /// Replace this channel's metadata for `key`; the new meta gets `phx_ref_prev`.
    pub fn update<A>(
        &self,
        socket: &ChannelSocket<A>,
        key: &str,
        meta: Value,
    ) -> Result<String, PresenceError> {
        self.update_owner(socket.channel_id(), socket.topic(), key, meta)
    }

    /// Replace `owner`'s metadata for `key` on `topic`.
    pub fn update_owner(
        &self,
        owner: u64,
        topic: &str,
        key: &str,
        meta: Value,
    ) -> Result<String, PresenceError> {
        let Value::Object(mut meta) = meta else {
            return Err(PresenceError::MetaNotObject);
        };
        let phx_ref = self.make_ref();
        let diff = {
            let mut st = self.lock();
            let old = st.owned(owner, Some(topic), Some(key));
            let Some(last) = old.last() else {
                return Err(PresenceError::NotTracked {
                    topic: topic.into(),
                    key: key.into(),
                });
            };
            if let Some(prev) = st.get(last).and_then(|e| e.meta.get("phx_ref")).cloned() {
                meta.insert("phx_ref_prev".into(), prev);
            }
            meta.insert("phx_ref".into(), Value::String(phx_ref.clone()));
            let leaves: Vec<Entry> = old.iter().filter_map(|t| st.remove(t)).collect();
            let tag = st.add(owner, topic, key, meta);
            Diff {
                joins: st.get(&tag).cloned().into_iter().collect(),
                leaves,
            }
        };
        self.publish(diff);
        Ok(phx_ref)
    }

    /// `{key: {"metas": [meta, …]}}` for `topic`.
    pub fn list(&self, topic: &str) -> Value {
        let st = self.lock();
        group(st.list(topic).into_iter().map(|(_, e)| e))
    }

    /// `{"metas": [...]}` for one key, if present.
    pub fn get_by_key(&self, topic: &str, key: &str) -> Option<Value> {
        let st = self.lock();
        let metas: Vec<Value> = st
            .list(topic)
            .into_iter()
            .filter(|(_, e)| e.key == key)
            .map(|(_, e)| Value::Object(e.meta.clone()))
            .collect();
        (!metas.is_empty()).then(|| json!({ "metas": metas }))
    }

    /// Changes made on this node since the last call, for a replicator to ship.
    pub fn take_delta(&self) -> Delta {
        self.lock().take_delta()
    }

    /// Apply a delta from another node and publish the resulting diff locally.
    pub fn merge_remote(&self, delta: &Delta) {
        let diff = self.lock().merge(delta);
        self.publish(diff);
    }

    /// Remove every presence added by a node that went down and publish the leaves.
    pub fn replica_down(&self, replica: &str) {
        let diff = self.lock().replica_down(replica);
        self.publish(diff);
    }

    /// This node's replica name.
    pub fn replica(&self) -> String {
        self.lock().replica().to_owned()
    }

    fn publish(&self, diff: Diff) {
        if diff.is_empty() {
            return;
        }
        let mut per_topic: BTreeMap<&str, (Vec<&Entry>, Vec<&Entry>)> = BTreeMap::new();
        for e in &diff.joins {
            per_topic.entry(&e.topic).or_default().0.push(e);
        }
        for e in &diff.leaves {
            per_topic.entry(&e.topic).or_default().1.push(e);
        }
        for (topic, (joins, leaves)) in per_topic {
            let payload =
                json!({ "joins": group(joins.into_iter()), "leaves": group(leaves.into_iter()) });
            self.inner
                .pubsub
                .local_broadcast(topic, DIFF_EVENT, payload);
        }
    }
}

fn group<'a>(entries: impl Iterator<Item = &'a Entry>) -> Value {
    let mut out: Map<String, Value> = Map::new();
    for e in entries {
        let slot = out
            .entry(e.key.clone())
            .or_insert_with(|| json!({ "metas": [] }));
        if let Some(Value::Array(metas)) = slot.get_mut("metas") {
            metas.push(Value::Object(e.meta.clone()));
        }
    }
    Value::Object(out)
}
