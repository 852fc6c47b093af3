//! Configuration: command-line flags, then environment variables, then a TOML config
//! file, then defaults (the first that sets a value wins). Credentials are additive:
//! tokens given as flags, in the environment and in the file are all accepted.
//!
//! ```toml
//! # cache.toml (pass with --config or CACHE_CONFIG)
//! port = 4100
//! dir = "/var/lib/cache"
//! max_size = "50GiB"
//! max_artifact_size = "2GiB"
//! eviction = "lru"          # lru | lfu | ttl
//! ttl = "7d"                # with eviction = "ttl"
//! upstream = "http://central-cache:4100"
//! jwks = "/etc/cache/jwks.json"
//! log_format = "json"
//! fsync = true              # false: faster writes, a power loss may lose the last ones
//! pack_size = "64MiB"       # small artifacts share pack files of about this size
//! memory_cache = "64MiB"    # recently read artifacts (up to 1 MiB each) kept in memory
//!
//! [[tokens]]
//! token = "ci-secret"
//! [[tokens]]
//! token = "dev-readonly"
//! read_only = true
//! namespaces = ["team-a"]
//!
//! [[users]]                 # HTTP Basic (Gradle, Bazel)
//! username = "gradle"
//! password = "secret"
//! ```

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use serde::Deserialize;

use crate::storage::Policy;

/// The command line (every flag also has an environment variable).
#[derive(Debug, Clone, Default, Parser)]
#[command(name = "cache", version, about = "A build-artifact cache server for Gradle, Bazel, Nx and Turborepo.")]
pub struct Cli {
    /// TOML config file (values there are used when neither a flag nor a variable sets them).
    #[arg(long, env = "CACHE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Port to listen on [default: 4100].
    #[arg(long, env = "CACHE_PORT")]
    pub port: Option<u16>,
    /// Address to listen on [default: 127.0.0.1].
    #[arg(long, env = "CACHE_HOST")]
    pub host: Option<IpAddr>,
    /// Data directory [default: ./cache-data].
    #[arg(long, env = "CACHE_DIR")]
    pub dir: Option<PathBuf>,
    /// Size cap of the store, like 10GiB, 500MB or 1048576 [default: 10GiB].
    #[arg(long, env = "CACHE_MAX_SIZE")]
    pub max_size: Option<String>,
    /// Largest single artifact [default: 4GiB, at most --max-size]; bigger uploads get 413.
    #[arg(long, env = "CACHE_MAX_ARTIFACT_SIZE")]
    pub max_artifact_size: Option<String>,
    /// Eviction policy: lru, lfu or ttl [default: lru].
    #[arg(long, env = "CACHE_EVICTION")]
    pub eviction: Option<String>,
    /// Time to live for --eviction ttl, like 7d, 12h, 30m or 45s [default: 7d].
    #[arg(long, env = "CACHE_TTL")]
    pub ttl: Option<String>,
    /// Another cache server to sit in front of: misses are fetched from it, writes go through to it.
    #[arg(long, env = "CACHE_UPSTREAM")]
    pub upstream: Option<String>,
    /// Bearer token for the upstream (default: forward the client's Authorization).
    #[arg(long, env = "CACHE_UPSTREAM_TOKEN")]
    pub upstream_token: Option<String>,
    /// A read-write bearer token (repeatable; the variable takes a comma-separated list).
    #[arg(long = "token", env = "CACHE_TOKENS", value_delimiter = ',')]
    pub tokens: Vec<String>,
    /// A read-only bearer token (repeatable; comma-separated in the variable).
    #[arg(long = "read-only-token", env = "CACHE_READ_ONLY_TOKENS", value_delimiter = ',')]
    pub read_only_tokens: Vec<String>,
    /// JWKS file of the keys that sign JWT bearer tokens (RS256 with `kid`), reread on change.
    #[arg(long, env = "CACHE_JWKS")]
    pub jwks: Option<PathBuf>,
    /// Required JWT issuer (`iss`).
    #[arg(long, env = "CACHE_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,
    /// Required JWT audience (`aud`).
    #[arg(long, env = "CACHE_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
    /// Request log format: text or json [default: text].
    #[arg(long, env = "CACHE_LOG_FORMAT")]
    pub log_format: Option<String>,
    /// Size past which a pack of small artifacts is sealed and the next one started,
    /// like 64MiB [default: 64MiB, at least 64KiB].
    #[arg(long, env = "CACHE_PACK_SIZE")]
    pub pack_size: Option<String>,
    /// Memory for recently read artifacts of up to 1 MiB, served without touching the
    /// disk, like 64MiB; 0 turns it off [default: 64MiB].
    #[arg(long, env = "CACHE_MEMORY_CACHE")]
    pub memory_cache: Option<String>,
    /// Do not fsync artifacts before renaming them into place (faster writes; a power
    /// loss may then lose the last seconds of writes).
    #[arg(long, env = "CACHE_NO_FSYNC")]
    pub no_fsync: bool,
}

