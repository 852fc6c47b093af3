//! [`ServerConfig`]: the listening address, limits and timeouts of the HTTP server.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

/// The smallest read buffer hyper accepts (`max_buf_size` panics below this).
///
/// [`ServerConfig::max_header_bytes`] is raised to this value when set lower.
pub const MIN_HEADER_BYTES: usize = 8 * 1024;

/// Settings of the HTTP server: where it listens, its limits and its timeouts.
///
/// Every field has a safe default (see [`ServerConfig::default`]); the builder
/// methods return `self` so a config reads as one expression:
///
/// ```
/// use std::time::Duration;
/// use zzz::server::ServerConfig;
///
/// let config = ServerConfig::default()
///     .max_connections(512)
///     .idle_timeout(Duration::from_secs(30));
/// assert_eq!(config.max_connections, 512);
/// assert_eq!(config.header_read_timeout, Duration::from_secs(10));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Address [`Server::from_env_or_bind`](super::Server::from_env_or_bind) binds to.
    /// Default `127.0.0.1:4000`; `PORT` and `ZZZ_HOST` override it in
    /// [`ServerConfig::from_env`]. [`Server::bind`](super::Server::bind) takes its
    /// address as an argument and ignores this field.
    pub addr: SocketAddr,
    /// Largest request head (request line + headers) accepted on HTTP/1, and the
    /// largest header list accepted on HTTP/2. Default 16 KiB. Values below
    /// [`MIN_HEADER_BYTES`] (8 KiB) are raised to it. A client going over the
    /// limit gets `431 Request Header Fields Too Large` and the connection is closed.
    pub max_header_bytes: usize,
    /// Time a client has to deliver a complete request head. Default 10 s.
    ///
    /// On HTTP/1 the clock starts each time the server waits for a request head,
    /// so it also bounds how long a keep-alive connection may sit idle between
    /// requests (an idle HTTP/1 connection lives `min(idle_timeout, header_read_timeout)`).
    /// On every connection (HTTP/1, HTTP/2, TLS) the first request must have
    /// arrived this long after the connection was accepted, TLS handshake included,
    /// or the connection is dropped. This is what cuts off slowloris clients.
    pub header_read_timeout: Duration,
    /// How long a connection with no request in progress is kept open waiting for
    /// the next one (keep-alive idle time). Default 60 s. HTTP/2 connections get a
    /// GOAWAY; HTTP/1 connections are closed.
    pub idle_timeout: Duration,
    /// Most connections served at once. Default 10 000. When the limit is reached
    /// the server stops accepting: new connections wait in the kernel's accept
    /// queue and are served as soon as a slot frees. Upgraded connections
    /// (WebSocket) keep their slot until they close. Values below 1 are raised to 1.
    pub max_connections: usize,
    /// How long a graceful shutdown waits for in-flight requests before dropping
    /// the connections that remain. Default 30 s.
    pub shutdown_grace: Duration,
    /// Serve HTTP/2 as well as HTTP/1.1: h2c with prior knowledge on plain TCP,
    /// and ALPN `h2` over TLS. Default `true`. When `false` only HTTP/1.x is spoken.
    pub http2: bool,
}

impl Default for ServerConfig {
    /// `127.0.0.1:4000`, 16 KiB headers, 10 s header read timeout, 60 s idle
    /// timeout, 10 000 connections, 30 s shutdown grace, HTTP/2 on.
    fn default() -> Self {
        ServerConfig {
            addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 4000),
            max_header_bytes: 16 * 1024,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 10_000,
            shutdown_grace: Duration::from_secs(30),
            http2: true,
        }
    }
}

/// An environment variable given to [`ServerConfig::from_env`] (or the
/// `ZZZ_LISTEN_FD` read by [`Server::from_env_or_bind`](super::Server::from_env_or_bind))
/// holds a value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfigError {
    /// The variable's name, e.g. `PORT`.
    pub var: &'static str,
    /// The value found.
    pub value: String,
    /// What is expected instead.
    pub expected: &'static str,
}

