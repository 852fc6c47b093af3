#!/usr/bin/env bash
# Server-side instructions per request, counted by callgrind: repeatable whatever else
# the machine is doing (unlike req/s on a shared 2-core box).
#
#   bench/instructions.sh            # hyper, zzz, axum, actix on / and /json
#
# Each server runs under `valgrind --tool=callgrind`; `ab -k` sends N1 and then N2
# requests in two separate runs, and (I2 - I1) / (N2 - N1) is the per-request cost
# with start-up and shutdown cancelled out.
set -euo pipefail
cd "$(dirname "$0")"
PORT=${PORT:-18090}
N1=${N1:-500}
N2=${N2:-3000}
SERVERS=${SERVERS:-"hyper zzz axum actix"}
command -v valgrind >/dev/null || { apt-get update -qq && apt-get install -y -qq valgrind >/dev/null; }
command -v ab >/dev/null || { apt-get update -qq && apt-get install -y -qq apache2-utils >/dev/null; }
cargo build --release -p bench_http >&2
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

wait_ready() {
  for _ in $(seq 1 300); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "server did not start on port $PORT" >&2; return 1
}

count() { # server path n -> total instructions
  local server=$1 path=$2 n=$3
  local file="$out/cg.$1.$3"
  PORT=$PORT valgrind --tool=callgrind --callgrind-out-file="$file" ./target/release/"$server" >/dev/null 2>&1 &
  local pid=$!
  wait_ready
  ab -q -k -n "$n" -c 4 "http://127.0.0.1:$PORT$path" >/dev/null
  # Dump the counters while the server runs (not every server exits cleanly on a
  # signal), then stop it.
  callgrind_control -d "$pid" >/dev/null 2>&1
  for _ in $(seq 1 100); do [ -s "$file.1" ] && break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true
  grep -E '^summary:' "$file.1" | awk '{print $2}'
}

echo "| endpoint | server | instructions per request | vs hyper |"
echo "|---|---|---:|---:|"
for path in / /json; do
  base=
  for server in $SERVERS; do
    i1=$(count "$server" "$path" "$N1")
    i2=$(count "$server" "$path" "$N2")
    per=$(( (i2 - i1) / (N2 - N1) ))
    [ -z "$base" ] && [ "$server" = hyper ] && base=$per
    ratio=$(python3 -c "print(f'{$per/$base:.2f}x' if '$base' else '-')")
    echo "| \`$path\` | $server | $per | $ratio |"
  done
done
