//! Configuration per environment, as Phoenix's `config/dev.exs`, `test.exs`, `prod.exs`
//! and `runtime.exs`: an app keeps one set of settings per [`Env`] in code, and the
//! environment variables `PORT`, `DATABASE_URL` and `SECRET_KEY_BASE` override them at
//! run time. Production refuses to start without a real secret.
//!
//! The environment is chosen by `ZZZ_ENV` (`dev`, the default, `test` or `prod`). An app
//! made by `zzz new` has `src/config/{dev,test,prod}.rs`; each returns its defaults and
//! [`Settings::resolve`] applies the overrides:
//!
//! ```
//! use zzz::config::{Env, Settings};
//!
//! // What `src/config/dev.rs` of a generated app returns.
//! let dev = Settings::new(Env::Dev)
//!     .database_url("sqlite://my_app_dev.db")
//!     .secret_key_base("a development secret that is at least sixty-four bytes long, or longer");
//! let resolved = dev.resolve_with(|name| match name {
//!     "DATABASE_URL" => Some("sqlite://elsewhere.db".to_owned()),
//!     _ => None,
//! }).unwrap();
//! assert_eq!(resolved.database_url, "sqlite://elsewhere.db");
//! assert!(resolved.debug_errors);
//!
//! // Production without SECRET_KEY_BASE does not start.
//! let prod = Settings::new(Env::Prod).database_url("postgres://db/my_app");
//! let err = prod.resolve_with(|_| None).unwrap_err();
//! assert!(err.to_string().contains("SECRET_KEY_BASE"));
//! ```

use std::fmt;

use crate::plugs::SecretKeyBase;
use crate::server::{ServerConfig, ServerConfigError};

/// The variable that chooses the environment.
pub const ENV_VAR: &str = "ZZZ_ENV";

/// The environment an app runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Env {
    /// Development (the default): debug error pages, a development secret.
    #[default]
    Dev,
    /// Tests.
    Test,
    /// Production: generic error pages, secrets from the environment only.
    Prod,
}

impl Env {
    /// `ZZZ_ENV` (`dev`, `test` or `prod`; unset or empty means `dev`).
    ///
    /// # Errors
    /// [`ConfigError::UnknownEnv`] for any other value.
    pub fn from_env() -> Result<Env, ConfigError> {
        match std::env::var(ENV_VAR) {
            Ok(value) if !value.trim().is_empty() => value.parse(),
            _ => Ok(Env::Dev),
        }
    }

    /// `"dev"`, `"test"` or `"prod"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Env::Dev => "dev",
            Env::Test => "test",
            Env::Prod => "prod",
        }
    }
}

impl fmt::Display for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Env {
    type Err = ConfigError;

    fn from_str(value: &str) -> Result<Env, ConfigError> {
        match value.trim() {
            "dev" => Ok(Env::Dev),
            "test" => Ok(Env::Test),
            "prod" => Ok(Env::Prod),
            other => Err(ConfigError::UnknownEnv(other.to_owned())),
        }
    }
}

/// Why the configuration could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// `ZZZ_ENV` holds something other than `dev`, `test` or `prod`.
    UnknownEnv(String),
    /// Production needs `SECRET_KEY_BASE`.
    MissingSecret,
    /// The settings require `DATABASE_URL` ([`Settings::require_database_url`]) and it is not set.
    MissingDatabaseUrl(Env),
    /// The secret is shorter than 64 bytes; `from_env` says whether it came from
    /// `SECRET_KEY_BASE` or from the app's config.
    ShortSecret {
        /// Its length in bytes.
        len: usize,
        /// Whether it came from the environment variable.
        from_env: bool,
    },
    /// A server variable (`PORT`, `ZZZ_HOST`, …) does not parse.
    Server(ServerConfigError),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::UnknownEnv(value) => {
                write!(f, "{ENV_VAR}={value:?} is not an environment: expected dev, test or prod")
            }
            ConfigError::MissingSecret => f.write_str(
                "SECRET_KEY_BASE is not set: production needs a real secret (at least 64 bytes), \
                 e.g. `export SECRET_KEY_BASE=$(openssl rand -base64 64 | tr -d '\\n')`",
            ),
            ConfigError::MissingDatabaseUrl(env) => write!(
                f,
                "DATABASE_URL is not set: the {env} environment takes its database from it, \
                 e.g. `export DATABASE_URL=postgres://user:pass@host/db_name`"
            ),
            ConfigError::ShortSecret { len, from_env } => write!(
                f,
                "the secret key base {} is {len} bytes long; it must be at least 64 bytes",
                if *from_env { "in SECRET_KEY_BASE" } else { "in the app's config" }
            ),
            ConfigError::Server(err) => err.fmt(f),
        }
    }
}

