{{zzz:only db}}
//! The database: one [`Repo`] (a pool) for the whole app, given to handlers as
//! `State<Repo>`.

use zzz::config::{Config, Env};
use zzz_db::{Migrator, Repo};

/// Connects to the configured database. In development the database is created when
/// missing, and pending migrations are reported (run them with `zzz migrate`).
pub async fn connect(config: &Config) -> Result<Repo, zzz_db::Error> {
    if config.env == Env::Dev
        && let Err(err) = zzz_db::tasks::create_database(&config.database_url).await
    {
        // E.g. no right to read the server's database list: connecting may still work.
        tracing::warn!(%err, "could not check or create the development database");
    }
    let repo = Repo::connect(&config.database_url).await?;
    if config.env == Env::Dev {
        let pending: Vec<String> = Migrator::new(crate::migrations::all())
            .status(&repo)
            .await?
            .into_iter()
            .filter(|m| !m.applied)
            .map(|m| format!("{} {}", m.version, m.name))
            .collect();
        if !pending.is_empty() {
            tracing::warn!("pending migrations: {}; run `zzz migrate`", pending.join(", "));
        }
    }
    Ok(repo)
}
