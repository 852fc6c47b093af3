//! # cache — one build-artifact cache server for Gradle, Bazel, Nx and Turborepo
//!
//! A real product built only on zzz's public API: a router, one [`protocols::Gate`]
//! plug per protocol, extractors, [`Endpoint`] and [`zzz::Server`].
//!
//! ```text
//! cargo run --release -p cache -- --port 4100 --dir DATA --max-size 10GiB
//! cargo run --release -p cache -- --help        # every flag, its variable and default
//! ```
//!
//! Settings come from flags, then `CACHE_*` environment variables, then a TOML file
//! (`--config`), then defaults — see [`config`].
//!
//! ## Pointing each tool at it
//!
//! | Tool | Setting |
//! |---|---|
//! | Turborepo | `TURBO_API=http://host:4100 TURBO_TOKEN=<token> TURBO_TEAM=<team> turbo run build` (add `TURBO_REMOTE_CACHE_SIGNATURE_KEY` and `"remoteCache": {"signature": true}` to sign) |
//! | Nx | `NX_SELF_HOSTED_REMOTE_CACHE_SERVER=http://host:4100 NX_SELF_HOSTED_REMOTE_CACHE_ACCESS_TOKEN=<token> nx run-many -t build` |
//! | Gradle | `buildCache { remote(HttpBuildCache) { url = uri("http://host:4100/cache/"); push = true; allowInsecureProtocol = true; credentials { username = "u"; password = "p" } } }` |
//! | Bazel | `bazel build --remote_cache=http://user:password@host:4100/my-instance //...` |
//! | ccache | `ccache --set-config remote_storage=http://host:4100/cache/ccache` |
//!
//! ## Routes
//!
//! | Protocol | Routes |
//! |---|---|
//! | generic (Gradle, ccache) | `GET HEAD PUT DELETE /cache/*key` ([`protocols::generic`]) |
//! | Bazel | `GET HEAD PUT [/{instance}]/ac/{sha256}` and `/cas/{sha256}` ([`protocols::bazel`]) |
//! | Nx | `GET PUT /v1/cache/{hash}` ([`protocols::nx`]) |
//! | Turborepo | `GET /v8/artifacts/status`, `GET HEAD PUT /v8/artifacts/{hash}`, `POST /v8/artifacts`, `POST /v8/artifacts/events` ([`protocols::turbo`]) |
//! | operations | `GET /` status page, `/health`, `/ready`, `/metrics` ([`status`]) |
//!
//! ## How it stores
//!
//! Content-addressed (BLAKE3): artifacts over 64 KiB are files in sharded directories,
//! written to a temporary file, fsynced and renamed into place; smaller ones are
//! appended to shared pack files by one writer that fsyncs each group of concurrent
//! uploads once (group commit, see [`storage::pack`]). An in-memory index made durable
//! by a journal (why a journal rather than a database: see [`storage`]); a size cap
//! enforced by LRU, LFU or TTL eviction; recently read small artifacts served from a
//! bounded memory cache. See [`storage`].
//!
//! ## Embedding and testing
//!
//! ```no_run
//! # async fn run() -> Result<(), String> {
//! let config = cache::config::Config::for_dir("/tmp/cache-data");
//! let app = cache::Cache::new(config)?;
//! let server = zzz::Server::bind("127.0.0.1:0".parse().unwrap(), zzz::ServerConfig::default()).map_err(|e| e.to_string())?;
//! server.serve(cache::endpoint(app)).await.map_err(|e| e.to_string())
//! # }
//! ```

#![warn(missing_docs)]

pub mod auth;
pub mod config;
pub mod keys;
pub mod metrics;
pub mod protocols;
pub mod status;
pub mod storage;
pub mod upstream;

use std::sync::Arc;

use zzz::plugs::{BodyLimit, LogFormat, Logger};
use zzz::{Endpoint, Pipeline};

use crate::auth::Auth;
use crate::config::Config;
use crate::metrics::{Metrics, Protocol};
use crate::protocols::{Gate, bazel, generic, nx, turbo};
use crate::storage::{Store, StoreConfig};
use crate::upstream::Upstream;

/// The largest JSON body (Turborepo's query and events routes).
pub const MAX_JSON_BODY: usize = 1 << 20;