impl std::error::Error for ConfigError {}

impl From<ConfigError> for std::io::Error {
    fn from(e: ConfigError) -> Self {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, e)
    }
}

/// One environment's settings as the app's config declares them, before the
/// environment variables are applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The environment these settings are for.
    pub env: Env,
    /// The database URL (`DATABASE_URL` overrides it); empty when the app has no database.
    pub database_url: String,
    /// The secret key base of this environment. `None` in production: the secret comes
    /// from `SECRET_KEY_BASE` only. In dev/test, `None` means a random one per start.
    pub secret_key_base: Option<String>,
    /// The default port (`PORT` overrides it).
    pub port: u16,
    /// Whether error pages show request details (on in dev and test).
    pub debug_errors: bool,
    /// Whether `DATABASE_URL` must be set (the configured URL is not used).
    pub database_required: bool,
}

impl Settings {
    /// The defaults of an environment: port 4000, debug error pages except in prod, no
    /// database, no secret.
    pub fn new(env: Env) -> Settings {
        Settings { env, database_url: String::new(), secret_key_base: None, port: 4000, debug_errors: env != Env::Prod, database_required: false }
    }

    /// Sets the database URL.
    pub fn database_url(mut self, url: &str) -> Settings {
        self.database_url = url.to_owned();
        self
    }

    /// Requires `DATABASE_URL` (as Phoenix's prod `runtime.exs`): resolving fails without it.
    pub fn require_database_url(mut self) -> Settings {
        self.database_required = true;
        self
    }

    /// Sets the secret key base (ignored in prod, where only `SECRET_KEY_BASE` counts).
    pub fn secret_key_base(mut self, secret: &str) -> Settings {
        self.secret_key_base = Some(secret.to_owned());
        self
    }

    /// Sets the default port.
    pub fn port(mut self, port: u16) -> Settings {
        self.port = port;
        self
    }

    /// Turns debug error pages on or off.
    pub fn debug_errors(mut self, on: bool) -> Settings {
        self.debug_errors = on;
        self
    }

    /// Applies the process environment: see [`Settings::resolve_with`].
    ///
    /// # Errors
    /// See [`Settings::resolve_with`].
    pub fn resolve(self) -> Result<Config, ConfigError> {
        self.resolve_with(|name| std::env::var(name).ok())
    }

    /// Applies overrides read through `lookup`: `DATABASE_URL`, `SECRET_KEY_BASE`, and the
    /// server's variables (`PORT`, `ZZZ_HOST`, limits; see [`ServerConfig::from_env`]).
    /// Empty variables count as unset.
    ///
    /// # Errors
    /// [`ConfigError::MissingSecret`] in prod without `SECRET_KEY_BASE`,
    /// [`ConfigError::MissingDatabaseUrl`] without `DATABASE_URL` when it is required,
    /// [`ConfigError::ShortSecret`] for a secret under 64 bytes,
    /// [`ConfigError::Server`] for a server variable that does not parse.
    pub fn resolve_with<F>(self, lookup: F) -> Result<Config, ConfigError>
    where
        F: Fn(&str) -> Option<String>,
    {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let port = self.port.to_string();
        let server = ServerConfig::from_vars(|name| match name {
            "PORT" => get("PORT").or_else(|| Some(port.clone())),
            other => get(other),
        })
        .map_err(ConfigError::Server)?;
        let secret = match (get("SECRET_KEY_BASE"), self.env) {
            (Some(secret), _) => SecretKeyBase::new(secret.as_bytes())
                .map_err(|_| ConfigError::ShortSecret { len: secret.len(), from_env: true })?,
            (None, Env::Prod) => return Err(ConfigError::MissingSecret),
            (None, _) => match &self.secret_key_base {
                Some(secret) => SecretKeyBase::new(secret.as_bytes())
                    .map_err(|_| ConfigError::ShortSecret { len: secret.len(), from_env: false })?,
                None => SecretKeyBase::generate(),
            },
        };
        let database_url = match get("DATABASE_URL") {
            Some(url) => url,
            None if self.database_required => return Err(ConfigError::MissingDatabaseUrl(self.env)),
            None => self.database_url,
        };
        Ok(Config {
            env: self.env,
            database_url,
            secret_key_base: secret,
            server,
            debug_errors: self.debug_errors,
        })
    }
}

