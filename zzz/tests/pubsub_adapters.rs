//! The multi-node PubSub adapters against the real services: Postgres LISTEN/NOTIFY
//! (`ZZZ_TEST_DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/postgres`) and Redis
//! pub/sub (`ZZZ_TEST_REDIS_URL`, default `redis://127.0.0.1:6379`). Several nodes live in
//! this process, each with its own connections, so everything crosses the real service.
//! Each test uses its own channel, so tests run in parallel and never see each other.
//! A service that is down fails the test with how to start it.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use zzz::presence::Presence;
use zzz::presence::replication::ReplicationConfig;
use zzz::pubsub::postgres::{PostgresAdapter, PostgresConfig};
use zzz::pubsub::redis::{RedisAdapter, RedisConfig};
use zzz::pubsub::{ClusterConfig, PubSub, Subscription};

fn pg_url() -> String {
    std::env::var("ZZZ_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn redis_url() -> String {
    std::env::var("ZZZ_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

#[derive(Clone, Copy, Debug)]
enum Backend {
    Postgres,
    Redis,
}

/// A channel name no other test (or test run) uses.
fn unique(test: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("zzz_t_{test}_{}_{nanos:x}_{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// A node named `name` of the cluster that shares `channel` on `backend`.
async fn node(backend: Backend, channel: &str, name: &str) -> PubSub {
    match backend {
        Backend::Postgres => {
            let url = pg_url();
            let adapter = PostgresAdapter::connect(PostgresConfig::new(&url).channel(channel).node_name(name))
                .await
                .unwrap_or_else(|e| {
                    panic!(
                        "{e}\nPostgres is needed at {url} (set ZZZ_TEST_DATABASE_URL to use another): start it with \
                         `pg_ctlcluster <version> main start` (Debian: apt-get install postgresql), or make a throwaway \
                         one with `initdb -A trust -U postgres DIR && pg_ctl -D DIR -o '-p 5432' start`"
                    )
                });
            PubSub::with_adapter(adapter)
        }
        Backend::Redis => {
            let url = redis_url();
            let adapter = RedisAdapter::connect(RedisConfig::new(&url).channel_prefix(channel).node_name(name))
                .await
                .unwrap_or_else(|e| {
                    panic!(
                        "{e}\nRedis is needed at {url} (set ZZZ_TEST_REDIS_URL to use another): start it with \
                         `redis-server --daemonize yes` (Debian: apt-get install redis-server)"
                    )
                });
            PubSub::with_adapter(adapter)
        }
    }
}

/// The next broadcast on `sub`, failing after a generous bound instead of hanging.
async fn next(sub: &mut Subscription) -> (String, Value) {
    let msg = tokio::time::timeout(Duration::from_secs(20), sub.recv())
        .await
        .unwrap_or_else(|_| panic!("no broadcast on {} within 20 s", sub.topic()))
        .expect("subscription open");
    (msg.event.clone(), msg.payload.as_json().cloned().unwrap_or(Value::Null))
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..400 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out (20 s) waiting for {what}");
}

fn keys(v: &Value) -> Vec<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

/// Broadcasts cross nodes; a node's own broadcast reaches its subscribers once (its echo is
/// dropped); direct broadcasts reach only their node; broadcast_from skips only the sender.
async fn broadcasts_cross_nodes(backend: Backend) {
    let ch = unique("bc");
    let (a, b, c) = (node(backend, &ch, "a").await, node(backend, &ch, "b").await, node(backend, &ch, "c").await);
    let (mut sa, mut sb, mut sc) = (a.subscribe("room:1"), b.subscribe("room:1"), c.subscribe("room:1"));

    a.broadcast("room:1", "new_msg", json!({"n": 1})).unwrap();
    assert_eq!(next(&mut sb).await, ("new_msg".into(), json!({"n": 1})));
    assert_eq!(next(&mut sc).await, ("new_msg".into(), json!({"n": 1})));
    // b answers only after it got a's message, so a's echo (if it were delivered) would reach
    // a before b's answer: seeing the answer right after the local copy proves there is none.
    b.broadcast("room:1", "answer", json!({})).unwrap();
    assert_eq!(next(&mut sa).await, ("new_msg".into(), json!({"n": 1})), "local delivery");
    assert_eq!(next(&mut sa).await.0, "answer", "a's own broadcast came back a second time");
    assert_eq!(next(&mut sb).await.0, "answer");
    assert_eq!(next(&mut sc).await.0, "answer");

    // direct to b: c must not get it; a's next broadcast to all comes after it on the wire.
    a.direct_broadcast("b", "room:1", "direct", json!({"to": "b"})).unwrap();
    a.broadcast("room:1", "marker", json!({})).unwrap();
    assert_eq!(next(&mut sb).await.0, "direct");
    assert_eq!(next(&mut sb).await.0, "marker");
    assert_eq!(next(&mut sc).await.0, "marker", "c got a message sent directly to b");
    assert_eq!(next(&mut sa).await.0, "marker");

    // broadcast_from: every other subscriber, local and remote, but not the sender.
    let mut sa2 = a.subscribe("room:1");
    a.broadcast_from(sa.id(), "room:1", "from", json!({})).unwrap();
    a.broadcast("room:1", "marker2", json!({})).unwrap();
    assert_eq!(next(&mut sa2).await.0, "from");
    assert_eq!(next(&mut sb).await.0, "from");
    assert_eq!(next(&mut sa).await.0, "marker2", "broadcast_from reached its sender");
}

#[tokio::test]
async fn postgres_broadcasts_cross_nodes() {
    broadcasts_cross_nodes(Backend::Postgres).await;
}

#[tokio::test]
async fn redis_broadcasts_cross_nodes() {
    broadcasts_cross_nodes(Backend::Redis).await;
}

/// Payloads far over NOTIFY's 8000-byte limit, JSON with multi-byte characters and binary,
/// arrive intact, in order with small ones.
async fn large_payloads_arrive_intact(backend: Backend) {
    let ch = unique("big");
    let (a, b) = (node(backend, &ch, "a").await, node(backend, &ch, "b").await);
    let mut sb = b.subscribe("room:big");
    let text: String = (0..60_000).map(|i| ['a', 'é', '字', '🎉'][i % 4]).collect();
    let big = json!({"body": text, "list": (0..2000).collect::<Vec<_>>()});
    assert!(big.to_string().len() > 100_000);
    let bytes: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
    a.broadcast("room:big", "big", big.clone()).unwrap();
    a.broadcast("room:big", "small", json!({"n": 1})).unwrap();
    a.broadcast("room:big", "bin", bytes.clone()).unwrap();
    assert_eq!(next(&mut sb).await, ("big".into(), big));
    assert_eq!(next(&mut sb).await, ("small".into(), json!({"n": 1})));
    let msg = tokio::time::timeout(Duration::from_secs(20), sb.recv()).await.unwrap().unwrap();
    assert_eq!(msg.event, "bin");
    assert_eq!(msg.payload.as_binary().map(|b| b.to_vec()), Some(bytes));
}

#[tokio::test]
async fn postgres_large_payloads_arrive_intact() {
    large_payloads_arrive_intact(Backend::Postgres).await;
}

#[tokio::test]
async fn redis_large_payloads_arrive_intact() {
    large_payloads_arrive_intact(Backend::Redis).await;
}

/// Both of a node's Postgres connections are killed by the server; the node reconnects,
/// LISTENs again, and broadcasts flow both ways again.
#[tokio::test]
async fn postgres_reconnects_after_losing_its_connections() {
    let ch = unique("reconnect");
    // b's name is unique on this machine: its connections are found by application_name.
    let b_name = format!("reconnect-b-{}", std::process::id());
    let (a, b) = (node(Backend::Postgres, &ch, "a").await, node(Backend::Postgres, &ch, &b_name).await);
    let (mut sa, mut sb) = (a.subscribe("t"), b.subscribe("t"));
    a.broadcast("t", "before", json!({})).unwrap();
    assert_eq!(next(&mut sb).await.0, "before");
    assert_eq!(next(&mut sa).await.0, "before");

    let mut admin = {
        use sqlx::Connection;
        sqlx::PgConnection::connect(&pg_url()).await.expect("admin connection")
    };
    let killed: Vec<(bool,)> = sqlx::query_as("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1")
        .bind(format!("zzz-pubsub {}", b.node_name()))
        .fetch_all(&mut admin)
        .await
        .unwrap();
    assert_eq!(killed.len(), 2, "b's sending and listening connections were found and terminated");

    gets_through(&a, &mut sb, "a→b").await;
    gets_through(&b, &mut sa, "b→a").await;
}

/// Keep broadcasting from `from` until one reaches `sub` (messages sent while a node is
/// reconnecting may be lost: at most once, like Phoenix).
async fn gets_through(from: &PubSub, sub: &mut Subscription, label: &str) {
    for i in 0..300 {
        from.broadcast(sub.topic(), "ping", json!({"i": i})).unwrap();
        if let Ok(Some(msg)) = tokio::time::timeout(Duration::from_millis(100), sub.recv()).await {
            assert_eq!(msg.event, "ping");
            return;
        }
    }
    panic!("{label}: no broadcast got through within 30 s of the reconnect");
}

/// A message the database refuses (a character its LATIN1 encoding lacks) is dropped with an
/// error log; the messages around it, sent in the same batch, still arrive.
#[tokio::test]
async fn postgres_drops_only_what_the_database_refuses() {
    use sqlx::Connection;
    let db = unique("latin1");
    let mut admin = sqlx::PgConnection::connect(&pg_url()).await.unwrap_or_else(|e| {
        panic!("{e}: Postgres is needed at {} (set ZZZ_TEST_DATABASE_URL): `pg_ctlcluster <version> main start`", pg_url())
    });
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE DATABASE {db} ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0"
    )))
    .execute(&mut admin)
    .await
    .unwrap();
    let url = match pg_url().rsplit_once('/') {
        Some((server, _)) => format!("{server}/{db}"),
        None => unreachable!("a Postgres URL has a path"),
    };
    {
        let connect = |name: &'static str| {
            let url = url.clone();
            async move { PubSub::with_adapter(PostgresAdapter::connect(PostgresConfig::new(url).node_name(name)).await.unwrap()) }
        };
        let (a, b) = (connect("a").await, connect("b").await);
        let mut sb = b.subscribe("t");
        a.broadcast("t", "first", json!({"body": "café"})).unwrap();
        a.broadcast("t", "refused", json!({"body": "字"})).unwrap();
        a.broadcast("t", "last", json!({})).unwrap();
        assert_eq!(next(&mut sb).await, ("first".into(), json!({"body": "café"})), "LATIN1 has é");
        assert_eq!(next(&mut sb).await.0, "last");
    }
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE {db} WITH (FORCE)"))).execute(&mut admin).await.unwrap();
}

/// A Redis server of this test's own, so it can be killed and restarted.
fn spawn_redis(port: u16) -> tokio::process::Child {
    tokio::process::Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run redis-server ({e}): install it with `apt-get install redis-server`"))
}

async fn wait_for_port(port: u16) {
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("redis-server did not listen on port {port} within 5 s");
}

/// The Redis server restarts under two nodes: both re-establish their connections (publish
/// and SUBSCRIBE again) and broadcasts flow both ways again.
#[tokio::test]
async fn redis_reconnects_after_the_server_restarts() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut server = spawn_redis(port);
    wait_for_port(port).await;
    let url = format!("redis://127.0.0.1:{port}");
    let ch = unique("restart");
    let connect = |name: &'static str| {
        let (url, ch) = (url.clone(), ch.clone());
        async move {
            PubSub::with_adapter(RedisAdapter::connect(RedisConfig::new(url).channel_prefix(ch).node_name(name)).await.unwrap())
        }
    };
    let (a, b) = (connect("a").await, connect("b").await);
    let (mut sa, mut sb) = (a.subscribe("t"), b.subscribe("t"));
    a.broadcast("t", "before", json!({})).unwrap();
    assert_eq!(next(&mut sb).await.0, "before");
    assert_eq!(next(&mut sa).await.0, "before");

    server.kill().await.unwrap();
    let _server = spawn_redis(port);
    wait_for_port(port).await;
    gets_through(&a, &mut sb, "a→b").await;
    gets_through(&b, &mut sa, "b→a").await;
}

