//! WebSockets served by `zzz::Server` over plain TCP, where broadcasts to an idle connection
//! are written straight to its socket by the publisher (the direct lane) instead of going
//! through the connection's task: ordering, intercepts, replies, pings, slow readers and
//! clients that stop reading must behave exactly as through the mailbox.

mod channels_common;

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{WebSocketStream, client_async};
use zzz::Endpoint;
use zzz::channels::{SocketConfig, SocketEndpoint};
use zzz::server::{Server, ServerConfig};

use channels_common::{TestSocket, endpoint_with};

zzz::router! {
    /// The socket mounted at `/socket`, as an app mounts it.
    pub DirectRouter;

    socket "/socket" => TestSocket;
}

type Ws = WebSocketStream<TcpStream>;

async fn serve(ep: SocketEndpoint<TestSocket>) -> SocketAddr {
    let server = Server::bind("127.0.0.1:0".parse().unwrap(), ServerConfig::default()).unwrap();
    let addr = server.local_addr();
    tokio::spawn(server.serve_with_shutdown(
        Endpoint::new(DirectRouter::new()).socket(ep),
        std::future::pending(),
    ));
    addr
}

async fn connect(addr: SocketAddr, user: &str) -> Ws {
    let req = format!("ws://{addr}/socket/websocket?vsn=2.0.0&user={user}")
        .into_client_request()
        .unwrap();
    let tcp = TcpStream::connect(addr).await.unwrap();
    client_async(req, tcp).await.unwrap().0
}

