//! # chat — rooms with presence over Phoenix channels
//!
//! The socket at `/socket` (WebSocket, and LongPoll as the JS client's fallback)
//! accepts a connection with a `user` parameter and refuses one without. Channel
//! `room:*`: on join the server pushes `presence_state` and tracks the user with meta
//! `{online_at}`; event `new_msg` `{body}` is broadcast to the room as `new_msg`
//! `{user, body}` and replied `ok`, an empty body is replied `error` `{reason: "empty"}`.
//! `GET /` is a chat page that uses the official `phoenix` npm package.
//!
//! Several chat processes form one cluster when they share a PubSub (see `main.rs`:
//! `PUBSUB=postgres://…` or `redis://…`): messages and presence then cross nodes, presence
//! replicated by [`Presence::start_replication`].

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use zzz::channels::{
    Channel, ChannelRoutes, ChannelSocket, ConnectInfo, Info, JoinResult, Params, Payload, Refused, Reply, SocketEndpoint,
    UserSocket,
};
use zzz::presence::Presence;
use zzz::pubsub::PubSub;
use zzz::{Endpoint, Html, IntoResponse, Response, StatusCode};

zzz::router! {
    /// The chat app's routes.
    pub ChatRouter;

    get "/" => page, as: root;
    get "/assets/chat.js" => chat_js;
    get "/assets/phoenix.mjs" => phoenix_js;
    socket "/socket" => ChatSocket;
}

/// The endpoint: the router, with the chat socket on `pubsub` (presence on this node only).
pub fn endpoint(pubsub: PubSub) -> Endpoint<ChatRouter> {
    endpoint_with_presence(pubsub.clone(), Presence::new(pubsub))
}

/// The endpoint with a given presence tracker on `pubsub`, e.g. one that replicates across a
/// cluster.
pub fn endpoint_with_presence(pubsub: PubSub, presence: Presence) -> Endpoint<ChatRouter> {
    Endpoint::new(ChatRouter::new()).socket(SocketEndpoint::new(ChatSocket { presence }, pubsub))
}

/// The connection's user: the `user` parameter the client connected with.
#[derive(Clone, Debug)]
pub struct User {
    /// The name shown in the room.
    pub name: String,
}

/// The socket: authenticates connections and routes `room:*` to [`RoomChannel`].
#[derive(Clone)]
pub struct ChatSocket {
    presence: Presence,
}

impl UserSocket for ChatSocket {
    type Assigns = User;

    async fn connect(&self, params: &Params, _info: &ConnectInfo) -> Result<User, Refused> {
        match params.get("user").map(|u| u.trim()) {
            Some(name) if !name.is_empty() && name.len() <= 64 => Ok(User { name: name.to_owned() }),
            Some(name) if !name.is_empty() => Err(Refused::new("user names are at most 64 bytes")),
            _ => Err(Refused::new("the `user` parameter is missing")),
        }
    }

    fn channels(&self, routes: &mut ChannelRoutes<User>) {
        let presence = self.presence.clone();
        routes.channel("room:*", move || RoomChannel { presence: presence.clone() });
    }
}

/// One user in one room.
pub struct RoomChannel {
    presence: Presence,
}

/// Sent to the channel itself right after a join, to track presence once joined.
struct AfterJoin;

impl Channel<User> for RoomChannel {
    async fn join(&mut self, _topic: &str, _payload: Payload, socket: &mut ChannelSocket<User>) -> JoinResult {
        socket.handle().send(AfterJoin);
        Ok(json!({}).into())
    }

    async fn handle_in(&mut self, event: &str, payload: Payload, socket: &mut ChannelSocket<User>) -> Reply {
        match event {
            "new_msg" => {
                let body = payload.get("body").and_then(Value::as_str).unwrap_or_default().trim().to_owned();
                if body.is_empty() {
                    return Reply::error(json!({"reason": "empty"}));
                }
                let user = socket.assigns().name.clone();
                match socket.broadcast("new_msg", json!({"user": user, "body": body})) {
                    Ok(()) => Reply::ok_empty(),
                    Err(err) => Reply::error(json!({"reason": err.to_string()})),
                }
            }
            other => Reply::unknown_event(other),
        }
    }

    async fn handle_info(&mut self, msg: Info, socket: &mut ChannelSocket<User>) {
        if msg.downcast_ref::<AfterJoin>().is_some() {
            let name = socket.assigns().name.clone();
            let online_at = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
            // Push the state first, then track: the client applies our own join as a diff.
            let list = self.presence.list(socket.topic());
            socket.push("presence_state", list);
            if let Err(err) = self.presence.track(socket, &name, json!({"online_at": online_at})) {
                tracing::warn!(%err, user = name, "could not track presence");
            }
        }
    }
}

/// `GET /`: the chat page.
async fn page() -> Html<&'static str> {
    Html(include_str!("../assets/index.html"))
}

/// `GET /assets/chat.js`: the page's own script.
async fn chat_js() -> Response {
    javascript(include_str!("../assets/chat.js").as_bytes().to_vec())
}

/// Where `npm ci` (in `examples/chat/assets`) puts the official client.
pub fn phoenix_js_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/node_modules/phoenix/priv/static/phoenix.mjs")
}

/// `GET /assets/phoenix.mjs`: the official phoenix.js client, from npm.
async fn phoenix_js() -> Response {
    match tokio::fs::read(phoenix_js_path()).await {
        Ok(bytes) => javascript(bytes),
        Err(err) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "phoenix.js is not installed ({}: {err}); run `npm ci` in examples/chat/assets",
                phoenix_js_path().display()
            ),
        )
            .into_response(),
    }
}

fn javascript(bytes: Vec<u8>) -> Response {
    let mut response = bytes.into_response();
    response
        .headers_mut()
        .insert(zzz::header::CONTENT_TYPE, zzz::HeaderValue::from_static("text/javascript; charset=utf-8"));
    response
}