/// The resolved configuration an app starts with.
#[derive(Debug, Clone)]
pub struct Config {
    /// The environment.
    pub env: Env,
    /// The database URL.
    pub database_url: String,
    /// The secret key base (sessions, signed and encrypted cookies).
    pub secret_key_base: SecretKeyBase,
    /// The HTTP server's settings (address, limits, timeouts).
    pub server: ServerConfig,
    /// Whether error pages show request details.
    pub debug_errors: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789012345678901234567890123456789012345678901234567890123456789";

    fn vars(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
    }

    #[test]
    fn env_names_parse_and_others_are_refused() {
        assert_eq!("prod".parse::<Env>(), Ok(Env::Prod));
        assert_eq!(" test ".parse::<Env>(), Ok(Env::Test));
        let err = "production".parse::<Env>().unwrap_err();
        assert_eq!(err.to_string(), "ZZZ_ENV=\"production\" is not an environment: expected dev, test or prod");
    }

    #[test]
    fn overrides_win_over_the_configured_values() {
        let settings = Settings::new(Env::Dev).database_url("sqlite://dev.db").secret_key_base(SECRET).port(4100);
        let config = settings.clone().resolve_with(vars(&[])).unwrap();
        assert_eq!((config.database_url.as_str(), config.server.addr.port()), ("sqlite://dev.db", 4100));
        let config = settings.resolve_with(vars(&[("DATABASE_URL", "postgres://x/y"), ("PORT", "4321")])).unwrap();
        assert_eq!((config.database_url.as_str(), config.server.addr.port()), ("postgres://x/y", 4321));
    }

    #[test]
    fn prod_needs_a_real_secret_from_the_environment() {
        let prod = Settings::new(Env::Prod).secret_key_base(SECRET);
        assert_eq!(prod.clone().resolve_with(vars(&[])).unwrap_err(), ConfigError::MissingSecret);
        assert_eq!(
            prod.clone().resolve_with(vars(&[("SECRET_KEY_BASE", "short")])).unwrap_err(),
            ConfigError::ShortSecret { len: 5, from_env: true }
        );
        let config = prod.resolve_with(vars(&[("SECRET_KEY_BASE", SECRET)])).unwrap();
        assert!(!config.debug_errors);
    }

    #[test]
    fn dev_without_a_secret_gets_a_random_one_and_a_short_one_is_refused() {
        assert!(Settings::new(Env::Test).resolve_with(vars(&[])).is_ok());
        let err = Settings::new(Env::Dev).secret_key_base("short").resolve_with(vars(&[])).unwrap_err();
        assert_eq!(err, ConfigError::ShortSecret { len: 5, from_env: false });
    }

    #[test]
    fn a_required_database_url_must_be_set() {
        let prod = Settings::new(Env::Prod).require_database_url();
        let err = prod.clone().resolve_with(vars(&[("SECRET_KEY_BASE", SECRET)])).unwrap_err();
        assert_eq!(err, ConfigError::MissingDatabaseUrl(Env::Prod));
        assert!(err.to_string().starts_with("DATABASE_URL is not set: the prod environment"), "{err}");
        let config = prod.resolve_with(vars(&[("SECRET_KEY_BASE", SECRET), ("DATABASE_URL", "postgres://db/app")])).unwrap();
        assert_eq!(config.database_url, "postgres://db/app");
    }

    #[test]
    fn a_bad_port_names_the_variable() {
        let err = Settings::new(Env::Dev).resolve_with(vars(&[("PORT", "http")])).unwrap_err();
        assert!(err.to_string().contains("PORT"), "{err}");
    }
}
