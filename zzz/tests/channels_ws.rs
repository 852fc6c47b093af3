//! The WebSocket transport over real TCP: a Rust WebSocket client, and the official
//! `phoenix` npm client under Node (tests/js/channels_client.mjs).

mod channels_common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{WebSocketStream, client_async};
use zzz::channels::SocketConfig;

use channels_common::{endpoint, endpoint_with, serve};

type Ws = WebSocketStream<TcpStream>;

async fn connect(
    addr: SocketAddr,
    query: &str,
    headers: &[(&str, &str)],
) -> Result<(Ws, http::HeaderMap), WsError> {
    let mut req = format!("ws://{addr}/socket/websocket?{query}")
        .into_client_request()
        .unwrap();
    for (k, v) in headers {
        req.headers_mut().insert(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (ws, res) = client_async(req, tcp).await?;
    Ok((ws, res.headers().clone()))
}

fn status_of(err: WsError) -> u16 {
    match err {
        WsError::Http(res) => res.status().as_u16(),
        other => panic!("expected an HTTP rejection, got {other:?}"),
    }
}

async fn next_json(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("a frame within 5 s");
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

#[tokio::test]
async fn websocket_join_push_and_heartbeat() {
    let (ep, _) = endpoint();
    let addr = serve(ep).await;
    let (mut ws, headers) = connect(addr, "vsn=2.0.0&user=alice", &[]).await.unwrap();
    assert!(headers.get("sec-websocket-protocol").is_none());
    send(
        &mut ws,
        json!(["1", "1", "room:lobby", "phx_join", {"presence": false}]),
    )
    .await;
    assert_eq!(
        next_json(&mut ws).await,
        json!(["1", "1", "room:lobby", "phx_reply", {"status": "ok", "response": {"joined": "room:lobby"}}])
    );
    send(&mut ws, json!([null, "2", "phoenix", "heartbeat", {}])).await;
    assert_eq!(
        next_json(&mut ws).await,
        json!([null, "2", "phoenix", "phx_reply", {"status": "ok", "response": {}}])
    );
    send(
        &mut ws,
        json!(["1", "3", "room:lobby", "new_msg", {"body": "hi"}]),
    )
    .await;
    let mut got = vec![next_json(&mut ws).await, next_json(&mut ws).await];
    got.sort_by_key(|v| v[3].as_str().unwrap().to_owned());
    assert_eq!(
        got,
        vec![
            json!([null, null, "room:lobby", "new_msg", {"user": "alice", "body": "hi"}]),
            json!(["1", "3", "room:lobby", "phx_reply", {"status": "ok", "response": {}}]),
        ]
    );
}

#[tokio::test]
async fn websocket_v1_when_vsn_is_missing() {
    let (ep, _) = endpoint();
    let addr = serve(ep).await;
    let (mut ws, _) = connect(addr, "user=old", &[]).await.unwrap();
    send(
        &mut ws,
        json!({"topic": "room:1", "event": "phx_join", "payload": {"presence": false}, "ref": "1"}),
    )
    .await;
    assert_eq!(
        next_json(&mut ws).await,
        json!({"topic": "room:1", "event": "phx_reply", "payload": {"status": "ok", "response": {"joined": "room:1"}}, "ref": "1"})
    );
}

#[tokio::test]
async fn websocket_auth_token_subprotocol() {
    let (ep, _) = endpoint();
    let addr = serve(ep).await;
    // phoenix.js: btoa("carol") with "=" stripped
    let (mut ws, headers) = connect(
        addr,
        "vsn=2.0.0",
        &[(
            "sec-websocket-protocol",
            "phoenix, base64url.bearer.phx.Y2Fyb2w",
        )],
    )
    .await
    .unwrap();
    assert_eq!(headers.get("sec-websocket-protocol").unwrap(), "phoenix");
    send(
        &mut ws,
        json!(["1", "1", "room:t", "phx_join", {"presence": false}]),
    )
    .await;
    next_json(&mut ws).await;
    send(
        &mut ws,
        json!(["1", "2", "room:t", "new_msg", {"body": "x"}]),
    )
    .await;
    let frames = [next_json(&mut ws).await, next_json(&mut ws).await];
    assert!(
        frames.contains(&json!([null, null, "room:t", "new_msg", {"user": "carol", "body": "x"}])),
        "{frames:?}"
    );
}

#[tokio::test]
async fn websocket_rejections_are_http_errors() {
    let (ep, _) = endpoint();
    let addr = serve(ep).await;
    assert_eq!(
        status_of(connect(addr, "vsn=2.0.0", &[]).await.unwrap_err()),
        403,
        "connect refused"
    );
    assert_eq!(
        status_of(connect(addr, "vsn=3.0.0&user=a", &[]).await.unwrap_err()),
        403,
        "bad vsn"
    );
    assert_eq!(
        status_of(
            connect(
                addr,
                "vsn=2.0.0&user=a",
                &[("origin", "https://evil.example")]
            )
            .await
            .unwrap_err()
        ),
        403,
        "foreign origin"
    );
    assert_eq!(
        status_of(
            connect(
                addr,
                "vsn=2.0.0&user=a",
                &[(
                    "sec-websocket-protocol",
                    "phoenix, base64url.bearer.phx.!!!"
                )]
            )
            .await
            .unwrap_err()
        ),
        400,
        "undecodable token"
    );
    // same host as the Host header passes the default origin check
    connect(
        addr,
        "vsn=2.0.0&user=a",
        &[("origin", "http://127.0.0.1:9999")],
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn websocket_oversized_frame_closes_only_that_socket() {
    let (ep, _) = endpoint_with(SocketConfig {
        max_message_size: 1024,
        ..Default::default()
    });
    let addr = serve(ep).await;
    let (mut big, _) = connect(addr, "vsn=2.0.0&user=a", &[]).await.unwrap();
    let (mut other, _) = connect(addr, "vsn=2.0.0&user=b", &[]).await.unwrap();
    let body = "x".repeat(4096);
    big.send(Message::text(
        json!(["1", "1", "room:1", "phx_join", {"body": body}]).to_string(),
    ))
    .await
    .unwrap();
    let close = loop {
        match tokio::time::timeout(Duration::from_secs(5), big.next())
            .await
            .unwrap()
        {
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(close.unwrap().code, CloseCode::Size);
    send(&mut other, json!([null, "1", "phoenix", "heartbeat", {}])).await;
    assert_eq!(next_json(&mut other).await[4]["status"], "ok");
}

#[tokio::test]
async fn websocket_malformed_frame_closes_with_1007() {
    let (ep, _) = endpoint();
    let addr = serve(ep).await;
    let (mut ws, _) = connect(addr, "vsn=2.0.0&user=a", &[]).await.unwrap();
    ws.send(Message::text("[\"only\", \"three\", \"items\"]"))
        .await
        .unwrap();
    match tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .unwrap()
    {
        Some(Ok(Message::Close(Some(frame)))) => {
            assert_eq!(frame.code, CloseCode::Invalid);
            assert!(
                frame.reason.contains("malformed message"),
                "{}",
                frame.reason
            );
        }
        other => panic!("expected a close frame, got {other:?}"),
    }
}

fn js_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/js")
}

fn require_tool(name: &str) {
    let ok = Command::new(name)
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "`{name}` is required for the phoenix.js client test but was not found on PATH; install Node.js and npm (e.g. `apt-get install nodejs npm`)"
    );
}

fn npm_ci_if_needed(dir: &PathBuf) {
    // both phoenix.js tests may get here at once; one `npm ci` at a time
    static NPM: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = NPM.lock().unwrap_or_else(|e| e.into_inner());
    if dir.join("node_modules/phoenix/package.json").exists()
        && dir.join("node_modules/ws/package.json").exists()
    {
        return;
    }
    let out = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(dir)
        .output()
        .expect("run npm ci");
    assert!(
        out.status.success(),
        "npm ci in {} failed:\n{}\n{}",
        dir.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn run_phoenix_js(transport: &str, config: SocketConfig, cleanup_wait: Duration) {
    require_tool("node");
    require_tool("npm");
    let dir = js_dir();
    npm_ci_if_needed(&dir);
    let (ep, handler) = endpoint_with(config);
    let addr = serve(ep.clone()).await;
    let url = format!("ws://{addr}/socket");
    let transport = transport.to_owned();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg("channels_client.mjs")
            .arg(&url)
            .arg(&transport)
            .current_dir(&dir)
            .output()
            .expect("run node")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "phoenix.js client failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(stdout.contains("ALL OK"), "{stdout}");
    let log = handler.log();
    assert!(
        log.iter().any(|l| l == "join room:lobby bob"),
        "bob's join came through the authToken: {log:?}"
    );
    // everyone is gone: no subscriptions and no presences left behind
    tokio::time::sleep(cleanup_wait).await;
    assert_eq!(ep.pubsub().subscriber_count("room:lobby"), 0);
    assert_eq!(handler.presence.list("room:lobby"), json!({}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_phoenix_js_client() {
    run_phoenix_js(
        "websocket",
        SocketConfig::default(),
        Duration::from_millis(300),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_phoenix_js_client_longpoll() {
    // a LongPoll client that stops polling is dropped after the socket timeout
    let config = SocketConfig {
        timeout: Duration::from_millis(1500),
        ..Default::default()
    };
    run_phoenix_js("longpoll", config, Duration::from_millis(2500)).await;
}

fn lp_request(method: &str, uri: &str, headers: &[(&str, &str)]) -> http::request::Parts {
    let mut b = http::Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(()).unwrap().into_parts().0
}

#[tokio::test]
async fn longpoll_protocol() {
    use zzz::channels::transport::longpoll::LongPoll;
    let (ep, _) = endpoint();
    let lp = LongPoll::new(ep.clone()).with_window(Duration::from_millis(200));
    let body = |res: http::Response<String>| -> Value {
        assert_eq!(res.status(), 200, "longpoll always answers HTTP 200");
        serde_json::from_str(res.body()).unwrap()
    };
    // refused connect
    let res = body(
        lp.handle(
            &lp_request("GET", "/socket/longpoll?vsn=2.0.0", &[]),
            Default::default(),
            None,
        )
        .await,
    );
    assert_eq!(res, json!({"status": 403}));
    // new session
    let res = body(
        lp.handle(
            &lp_request("GET", "/socket/longpoll?vsn=2.0.0&user=lp", &[]),
            Default::default(),
            None,
        )
        .await,
    );
    assert_eq!(
        (res["status"].clone(), res["messages"].clone()),
        (json!(410), json!([]))
    );
    let token = res["token"].as_str().unwrap().to_owned();
    assert_eq!(lp.session_count(), 1);
    // post a batch: join + heartbeat
    let batch = "[\"1\",\"1\",\"room:lp\",\"phx_join\",{\"presence\":false}]\n[null,\"2\",\"phoenix\",\"heartbeat\",{}]";
    let post = lp_request(
        "POST",
        "/socket/longpoll?vsn=2.0.0",
        &[
            ("x-phoenix-longpoll-token", &token),
            ("content-type", "application/x-ndjson"),
        ],
    );
    assert_eq!(
        body(lp.handle(&post, batch.into(), None).await),
        json!({"status": 200})
    );
    // poll with ?token=
    let get = lp_request(
        "GET",
        &format!("/socket/longpoll?vsn=2.0.0&token={token}"),
        &[],
    );
    let mut messages = Vec::new();
    while messages.len() < 2 {
        let res = body(lp.handle(&get, Default::default(), None).await);
        assert_eq!(res["status"], 200, "{res}");
        assert_eq!(res["token"], json!(token));
        for m in res["messages"].as_array().unwrap() {
            messages.push(serde_json::from_str::<Value>(m.as_str().unwrap()).unwrap());
        }
    }
    assert_eq!(
        messages,
        vec![
            json!(["1", "1", "room:lp", "phx_reply", {"status": "ok", "response": {"joined": "room:lp"}}]),
            json!([null, "2", "phoenix", "phx_reply", {"status": "ok", "response": {}}]),
        ]
    );
    // nothing pending: 204 after the window
    let started = std::time::Instant::now();
    let res = body(lp.handle(&get, Default::default(), None).await);
    assert_eq!(
        (res["status"].clone(), res["messages"].clone()),
        (json!(204), json!([]))
    );
    assert!(started.elapsed() >= Duration::from_millis(150));
    // a broadcast wakes a waiting poll
    let lp2 = lp.clone();
    let get2 = get.clone();
    let waiting = tokio::spawn(async move { lp2.handle(&get2, Default::default(), None).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    ep.pubsub()
        .broadcast("room:lp", "news", json!({"n": 1}))
        .unwrap();
    let res = body(waiting.await.unwrap());
    assert_eq!(
        res["messages"],
        json!(["[null,null,\"room:lp\",\"news\",{\"n\":1}]"])
    );
    // unknown token: POST is 410, GET opens a new session
    let bad = lp_request("POST", "/socket/longpoll?vsn=2.0.0&token=nope", &[]);
    assert_eq!(
        body(lp.handle(&bad, "x".into(), None).await),
        json!({"status": 410})
    );
    // disconnect ends the session: its token is gone (410)
    ep.pubsub()
        .broadcast("user_socket:lp", "disconnect", json!({}))
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(lp.session_count(), 0);
    assert_eq!(
        body(lp.handle(&post, batch.into(), None).await),
        json!({"status": 410})
    );
}

#[tokio::test]
async fn client_that_stops_reading_is_dropped_after_write_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let config = SocketConfig {
        write_timeout: Duration::from_millis(300),
        ..Default::default()
    };
    let (ep, _) = endpoint_with(config);
    let pubsub = ep.pubsub().clone();
    let addr = serve(ep).await;
    let mut raw = TcpStream::connect(addr).await.unwrap();
    raw.write_all(
        b"GET /socket/websocket?vsn=2.0.0&user=slow HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .await
    .unwrap();
    let mut seen = Vec::new();
    let mut chunk = [0u8; 1024];
    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = raw.read(&mut chunk).await.unwrap();
        assert!(n > 0);
        seen.extend_from_slice(&chunk[..n]);
    }
    let join = br#"["1","1","room:slow","phx_join",{"presence":false}]"#;
    let mut frame = vec![0x81u8, 0x80 | join.len() as u8, 0, 0, 0, 0];
    frame.extend_from_slice(join);
    raw.write_all(&frame).await.unwrap();
    while !seen.windows(4).any(|w| w == b"\"ok\"") {
        let n = raw.read(&mut chunk).await.unwrap();
        assert!(n > 0);
        seen.extend_from_slice(&chunk[..n]);
    }
    assert_eq!(pubsub.subscriber_count("room:slow"), 1);
    // the client never reads again; flood it until the kernel buffers are full
    let big = "y".repeat(64 * 1024);
    for _ in 0..400 {
        pubsub
            .broadcast("room:slow", "flood", json!({"data": big}))
            .unwrap();
    }
    for _ in 0..100 {
        if pubsub.subscriber_count("room:slow") == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("a client that stopped reading was not dropped");
}

/// The transport behind a real hyper HTTP/1.1 server with upgrades, as the router will run it.
#[tokio::test]
async fn websocket_over_a_hyper_upgrade() {
    use hyper::body::Incoming;
    use hyper::{Request, Response};
    use hyper_util::rt::TokioIo;
    use zzz::channels::transport::websocket;

    let (ep, _) = endpoint();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, peer)) = listener.accept().await else {
                return;
            };
            let ep = ep.clone();
            let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
                let ep = ep.clone();
                async move {
                    let on_upgrade = hyper::upgrade::on(&mut req);
                    let (parts, _body) = req.into_parts();
                    let res = match websocket::upgrade(&ep, &parts, Some(peer)).await {
                        Err(rejection) => rejection,
                        Ok(upgrade) => {
                            let (head, ()) = upgrade.response().into_parts();
                            tokio::spawn(async move {
                                if let Ok(upgraded) = on_upgrade.await {
                                    upgrade.serve(TokioIo::new(upgraded)).await;
                                }
                            });
                            Response::from_parts(head, String::new())
                        }
                    };
                    Ok::<_, std::convert::Infallible>(res)
                }
            });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades(),
            );
        }
    });
    assert_eq!(
        status_of(connect(addr, "vsn=2.0.0", &[]).await.unwrap_err()),
        403
    );
    let (mut ws, headers) = connect(
        addr,
        "vsn=2.0.0",
        &[(
            "sec-websocket-protocol",
            "phoenix, base64url.bearer.phx.aHlwZXI",
        )],
    )
    .await
    .unwrap();
    assert_eq!(headers.get("sec-websocket-protocol").unwrap(), "phoenix");
    send(
        &mut ws,
        json!(["1", "1", "room:h", "phx_join", {"presence": false}]),
    )
    .await;
    assert_eq!(
        next_json(&mut ws).await[4],
        json!({"status": "ok", "response": {"joined": "room:h"}})
    );
    send(
        &mut ws,
        json!(["1", "2", "room:h", "new_msg", {"body": "via hyper"}]),
    )
    .await;
    let frames = [next_json(&mut ws).await, next_json(&mut ws).await];
    assert!(
        frames.contains(
            &json!([null, null, "room:h", "new_msg", {"user": "hyper", "body": "via hyper"}])
        ),
        "{frames:?}"
    );
}
