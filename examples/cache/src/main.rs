//! The cache server: `cargo run --release -p cache -- --port 4100 --dir DATA --max-size 10GiB`
//! (`--help` lists every flag and its environment variable).

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    if let Ok(true) = zzz::router::export_routes_if_requested(&cache::CacheRouter::new()) {
        return ExitCode::SUCCESS;
    }
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            tracing::error!("{message}");
            eprintln!("cache: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), String> {
    let config = cache::config::Config::load()?;
    let addr = config.addr;
    let app = cache::Cache::new(config)?;
    if app.auth.is_open() {
        tracing::warn!("no tokens, users or JWT keys are configured: anyone who reaches the port may read and write");
    }
    let stats = app.store.stats();
    let server = zzz::Server::bind(addr, zzz::ServerConfig::default()).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    tracing::info!(
        addr = %server.local_addr(),
        dir = %app.store.config().dir.display(),
        entries = stats.entries,
        bytes = stats.bytes,
        "cache listening on http://{}",
        server.local_addr()
    );
    let maintenance = app.store.spawn_maintenance();
    let served = server.serve(cache::endpoint(app.clone())).await;
    maintenance.abort();
    app.store.flush().map_err(|e| format!("could not flush the index journal: {e}"))?;
    served.map_err(|e| format!("server error: {e}"))
}
