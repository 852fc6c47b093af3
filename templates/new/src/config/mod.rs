//! Configuration per environment, as Phoenix's `config/dev.exs`, `test.exs` and `prod.exs`:
//! [`dev`], [`test`] and [`prod`] each declare their settings; `ZZZ_ENV` picks one
//! (default `dev`) and the environment variables `PORT`,
{{zzz:if db}}
//! `DATABASE_URL` and `SECRET_KEY_BASE` override it at run time.
{{zzz:else}}
//! and `SECRET_KEY_BASE` override it at run time.
{{zzz:end}}
//! Production refuses to start without a real `SECRET_KEY_BASE`.

pub mod dev;
pub mod prod;
pub mod test;

pub use zzz::config::{Config, ConfigError, Env, Settings};

/// The configuration of the environment named by `ZZZ_ENV`, with its overrides applied.
pub fn load() -> Result<Config, ConfigError> {
    for_env(Env::from_env()?)
}

/// The configuration of `env`, with the environment variables' overrides applied.
pub fn for_env(env: Env) -> Result<Config, ConfigError> {
    settings(env).resolve()
}

/// The settings `env` declares, before any override.
pub fn settings(env: Env) -> Settings {
    match env {
        Env::Dev => dev::settings(),
        Env::Test => test::settings(),
        Env::Prod => prod::settings(),
    }
}
