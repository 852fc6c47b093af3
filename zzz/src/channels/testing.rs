//! In-process channel tests, without a network: connect, join, push, and assert on replies,
//! pushes and broadcasts.
//!
//! A [`TestClient`] runs the real connection loop over memory channels and speaks the V2 JSON
//! protocol, so everything but the WebSocket framing is exercised.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use zzz::channels::{Channel, ChannelRoutes, ChannelSocket, ConnectInfo, JoinResult, Params,
//!                     Payload, Refused, Reply, SocketEndpoint, UserSocket};
//! use zzz::channels::testing::TestClient;
//! use zzz::pubsub::PubSub;
//! use serde_json::json;
//!
//! struct Sock;
//! struct Echo;
//! impl Channel<()> for Echo {
//!     async fn join(&mut self, _t: &str, _p: Payload, _s: &mut ChannelSocket<()>) -> JoinResult {
//!         Ok(json!({"hello": "world"}).into())
//!     }
//!     async fn handle_in(&mut self, event: &str, payload: Payload, socket: &mut ChannelSocket<()>) -> Reply {
//!         match event {
//!             "echo" => Reply::Ok(payload),
//!             "shout" => { let _ = socket.broadcast("shout", payload); Reply::NoReply }
//!             other => Reply::unknown_event(other),
//!         }
//!     }
//! }
//! impl UserSocket for Sock {
//!     type Assigns = ();
//!     async fn connect(&self, _p: &Params, _i: &ConnectInfo) -> Result<(), Refused> { Ok(()) }
//!     fn channels(&self, r: &mut ChannelRoutes<()>) { r.channel("echo:*", || Echo); }
//! }
//!
//! let endpoint = SocketEndpoint::new(Sock, PubSub::new());
//! let mut client = TestClient::connect(&endpoint, &[]).await.unwrap();
//! assert_eq!(client.join("echo:1", json!({})).await.unwrap(), json!({"hello": "world"}));
//! let r = client.push("echo:1", "echo", json!({"a": 1}));
//! assert_eq!(client.assert_reply(&r, "ok").await, json!({"a": 1}));
//! client.push("echo:1", "shout", json!({"b": 2}));
//! assert_eq!(client.assert_broadcast("echo:1", "shout").await, json!({"b": 2}));
//! # }
//! ```

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;
use tokio::sync::mpsc;

use super::message::{Frame, Message, Payload, events};
use super::serializer::Serializer;
use super::socket::{CloseReason, ConnectInfo, Params, Refused, SocketEndpoint, UserSocket};
use super::transport::{Incoming, Transport, run};

enum ServerOut {
    Frame(Frame),
    Close(CloseReason),
}

struct MemTransport {
    rx: mpsc::UnboundedReceiver<Frame>,
    tx: mpsc::UnboundedSender<ServerOut>,
}

impl Transport for MemTransport {
    async fn recv(&mut self) -> Incoming {
        match self.rx.recv().await {
            Some(f) => Incoming::Frame(f),
            None => Incoming::Closed,
        }
    }
    async fn send(&mut self, frames: Vec<Frame>) -> bool {
        frames
            .into_iter()
            .all(|f| self.tx.send(ServerOut::Frame(f)).is_ok())
    }
    async fn close(&mut self, reason: CloseReason) {
        let _ = self.tx.send(ServerOut::Close(reason));
    }
}

/// An in-process client connected to a [`SocketEndpoint`].
pub struct TestClient {
    to_socket: Option<mpsc::UnboundedSender<Frame>>,
    from_socket: mpsc::UnboundedReceiver<ServerOut>,
    inbox: VecDeque<Message>,
    next_ref: u64,
    join_refs: HashMap<String, String>,
    closed: Option<CloseReason>,
    timeout: Duration,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for TestClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestClient")
            .field("joined", &self.join_refs)
            .field("closed", &self.closed)
            .finish()
    }
}

impl TestClient {
    /// Connect with query params (the serializer is V2) and empty connect info.
    pub async fn connect<S: UserSocket>(
        endpoint: &SocketEndpoint<S>,
        params: &[(&str, &str)],
    ) -> Result<TestClient, Refused> {
        Self::connect_with(endpoint, params, ConnectInfo::default()).await
    }

    /// Connect with query params and connect info.
    pub async fn connect_with<S: UserSocket>(
        endpoint: &SocketEndpoint<S>,
        params: &[(&str, &str)],
        info: ConnectInfo,
    ) -> Result<TestClient, Refused> {
        let params: Params = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let state = endpoint.connect(&params, &info, Serializer::V2).await?;
        let (to_socket, rx) = mpsc::unbounded_channel();
        let (tx, from_socket) = mpsc::unbounded_channel();
        let config = endpoint.config();
        let task = tokio::spawn(run(
            state,
            MemTransport { rx, tx },
            config.timeout,
            config.write_timeout,
        ));
        Ok(TestClient {
            to_socket: Some(to_socket),
            from_socket,
            inbox: VecDeque::new(),
            next_ref: 0,
            join_refs: HashMap::new(),
            closed: None,
            timeout: Duration::from_secs(1),
            task,
        })
    }