/// A bearer token from the config file.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// The token.
    pub token: String,
    /// Reads only.
    #[serde(default)]
    pub read_only: bool,
    /// The namespaces it may use (`*` or absent: all).
    #[serde(default)]
    pub namespaces: Option<Vec<String>>,
}

/// An HTTP Basic user from the config file.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    /// The user name.
    pub username: String,
    /// The password.
    pub password: String,
    /// Reads only.
    #[serde(default)]
    pub read_only: bool,
    /// The namespaces it may use (`*` or absent: all).
    #[serde(default)]
    pub namespaces: Option<Vec<String>>,
}

/// The config file's contents.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    port: Option<u16>,
    host: Option<IpAddr>,
    dir: Option<PathBuf>,
    max_size: Option<SizeValue>,
    max_artifact_size: Option<SizeValue>,
    eviction: Option<String>,
    ttl: Option<String>,
    upstream: Option<String>,
    upstream_token: Option<String>,
    jwks: Option<PathBuf>,
    jwt_issuer: Option<String>,
    jwt_audience: Option<String>,
    log_format: Option<String>,
    fsync: Option<bool>,
    pack_size: Option<SizeValue>,
    memory_cache: Option<SizeValue>,
    #[serde(default)]
    tokens: Vec<TokenConfig>,
    #[serde(default)]
    users: Vec<UserConfig>,
}

/// A size in the file: a number of bytes or a string like "10GiB".
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum SizeValue {
    Bytes(u64),
    Text(String),
}

impl SizeValue {
    fn text(self) -> String {
        match self {
            SizeValue::Bytes(n) => n.to_string(),
            SizeValue::Text(t) => t,
        }
    }
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen.
    pub addr: SocketAddr,
    /// The data directory.
    pub dir: PathBuf,
    /// The store's size cap, bytes.
    pub max_size: u64,
    /// The largest artifact, bytes.
    pub max_artifact_size: u64,
    /// The eviction policy.
    pub policy: Policy,
    /// The upstream cache's base URL.
    pub upstream: Option<String>,
    /// The upstream's bearer token.
    pub upstream_token: Option<String>,
    /// Bearer tokens.
    pub tokens: Vec<TokenConfig>,
    /// Basic users.
    pub users: Vec<UserConfig>,
    /// The JWKS file.
    pub jwks: Option<PathBuf>,
    /// Required `iss`.
    pub jwt_issuer: Option<String>,
    /// Required `aud`.
    pub jwt_audience: Option<String>,
    /// JSON request logs.
    pub json_logs: bool,
    /// fsync artifacts before renaming them into place.
    pub fsync: bool,
    /// The size past which a pack of small artifacts is sealed.
    pub pack_size: u64,
    /// Memory for recently read small artifacts, bytes.
    pub memory_cache: u64,
}

impl Config {
    /// A configuration for tests and embedding: the given directory, defaults elsewhere.
    pub fn for_dir(dir: impl Into<PathBuf>) -> Config {
        Config::resolve(Cli { dir: Some(dir.into()), ..Cli::default() }).expect("defaults are valid")
    }

    /// Reads the flags and variables, then the config file they name.
    pub fn load() -> Result<Config, String> {
        Config::resolve(Cli::parse())
    }