fn fast(down: Duration) -> ReplicationConfig {
    ReplicationConfig { broadcast_period: Duration::from_millis(50), down_period: down, ..Default::default() }
}

/// Presence replicates through the real adapter: deltas in heartbeats, a full transfer for a
/// node that joins late, and a node that stops heartbeating loses its presences after the
/// down period.
async fn presence_replicates_and_times_out(backend: Backend) {
    let ch = unique("presence");
    let (ps_a, ps_b) = (node(backend, &ch, "a").await, node(backend, &ch, "b").await);
    let (pa, pb) = (Presence::new(ps_a.clone()), Presence::new(ps_b.clone()));
    let cfg = fast(Duration::from_millis(3000));
    let _ra = pa.start_replication(cfg.clone());
    let rb = pb.start_replication(cfg.clone());
    let mut diffs_a = ps_a.subscribe("room:1");

    pa.track_owner(1, "room:1", "alice", json!({"online_at": 1})).unwrap();
    pb.track_owner(2, "room:1", "bob", json!({"online_at": 2, "pad": "x".repeat(9000)})).unwrap();
    eventually("both nodes to list alice and bob", || {
        keys(&pa.list("room:1")) == ["alice", "bob"] && keys(&pb.list("room:1")) == ["alice", "bob"]
    })
    .await;
    assert_eq!(pa.list("room:1"), pb.list("room:1"), "same metas and phx_refs on both nodes");

    // A node that starts later gets everything by transfer.
    let ps_c = node(backend, &ch, "c").await;
    let pc = Presence::new(ps_c.clone());
    let _rc = pc.start_replication(cfg.clone());
    eventually("the late node to list alice and bob", || keys(&pc.list("room:1")) == ["alice", "bob"]).await;
    assert_eq!(pc.list("room:1"), pa.list("room:1"));

    // b stops heartbeating (its replication dies without a word): after the down period its
    // presences leave on the other nodes, with a presence_diff.
    drop(rb);
    eventually("bob to leave on a and c after b went silent", || {
        keys(&pa.list("room:1")) == ["alice"] && keys(&pc.list("room:1")) == ["alice"]
    })
    .await;
    loop {
        let (event, payload) = next(&mut diffs_a).await;
        if event == "presence_diff" && payload["leaves"].get("bob").is_some() {
            assert_eq!(payload["leaves"]["bob"]["metas"][0]["online_at"], json!(2));
            break;
        }
    }
}

