//! Serves the browser demo: `cargo run -p browser_demo` (PORT, default 4000;
//! API_TOKEN, SECRET_KEY_BASE, ZZZ_ENV=prod).

use browser_demo::{DemoConfig, endpoint};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt().with_env_filter(
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
    ).init();
    let config = DemoConfig::from_env().map_err(std::io::Error::other)?;
    let server = zzz::Server::from_env_or_bind(zzz::ServerConfig::from_env()?)?;
    tracing::info!("browser demo on http://{}", server.local_addr());
    server.serve(endpoint(config)).await
}
