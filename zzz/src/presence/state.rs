//! The presence state: a delta-state, add-wins observed-remove set.
//!
//! Every tracked presence is an entry tagged with a *dot* `(replica, clock)`: the replica that
//! added it and that replica's counter at the time. Each replica keeps a causal context (the
//! dots it has seen: a contiguous prefix per replica plus a "cloud" of dots beyond it). A
//! remove deletes an entry and records its dot as seen, so a late or repeated add of the same
//! dot is ignored; merging a [`Delta`] twice, or deltas in any order, yields the same entries
//! (idempotent, commutative). Operations accumulate in a delta that a replicator ships to other
//! nodes ([`State::take_delta`]); [`State::merge`] applies a remote delta and reports what
//! changed; [`State::replica_down`] drops a dead node's entries.
//!
//! ```
//! use zzz::presence::state::State;
//! use serde_json::json;
//!
//! let mut a = State::new("a");
//! let mut b = State::new("b");
//! a.add(1, "room:1", "alice", json!({"phx_ref": "x"}).as_object().unwrap().clone());
//! let delta = a.take_delta();
//! let diff = b.merge(&delta);
//! assert_eq!(diff.joins.len(), 1);
//! assert!(b.merge(&delta).is_empty()); // idempotent
//! assert_eq!(b.list("room:1").len(), 1);
//! ```

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use serde_json::{Map, Value};

/// A dot: the replica that added an entry and its clock then.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag {
    /// The adding replica.
    pub replica: Arc<str>,
    /// That replica's clock.
    pub clock: u64,
}

/// One tracked presence.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// The topic.
    pub topic: String,
    /// The presence key (e.g. a user id).
    pub key: String,
    /// The metadata, including `phx_ref` (and `phx_ref_prev` after an update).
    pub meta: Map<String, Value>,
    /// The local owner (a channel id); 0 for entries from other replicas.
    pub owner: u64,
}

/// Changes shipped between replicas: added entries and removed dots.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Delta {
    /// Added entries with their dots.
    pub adds: Vec<(Tag, Entry)>,
    /// Removed dots.
    pub removes: Vec<Tag>,
}

impl Delta {
    /// True when the delta carries nothing.
    pub fn is_empty(&self) -> bool {
        self.adds.is_empty() && self.removes.is_empty()
    }