#[tokio::test]
async fn postgres_presence_replicates_and_times_out() {
    presence_replicates_and_times_out(Backend::Postgres).await;
}

#[tokio::test]
async fn redis_presence_replicates_and_times_out() {
    presence_replicates_and_times_out(Backend::Redis).await;
}

/// A clean shutdown removes a node's presences on the others at once: the down period is an
/// hour, so only the shutdown notice can make them leave.
async fn clean_shutdown_removes_presences(backend: Backend) {
    let ch = unique("shutdown");
    let (ps_a, ps_b) = (node(backend, &ch, "a").await, node(backend, &ch, "b").await);
    let (pa, pb) = (Presence::new(ps_a.clone()), Presence::new(ps_b.clone()));
    let cfg = fast(Duration::from_secs(3600));
    let ra = pa.start_replication(cfg.clone());
    let _rb = pb.start_replication(cfg);
    pa.track_owner(1, "room:1", "alice", json!({})).unwrap();
    eventually("b to list alice", || keys(&pb.list("room:1")) == ["alice"]).await;
    ra.shutdown();
    ps_a.flush().await;
    drop(ps_a);
    eventually("alice to leave on b after a's clean shutdown", || pb.list("room:1") == json!({})).await;
}

#[tokio::test]
async fn postgres_clean_shutdown_removes_presences() {
    clean_shutdown_removes_presences(Backend::Postgres).await;
}