    /// How long `assert_*` waits (default 1 s).
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    fn make_ref(&mut self) -> String {
        self.next_ref += 1;
        self.next_ref.to_string()
    }

    /// Send a raw frame.
    pub fn send_frame(&mut self, frame: Frame) {
        if let Some(tx) = &self.to_socket {
            let _ = tx.send(frame);
        }
    }

    /// Send a V2 message `[join_ref, ref, topic, event, payload]`.
    pub fn send(
        &mut self,
        join_ref: Option<&str>,
        ref_: Option<&str>,
        topic: &str,
        event: &str,
        payload: Value,
    ) {
        let text = serde_json::to_string(&(join_ref, ref_, topic, event, payload)).expect("json");
        self.send_frame(Frame::text(text));
    }

    /// Join `topic`; `Ok(response)` or `Err(response)` from the `phx_reply`.
    pub async fn join(&mut self, topic: &str, payload: Value) -> Result<Value, Value> {
        let r = self.make_ref();
        self.send(Some(&r), Some(&r), topic, events::JOIN, payload);
        let reply = self.wait_reply(&r).await;
        let (status, response) = split_reply(&reply);
        if status == "ok" {
            self.join_refs.insert(topic.to_owned(), r);
            Ok(response)
        } else {
            Err(response)
        }
    }

    /// Leave `topic`; returns the reply's response.
    pub async fn leave(&mut self, topic: &str) -> Value {
        let r = self.make_ref();
        let jr = self.join_refs.remove(topic);
        self.send(
            jr.as_deref(),
            Some(&r),
            topic,
            events::LEAVE,
            Value::Object(Default::default()),
        );
        let reply = self.wait_reply(&r).await;
        split_reply(&reply).1
    }

    /// Push an event on a joined topic; returns its ref for [`assert_reply`](Self::assert_reply).
    pub fn push(&mut self, topic: &str, event: &str, payload: Value) -> String {
        let r = self.make_ref();
        let jr = self.join_refs.get(topic).cloned();
        self.send(jr.as_deref(), Some(&r), topic, event, payload);
        r
    }

    /// Send a heartbeat; returns its ref.
    pub fn heartbeat(&mut self) -> String {
        let r = self.make_ref();
        self.send(
            None,
            Some(&r),
            events::PHOENIX_TOPIC,
            events::HEARTBEAT,
            Value::Object(Default::default()),
        );
        r
    }

    async fn wait_reply(&mut self, r: &str) -> Message {
        let r = r.to_owned();
        self.wait_for(&format!("a phx_reply to ref {r}"), move |m| {
            m.event == events::REPLY && m.ref_.as_deref() == Some(r.as_str())
        })
        .await
    }

    /// Wait for the reply to `ref_`, assert its status, return its response.
    ///
    /// # Panics
    /// On a different status or when no reply arrives in time.
    pub async fn assert_reply(&mut self, ref_: &str, status: &str) -> Value {
        let reply = self.wait_reply(ref_).await;
        let (got, response) = split_reply(&reply);
        assert_eq!(
            got, status,
            "reply to ref {ref_}: expected status {status:?}, got {got:?} with {response}"
        );
        response
    }

    /// Wait for a push (a message with a join_ref) of `event` on `topic`; return its payload.
    ///
    /// # Panics
    /// When none arrives in time.
    pub async fn assert_push(&mut self, topic: &str, event: &str) -> Value {
        let (t, e) = (topic.to_owned(), event.to_owned());
        let m = self
            .wait_for(&format!("push {event:?} on {topic:?}"), move |m| {
                m.topic == t && m.event == e && m.join_ref.is_some()
            })
            .await;
        payload_json(m.payload)
    }

    /// Wait for a broadcast (`[null, null, topic, event, payload]`); return its payload.
    ///
    /// # Panics
    /// When none arrives in time.
    pub async fn assert_broadcast(&mut self, topic: &str, event: &str) -> Value {
        let (t, e) = (topic.to_owned(), event.to_owned());
        let m = self
            .wait_for(&format!("broadcast {event:?} on {topic:?}"), move |m| {
                m.topic == t && m.event == e && m.join_ref.is_none() && m.ref_.is_none()
            })
            .await;
        payload_json(m.payload)
    }

    /// Assert no message of `event` on `topic` arrives within `within`.
    ///
    /// # Panics
    /// When one does.
    pub async fn refute_message(&mut self, topic: &str, event: &str, within: Duration) {
        let saved = self.timeout;
        self.timeout = within;
        let (t, e) = (topic.to_owned(), event.to_owned());
        let found = self
            .try_wait_for(move |m| m.topic == t && m.event == e)
            .await;
        self.timeout = saved;
        if let Some(m) = found {
            panic!("expected no {event:?} on {topic:?}, got {m:?}");
        }
    }

