//! Shared test fixtures: a `UserSocket` with a `room:*` channel exercising every callback,
//! and a test-only HTTP accept shim for the WebSocket transport.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use zzz::channels::transport::longpoll::LongPoll;
use zzz::channels::transport::websocket;
use zzz::channels::{
    Channel, ChannelRoutes, ChannelSocket, ConnectInfo, Info, JoinResult, Params, Payload, Refused,
    Reply, SocketConfig, SocketEndpoint, Status, TerminateReason, UserSocket,
};
use zzz::presence::Presence;
use zzz::pubsub::PubSub;

/// What the test socket's `connect` produced.
#[derive(Debug, Clone)]
pub struct User {
    pub name: String,
    pub auth_token: Option<String>,
}

#[derive(Clone)]
pub struct TestSocket {
    pub presence: Presence,
    pub log: Arc<Mutex<Vec<String>>>,
}

impl TestSocket {
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

pub struct RoomChannel {
    presence: Presence,
    log: Arc<Mutex<Vec<String>>>,
}

struct AfterJoin;

impl Channel<User> for RoomChannel {
    async fn join(
        &mut self,
        topic: &str,
        payload: Payload,
        socket: &mut ChannelSocket<User>,
    ) -> JoinResult {
        self.log
            .lock()
            .unwrap()
            .push(format!("join {topic} {}", socket.assigns().name));
        if topic == "room:secret" {
            return Err(json!({"reason": "unauthorized"}).into());
        }
        if topic == "room:crash" {
            panic!("join crashed on purpose");
        }
        if payload.get("presence") != Some(&Value::Bool(false)) {
            socket.handle().send(AfterJoin);
        }
        Ok(json!({"joined": topic}).into())
    }

    async fn handle_in(
        &mut self,
        event: &str,
        payload: Payload,
        socket: &mut ChannelSocket<User>,
    ) -> Reply {
        match event {
            "new_msg" => {
                let body = payload
                    .get("body")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                if body.is_empty() {
                    return Reply::error(json!({"reason": "empty"}));
                }
                let user = socket.assigns().name.clone();
                socket
                    .broadcast("new_msg", json!({"user": user, "body": body}))
                    .unwrap();
                Reply::ok_empty()
            }
            "shout_from" => {
                socket.broadcast_from("shout", payload).unwrap();
                Reply::ok_empty()
            }
            "intercept_me" => {
                socket.broadcast("intercepted", payload).unwrap();
                Reply::ok_empty()
            }
            "ping" => Reply::Ok(payload),
            "typed" => {
                #[derive(serde::Deserialize)]
                struct Typed {
                    n: u32,
                }
                match payload.decode::<Typed>() {
                    Ok(t) => Reply::ok(json!({"n": t.n + 1})),
                    Err(e) => e.into(),
                }
            }
            "push_me" => {
                socket.push("pushed", payload);
                Reply::ok(json!({"pushed": true}))
            }
            "boom" => panic!("handle_in crashed on purpose"),
            "noreply" => Reply::NoReply,
            "later" => {
                let handle = socket.handle();
                let r = socket.message_ref().unwrap().to_owned();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    handle.reply(&r, Status::Ok, json!({"later": true}));
                    handle.push("after_reply", json!({}));
                });
                Reply::NoReply
            }
            "stop" => Reply::Stop("asked to stop".into()),
            "binary" => match payload {
                Payload::Binary(b) => {
                    let mut v = b.to_vec();
                    v.reverse();
                    socket.push("binary_push", Payload::Binary(v.clone().into()));
                    Reply::Ok(Payload::Binary(v.into()))
                }
                Payload::Json(_) => Reply::error(json!({"reason": "expected binary"})),
            },
            "update_meta" => match self.presence.update(
                socket,
                &socket.assigns().name.clone(),
                payload.as_json().cloned().unwrap_or_default(),
            ) {
                Ok(r) => Reply::ok(json!({"phx_ref": r})),
                Err(e) => Reply::error(json!({"reason": e.to_string()})),
            },
            other => Reply::unknown_event(other),
        }
    }

    fn intercepts(&self) -> &'static [&'static str] {
        &["intercepted"]
    }

    async fn handle_out(
        &mut self,
        event: &str,
        payload: Payload,
        socket: &mut ChannelSocket<User>,
    ) {
        if payload.get("drop") == Some(&Value::Bool(true)) {
            return;
        }
        let mut v = payload.as_json().cloned().unwrap_or_default();
        v["seen_by"] = json!(socket.assigns().name);
        socket.push(event, v);
    }

    async fn handle_info(&mut self, msg: Info, socket: &mut ChannelSocket<User>) {
        if msg.downcast_ref::<AfterJoin>().is_some() {
            let name = socket.assigns().name.clone();
            self.presence
                .track(socket, &name, json!({"online_at": 1}))
                .unwrap();
            let list = self.presence.list(socket.topic());
            socket.push("presence_state", list);
        }
    }

    async fn terminate(&mut self, reason: &TerminateReason, socket: &mut ChannelSocket<User>) {
        self.log
            .lock()
            .unwrap()
            .push(format!("terminate {} {reason:?}", socket.topic()));
    }
}