async fn next_json(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a frame within 10 s");
        match msg.expect("stream open").expect("frame") {
            Message::Text(t) => return serde_json::from_str(t.as_str()).unwrap(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::text(v.to_string())).await.unwrap();
}

async fn join(ws: &mut Ws, topic: &str) {
    send(ws, json!(["1", "1", topic, "phx_join", {"presence": false}])).await;
    assert_eq!(
        next_json(ws).await,
        json!(["1", "1", topic, "phx_reply", {"status": "ok", "response": {"joined": topic}}])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcasts_arrive_in_order_with_replies_pings_and_intercepts() {
    let (ep, _) = endpoint_with(SocketConfig::default());
    let pubsub = ep.pubsub().clone();
    let addr = serve(ep).await;
    let mut a = connect(addr, "alice").await;
    let mut b = connect(addr, "bob").await;
    join(&mut a, "room:direct").await;
    join(&mut b, "room:direct").await;

    for seq in 0..200 {
        pubsub
            .broadcast("room:direct", "tick", json!({"seq": seq}))
            .unwrap();
    }
    for ws in [&mut a, &mut b] {
        for seq in 0..200 {
            assert_eq!(
                next_json(ws).await,
                json!([null, null, "room:direct", "tick", {"seq": seq}])
            );
        }
    }

    // An intercepted event goes through handle_out, between direct deliveries, in order.
    pubsub.broadcast("room:direct", "tick", json!({"seq": 200})).unwrap();
    pubsub
        .broadcast("room:direct", "intercepted", json!({"n": 1}))
        .unwrap();
    pubsub.broadcast("room:direct", "tick", json!({"seq": 201})).unwrap();
    for (ws, name) in [(&mut a, "alice"), (&mut b, "bob")] {
        assert_eq!(next_json(ws).await[4], json!({"seq": 200}));
        // handle_out pushes it as the channel (with its join_ref)
        assert_eq!(
            next_json(ws).await,
            json!(["1", null, "room:direct", "intercepted", {"n": 1, "seen_by": name}])
        );
        assert_eq!(next_json(ws).await[4], json!({"seq": 201}));
    }

    // A client message: its broadcast and its reply both arrive; a ping is answered.
    send(&mut a, json!(["1", "2", "room:direct", "new_msg", {"body": "hi"}])).await;
    let mut got = vec![next_json(&mut a).await, next_json(&mut a).await];
    got.sort_by_key(|v| v[3].as_str().unwrap().to_owned());
    assert_eq!(
        got,
        vec![
            json!([null, null, "room:direct", "new_msg", {"user": "alice", "body": "hi"}]),
            json!(["1", "2", "room:direct", "phx_reply", {"status": "ok", "response": {}}]),
        ]
    );
    assert_eq!(
        next_json(&mut b).await,
        json!([null, null, "room:direct", "new_msg", {"user": "alice", "body": "hi"}])
    );
    a.send(Message::Ping(b"are you there".to_vec().into()))
        .await
        .unwrap();
    let pong = tokio::time::timeout(Duration::from_secs(10), a.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(pong, Message::Pong(b"are you there".to_vec().into()));

    // After leaving, nothing more arrives on that topic; the socket still answers.
    send(&mut a, json!(["1", "3", "room:direct", "phx_leave", {}])).await;
    assert_eq!(
        next_json(&mut a).await,
        json!(["1", "3", "room:direct", "phx_reply", {"status": "ok", "response": {}}])
    );
    assert_eq!(next_json(&mut a).await[3], json!("phx_close"));
    pubsub.broadcast("room:direct", "tick", json!({"seq": 202})).unwrap();
    assert_eq!(next_json(&mut b).await[4], json!({"seq": 202}));
    send(&mut a, json!([null, "4", "phoenix", "heartbeat", {}])).await;
    assert_eq!(
        next_json(&mut a).await,
        json!([null, "4", "phoenix", "phx_reply", {"status": "ok", "response": {}}])
    );
}

/// Broadcasts far larger than the socket buffers, to a client that reads only later: direct
/// writes are cut short, the rest waits in the lane, and every frame still arrives whole and
/// in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_reader_gets_every_frame_whole_and_in_order() {
    let (ep, _) = endpoint_with(SocketConfig::default());
    let pubsub = ep.pubsub().clone();
    let addr = serve(ep).await;
    let mut ws = connect(addr, "slow").await;
    join(&mut ws, "room:big").await;
    let count = 120;
    let publisher = tokio::spawn(async move {
        for seq in 0..count {
            let body = format!("{seq:05}").repeat(6 * 1024);
            pubsub
                .broadcast("room:big", "big", json!({"seq": seq, "body": body}))
                .unwrap();
            if seq % 10 == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    for seq in 0..count {
        let msg = next_json(&mut ws).await;
        assert_eq!(msg[3], json!("big"));
        assert_eq!(msg[4]["seq"], json!(seq));
        assert_eq!(msg[4]["body"], json!(format!("{seq:05}").repeat(6 * 1024)));
    }
    publisher.await.unwrap();
    send(&mut ws, json!([null, "9", "phoenix", "heartbeat", {}])).await;
    assert_eq!(next_json(&mut ws).await[1], json!("9"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_dropped_after_write_timeout() {
    let config = SocketConfig {
        write_timeout: Duration::from_millis(300),
        ..Default::default()
    };
    let (ep, _) = endpoint_with(config);
    let pubsub = ep.pubsub().clone();
    let addr = serve(ep).await;
    let mut ws = connect(addr, "stuck").await;
    join(&mut ws, "room:stuck").await;
    assert_eq!(pubsub.subscriber_count("room:stuck"), 1);
    // the client never reads again; flood it until the kernel buffers are full
    let big = "y".repeat(64 * 1024);
    for _ in 0..400 {
        pubsub
            .broadcast("room:stuck", "flood", json!({"data": big}))
            .unwrap();
    }
    for _ in 0..100 {
        if pubsub.subscriber_count("room:stuck") == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("a client that stopped reading was not dropped");
}

/// A fan-out large enough to be split over several threads still reaches every subscriber
/// once per broadcast, in publishing order, and skips the `broadcast_from` sender.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_fan_out_reaches_every_subscriber_in_order() {
    let pubsub = zzz::pubsub::PubSub::new();
    let mut subs: Vec<_> = (0..5000).map(|_| pubsub.subscribe("fan:out")).collect();
    assert_eq!(pubsub.subscriber_count("fan:out"), 5000);
    let sender = subs[17].id();
    for seq in 0..3 {
        pubsub.broadcast("fan:out", "tick", json!({"seq": seq})).unwrap();
    }
    pubsub.broadcast_from(sender, "fan:out", "from", json!({})).unwrap();
    for (i, sub) in subs.iter_mut().enumerate() {
        for seq in 0..3 {
            let msg = sub.try_recv().expect("every broadcast delivered before it returns");
            assert_eq!((msg.event.as_str(), &msg.payload.as_json().unwrap()["seq"]), ("tick", &json!(seq)));
        }
        match sub.try_recv() {
            Some(msg) => assert!(i != 17 && msg.event == "from"),
            None => assert_eq!(i, 17, "subscriber {i} missed the broadcast_from"),
        }
        assert!(sub.try_recv().is_none());
    }
}
