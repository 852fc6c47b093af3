//! `control_plane agent …` and `control_plane serve …`; see the crate docs.
//!
//! Both print one line on stdout once they listen — `agent listening on ADDR` /
//! `control plane listening on http://ADDR` — so scripts and tests can use port 0.

use std::net::SocketAddr;

use clap::{Parser, Subcommand};
use control_plane::agent::{Agent, AgentConfig};
use control_plane::control::{ControlPlane, ControlRouter, ServeConfig};

/// A control plane that runs workloads on agents.
#[derive(Parser)]
#[command(name = "control_plane", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run an agent: a TCP server speaking line-delimited JSON.
    Agent {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:9000")]
        listen: SocketAddr,
        /// The name it answers pings with (default: agent-<port>).
        #[arg(long)]
        name: Option<String>,
        /// At most this many workloads pending or running at once; more are answered `busy`.
        #[arg(long, default_value_t = 256)]
        max_running: usize,
    },
    /// Run the control plane: the HTTP API, the page, the jobs.
    Serve(ServeConfig),
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // `zzz openapi -p control_plane` and `zzz routes -p control_plane`.
    if zzz::openapi::export_if_requested::<ControlRouter>()? || zzz::router::export_routes_if_requested(&ControlRouter::new())? {
        return Ok(());
    }
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    match Cli::parse().command {
        Command::Agent { listen, name, max_running } => {
            let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| format!("--listen {listen}: {e}"))?;
            let addr = listener.local_addr()?;
            let name = name.unwrap_or_else(|| format!("agent-{}", addr.port()));
            println!("agent listening on {addr}");
            tracing::info!(%addr, %name, "agent started");
            let agent = Agent::new(AgentConfig { max_running, ..AgentConfig::named(name) });
            tokio::select! {
                served = agent.serve(listener) => served?,
                _ = shutdown_signal() => tracing::info!("agent stopping"),
            }
            Ok(())
        }
        Command::Serve(config) => {
            let addr = SocketAddr::new(config.host, config.port);
            let plane = ControlPlane::start(config).await?;
            let server = zzz::Server::bind(addr, zzz::ServerConfig::from_env()?.addr(addr))?;
            println!("control plane listening on http://{}", server.local_addr());
            tracing::info!("control plane on http://{}", server.local_addr());
            let served = server.serve(plane.endpoint()).await;
            plane.shutdown().await;
            Ok(served?)
        }
    }
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("install the SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
