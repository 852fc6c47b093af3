//! Serves the chat app: `cargo run --release -p chat` (PORT, default 4000).
//! Run `npm ci` in examples/chat/assets first: the page uses the phoenix npm package.
//!
//! Cluster settings (environment):
//! - `PUBSUB`: `postgres://…` or `redis://…` makes every chat process with the same value
//!   (and `PUBSUB_CHANNEL`) one cluster; absent or empty, PubSub stays in this process.
//! - `PUBSUB_CHANNEL`: the Postgres channel / Redis channel prefix (default `zzz_pubsub`).
//! - `PUBSUB_NODE`: this node's unique name (default `node-<pid>-<random>`).
//! - `PRESENCE_BROADCAST_MS` (default 1500) and `PRESENCE_DOWN_MS` (default 30000): the
//!   presence heartbeat period, and the silence after which a node's users leave elsewhere.
//!
//! On SIGTERM/SIGINT the node tells the others at once that its users left, then drains.

use std::time::Duration;

use zzz::presence::Presence;
use zzz::presence::replication::ReplicationConfig;
use zzz::pubsub::{ClusterConfig, PubSub};

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn millis(name: &str, default: Duration) -> std::io::Result<Duration> {
    match var(name) {
        None => Ok(default),
        Some(v) => v.trim().parse::<u64>().ok().filter(|ms| *ms > 0).map(Duration::from_millis).ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{name}={v:?} is not a positive number of milliseconds"))
        }),
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    if !chat::phoenix_js_path().exists() {
        tracing::warn!("phoenix.js is missing: run `npm ci` in examples/chat/assets for the page to work");
    }
    let defaults = ReplicationConfig::default();
    let replication = ReplicationConfig {
        broadcast_period: millis("PRESENCE_BROADCAST_MS", defaults.broadcast_period)?,
        down_period: millis("PRESENCE_DOWN_MS", defaults.down_period)?,
        ..defaults
    };
    let pubsub = match var("PUBSUB") {
        None => PubSub::new(),
        Some(url) => {
            let cluster = ClusterConfig { node: var("PUBSUB_NODE"), channel: var("PUBSUB_CHANNEL") };
            let pubsub = PubSub::connect(url.trim(), &cluster)
                .await
                .map_err(|e| std::io::Error::other(format!("PUBSUB: {e}")))?;
            let scheme = url.split("://").next().unwrap_or_default();
            tracing::info!(node = pubsub.node_name(), "chat node joined the {scheme} cluster");
            pubsub
        }
    };
    let presence = Presence::new(pubsub.clone());
    let replicator = presence.start_replication(replication);

    let server = zzz::Server::from_env_or_bind(zzz::ServerConfig::from_env()?)?;
    tracing::info!("chat listening on http://{}", server.local_addr());
    // On shutdown, tell the cluster at once that this node's users left (before draining).
    let shutdown = server.shutdown_signal();
    let leave = {
        let (shutdown, pubsub) = (shutdown.clone(), pubsub.clone());
        tokio::spawn(async move {
            shutdown.requested().await;
            replicator.shutdown();
            if tokio::time::timeout(Duration::from_secs(5), pubsub.flush()).await.is_err() {
                tracing::warn!("the cluster could not be told of this node's shutdown within 5 s");
            } else {
                tracing::info!("told the cluster this node's users left");
            }
        })
    };
    let served = server.serve(chat::endpoint_with_presence(pubsub, presence)).await;
    shutdown.trigger();
    let _ = leave.await;
    served
}
