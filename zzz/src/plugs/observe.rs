//! Request logging (`Plug.Logger`) and telemetry events (`Plug.Telemetry`).
//!
//! Request ids are the endpoint's own (see [`Endpoint::request_ids`](crate::Endpoint::request_ids)):
//! the client's `x-request-id` is kept when it is 20 to 200 visible characters, else
//! one is generated; both plugs here report it.
//!
//! ```
//! use zzz::{Endpoint, Pipeline};
//! use zzz::plugs::{LogFormat, Logger, Telemetry, TelemetryEvent};
//!
//! zzz::router! { pub AppRouter; get "/" => index; }
//! async fn index() -> &'static str { "home" }
//!
//! let telemetry = Telemetry::new("zzz.endpoint").attach(|event: &TelemetryEvent| {
//!     if let TelemetryEvent::Stop { duration, status, .. } = event {
//!         // feed a metrics histogram here
//!         let _ = (duration, status);
//!     }
//! });
//! let endpoint = Endpoint::new(AppRouter::new())
//!     .pipeline(Pipeline::new().plug(telemetry).plug(Logger::new().format(LogFormat::Json)));
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use http::Method;

use crate::conn::Conn;
use crate::plug::Plug;

/// How [`Logger`] writes its line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// `GET /users/1 -> 200 in 1.234ms` with method, path, status, duration_us and
    /// request_id as tracing fields. The default.
    #[default]
    Text,
    /// One JSON object as the message:
    /// `{"method":"GET","path":"/users/1","status":200,"duration_us":1234,"request_id":"…"}`.
    Json,
}

/// Logs one `tracing` line per request (target `zzz::request`) when the response goes
/// out: method, path, status, duration and request id. Level `INFO` by default.
///
/// ```
/// use zzz::Pipeline;
/// use zzz::plugs::{LogFormat, Logger};
/// let pipeline = Pipeline::new().plug(Logger::new().level(tracing::Level::DEBUG).format(LogFormat::Json));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Logger {
    level: tracing::Level,
    format: LogFormat,
}

impl Default for Logger {
    fn default() -> Self {
        Logger::new()
    }
}

impl Logger {
    /// Text lines at `INFO`.
    pub fn new() -> Logger {
        Logger { level: tracing::Level::INFO, format: LogFormat::Text }
    }

    /// The level of the lines.
    pub fn level(mut self, level: tracing::Level) -> Logger {
        self.level = level;
        self
    }

    /// Text or JSON.
    pub fn format(mut self, format: LogFormat) -> Logger {
        self.format = format;
        self
    }
}

macro_rules! log_at {
    ($level:expr, $($rest:tt)+) => {
        match $level {
            tracing::Level::ERROR => tracing::error!(target: "zzz::request", $($rest)+),
            tracing::Level::WARN => tracing::warn!(target: "zzz::request", $($rest)+),
            tracing::Level::INFO => tracing::info!(target: "zzz::request", $($rest)+),
            tracing::Level::DEBUG => tracing::debug!(target: "zzz::request", $($rest)+),
            tracing::Level::TRACE => tracing::trace!(target: "zzz::request", $($rest)+),
        }
    };
}

impl Plug for Logger {
    async fn call(&self, mut conn: Conn) -> Conn {
        let start = Instant::now();
        let method = conn.method().clone();
        let path = conn.path().to_owned();
        let request_id = conn.request_id().unwrap_or("-").to_owned();
        let Logger { level, format } = *self;
        conn.register_before_send(move |response| {
            let elapsed = start.elapsed();
            let status = response.status().as_u16();
            let duration_us = elapsed.as_micros() as u64;
            match format {
                LogFormat::Text => log_at!(
                    level,
                    method = %method,
                    path = %path,
                    status,
                    duration_us,
                    request_id = %request_id,
                    "{method} {path} -> {status} in {:.3}ms",
                    elapsed.as_secs_f64() * 1000.0
                ),
                LogFormat::Json => {
                    let line = serde_json::json!({
                        "method": method.as_str(),
                        "path": path,
                        "status": status,
                        "duration_us": duration_us,
                        "request_id": request_id,
                    });
                    log_at!(level, "{line}")
                }
            }
        });
        conn
    }
}

/// A telemetry event, as `Plug.Telemetry` emits `prefix ++ [:start]` and `[:stop]`.
#[derive(Debug, Clone)]
pub enum TelemetryEvent {
    /// The request reached the plug.
    Start {
        /// The plug's event prefix (like `"zzz.endpoint"`).
        prefix: Arc<str>,
        /// Request method.
        method: Method,
        /// Request path.
        path: String,
        /// The request id, when the endpoint has them on.
        request_id: Option<String>,
        /// Wall-clock time of the start.
        system_time: SystemTime,
    },
    /// The response is going out.
    Stop {
        /// The plug's event prefix.
        prefix: Arc<str>,
        /// Request method.
        method: Method,
        /// Request path.
        path: String,
        /// The request id, when the endpoint has them on.
        request_id: Option<String>,
        /// Response status.
        status: u16,
        /// Time from start to response.
        duration: Duration,
    },
}

type Handler = Arc<dyn Fn(&TelemetryEvent) + Send + Sync>;

/// Emits [`TelemetryEvent`]s at the start of each request and when its response goes
/// out, to the handlers attached to it (metrics, tracing spans, test probes).
///
/// ```
/// use std::sync::{Arc, atomic::{AtomicU64, Ordering}};
/// use zzz::plugs::{Telemetry, TelemetryEvent};
///
/// let served = Arc::new(AtomicU64::new(0));
/// let counter = served.clone();
/// let telemetry = Telemetry::new("my_app.endpoint").attach(move |event: &TelemetryEvent| {
///     if matches!(event, TelemetryEvent::Stop { .. }) {
///         counter.fetch_add(1, Ordering::Relaxed);
///     }
/// });
/// ```
#[derive(Clone)]
pub struct Telemetry {
    prefix: Arc<str>,
    handlers: Vec<Handler>,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry").field("prefix", &self.prefix).field("handlers", &self.handlers.len()).finish()
    }
}

impl Telemetry {
    /// A telemetry plug with an event prefix and no handlers yet.
    pub fn new(prefix: &str) -> Telemetry {
        Telemetry { prefix: prefix.into(), handlers: Vec::new() }
    }

    /// Adds a handler called with every event (keep it quick: it runs on the request's task).
    pub fn attach(mut self, handler: impl Fn(&TelemetryEvent) + Send + Sync + 'static) -> Telemetry {
        self.handlers.push(Arc::new(handler));
        self
    }
}

impl Plug for Telemetry {
    async fn call(&self, mut conn: Conn) -> Conn {
        if self.handlers.is_empty() {
            return conn;
        }
        let start = Instant::now();
        let method = conn.method().clone();
        let path = conn.path().to_owned();
        let request_id = conn.request_id().map(str::to_owned);
        let started = TelemetryEvent::Start {
            prefix: self.prefix.clone(),
            method: method.clone(),
            path: path.clone(),
            request_id: request_id.clone(),
            system_time: SystemTime::now(),
        };
        for handler in &self.handlers {
            handler(&started);
        }
        let handlers = self.handlers.clone();
        let prefix = self.prefix.clone();
        conn.register_before_send(move |response| {
            let stopped = TelemetryEvent::Stop {
                prefix,
                method,
                path,
                request_id,
                status: response.status().as_u16(),
                duration: start.elapsed(),
            };
            for handler in &handlers {
                handler(&stopped);
            }
        });
        conn
    }
}
