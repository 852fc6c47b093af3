//! Replicating presence between nodes over PubSub.
//!
//! Every node's [`Replicator`] broadcasts, each `broadcast_period`, a heartbeat on a shared
//! topic carrying its sequence number and the [`Delta`] of its own changes since the last one.
//! Peers merge the deltas (the state is a CRDT, so order and repeats do not matter). A peer
//! seen for the first time, or a gap in its sequence numbers, triggers a full transfer of that
//! peer's entries (`transfer_req` / `transfer_ack`, sent directly to one node). A peer silent
//! for `down_period` is considered down and its presences leave; a clean
//! [`Replicator::shutdown`] tells the others at once. Every change becomes a local
//! `presence_diff` on each node.
//!
//! With the in-process PubSub adapter there are no other nodes and this only heartbeats to
//! itself; with a multi-node adapter it makes a cluster share presence.
//!
//! ```no_run
//! # async fn demo(pubsub: zzz::pubsub::PubSub) {
//! use zzz::presence::Presence;
//! use zzz::presence::replication::ReplicationConfig;
//!
//! let presence = Presence::new(pubsub);
//! let replicator = presence.start_replication(ReplicationConfig::default());
//! // … serve …
//! replicator.shutdown(); // peers drop this node's presences at once
//! # }
//! ```

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::Instant;

use super::Presence;
use super::state::{Delta, entries_from_json, entries_to_json};

/// Settings of presence replication.
#[derive(Debug, Clone)]
pub struct ReplicationConfig {
    /// The PubSub topic the nodes talk on (default `zzz:presence`).
    pub topic: String,
    /// How often deltas and heartbeats go out (default 1.5 s).
    pub broadcast_period: Duration,
    /// Silence after which a peer is down and its presences leave (default 30 s).
    pub down_period: Duration,
}

impl Default for ReplicationConfig {
    fn default() -> Self {
        ReplicationConfig {
            topic: "zzz:presence".into(),
            broadcast_period: Duration::from_millis(1500),
            down_period: Duration::from_secs(30),
        }
    }
}

/// A running replication task; dropping it stops replication silently (like a crash).
#[derive(Debug)]
pub struct Replicator {
    presence: Presence,
    topic: String,
    task: tokio::task::JoinHandle<()>,
}

impl Replicator {
    /// Stop and tell the other nodes to drop this node's presences now.
    pub fn shutdown(self) {
        self.task.abort();
        let replica = self.presence.replica();
        let _ = self.presence.inner.pubsub.broadcast(
            &self.topic,
            "down",
            json!({ "replica": replica }),
        );
    }
}

impl Drop for Replicator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Peer {
    seq: u64,
    seen: Instant,
}

impl Presence {
    /// Start replicating with the other nodes of this PubSub (needs a tokio runtime).
    pub fn start_replication(&self, config: ReplicationConfig) -> Replicator {
        let presence = self.clone();
        let topic = config.topic.clone();
        let mut sub = self.inner.pubsub.subscribe(&config.topic);
        let task = tokio::spawn(async move {
            let me = presence.replica();
            let node = presence.inner.pubsub.node_name().to_owned();
            let pubsub = presence.inner.pubsub.clone();
            let mut peers: HashMap<String, Peer> = HashMap::new();
            let mut seq = 0u64;
            let mut tick = tokio::time::interval(config.broadcast_period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        seq += 1;
                        let delta = presence.take_delta();
                        let msg = json!({"replica": me, "node": node, "seq": seq, "delta": delta.to_json()});
                        if let Err(e) = pubsub.broadcast(&config.topic, "heartbeat", msg) {
                            tracing::warn!("presence heartbeat not sent: {e}");
                        }
                        let now = Instant::now();
                        let down: Vec<String> = peers
                            .iter()
                            .filter(|(_, p)| now.duration_since(p.seen) > config.down_period)
                            .map(|(r, _)| r.clone())
                            .collect();
                        for replica in down {
                            tracing::warn!(replica, "presence peer silent for {:?}; removing its presences", config.down_period);
                            peers.remove(&replica);
                            presence.replica_down(&replica);
                        }
                    }
                    msg = sub.recv() => {
                        let Some(msg) = msg else { return };
                        let Some(body) = msg.payload.as_json() else { continue };
                        let field = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_owned);
                        let Some(replica) = field("replica").or_else(|| field("from")) else { continue };
                        if replica == me {
                            continue;
                        }
                        match msg.event.as_str() {
                            "heartbeat" => {
                                let peer_seq = body.get("seq").and_then(Value::as_u64).unwrap_or(0);
                                if let Some(delta) = body.get("delta").and_then(Delta::from_json) {
                                    presence.merge_remote(&delta);
                                }
                                let in_order = peers.get(&replica).is_some_and(|p| peer_seq <= p.seq + 1);
                                if let (false, Some(peer_node)) = (in_order, field("node")) {
                                    let req = json!({"to": replica, "from": me, "node": node});
                                    let _ = pubsub.direct_broadcast(&peer_node, &config.topic, "transfer_req", req);
                                }
                                let p = peers.entry(replica).or_insert(Peer { seq: 0, seen: Instant::now() });
                                p.seq = p.seq.max(peer_seq);
                                p.seen = Instant::now();
                            }
                            "transfer_req" => {
                                if field("to").as_deref() != Some(me.as_str()) {
                                    continue;
                                }
                                let Some(peer_node) = field("node") else { continue };
                                let (clock, entries) = {
                                    let st = presence.lock();
                                    (st.clock(), st.own_entries())
                                };
                                let ack = json!({"to": replica, "replica": me, "node": node,
                                                 "clock": clock, "entries": entries_to_json(&entries)});
                                let _ = pubsub.direct_broadcast(&peer_node, &config.topic, "transfer_ack", ack);
                            }
                            "transfer_ack" => {
                                if field("to").as_deref() != Some(me.as_str()) {
                                    continue;
                                }
                                let clock = body.get("clock").and_then(Value::as_u64).unwrap_or(0);
                                if let Some(entries) = body.get("entries").and_then(entries_from_json) {
                                    let diff = presence.lock().sync_replica(&replica, clock, &entries);
                                    presence.publish(diff);
                                }
                                if let Some(p) = peers.get_mut(&replica) {
                                    p.seen = Instant::now();
                                }
                            }
                            "down" => {
                                peers.remove(&replica);
                                presence.replica_down(&replica);
                            }
                            _ => {}
                        }
                    }
                }
            }
        });
        Replicator {
            presence: self.clone(),
            topic,
            task,
        }
    }
}
