//! Serves the chat app: `cargo run --release -p chat` (PORT, default 4000).
//! Run `npm ci` in examples/chat/assets first: the page uses the phoenix npm package.

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    if !chat::phoenix_js_path().exists() {
        tracing::warn!("phoenix.js is missing: run `npm ci` in examples/chat/assets for the page to work");
    }
    let server = zzz::Server::from_env_or_bind(zzz::ServerConfig::from_env()?)?;
    tracing::info!("chat listening on http://{}", server.local_addr());
    server.serve(chat::endpoint(zzz::pubsub::PubSub::new())).await
}
