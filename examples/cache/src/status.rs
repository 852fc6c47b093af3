//! Operations: `/health` (the process answers), `/ready` (the store is writable),
//! `/metrics` (Prometheus; counters only, no names) and `/` (a small HTML status page,
//! behind the configured credentials since it lists namespaces).

use std::fmt::Write;

use zzz::{Conn, Html, HeaderValue, IntoResponse, Response, State, StatusCode, header};

use crate::Cache;
use crate::metrics::Protocol;
use crate::protocols::CacheError;
use zzz::html::escape;

/// `GET /health`: 200 while the process serves requests.
pub async fn health() -> &'static str {
    "ok\n"
}

/// `GET /ready`: 200 when the data directory takes writes, else 503.
pub async fn ready(State(cache): State<Cache>) -> Response {
    let store = cache.store.clone();
    let writable = tokio::task::spawn_blocking(move || store.writable()).await.unwrap_or(false);
    if writable {
        "ready\n".into_response()
    } else {
        tracing::error!(dir = %cache.store.config().dir.display(), "not ready: the data directory does not take writes");
        (StatusCode::SERVICE_UNAVAILABLE, "not ready: the data directory does not take writes\n").into_response()
    }
}

/// `GET /metrics`: the Prometheus text format.
pub async fn metrics(State(cache): State<Cache>) -> Response {
    let mut response = cache.metrics.render(cache.store.stats()).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    response
}

/// `GET /`: hit rate, size, traffic and the largest namespaces. With credentials
/// configured it asks for them (the page names namespaces), as the generic protocol does.
pub async fn page(State(cache): State<Cache>, conn: Conn) -> Response {
    if let Err(err) = cache.auth.authenticate(&conn) {
        return CacheError::auth(Protocol::Generic, err).into_response();
    }
    let stats = cache.store.stats();
    let (hits, misses) = cache.metrics.hits_and_misses();
    let (bytes_in, bytes_out) = cache.metrics.bytes_in_out();
    let rate = if hits + misses == 0 { "–".to_owned() } else { format!("{:.1}%", 100.0 * hits as f64 / (hits + misses) as f64) };
    let config = cache.store.config();
    let mut rows = String::new();
    for ns in cache.store.namespaces(10) {
        let _ = write!(rows, "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", escape(&ns.name), ns.entries, human(ns.bytes), ns.hits);
    }
    if rows.is_empty() {
        rows.push_str("<tr><td colspan=4>nothing stored yet</td></tr>");
    }
    let upstream = cache.upstream_url().map(escape).unwrap_or_else(|| "none".into());
    Html(format!(
        "<!doctype html><html><head><meta charset=utf-8><title>cache status</title>\
<style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:.2em 1em;text-align:left}}</style></head><body>\
<h1>Build cache</h1><table>\
<tr><th>Hit rate</th><td>{rate} ({hits} hits, {misses} misses)</td></tr>\
<tr><th>Stored</th><td>{entries} entries, {size} of {cap} ({policy})</td></tr>\
<tr><th>Traffic</th><td>{bin} in, {bout} out</td></tr>\
<tr><th>Evictions</th><td>{evictions}</td></tr>\
<tr><th>Upstream</th><td>{upstream}</td></tr></table>\
<h2>Top namespaces</h2><table><tr><th>Namespace</th><th>Entries</th><th>Size</th><th>Hits</th></tr>{rows}</table>\
<p><a href=\"/metrics\">metrics</a> · <a href=\"/health\">health</a> · <a href=\"/ready\">ready</a></p></body></html>",
        entries = stats.entries,
        size = human(stats.bytes),
        cap = human(config.max_size),
        policy = config.policy.name(),
        bin = human(bytes_in),
        bout = human(bytes_out),
        evictions = stats.evictions,
    ))
    .into_response()
}

/// `1.5 GiB`-style sizes.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