    /// Merges flags/variables (already merged by clap), the config file and defaults.
    pub fn resolve(cli: Cli) -> Result<Config, String> {
        let file: FileConfig = match &cli.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
                toml::from_str(&text).map_err(|e| format!("config file {}: {e}", path.display()))?
            }
            None => FileConfig::default(),
        };
        let port = cli.port.or(file.port).unwrap_or(4100);
        let host = cli.host.or(file.host).unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
        let max_size = parse_size(&cli.max_size.or(file.max_size.map(SizeValue::text)).unwrap_or_else(|| "10GiB".into()))
            .map_err(|e| format!("--max-size: {e}"))?;
        let max_artifact_size = match cli.max_artifact_size.or(file.max_artifact_size.map(SizeValue::text)) {
            Some(text) => parse_size(&text).map_err(|e| format!("--max-artifact-size: {e}"))?,
            None => 4 << 30,
        }
        .min(max_size);
        let pack_size = match cli.pack_size.or(file.pack_size.map(SizeValue::text)) {
            Some(text) => parse_size(&text).map_err(|e| format!("--pack-size: {e}"))?,
            None => crate::storage::pack::DEFAULT_PACK_SIZE,
        };
        if pack_size < crate::storage::PACK_MAX {
            return Err(format!("--pack-size: {pack_size} bytes is smaller than one packed artifact may be ({} bytes)", crate::storage::PACK_MAX));
        }
        let memory_cache = parse_size(&cli.memory_cache.or(file.memory_cache.map(SizeValue::text)).unwrap_or_else(|| "64MiB".into()))
            .map_err(|e| format!("--memory-cache: {e}"))?;
        let ttl = parse_duration(&cli.ttl.or(file.ttl).unwrap_or_else(|| "7d".into())).map_err(|e| format!("--ttl: {e}"))?;
        let policy = match cli.eviction.or(file.eviction).as_deref().unwrap_or("lru") {
            "lru" => Policy::Lru,
            "lfu" => Policy::Lfu,
            "ttl" => Policy::Ttl(ttl),
            other => return Err(format!("--eviction: unknown policy {other:?} (expected lru, lfu or ttl)")),
        };
        let json_logs = match cli.log_format.or(file.log_format).as_deref().unwrap_or("text") {
            "text" => false,
            "json" => true,
            other => return Err(format!("--log-format: unknown format {other:?} (expected text or json)")),
        };
        let upstream = cli.upstream.or(file.upstream).map(|u| u.trim_end_matches('/').to_owned());
        if let Some(url) = &upstream
            && !url.starts_with("http://")
        {
            return Err(format!("--upstream: {url:?} must be an http:// URL"));
        }
        let mut tokens = file.tokens;
        tokens.extend(cli.tokens.into_iter().filter(|t| !t.is_empty()).map(|token| TokenConfig { token, read_only: false, namespaces: None }));
        tokens.extend(cli.read_only_tokens.into_iter().filter(|t| !t.is_empty()).map(|token| TokenConfig { token, read_only: true, namespaces: None }));
        Ok(Config {
            addr: SocketAddr::new(host, port),
            dir: cli.dir.or(file.dir).unwrap_or_else(|| PathBuf::from("cache-data")),
            max_size,
            max_artifact_size,
            policy,
            upstream,
            upstream_token: cli.upstream_token.or(file.upstream_token),
            tokens,
            users: file.users,
            jwks: cli.jwks.or(file.jwks),
            jwt_issuer: cli.jwt_issuer.or(file.jwt_issuer),
            jwt_audience: cli.jwt_audience.or(file.jwt_audience),
            json_logs,
            fsync: !cli.no_fsync && file.fsync.unwrap_or(true),
            pack_size,
            memory_cache,
        })
    }
}

/// Parses `10GiB`, `500MB`, `64k`, `1048576`: binary units for `KiB/MiB/GiB/TiB` and
/// for bare `K/M/G/T`, decimal for `KB/MB/GB/TB`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().map_err(|_| format!("{text:?} is not a size like 10GiB"))?;
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        other => return Err(format!("unknown size unit {other:?} in {text:?}")),
    };
    Ok((number * multiplier as f64) as u64)
}

/// Parses `7d`, `12h`, `30m`, `45s` (or plain seconds).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| format!("{text:?} is not a duration like 7d"))?;
    let secs = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        other => return Err(format!("unknown duration unit {other:?} in {text:?}")),
    };
    Ok(Duration::from_secs(number * secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations() {
        assert_eq!(parse_size("10GiB").unwrap(), 10 << 30);
        assert_eq!(parse_size("1.5k").unwrap(), 1536);
        assert_eq!(parse_size("500MB").unwrap(), 500_000_000);
        assert_eq!(parse_size("42").unwrap(), 42);
        assert!(parse_size("ten").is_err());
        assert!(parse_size("1ZB").is_err());
        assert_eq!(parse_duration("7d").unwrap(), Duration::from_secs(7 * 86400));
        assert!(parse_duration("7w").is_err());
    }

    #[test]
    fn flags_win_over_the_file_and_credentials_add_up() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cache.toml");
        std::fs::write(&file, "port = 5000\nmax_size = \"1GiB\"\neviction = \"lfu\"\n[[tokens]]\ntoken = \"f\"\nread_only = true\n").unwrap();
        let cli = Cli::parse_from(["cache", "--config", file.to_str().unwrap(), "--port", "6000", "--token", "a"]);
        let config = Config::resolve(cli).unwrap();
        assert_eq!(config.addr.port(), 6000);
        assert_eq!(config.max_size, 1 << 30);
        assert_eq!(config.policy, Policy::Lfu);
        assert_eq!(config.tokens.len(), 2);
        assert!(config.tokens[0].read_only);
        let bad = Cli::parse_from(["cache", "--eviction", "random"]);
        assert!(Config::resolve(bad).unwrap_err().contains("unknown policy"));
    }
}