zzz::router! {
    /// Every route of the cache server.
    pub CacheRouter;

    pipeline generic { plug Gate(Protocol::Generic); }
    pipeline bazel { plug Gate(Protocol::Bazel); }
    pipeline nx { plug Gate(Protocol::Nx); }
    pipeline turbo { plug Gate(Protocol::Turbo); }
    pipeline turbo_json {
        plug BodyLimit::new(MAX_JSON_BODY);
        plug Gate(Protocol::Turbo);
    }

    get "/" => status::page, as: status;
    get "/health" => status::health, as: health;
    get "/ready" => status::ready, as: ready;
    get "/metrics" => status::metrics, as: metrics;

    scope "/cache" {
        pipe_through [generic];
        get "/*key" => generic::get, as: generic;
        put "/*key" => generic::put;
        delete "/*key" => generic::delete;
    }

    scope "/v1/cache" {
        pipe_through [nx];
        get "/:hash" => nx::get, as: nx;
        put "/:hash" => nx::put;
    }

    scope "/v8/artifacts" {
        pipe_through [turbo];
        get "/status" => turbo::status, as: turbo_status;
        get "/:hash" => turbo::get, as: turbo_artifact;
        put "/:hash" => turbo::put;
    }

    scope "/v8/artifacts" {
        pipe_through [turbo_json];
        post "/" => turbo::query, as: turbo_query;
        post "/events" => turbo::events, as: turbo_events;
    }

    scope "/" {
        pipe_through [bazel];
        get "/ac/:hash" => bazel::get_ac, as: bazel_ac;
        put "/ac/:hash" => bazel::put_ac;
        get "/cas/:hash" => bazel::get_cas, as: bazel_cas;
        put "/cas/:hash" => bazel::put_cas;
        get "/:instance/ac/:hash" => bazel::get_ac, as: bazel_instance_ac;
        put "/:instance/ac/:hash" => bazel::put_ac;
        get "/:instance/cas/:hash" => bazel::get_cas, as: bazel_instance_cas;
        put "/:instance/cas/:hash" => bazel::put_cas;
    }
}

/// The application state every handler reaches: store, credentials, metrics and the
/// upstream cache. Cheap to clone.
#[derive(Clone)]
pub struct Cache(Arc<CacheInner>);

/// What a [`Cache`] holds.
pub struct CacheInner {
    /// The artifact store.
    pub store: Store,
    /// The credential checker.
    pub auth: Auth,
    /// The counters.
    pub metrics: Metrics,
    /// The upstream cache, with `--upstream`.
    pub upstream: Option<Upstream>,
    /// The configuration it was built from.
    pub config: Config,
}

impl std::ops::Deref for Cache {
    type Target = CacheInner;

    fn deref(&self) -> &CacheInner {
        &self.0
    }
}

impl Cache {
    /// Opens the store and loads credentials; a message naming the problem on failure.
    pub fn new(config: Config) -> Result<Cache, String> {
        let store = Store::open(StoreConfig {
            dir: config.dir.clone(),
            max_size: config.max_size,
            max_artifact: config.max_artifact_size,
            policy: config.policy,
            fsync: config.fsync,
            pack_size: config.pack_size,
            memory_cache: config.memory_cache,
        })
        .map_err(|e| format!("cannot open the store in {}: {e}", config.dir.display()))?;
        let auth = Auth::from_config(&config)?;
        let upstream = match &config.upstream {
            Some(url) => Some(Upstream::new(url, config.upstream_token.as_deref())?),
            None => None,
        };
        Ok(Cache(Arc::new(CacheInner { store, auth, metrics: Metrics::default(), upstream, config })))
    }

    /// The upstream's URL, if any.
    pub fn upstream_url(&self) -> Option<&str> {
        self.config.upstream.as_deref()
    }
}

/// The endpoint: request logs, the body limit of the largest artifact, the router.
pub fn endpoint(cache: Cache) -> Endpoint<CacheRouter> {
    let format = if cache.config.json_logs { LogFormat::Json } else { LogFormat::Text };
    let limit = usize::try_from(cache.config.max_artifact_size).unwrap_or(usize::MAX);
    Endpoint::new(CacheRouter::new())
        .state(cache)
        .max_body_bytes(limit)
        .pipeline(Pipeline::new().plug(Logger::new().format(format)))
}
