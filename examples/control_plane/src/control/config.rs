//! The control plane's settings: command-line flags, each with an environment variable.

use std::net::IpAddr;
use std::time::Duration;

/// `control_plane serve` settings.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeConfig {
    /// HTTP port (0 picks a free one; the address is printed on stdout).
    #[arg(long, env = "PORT", default_value_t = 4200)]
    pub port: u16,
    /// Address to listen on.
    #[arg(long, env = "HOST", default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// An agent's address (`host:port`); repeat for several. Agents may also register
    /// with `POST /agents`; registered agents are remembered in the database.
    #[arg(long = "agent", value_name = "HOST:PORT")]
    pub agents: Vec<String>,
    /// Where workloads live: `sqlite://file.db` (created if missing) or `postgres://…`.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://control_plane.db")]
    pub database_url: String,
    /// How often a running workload's agent is asked for its status, in ms.
    #[arg(long, env = "POLL_INTERVAL_MS", default_value_t = 500, value_parser = positive_ms)]
    pub poll_interval_ms: u64,
    /// How often every agent is pinged, in ms.
    #[arg(long, env = "HEALTH_INTERVAL_MS", default_value_t = 1000, value_parser = positive_ms)]
    pub health_interval_ms: u64,
    /// An agent silent for this long is down: its workloads become `lost`, in ms.
    #[arg(long, env = "LOST_TIMEOUT_MS", default_value_t = 10_000, value_parser = positive_ms)]
    pub lost_timeout_ms: u64,
    /// How long to wait before retrying a dispatch or a stop that failed, in ms.
    #[arg(long, env = "RETRY_BACKOFF_MS", default_value_t = 1000, value_parser = positive_ms)]
    pub retry_backoff_ms: u64,
    /// When set, `POST` and `DELETE` requests (which run and stop programs) need
    /// `Authorization: Bearer <token>`; reads, the page and the socket stay open.
    /// Unset (the default, for loopback use), the API is open.
    #[arg(long, env = "API_TOKEN", hide_env_values = true)]
    pub api_token: Option<ApiToken>,
    /// How long one request to an agent may take, in ms.
    #[arg(long, env = "AGENT_TIMEOUT_MS", default_value_t = 3000, value_parser = positive_ms)]
    pub agent_timeout_ms: u64,
}

/// A bearer token; never printed (`Debug` shows `ApiToken(…)`).
#[derive(Clone, PartialEq, Eq)]
pub struct ApiToken(String);

impl ApiToken {
    /// Whether `candidate` is this token (compared in constant time).
    pub fn matches(&self, candidate: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), candidate.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiToken(…)")
    }
}

impl std::str::FromStr for ApiToken {
    type Err = String;
    fn from_str(text: &str) -> Result<ApiToken, String> {
        if text.trim().len() < 16 {
            return Err("the API token must be at least 16 characters".into());
        }
        Ok(ApiToken(text.trim().to_owned()))
    }
}

fn positive_ms(text: &str) -> Result<u64, String> {
    match text.trim().parse::<u64>() {
        Ok(ms) if ms > 0 => Ok(ms),
        _ => Err(format!("{text:?} is not a positive number of milliseconds")),
    }
}

impl ServeConfig {
    /// The defaults, on `database_url`, port 0 and no agents (for tests).
    pub fn for_database(database_url: &str) -> ServeConfig {
        ServeConfig {
            port: 0,
            host: IpAddr::from([127, 0, 0, 1]),
            agents: Vec::new(),
            database_url: database_url.to_owned(),
            poll_interval_ms: 500,
            health_interval_ms: 1000,
            lost_timeout_ms: 10_000,
            retry_backoff_ms: 1000,
            api_token: None,
            agent_timeout_ms: 3000,
        }
    }

    /// [`ServeConfig::poll_interval_ms`] as a duration.
    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms)
    }

    /// [`ServeConfig::health_interval_ms`] as a duration.
    pub fn health_interval(&self) -> Duration {
        Duration::from_millis(self.health_interval_ms)
    }

    /// [`ServeConfig::lost_timeout_ms`] as a duration.
    pub fn lost_timeout(&self) -> Duration {
        Duration::from_millis(self.lost_timeout_ms)
    }

    /// [`ServeConfig::retry_backoff_ms`] as a duration.
    pub fn retry_backoff(&self) -> Duration {
        Duration::from_millis(self.retry_backoff_ms)
    }

    /// [`ServeConfig::agent_timeout_ms`] as a duration.
    pub fn agent_timeout(&self) -> Duration {
        Duration::from_millis(self.agent_timeout_ms)
    }
}
