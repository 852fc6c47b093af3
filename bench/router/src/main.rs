//! Route matching micro-benchmark: zzz's compiled matcher versus matchit, the radix
//! tree axum routes with, over the same 200-route table and the same lookups.
//!
//! Each matcher does the same job: find the route for a method and path and capture
//! its parameters. For matchit that is `at(path)` and then the method among the
//! path's routes, as axum does.
//!
//! Run: `bench/router.sh` (or `cargo run --release -p bench_router` in bench/).

use std::hint::black_box;
use std::time::{Duration, Instant};

use zzz::Method;

mod routes;

async fn handler() -> &'static str {
    ""
}

/// Routes for one path in matchit: `(method, route index)` pairs.
type MethodList = Vec<(Method, usize)>;

fn build_matchit() -> matchit::Router<MethodList> {
    let mut paths: Vec<(&str, MethodList)> = Vec::new();
    for (i, (method, path)) in routes::MATCHIT_ROUTES.iter().enumerate() {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        match paths.iter_mut().find(|(p, _)| p == path) {
            Some((_, list)) => list.push((method, i)),
            None => paths.push((path, vec![(method, i)])),
        }
    }
    let mut router = matchit::Router::new();
    for (path, list) in paths {
        router.insert(path, list).unwrap();
    }
    router
}

fn matchit_lookup(router: &matchit::Router<MethodList>, method: &Method, path: &str) -> Option<(usize, usize)> {
    let matched = router.at(path).ok()?;
    let route = matched.value.iter().find(|(m, _)| m == method)?.1;
    // Touch the parameters as a handler would.
    let len: usize = matched.params.iter().map(|(_, v)| v.len()).sum();
    Some((route, len))
}

fn zzz_lookup(method: &Method, path: &str) -> Option<(usize, usize)> {
    let mut params = [(0u32, 0u32); 2];
    let route = routes::BenchRouter::__match(method, path, &mut params).ok()?;
    let len: usize = params.iter().map(|(s, e)| (e - s) as usize).sum();
    Some((route, len))
}

fn time<F: FnMut() -> usize>(mut f: F, lookups_per_call: usize) -> f64 {
    // Warm up, then time whole passes for at least two seconds; keep the best of 5 runs.
    for _ in 0..1000 {
        black_box(f());
    }
    let mut best = f64::MAX;
    for _ in 0..5 {
        let start = Instant::now();
        let mut calls = 0u64;
        while start.elapsed() < Duration::from_millis(400) {
            for _ in 0..100 {
                black_box(f());
            }
            calls += 100;
        }
        let ns = start.elapsed().as_nanos() as f64 / (calls as f64 * lookups_per_call as f64);
        best = best.min(ns);
    }
    best
}

fn main() {
    let lookups: Vec<(Method, &str)> =
        routes::LOOKUPS.iter().map(|(m, p)| (Method::from_bytes(m.as_bytes()).unwrap(), *p)).collect();
    let matchit = build_matchit();

    // Both matchers agree on every lookup (same route found, or both miss).
    for (method, path) in &lookups {
        let a = zzz_lookup(method, path).map(|(r, _)| r);
        let b = matchit_lookup(&matchit, method, path).map(|(r, _)| r);
        assert_eq!(a, b, "matchers disagree on {method} {path}");
    }

    let zzz_ns = time(
        || lookups.iter().map(|(m, p)| zzz_lookup(black_box(m), black_box(p)).map_or(0, |x| x.0 + x.1)).sum(),
        lookups.len(),
    );
    let matchit_ns = time(
        || lookups.iter().map(|(m, p)| matchit_lookup(&matchit, black_box(m), black_box(p)).map_or(0, |x| x.0 + x.1)).sum(),
        lookups.len(),
    );
    println!("routes: {}  lookups: {}", routes::MATCHIT_ROUTES.len(), lookups.len());
    println!("| matcher | ns per lookup | time vs matchit |");
    println!("|---|---:|---:|");
    println!("| zzz (compiled) | {zzz_ns:.1} | {:.2}x |", zzz_ns / matchit_ns);
    println!("| matchit 0.8 | {matchit_ns:.1} | 1.00x |");
}
