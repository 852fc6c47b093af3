//! Starts {{zzz:app}}: `zzz server` in development (rebuilds and restarts on change), or
//! `cargo run`. `ZZZ_ENV` picks the environment (dev, test, prod); `PORT`,
{{zzz:if db}}
//! `DATABASE_URL` and `SECRET_KEY_BASE` override its config (see `src/config/`).
{{zzz:else}}
//! and `SECRET_KEY_BASE` override its config (see `src/config/`).
{{zzz:end}}

use std::process::ExitCode;

use {{zzz:app}}::router::AppRouter;
{{zzz:if db}}
use {{zzz:app}}::{config, endpoint, migrations};
{{zzz:else}}
use {{zzz:app}}::{config, endpoint};
{{zzz:end}}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    // `zzz routes` asks for the route table without starting the server.
    if zzz::router::export_routes_if_requested(&AppRouter::new())? {
        return Ok(());
    }
    let config = config::load()?;
{{zzz:if db}}
    // `zzz migrate`, `zzz rollback`, `zzz migrations` and `zzz db create|drop|reset` run here.
    if zzz_db::tasks::run_if_requested(&config.database_url, migrations::all).await? {
        return Ok(());
    }
{{zzz:end}}
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
{{zzz:if db}}
    let repo = {{zzz:app}}::repo::connect(&config).await?;
    let server = zzz::Server::from_env_or_bind(config.server.clone())?;
    tracing::info!("{{zzz:app}} ({}) listening on http://{}", config.env, server.local_addr());
    server.serve(endpoint(&config, repo)).await?;
{{zzz:else}}
    let server = zzz::Server::from_env_or_bind(config.server.clone())?;
    tracing::info!("{{zzz:app}} ({}) listening on http://{}", config.env, server.local_addr());
    server.serve(endpoint(&config)).await?;
{{zzz:end}}
    Ok(())
}
