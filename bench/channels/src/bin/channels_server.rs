//! The server side of the channels benchmark: a zzz app built on the public API like
//! `examples/chat`, served by `zzz::Server`.
//!
//! - `socket "/socket" => BenchSocket`: `connect` needs a `user` parameter (refused without
//!   one); channel `room:*` joins with an empty reply; event `new_msg` `{body}` is broadcast
//!   to the room as `new_msg` `{user, body}` and replied `ok`. No presence: tracking every
//!   join would broadcast a `presence_diff` to the whole room per join, which is a different
//!   benchmark.
//! - `POST /broadcast?seq=N&size=B&topic=T`: one PubSub broadcast of `bench_tick`
//!   `{seq, body}` (`body` is `B` bytes, default 16) to topic `T` (default `room:bench`);
//!   answers `{subscribers, dispatch_us}`, the time spent handing the broadcast to every
//!   subscriber (its mailbox, or, for an idle WebSocket, one direct write to its socket).
//! - `GET /stats`: `{rss_kib, hwm_kib, connections, subscribers, cpu_us, cpu_sys_us}` from
//!   `/proc/self/status`, the socket endpoint and `getrusage`.
//!
//! Listens on `127.0.0.1:$PORT` (default 4000); `ZZZ_*` variables tune the server as usual,
//! except that `ZZZ_MAX_CONNECTIONS` defaults to 1,000,000 here. Raises its own open-files
//! limit as far as it may. Prints `ready <addr> nofile=<soft>` on stdout once listening.

use std::time::Instant;

use bench_channels::{TICK_EVENT, TOPIC, cpu_times_us, proc_status_kib, raise_nofile};
use serde::{Deserialize, Serialize};
use serde_json::json;
use zzz::channels::{
    Channel, ChannelRoutes, ChannelSocket, ConnectInfo, JoinResult, Params, Payload, Refused,
    Reply, SocketEndpoint, UserSocket,
};
use zzz::pubsub::PubSub;
use zzz::{Endpoint, Json, Query, State};

zzz::router! {
    /// The benchmark app's routes.
    pub BenchRouter;

    post "/broadcast" => broadcast;
    get "/stats" => stats;
    socket "/socket" => BenchSocket;
}

/// Authenticates connections by their `user` parameter and routes `room:*` to [`Room`].
#[derive(Clone)]
pub struct BenchSocket;

impl UserSocket for BenchSocket {
    type Assigns = String;

    async fn connect(&self, params: &Params, _info: &ConnectInfo) -> Result<String, Refused> {
        match params.get("user") {
            Some(user) if !user.is_empty() && user.len() <= 64 => Ok(user.clone()),
            _ => Err(Refused::new("the `user` parameter is missing or too long")),
        }
    }

    fn channels(&self, routes: &mut ChannelRoutes<String>) {
        routes.channel("room:*", || Room);
    }
}

/// One user in one room.
pub struct Room;

impl Channel<String> for Room {
    async fn join(&mut self, _topic: &str, _payload: Payload, _socket: &mut ChannelSocket<String>) -> JoinResult {
        Ok(Payload::empty())
    }

    async fn handle_in(&mut self, event: &str, payload: Payload, socket: &mut ChannelSocket<String>) -> Reply {
        match event {
            "new_msg" => {
                let body = payload.get("body").cloned().unwrap_or_default();
                let user = socket.assigns().clone();
                match socket.broadcast("new_msg", json!({"user": user, "body": body})) {
                    Ok(()) => Reply::ok_empty(),
                    Err(err) => Reply::error(json!({"reason": err.to_string()})),
                }
            }
            other => Reply::unknown_event(other),
        }
    }
}

/// Query of `POST /broadcast`.
#[derive(Deserialize)]
struct BroadcastQuery {
    seq: u64,
    size: Option<usize>,
    topic: Option<String>,
}

/// Answer of `POST /broadcast`.
#[derive(Serialize)]
struct BroadcastDone {
    subscribers: usize,
    dispatch_us: u64,
}

async fn broadcast(State(pubsub): State<PubSub>, Query(q): Query<BroadcastQuery>) -> Json<BroadcastDone> {
    let topic = q.topic.as_deref().unwrap_or(TOPIC);
    let body = "x".repeat(q.size.unwrap_or(16).min(1 << 16));
    let started = Instant::now();
    let result = pubsub.broadcast(topic, TICK_EVENT, json!({"seq": q.seq, "body": body}));
    let dispatch_us = started.elapsed().as_micros() as u64;
    if let Err(err) = result {
        eprintln!("broadcast failed: {err}");
    }
    Json(BroadcastDone { subscribers: pubsub.subscriber_count(topic), dispatch_us })
}

/// Answer of `GET /stats`.
#[derive(Serialize)]
struct Stats {
    rss_kib: u64,
    hwm_kib: u64,
    connections: usize,
    subscribers: usize,
    cpu_us: u64,
    cpu_sys_us: u64,
}

async fn stats(State(socket): State<SocketEndpoint<BenchSocket>>) -> Json<Stats> {
    let (user, system) = cpu_times_us();
    Json(Stats {
        rss_kib: proc_status_kib(None, "VmRSS").unwrap_or(0),
        hwm_kib: proc_status_kib(None, "VmHWM").unwrap_or(0),
        connections: socket.connection_count(),
        subscribers: socket.pubsub().subscriber_count(TOPIC),
        cpu_us: user + system,
        cpu_sys_us: system,
    })
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let (soft, hard) = raise_nofile(1 << 20)?;
    let mut config = zzz::ServerConfig::from_env()?;
    if std::env::var_os("ZZZ_MAX_CONNECTIONS").is_none() {
        config = config.max_connections(1_000_000);
    }
    let server = zzz::Server::bind(config.addr, config)?;
    let pubsub = PubSub::new();
    let socket = SocketEndpoint::new(BenchSocket, pubsub.clone());
    let endpoint = Endpoint::new(BenchRouter::new())
        .state(pubsub)
        .state(socket.clone())
        .socket(socket);
    println!("ready {} nofile={soft}/{hard}", server.local_addr());
    server.serve(endpoint).await
}