impl fmt::Display for ServerConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "environment variable {}={:?} is invalid: expected {}",
            self.var, self.value, self.expected
        )
    }
}

impl std::error::Error for ServerConfigError {}

impl From<ServerConfigError> for std::io::Error {
    fn from(e: ServerConfigError) -> Self {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, e)
    }
}

impl ServerConfig {
    /// The defaults, overridden by environment variables where set:
    ///
    /// | variable | field | format |
    /// |---|---|---|
    /// | `PORT` | port of `addr` (default 4000) | `0`–`65535` |
    /// | `ZZZ_HOST` | IP of `addr` (default `127.0.0.1`) | an IP address, e.g. `0.0.0.0` or `::` |
    /// | `ZZZ_MAX_HEADER_BYTES` | `max_header_bytes` | a byte count |
    /// | `ZZZ_HEADER_READ_TIMEOUT` | `header_read_timeout` | a duration |
    /// | `ZZZ_IDLE_TIMEOUT` | `idle_timeout` | a duration |
    /// | `ZZZ_MAX_CONNECTIONS` | `max_connections` | a positive count |
    /// | `ZZZ_SHUTDOWN_GRACE` | `shutdown_grace` | a duration |
    /// | `ZZZ_HTTP2` | `http2` | `true`/`false`/`1`/`0`/`on`/`off` |
    ///
    /// A duration is a whole number followed by `ms`, `s` or `m`; a bare number
    /// means seconds (`10`, `10s`, `1500ms`, `2m`). The two timeouts must be above
    /// zero; `ZZZ_SHUTDOWN_GRACE=0` means "drop connections at once". Empty
    /// variables count as unset.
    ///
    /// # Errors
    /// [`ServerConfigError`] naming the first variable whose value does not parse.
    pub fn from_env() -> Result<ServerConfig, ServerConfigError> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// Like [`ServerConfig::from_env`], reading variables through `lookup`
    /// instead of the process environment (for tests and for layered configs).
    ///
    /// # Errors
    /// [`ServerConfigError`] naming the first variable whose value does not parse.
    pub fn from_vars<F>(lookup: F) -> Result<ServerConfig, ServerConfigError>
    where
        F: Fn(&str) -> Option<String>,
    {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let mut config = ServerConfig::default();
        if let Some(v) = get("PORT") {
            let port = v.trim().parse::<u16>().map_err(|_| err("PORT", &v, "a port number 0-65535"))?;
            config.addr.set_port(port);
        }
        if let Some(v) = get("ZZZ_HOST") {
            let ip = v
                .trim()
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .map_err(|_| err("ZZZ_HOST", &v, "an IP address such as 0.0.0.0, 127.0.0.1 or ::"))?;
            config.addr.set_ip(ip);
        }
        if let Some(v) = get("ZZZ_MAX_HEADER_BYTES") {
            config.max_header_bytes =
                v.trim().parse().map_err(|_| err("ZZZ_MAX_HEADER_BYTES", &v, "a number of bytes"))?;
        }
        if let Some(v) = get("ZZZ_HEADER_READ_TIMEOUT") {
            config.header_read_timeout = positive_duration("ZZZ_HEADER_READ_TIMEOUT", &v)?;
        }
        if let Some(v) = get("ZZZ_IDLE_TIMEOUT") {
            config.idle_timeout = positive_duration("ZZZ_IDLE_TIMEOUT", &v)?;
        }
        if let Some(v) = get("ZZZ_MAX_CONNECTIONS") {
            config.max_connections = v
                .trim()
                .parse()
                .ok()
                .filter(|n: &usize| *n > 0)
                .ok_or_else(|| err("ZZZ_MAX_CONNECTIONS", &v, "a positive number of connections"))?;
        }
        if let Some(v) = get("ZZZ_SHUTDOWN_GRACE") {
            config.shutdown_grace = duration("ZZZ_SHUTDOWN_GRACE", &v)?;
        }
        if let Some(v) = get("ZZZ_HTTP2") {
            config.http2 = match v.trim().to_ascii_lowercase().as_str() {
                "1" | "true" | "on" | "yes" => true,
                "0" | "false" | "off" | "no" => false,
                _ => return Err(err("ZZZ_HTTP2", &v, "true or false")),
            };
        }
        Ok(config)
    }