impl UserSocket for TestSocket {
    type Assigns = User;

    async fn connect(&self, params: &Params, info: &ConnectInfo) -> Result<User, Refused> {
        if params.get("token").map(String::as_str) == Some("bad") {
            return Err(Refused::new("bad token"));
        }
        let name = params
            .get("user")
            .cloned()
            .or_else(|| info.auth_token.clone())
            .ok_or_else(|| Refused::new("user missing"))?;
        Ok(User {
            name,
            auth_token: info.auth_token.clone(),
        })
    }

    fn id(&self, user: &User) -> Option<String> {
        Some(format!("user_socket:{}", user.name))
    }

    fn channels(&self, routes: &mut ChannelRoutes<User>) {
        let (presence, log) = (self.presence.clone(), self.log.clone());
        routes.channel("room:*", move || RoomChannel {
            presence: presence.clone(),
            log: log.clone(),
        });
    }
}

pub fn endpoint_with(config: SocketConfig) -> (SocketEndpoint<TestSocket>, TestSocket) {
    let pubsub = PubSub::new();
    let handler = TestSocket {
        presence: Presence::new(pubsub.clone()),
        log: Default::default(),
    };
    (
        SocketEndpoint::with_config(handler.clone(), pubsub, config),
        handler,
    )
}

pub fn endpoint() -> (SocketEndpoint<TestSocket>, TestSocket) {
    endpoint_with(SocketConfig::default())
}

/// Test-only accept shim: read one HTTP/1.1 request from a raw TCP stream; `/socket/websocket`
/// goes to the WebSocket transport (answer, then serve the upgraded connection),
/// `/socket/longpoll` to the LongPoll transport. The real server and router come later.
pub async fn accept_one<S: UserSocket>(
    endpoint: SocketEndpoint<S>,
    longpoll: LongPoll<S>,
    mut stream: TcpStream,
    peer: SocketAddr,
) {
    let mut buf = Vec::with_capacity(2048);
    let mut chunk = [0u8; 1024];
    let head_len = loop {
        let n = match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
        if buf.len() > 16 * 1024 {
            return;
        }
    };
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    if !matches!(
        req.parse(&buf[..head_len]),
        Ok(httparse::Status::Complete(_))
    ) {
        let _ = stream
            .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
            .await;
        return;
    }
    let mut builder = http::Request::builder()
        .method(req.method.unwrap_or("GET"))
        .uri(req.path.unwrap_or("/"));
    for h in req.headers.iter() {
        builder = builder.header(h.name, h.value);
    }
    let (parts, ()) = builder.body(()).unwrap().into_parts();
    if parts.uri.path() == "/socket/longpoll" {
        let len: usize = parts
            .headers
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = buf[head_len..].to_vec();
        while body.len() < len {
            let n = match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            body.extend_from_slice(&chunk[..n]);
        }
        let res = longpoll.handle(&parts, body.into(), Some(peer)).await;
        let mut head = format!("HTTP/1.1 {} OK\r\n", res.status().as_u16());
        for (k, v) in res.headers() {
            head.push_str(&format!("{}: {}\r\n", k, v.to_str().unwrap()));
        }
        head.push_str(&format!(
            "content-length: {}\r\nconnection: close\r\n\r\n",
            res.body().len()
        ));
        let _ = stream.write_all(head.as_bytes()).await;
        let _ = stream.write_all(res.body().as_bytes()).await;
        let _ = stream.shutdown().await;
        return;
    }
    if parts.uri.path() != "/socket/websocket" {
        let _ = stream
            .write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")
            .await;
        return;
    }
    match websocket::upgrade(&endpoint, &parts, Some(peer)).await {
        Ok(upgrade) => {
            let res = upgrade.response();
            let mut head = String::from("HTTP/1.1 101 Switching Protocols\r\n");
            for (k, v) in res.headers() {
                head.push_str(&format!("{}: {}\r\n", k, v.to_str().unwrap()));
            }
            head.push_str("\r\n");
            if stream.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            // a fresh task, so the handshake's buffers are not kept for the connection's life
            tokio::spawn(upgrade.serve(stream));
        }
        Err(res) => {
            let body = res.body();
            let head = format!(
                "HTTP/1.1 {} {}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{}",
                res.status().as_u16(),
                res.status().canonical_reason().unwrap_or(""),
                body.len(),
                body
            );
            let _ = stream.write_all(head.as_bytes()).await;
        }
    }
}

/// Serve `endpoint` on a fresh 127.0.0.1 port; returns the address.
pub async fn serve<S: UserSocket>(endpoint: SocketEndpoint<S>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let longpoll = LongPoll::new(endpoint.clone()).with_window(Duration::from_millis(500));
    tokio::spawn(async move {
        loop {
            let Ok((stream, peer)) = listener.accept().await else {
                return;
            };
            tokio::spawn(accept_one(endpoint.clone(), longpoll.clone(), stream, peer));
        }
    });
    addr
}