    /// Wait until the server closes the connection; return the close code and reason.
    ///
    /// # Panics
    /// When the connection is still open after the timeout.
    pub async fn assert_closed(&mut self) -> CloseReason {
        let deadline = tokio::time::Instant::now() + self.timeout;
        while self.closed.is_none() {
            match tokio::time::timeout_at(deadline, self.from_socket.recv()).await {
                Ok(Some(out)) => self.accept(out),
                Ok(None) => break,
                Err(_) => panic!(
                    "expected the server to close the connection within {:?}",
                    self.timeout
                ),
            }
        }
        self.closed
            .clone()
            .unwrap_or_else(|| CloseReason::new(1006, "connection dropped without close"))
    }

    /// The next message from the server, if one arrives in time.
    pub async fn receive(&mut self) -> Option<Message> {
        if let Some(m) = self.inbox.pop_front() {
            return Some(m);
        }
        self.try_wait_for(|_| true).await
    }

    /// Disconnect (like closing the WebSocket) and wait for the connection task to finish.
    pub async fn disconnect(mut self) {
        self.to_socket = None;
        let _ = tokio::time::timeout(Duration::from_secs(5), &mut self.task).await;
    }

    fn accept(&mut self, out: ServerOut) {
        match out {
            ServerOut::Frame(f) => match decode_server_frame(&f) {
                Ok(m) => self.inbox.push_back(m),
                Err(e) => panic!("server sent an undecodable frame {f:?}: {e}"),
            },
            ServerOut::Close(reason) => self.closed = Some(reason),
        }
    }

    async fn try_wait_for(&mut self, pred: impl Fn(&Message) -> bool) -> Option<Message> {
        if let Some(i) = self.inbox.iter().position(&pred) {
            return self.inbox.remove(i);
        }
        let deadline = tokio::time::Instant::now() + self.timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.from_socket.recv()).await {
                Ok(Some(out)) => {
                    self.accept(out);
                    if let Some(i) = self.inbox.iter().position(&pred) {
                        return self.inbox.remove(i);
                    }
                }
                Ok(None) | Err(_) => return None,
            }
        }
    }

    async fn wait_for(&mut self, what: &str, pred: impl Fn(&Message) -> bool) -> Message {
        match self.try_wait_for(pred).await {
            Some(m) => m,
            None => panic!(
                "expected {what} within {:?}; received meanwhile: {:?}; closed: {:?}",
                self.timeout, self.inbox, self.closed
            ),
        }
    }
}

impl Drop for TestClient {
    fn drop(&mut self) {
        self.to_socket = None;
    }
}

fn payload_json(p: Payload) -> Value {
    match p {
        Payload::Json(v) => v,
        Payload::Binary(b) => Value::Array(b.iter().map(|x| Value::from(*x)).collect()),
    }
}

fn split_reply(m: &Message) -> (String, Value) {
    match &m.payload {
        Payload::Json(v) => (
            v.get("status")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            v.get("response").cloned().unwrap_or(Value::Null),
        ),
        Payload::Binary(b) => (String::new(), Value::from(b.to_vec())),
    }
}

/// Decode a frame the server sent with the V2 serializer (text, or binary kinds 0, 1, 2).
/// A binary reply becomes a message whose payload is the raw response.
pub fn decode_server_frame(frame: &Frame) -> Result<Message, String> {
    match frame {
        Frame::Text(_) => Serializer::V2.decode(frame).map_err(|e| e.to_string()),
        Frame::Binary(b) => decode_server_binary(b),
    }
}

fn decode_server_binary(b: &Bytes) -> Result<Message, String> {
    let kind = *b.first().ok_or("empty binary frame")?;
    let header = match kind {
        0 => 4,
        1 => 5,
        2 => 3,
        k => return Err(format!("unknown binary kind {k}")),
    };
    if b.len() < header {
        return Err("short binary header".into());
    }
    let lens: Vec<usize> = b[1..header].iter().map(|x| *x as usize).collect();
    let mut pos = header;
    let mut fields = Vec::new();
    for len in lens {
        let s = b
            .get(pos..pos + len)
            .ok_or("binary header lengths exceed the frame")?;
        fields.push(String::from_utf8(s.to_vec()).map_err(|_| "field not UTF-8")?);
        pos += len;
    }
    let data = b.slice(pos..);
    let opt = |s: &String| (!s.is_empty()).then(|| s.clone());
    Ok(match kind {
        0 => Message {
            join_ref: opt(&fields[0]),
            ref_: None,
            topic: fields[1].clone(),
            event: fields[2].clone(),
            payload: Payload::Binary(data),
        },
        1 => Message {
            join_ref: opt(&fields[0]),
            ref_: opt(&fields[1]),
            topic: fields[2].clone(),
            event: events::REPLY.into(),
            payload: Payload::Json(serde_json::json!({
                "status": fields[3],
                "response": Value::from(data.to_vec()),
            })),
        },
        _ => Message {
            join_ref: None,
            ref_: None,
            topic: fields[0].clone(),
            event: fields[1].clone(),
            payload: Payload::Binary(data),
        },
    })
}