    /// Sets [`ServerConfig::addr`].
    pub fn addr(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self
    }

    /// Sets [`ServerConfig::max_header_bytes`] (raised to [`MIN_HEADER_BYTES`] if lower).
    pub fn max_header_bytes(mut self, bytes: usize) -> Self {
        self.max_header_bytes = bytes;
        self
    }

    /// Sets [`ServerConfig::header_read_timeout`]. Zero cuts every connection at once.
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = timeout;
        self
    }

    /// Sets [`ServerConfig::idle_timeout`]. Zero closes connections as soon as they are idle.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Sets [`ServerConfig::max_connections`] (raised to 1 if 0).
    pub fn max_connections(mut self, max: usize) -> Self {
        self.max_connections = max;
        self
    }

    /// Sets [`ServerConfig::shutdown_grace`].
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    /// Sets [`ServerConfig::http2`].
    pub fn http2(mut self, enabled: bool) -> Self {
        self.http2 = enabled;
        self
    }

    /// The header limit actually applied: `max_header_bytes`, at least [`MIN_HEADER_BYTES`].
    pub fn effective_max_header_bytes(&self) -> usize {
        self.max_header_bytes.max(MIN_HEADER_BYTES)
    }

    /// The connection limit actually applied: `max_connections`, at least 1.
    pub(crate) fn effective_max_connections(&self) -> usize {
        // tokio's Semaphore caps permits at usize::MAX >> 3.
        self.max_connections.clamp(1, usize::MAX >> 4)
    }
}

fn err(var: &'static str, value: &str, expected: &'static str) -> ServerConfigError {
    ServerConfigError { var, value: value.to_owned(), expected }
}

/// A duration that is not zero (a zero timeout would cut every connection at once).
fn positive_duration(var: &'static str, value: &str) -> Result<Duration, ServerConfigError> {
    match duration(var, value)? {
        Duration::ZERO => Err(err(var, value, "a duration above zero, such as 10s or 1500ms")),
        d => Ok(d),
    }
}

/// Parses `10`, `10s`, `1500ms`, `2m`.
fn duration(var: &'static str, value: &str) -> Result<Duration, ServerConfigError> {
    const EXPECTED: &str = "a duration such as 10, 10s, 1500ms or 2m";
    let v = value.trim();
    let (digits, unit): (&str, fn(u64) -> Duration) = if let Some(d) = v.strip_suffix("ms") {
        (d, Duration::from_millis)
    } else if let Some(d) = v.strip_suffix('s') {
        (d, Duration::from_secs)
    } else if let Some(d) = v.strip_suffix('m') {
        (d, |m| Duration::from_secs(m.saturating_mul(60)))
    } else {
        (v, Duration::from_secs)
    };
    digits.trim().parse::<u64>().map(unit).map_err(|_| err(var, value, EXPECTED))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(duration("X", "10").unwrap(), Duration::from_secs(10));
        assert_eq!(duration("X", "10s").unwrap(), Duration::from_secs(10));
        assert_eq!(duration("X", "1500ms").unwrap(), Duration::from_millis(1500));
        assert_eq!(duration("X", " 2m ").unwrap(), Duration::from_secs(120));
        assert!(duration("X", "ten").is_err());
        assert!(duration("X", "-1s").is_err());
        assert!(duration("X", "5h").is_err());
    }
}
