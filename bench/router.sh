#!/usr/bin/env bash
# Route matching over a 200-route table: zzz's compiled matcher versus matchit.
set -euo pipefail
cd "$(dirname "$0")"
cargo build --release -p bench_router
./target/release/bench_router
