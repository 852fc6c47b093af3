#!/usr/bin/env bash
# Time from `zzz new` to the new app's first response, cold and warm:
# - cold: an empty target directory, so zzz and every dependency compile (crates already
#   downloaded in ~/.cargo, as on any machine that built zzz once);
# - warm: a second new app in the same target directory: only the app itself compiles.
# Each run: `zzz new`, `cargo build`, start the binary, poll GET /api/health until 200.
# The debug profile, as `zzz server` uses. Run from anywhere: bench/new_app.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q -p zzz_cli
ZZZ=$PWD/target/debug/zzz
work=$(mktemp -d)
target=$work/target
trap 'rm -rf "$work"' EXIT

run() { # label app-name port
  local label=$1 name=$2 port=$3 start built pid code=000
  start=$(date +%s.%N)
  (cd "$work" && "$ZZZ" new "$name" >/dev/null)
  (cd "$work/$name" && CARGO_TARGET_DIR=$target cargo build -q 2>/dev/null)
  built=$(date +%s.%N)
  (cd "$work/$name" && PORT=$port exec "$target/debug/$name" >"$work/$name.log" 2>&1) &
  pid=$!
  while [ "$code" != 200 ]; do
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/api/health" || true)
    [ "$code" = 200 ] || sleep 0.02
  done
  local done_at; done_at=$(date +%s.%N)
  kill "$pid"; wait "$pid" 2>/dev/null || true
  printf '%-5s  new+build %6.1f s   start to first response %5.2f s   total %6.1f s\n' \
    "$label" "$(echo "$built - $start" | bc)" "$(echo "$done_at - $built" | bc)" "$(echo "$done_at - $start" | bc)"
}

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
run cold bench_cold 4791
run warm bench_warm 4792
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