    /// JSON for the wire: `{"adds": [[replica, clock, topic, key, meta], …],
    /// "removes": [[replica, clock], …]}`.
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "adds": entries_to_json(&self.adds),
            "removes": self.removes.iter().map(|t| serde_json::json!([&*t.replica, t.clock])).collect::<Vec<_>>(),
        })
    }

    /// Parse [`to_json`](Self::to_json) output.
    pub fn from_json(v: &Value) -> Option<Delta> {
        let adds = entries_from_json(v.get("adds")?)?;
        let removes = v
            .get("removes")?
            .as_array()?
            .iter()
            .map(|r| {
                Some(Tag {
                    replica: r.get(0)?.as_str()?.into(),
                    clock: r.get(1)?.as_u64()?,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Delta { adds, removes })
    }
}

/// Entries as JSON `[[replica, clock, topic, key, meta], …]`.
pub fn entries_to_json(entries: &[(Tag, Entry)]) -> Value {
    Value::Array(
        entries
            .iter()
            .map(|(t, e)| serde_json::json!([&*t.replica, t.clock, e.topic, e.key, e.meta]))
            .collect(),
    )
}

/// Parse [`entries_to_json`] output.
pub fn entries_from_json(v: &Value) -> Option<Vec<(Tag, Entry)>> {
    v.as_array()?
        .iter()
        .map(|a| {
            let tag = Tag {
                replica: a.get(0)?.as_str()?.into(),
                clock: a.get(1)?.as_u64()?,
            };
            let entry = Entry {
                topic: a.get(2)?.as_str()?.to_owned(),
                key: a.get(3)?.as_str()?.to_owned(),
                meta: a.get(4)?.as_object()?.clone(),
                owner: 0,
            };
            Some((tag, entry))
        })
        .collect()
}

/// What a merge changed, as entries.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Diff {
    /// Entries that appeared.
    pub joins: Vec<Entry>,
    /// Entries that disappeared.
    pub leaves: Vec<Entry>,
}

impl Diff {
    /// True when nothing changed.
    pub fn is_empty(&self) -> bool {
        self.joins.is_empty() && self.leaves.is_empty()
    }
}

/// One replica's presence state.
#[derive(Debug)]
pub struct State {
    replica: Arc<str>,
    clock: u64,
    context: HashMap<Arc<str>, u64>,
    cloud: HashSet<Tag>,
    values: HashMap<Tag, Entry>,
    topics: HashMap<String, BTreeSet<Tag>>,
    delta: Delta,
}

impl State {
    /// An empty state for replica `replica` (unique per node incarnation).
    pub fn new(replica: &str) -> State {
        State {
            replica: replica.into(),
            clock: 0,
            context: HashMap::new(),
            cloud: HashSet::new(),
            values: HashMap::new(),
            topics: HashMap::new(),
            delta: Delta::default(),
        }
    }

    /// This replica's name.
    pub fn replica(&self) -> &str {
        &self.replica
    }

    fn seen(&self, tag: &Tag) -> bool {
        self.context
            .get(&tag.replica)
            .is_some_and(|c| tag.clock <= *c)
            || self.cloud.contains(tag)
    }

    fn see(&mut self, tag: &Tag) {
        let ctx = self.context.entry(tag.replica.clone()).or_insert(0);
        if tag.clock <= *ctx {
            return;
        }
        if tag.clock == *ctx + 1 {
            *ctx += 1;
            loop {
                let next = Tag {
                    replica: tag.replica.clone(),
                    clock: *ctx + 1,
                };
                if self.cloud.remove(&next) {
                    *ctx += 1;
                } else {
                    break;
                }
            }
        } else {
            self.cloud.insert(tag.clone());
        }
    }

    fn insert(&mut self, tag: Tag, entry: Entry) {
        self.topics
            .entry(entry.topic.clone())
            .or_default()
            .insert(tag.clone());
        self.values.insert(tag, entry);
    }

    fn remove_value(&mut self, tag: &Tag) -> Option<Entry> {
        let entry = self.values.remove(tag)?;
        if let Some(tags) = self.topics.get_mut(&entry.topic) {
            tags.remove(tag);
            if tags.is_empty() {
                self.topics.remove(&entry.topic);
            }
        }
        Some(entry)
    }

    /// Add a local entry; returns its dot.
    pub fn add(&mut self, owner: u64, topic: &str, key: &str, meta: Map<String, Value>) -> Tag {
        self.clock += 1;
        let tag = Tag {
            replica: self.replica.clone(),
            clock: self.clock,
        };
        self.see(&tag);
        let entry = Entry {
            topic: topic.to_owned(),
            key: key.to_owned(),
            meta,
            owner,
        };
        self.delta.adds.push((tag.clone(), entry.clone()));
        self.insert(tag.clone(), entry);
        tag
    }

    /// Remove an entry (local or remote) by dot; returns it if it was present.
    pub fn remove(&mut self, tag: &Tag) -> Option<Entry> {
        let entry = self.remove_value(tag)?;
        self.delta.adds.retain(|(t, _)| t != tag);
        self.delta.removes.push(tag.clone());
        Some(entry)
    }

    /// Take the changes made since the last call (for replication).
    pub fn take_delta(&mut self) -> Delta {
        std::mem::take(&mut self.delta)
    }

    /// Everything this replica holds, as a delta (for a full-state transfer).
    pub fn full_delta(&self) -> Delta {
        let mut adds: Vec<(Tag, Entry)> = self
            .values
            .iter()
            .map(|(t, e)| (t.clone(), e.clone()))
            .collect();
        adds.sort_by(|a, b| a.0.cmp(&b.0));
        Delta {
            adds,
            removes: Vec::new(),
        }
    }

    /// Apply a remote delta; returns what changed here.
    pub fn merge(&mut self, delta: &Delta) -> Diff {
        let mut diff = Diff::default();
        for (tag, entry) in &delta.adds {
            if !self.seen(tag) {
                self.see(tag);
                let entry = Entry {
                    owner: 0,
                    ..entry.clone()
                };
                diff.joins.push(entry.clone());
                self.insert(tag.clone(), entry);
            }
        }
        for tag in &delta.removes {
            if let Some(entry) = self.remove_value(tag) {
                diff.leaves.push(entry);
            }
            self.see(tag);
        }
        diff
    }

    /// Drop every entry added by `replica` (a node that went down) and forget what was seen of
    /// it, so a later full transfer from it restores its entries; returns the dropped entries.
    pub fn replica_down(&mut self, replica: &str) -> Diff {
        self.context.remove(replica);
        self.cloud.retain(|t| &*t.replica != replica);
        let tags: Vec<Tag> = self
            .values
            .keys()
            .filter(|t| &*t.replica == replica)
            .cloned()
            .collect();
        let mut diff = Diff::default();
        for tag in tags {
            if let Some(e) = self.remove_value(&tag) {
                diff.leaves.push(e);
            }
        }
        diff
    }

    /// Bring what is known of `replica` up to a full transfer of its own `entries`, taken when
    /// its clock was `clock`: entries it no longer has (dots up to `clock` missing from the
    /// transfer) leave; entries not seen yet join. Dots already seen removed stay removed, so a
    /// transfer that crosses a newer delta cannot resurrect an entry.
    pub fn sync_replica(&mut self, replica: &str, clock: u64, entries: &[(Tag, Entry)]) -> Diff {
        let incoming: HashSet<&Tag> = entries.iter().map(|(t, _)| t).collect();
        let stale: Vec<Tag> = self
            .values
            .keys()
            .filter(|t| &*t.replica == replica && t.clock <= clock && !incoming.contains(t))
            .cloned()
            .collect();
        let mut diff = Diff::default();
        for tag in stale {
            if let Some(e) = self.remove_value(&tag) {
                diff.leaves.push(e);
            }
            self.see(&tag);
        }
        for (tag, entry) in entries {
            if &*tag.replica != replica || self.seen(tag) {
                continue;
            }
            self.see(tag);
            let entry = Entry {
                owner: 0,
                ..entry.clone()
            };
            diff.joins.push(entry.clone());
            self.insert(tag.clone(), entry);
        }
        diff
    }

    /// This replica's clock (the dot of its latest operation).
    pub fn clock(&self) -> u64 {
        self.clock
    }

    /// This replica's own entries (for a full-state transfer to a peer).
    pub fn own_entries(&self) -> Vec<(Tag, Entry)> {
        let mut v: Vec<(Tag, Entry)> = self
            .values
            .iter()
            .filter(|(t, _)| t.replica == self.replica)
            .map(|(t, e)| (t.clone(), e.clone()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// The entries of `topic`, oldest first.
    pub fn list(&self, topic: &str) -> Vec<(&Tag, &Entry)> {
        self.topics
            .get(topic)
            .map(|tags| {
                tags.iter()
                    .filter_map(|t| self.values.get_key_value(t))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Dots of the local entries owned by `owner`, optionally only in `topic` and for `key`.
    pub fn owned(&self, owner: u64, topic: Option<&str>, key: Option<&str>) -> Vec<Tag> {
        let mut tags: Vec<Tag> = self
            .values
            .iter()
            .filter(|(t, e)| {
                t.replica == self.replica
                    && e.owner == owner
                    && topic.is_none_or(|t| t == e.topic)
                    && key.is_none_or(|k| k == e.key)
            })
            .map(|(t, _)| t.clone())
            .collect();
        tags.sort();
        tags
    }

    /// The entry for a dot.
    pub fn get(&self, tag: &Tag) -> Option<&Entry> {
        self.values.get(tag)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}
