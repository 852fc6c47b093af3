//! Prometheus metrics, written in the text exposition format (it is a few lines of
//! `name{labels} value`; no client library needed).

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::storage::StoreStats;

/// The protocols the server speaks; a label on every per-protocol metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// `/cache/*key`: Gradle, ccache, any plain HTTP cache client.
    Generic,
    /// `/ac/` and `/cas/`: Bazel's HTTP cache.
    Bazel,
    /// `/v1/cache/`: Nx's self-hosted cache.
    Nx,
    /// `/v8/artifacts`: Turborepo's remote cache.
    Turbo,
}

impl Protocol {
    /// Every protocol, in label order.
    pub const ALL: [Protocol; 4] = [Protocol::Generic, Protocol::Bazel, Protocol::Nx, Protocol::Turbo];

    /// The label value.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Generic => "generic",
            Protocol::Bazel => "bazel",
            Protocol::Nx => "nx",
            Protocol::Turbo => "turbo",
        }
    }
}

/// Upper bounds of the latency histogram's buckets, in seconds.
const BUCKETS: [f64; 14] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// A counter's name, help text and field.
type Counter = (&'static str, &'static str, fn(&PerProtocol) -> &AtomicU64);

#[derive(Default)]
struct PerProtocol {
    hits: AtomicU64,
    misses: AtomicU64,
    puts: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    errors: AtomicU64,
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

/// The server's counters. Shared by every request; all updates are atomic adds.
#[derive(Default)]
pub struct Metrics {
    per: [PerProtocol; 4],
    upstream_fetches: AtomicU64,
    upstream_errors: AtomicU64,
}

fn idx(p: Protocol) -> usize {
    p as usize
}

impl Metrics {
    /// Counts a cache hit that sent `bytes`.
    pub fn hit(&self, p: Protocol, bytes: u64) {
        let m = &self.per[idx(p)];
        m.hits.fetch_add(1, Ordering::Relaxed);
        m.bytes_out.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Counts a miss.
    pub fn miss(&self, p: Protocol) {
        self.per[idx(p)].misses.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a stored artifact of `bytes`.
    pub fn put(&self, p: Protocol, bytes: u64) {
        let m = &self.per[idx(p)];
        m.puts.fetch_add(1, Ordering::Relaxed);
        m.bytes_in.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Counts a request answered with an error status.
    pub fn error(&self, p: Protocol) {
        self.per[idx(p)].errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an artifact fetched from the upstream cache (or a failed attempt).
    pub fn upstream_fetch(&self, ok: bool) {
        if ok { &self.upstream_fetches } else { &self.upstream_errors }.fetch_add(1, Ordering::Relaxed);
    }

    /// Records one request's time to response head.
    pub fn observe(&self, p: Protocol, elapsed: Duration) {
        let m = &self.per[idx(p)];
        let secs = elapsed.as_secs_f64();
        for (bucket, bound) in m.buckets.iter().zip(BUCKETS) {
            if secs <= bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        m.count.fetch_add(1, Ordering::Relaxed);
        m.sum_micros.fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
    }

    /// Hits and misses over all protocols.
    pub fn hits_and_misses(&self) -> (u64, u64) {
        self.per.iter().fold((0, 0), |(h, m), p| (h + p.hits.load(Ordering::Relaxed), m + p.misses.load(Ordering::Relaxed)))
    }

    /// Bytes received and sent over all protocols.
    pub fn bytes_in_out(&self) -> (u64, u64) {
        self.per.iter().fold((0, 0), |(i, o), p| (i + p.bytes_in.load(Ordering::Relaxed), o + p.bytes_out.load(Ordering::Relaxed)))
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self, store: StoreStats) -> String {
        let mut out = String::with_capacity(4096);
        let counters: [Counter; 6] = [
            ("cache_hits_total", "Artifact reads answered from the cache.", |m| &m.hits),
            ("cache_misses_total", "Artifact reads that found nothing.", |m| &m.misses),
            ("cache_puts_total", "Artifacts stored.", |m| &m.puts),
            ("cache_bytes_in_total", "Bytes of artifacts stored.", |m| &m.bytes_in),
            ("cache_bytes_out_total", "Bytes of artifacts sent.", |m| &m.bytes_out),
            ("cache_errors_total", "Requests answered with an error status.", |m| &m.errors),
        ];
        for (name, help, field) in counters {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for p in Protocol::ALL {
                let _ = writeln!(out, "{name}{{protocol=\"{}\"}} {}", p.name(), field(&self.per[idx(p)]).load(Ordering::Relaxed));
            }
        }
        let _ = writeln!(out, "# HELP cache_evictions_total Entries evicted or expired.\n# TYPE cache_evictions_total counter\ncache_evictions_total {}", store.evictions);
        let _ = writeln!(out, "# HELP cache_entries Keys stored.\n# TYPE cache_entries gauge\ncache_entries {}", store.entries);
        let _ = writeln!(out, "# HELP cache_size_bytes Bytes stored on disk.\n# TYPE cache_size_bytes gauge\ncache_size_bytes {}", store.bytes);
        let gauges = [
            ("cache_contents", "Distinct contents stored (keys with equal bytes share one).", store.contents),
            ("cache_packs", "Pack files holding small contents.", store.packs),
            ("cache_pack_dead_bytes", "Bytes in packs no key points at, until compaction.", store.dead_bytes),
            ("cache_memory_bytes", "Bytes of recently read contents held in memory.", store.memory_cache_bytes),
        ];
        for (name, help, value) in gauges {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}");
        }
        let _ = writeln!(
            out,
            "# HELP cache_upstream_fetches_total Artifacts fetched from the upstream cache.\n# TYPE cache_upstream_fetches_total counter\ncache_upstream_fetches_total {}\ncache_upstream_errors_total {}",
            self.upstream_fetches.load(Ordering::Relaxed),
            self.upstream_errors.load(Ordering::Relaxed)
        );
        let name = "cache_request_duration_seconds";
        let _ = writeln!(out, "# HELP {name} Time to response head, per protocol.\n# TYPE {name} histogram");
        for p in Protocol::ALL {
            let m = &self.per[idx(p)];
            let label = p.name();
            for (bucket, bound) in m.buckets.iter().zip(BUCKETS) {
                let _ = writeln!(out, "{name}_bucket{{protocol=\"{label}\",le=\"{bound}\"}} {}", bucket.load(Ordering::Relaxed));
            }
            let count = m.count.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{protocol=\"{label}\",le=\"+Inf\"}} {count}");
            let _ = writeln!(out, "{name}_sum{{protocol=\"{label}\"}} {}", m.sum_micros.load(Ordering::Relaxed) as f64 / 1e6);
            let _ = writeln!(out, "{name}_count{{protocol=\"{label}\"}} {count}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_buckets() {
        let m = Metrics::default();
        m.hit(Protocol::Nx, 10);
        m.miss(Protocol::Turbo);
        m.observe(Protocol::Nx, Duration::from_millis(3));
        let text = m.render(StoreStats { entries: 2, bytes: 30, evictions: 1, ..StoreStats::default() });
        assert!(text.contains("cache_hits_total{protocol=\"nx\"} 1"));
        assert!(text.contains("cache_bytes_out_total{protocol=\"nx\"} 10"));
        assert!(text.contains("cache_misses_total{protocol=\"turbo\"} 1"));
        assert!(text.contains("cache_request_duration_seconds_bucket{protocol=\"nx\",le=\"0.0025\"} 0"));
        assert!(text.contains("cache_request_duration_seconds_bucket{protocol=\"nx\",le=\"0.005\"} 1"));
        assert!(text.contains("cache_request_duration_seconds_bucket{protocol=\"nx\",le=\"+Inf\"} 1"));
        assert!(text.contains("cache_entries 2"));
    }
}
