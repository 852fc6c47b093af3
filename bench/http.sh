#!/usr/bin/env bash
# Side-by-side HTTP benchmark: the same `/` and `/json` in bare hyper, zzz, axum and
# actix-web, each built in release and driven in turn by wrk with the same settings.
#
#   bench/http.sh                 # 10 s per run, 2 rounds, 64 connections
#   DURATION=20 ROUNDS=3 CONNS=128 bench/http.sh
#   SERVERS="zzz zzz_browser" bench/http.sh   # the browser pipeline's cost
#
# Prints a markdown table (best round per server and endpoint) with each server's
# ratio to zzz; paste it into bench/RESULTS.md with the date.
set -euo pipefail
cd "$(dirname "$0")"

DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-2}
CONNS=${CONNS:-64}
THREADS=${THREADS:-1}
PORT=${PORT:-18080}
SERVERS=${SERVERS:-"hyper zzz axum actix"}

if ! command -v wrk >/dev/null 2>&1; then
  echo "== installing wrk (Debian package)"
  apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi

cargo build --release -p bench_http
out=$(mktemp -d)
trap 'rm -rf "$out"; [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null || true' EXIT

wait_ready() {
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "server did not start on port $PORT" >&2
  return 1
}

for round in $(seq 1 "$ROUNDS"); do
  for server in $SERVERS; do
    PORT=$PORT ./target/release/"$server" >"$out/$server.log" 2>&1 &
    pid=$!
    wait_ready
    for path in / /json; do
      wrk -t1 -c"$CONNS" -d2s "http://127.0.0.1:$PORT$path" >/dev/null  # warm-up
      name=$(echo "$path" | tr -d /); name=${name:-root}
      wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency "http://127.0.0.1:$PORT$path" \
        >"$out/$server.$name.$round.txt"
      echo "round $round  $server  $path  $(grep Requests/sec "$out/$server.$name.$round.txt")" >&2
    done
    kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
  done
done

python3 - "$out" "$ROUNDS" "$SERVERS" <<'PY'
import pathlib, re, sys
out, rounds, servers = pathlib.Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3].split()

def parse(text):
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    m = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", text)
    p99 = float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)", text)
    return rps, p99, errors.group(0) if errors else ""

rows = []
for name, path in (("root", "/"), ("json", "/json")):
    best = {}
    for s in servers:
        runs = [parse((out / f"{s}.{name}.{r}.txt").read_text()) for r in range(1, rounds + 1)]
        best[s] = max(runs, key=lambda x: x[0])
    base = best.get("zzz", (1, 1, ""))[0]
    hyper = best.get("hyper", (None,))[0]
    for s in servers:
        rps, p99, err = best[s]
        rows.append(f"| `{path}` | {s} | {rps:,.0f} | {p99:.2f} | {rps/base:.2f}x | "
                    f"{(rps/hyper if hyper else float('nan')):.2f}x | {err} |")
print("| endpoint | server | req/s (best of rounds) | p99 ms | vs zzz | vs hyper | errors |")
print("|---|---|---:|---:|---:|---:|---|")
print("\n".join(rows))
PY
