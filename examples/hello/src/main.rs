//! Serves the hello app: `cargo run --release -p hello` (PORT, default 4000).

#[tokio::main]
async fn main() -> std::io::Result<()> {
    // `zzz openapi -p hello` and `zzz routes -p hello` ask for the spec and the route
    // table without starting the server.
    if zzz::openapi::export_if_requested::<hello::HelloRouter>()?
        || zzz::router::export_routes_if_requested(&hello::HelloRouter::new())?
    {
        return Ok(());
    }
    tracing_subscriber::fmt().with_env_filter(
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
    ).init();
    let server = zzz::Server::from_env_or_bind(zzz::ServerConfig::from_env()?)?;
    tracing::info!("hello listening on http://{}", server.local_addr());
    // Serves until SIGINT/SIGTERM, then lets in-flight requests finish.
    server.serve(hello::endpoint()).await
}
