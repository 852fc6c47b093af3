//! Several nodes in one process, joined by an in-memory PubSub adapter: broadcasts cross
//! nodes, and presence replicates as a CRDT over PubSub (deltas, full transfers for late
//! joiners, down detection, clean shutdown).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use zzz::presence::Presence;
use zzz::presence::replication::ReplicationConfig;
use zzz::pubsub::{Adapter, Broadcast, Dispatcher, PubSub, PubSubError, Target};

/// Nodes of an in-memory cluster.
#[derive(Clone, Default)]
struct Hub(Arc<Mutex<Vec<(String, Dispatcher)>>>);

struct HubAdapter {
    node: String,
    hub: Hub,
}

impl Adapter for HubAdapter {
    fn node_name(&self) -> &str {
        &self.node
    }
    fn start(&self, dispatcher: Dispatcher) {
        self.hub
            .0
            .lock()
            .unwrap()
            .push((self.node.clone(), dispatcher));
    }
    fn forward(&self, msg: &Broadcast, target: Target<'_>) -> Result<(), PubSubError> {
        let nodes = self.hub.0.lock().unwrap().clone();
        for (name, d) in nodes {
            let wanted = match target {
                Target::AllNodes => name != self.node,
                Target::Node(n) => name == n,
            };
            if wanted {
                d.dispatch(&msg.topic, &msg.event, msg.payload.clone());
            }
        }
        Ok(())
    }
}

fn node(hub: &Hub, name: &str) -> PubSub {
    PubSub::with_adapter(HubAdapter {
        node: name.into(),
        hub: hub.clone(),
    })
}

fn fast() -> ReplicationConfig {
    ReplicationConfig {
        broadcast_period: Duration::from_millis(30),
        down_period: Duration::from_millis(300),
        ..Default::default()
    }
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..200 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

fn keys(v: &Value) -> Vec<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

#[tokio::test]
async fn broadcasts_cross_nodes() {
    let hub = Hub::default();
    let (a, b) = (node(&hub, "a"), node(&hub, "b"));
    let mut sub_a = a.subscribe("room:1");
    let mut sub_b = b.subscribe("room:1");
    a.broadcast("room:1", "new_msg", json!({"n": 1})).unwrap();
    assert_eq!(sub_a.recv().await.unwrap().event, "new_msg");
    assert_eq!(sub_b.recv().await.unwrap().payload, json!({"n": 1}).into());
    a.local_broadcast("room:1", "local", json!({}));
    assert_eq!(sub_a.recv().await.unwrap().event, "local");
    b.direct_broadcast("a", "room:1", "direct", json!({}))
        .unwrap();
    assert_eq!(sub_a.recv().await.unwrap().event, "direct");
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(
        sub_b.try_recv().is_none(),
        "local and direct broadcasts stay off node b"
    );
}

#[tokio::test]
async fn presence_replicates_between_nodes() {
    let hub = Hub::default();
    let (ps_a, ps_b) = (node(&hub, "a"), node(&hub, "b"));
    let (pa, pb) = (Presence::new(ps_a.clone()), Presence::new(ps_b.clone()));
    let _ra = pa.start_replication(fast());
    let _rb = pb.start_replication(fast());
    let mut diffs_b = ps_b.subscribe("room:1");

    pa.track_owner(1, "room:1", "alice", json!({"online_at": 1}))
        .unwrap();
    pb.track_owner(2, "room:1", "bob", json!({"online_at": 2}))
        .unwrap();
    eventually("both nodes to list alice and bob", || {
        keys(&pa.list("room:1")) == ["alice", "bob"] && keys(&pb.list("room:1")) == ["alice", "bob"]
    })
    .await;
    assert_eq!(
        pa.list("room:1"),
        pb.list("room:1"),
        "same metas and phx_refs on both nodes"
    );

    // b's local subscribers saw bob (local diff) and alice (replicated diff) join
    let mut joined = Vec::new();
    while let Some(m) = diffs_b.try_recv() {
        assert_eq!(m.event, "presence_diff");
        joined.extend(keys(&m.payload.as_json().unwrap()["joins"]));
    }
    joined.sort();
    assert_eq!(joined, ["alice", "bob"]);

    // an update replicates with phx_ref_prev
    let old_ref = pa.list("room:1")["alice"]["metas"][0]["phx_ref"].clone();
    pa.update_owner(1, "room:1", "alice", json!({"status": "away"}))
        .unwrap();
    eventually("the update on node b", || {
        pb.list("room:1")["alice"]["metas"][0]["status"] == "away"
    })
    .await;
    assert_eq!(
        pb.list("room:1")["alice"]["metas"][0]["phx_ref_prev"],
        old_ref
    );
    assert_eq!(
        pb.list("room:1")["alice"]["metas"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    pa.untrack_owner(1, "room:1", "alice");
    eventually("alice to leave on node b", || {
        keys(&pb.list("room:1")) == ["bob"]
    })
    .await;
}

#[tokio::test]
async fn late_joiner_gets_full_state() {
    let hub = Hub::default();
    let ps_a = node(&hub, "a");
    let pa = Presence::new(ps_a.clone());
    let _ra = pa.start_replication(fast());
    pa.track_owner(1, "lobby", "alice", json!({})).unwrap();
    pa.track_owner(2, "lobby", "carol", json!({})).unwrap();
    // let a ship (and forget) those deltas before b exists
    tokio::time::sleep(Duration::from_millis(100)).await;
    let ps_b = node(&hub, "b");
    let pb = Presence::new(ps_b.clone());
    let _rb = pb.start_replication(fast());
    eventually("node b to receive a's state by transfer", || {
        keys(&pb.list("lobby")) == ["alice", "carol"]
    })
    .await;
}

#[tokio::test]
async fn silent_node_is_removed_after_down_period_and_clean_shutdown_at_once() {
    let hub = Hub::default();
    let (ps_a, ps_b, ps_c) = (node(&hub, "a"), node(&hub, "b"), node(&hub, "c"));
    let (pa, pb, pc) = (
        Presence::new(ps_a),
        Presence::new(ps_b.clone()),
        Presence::new(ps_c),
    );
    let ra = pa.start_replication(fast());
    let _rb = pb.start_replication(fast());
    let rc = pc.start_replication(ReplicationConfig {
        down_period: Duration::from_secs(60),
        ..fast()
    });
    pa.track_owner(1, "room", "alice", json!({})).unwrap();
    pc.track_owner(1, "room", "carol", json!({})).unwrap();
    eventually("b to see alice and carol", || {
        keys(&pb.list("room")) == ["alice", "carol"]
    })
    .await;
    let mut diffs_b = ps_b.subscribe("room");

    // c shuts down cleanly: b drops carol right away
    let started = tokio::time::Instant::now();
    rc.shutdown();
    eventually("carol to leave on b", || {
        keys(&pb.list("room")) == ["alice"]
    })
    .await;
    assert!(
        started.elapsed() < Duration::from_millis(250),
        "clean shutdown took {:?}",
        started.elapsed()
    );

    // a goes silent (crash): b drops alice after the down period
    let started = tokio::time::Instant::now();
    drop(ra);
    eventually("alice to leave on b", || pb.list("room") == json!({})).await;
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "dropped after only {:?}",
        started.elapsed()
    );
    let mut left = Vec::new();
    while let Some(m) = diffs_b.try_recv() {
        left.extend(keys(&m.payload.as_json().unwrap()["leaves"]));
    }
    assert_eq!(left, ["carol", "alice"]);
}
