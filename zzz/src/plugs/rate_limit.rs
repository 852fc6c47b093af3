//! Rate limiting: a token bucket per client IP or per key, answered 429 with
//! `Retry-After` when empty. zzz's own small bucket (a few lines of arithmetic behind
//! a sharded mutex), so the limit applies per endpoint process.
//!
//! ```
//! use zzz::Pipeline;
//! use zzz::plugs::RateLimit;
//!
//! // 10 requests at once, then 2 per second, per client IP.
//! let browser = Pipeline::new().plug(RateLimit::per_ip(10, 2.0));
//! // 100 per minute per API key.
//! let api = Pipeline::new().plug(RateLimit::per_key(100, 100.0 / 60.0, |conn| {
//!     conn.header("x-api-key").map(str::to_owned)
//! }));
//! ```

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use http::{HeaderValue, StatusCode, header};

use crate::conn::Conn;
use crate::plug::Plug;
use crate::response::error_response;

const SHARDS: usize = 16;
/// Above this many keys in a shard, full buckets (idle clients) are dropped.
const MAX_KEYS_PER_SHARD: usize = 4096;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

type KeyFn = dyn Fn(&Conn) -> Option<String> + Send + Sync;

/// The token-bucket plug. Each key starts with `burst` tokens; a request takes one;
/// tokens come back at `per_second`. An empty bucket is a 429 with `Retry-After`
/// (whole seconds until a token is back). Every answer carries `x-ratelimit-limit`
/// and `x-ratelimit-remaining`.
#[derive(Clone)]
pub struct RateLimit {
    burst: f64,
    per_second: f64,
    key: Arc<KeyFn>,
    shards: Arc<[Mutex<HashMap<String, Bucket>>]>,
    hasher: RandomState,
}

impl std::fmt::Debug for RateLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimit").field("burst", &self.burst).field("per_second", &self.per_second).finish_non_exhaustive()
    }
}

impl RateLimit {
    /// A bucket per client IP (the TCP peer; requests without one, such as the test
    /// client's, share the key `"unknown"`).
    pub fn per_ip(burst: u32, per_second: f64) -> RateLimit {
        RateLimit::per_key(burst, per_second, |conn| {
            Some(conn.remote_addr().map_or_else(|| "unknown".to_owned(), |addr| addr.ip().to_string()))
        })
    }

    /// A bucket per key; requests for which `key` returns `None` are not limited.
    pub fn per_key(burst: u32, per_second: f64, key: impl Fn(&Conn) -> Option<String> + Send + Sync + 'static) -> RateLimit {
        assert!(burst > 0, "a rate limit needs a burst of at least 1");
        assert!(per_second > 0.0 && per_second.is_finite(), "a rate limit needs a positive refill rate");
        RateLimit {
            burst: burst as f64,
            per_second,
            key: Arc::new(key),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: RandomState::new(),
        }
    }

    /// Takes a token for `key` at `now`: `Ok(remaining)` or `Err(seconds to wait)`.
    fn take(&self, key: &str, now: Instant) -> Result<u64, u64> {
        let shard = &self.shards[(self.hasher.hash_one(key) as usize) % SHARDS];
        let mut map = shard.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > MAX_KEYS_PER_SHARD {
            let (burst, rate) = (self.burst, self.per_second);
            map.retain(|_, b| b.tokens + now.duration_since(b.updated).as_secs_f64() * rate < burst);
        }
        let bucket = map.entry(key.to_owned()).or_insert(Bucket { tokens: self.burst, updated: now });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.per_second).min(self.burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(bucket.tokens.floor() as u64)
        } else {
            Err(((1.0 - bucket.tokens) / self.per_second).ceil().max(1.0) as u64)
        }
    }
}

impl Plug for RateLimit {
    async fn call(&self, mut conn: Conn) -> Conn {
        let Some(key) = (self.key)(&conn) else { return conn };
        let limit = HeaderValue::from(self.burst as u64);
        match self.take(&key, Instant::now()) {
            Ok(remaining) => {
                conn.put_resp_header(header::HeaderName::from_static("x-ratelimit-limit"), limit);
                conn.put_resp_header(header::HeaderName::from_static("x-ratelimit-remaining"), HeaderValue::from(remaining));
                conn
            }
            Err(retry_after) => {
                let mut response = error_response(
                    StatusCode::TOO_MANY_REQUESTS,
                    format!("rate limit exceeded: {} requests, refilled at {}/s; retry in {retry_after} s", self.burst, self.per_second),
                );
                let headers = response.headers_mut();
                headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
                headers.insert(header::HeaderName::from_static("x-ratelimit-limit"), limit);
                headers.insert(header::HeaderName::from_static("x-ratelimit-remaining"), HeaderValue::from(0u64));
                super::halt_with(conn, response)
            }
        }
    }
}