#[tokio::test]
async fn redis_clean_shutdown_removes_presences() {
    clean_shutdown_removes_presences(Backend::Redis).await;
}

#[tokio::test]
async fn connect_errors_name_what_is_wrong() {
    let e = PubSub::connect("mysql://x", &ClusterConfig::default()).await.unwrap_err().to_string();
    assert!(e.contains("\"mysql\"") && e.contains("postgres://"), "{e}");
    let e = PubSub::connect("postgres://postgres:secret@127.0.0.1:1/postgres", &ClusterConfig::default()).await.unwrap_err().to_string();
    assert!(e.contains("cannot connect to postgres://postgres:***@127.0.0.1:1/postgres"), "{e}");
    let e = PostgresAdapter::connect(PostgresConfig::new(pg_url()).channel("x".repeat(64))).await.unwrap_err().to_string();
    assert!(e.contains("channel name must be 1 to 63 bytes"), "{e}");
    let e = PubSub::connect("redis://127.0.0.1:1", &ClusterConfig::default()).await.unwrap_err().to_string();
    assert!(e.contains("cannot connect to redis://127.0.0.1:1"), "{e}");
    // A URL picks its adapter, and the node name is the one given.
    let ps = PubSub::connect(&redis_url(), &ClusterConfig { node: Some("named".into()), channel: Some(unique("named")) }).await.unwrap();
    assert_eq!(ps.node_name(), "named");
}
