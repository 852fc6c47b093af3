#!/usr/bin/env bash
# Side-by-side benchmark of examples/cache against turborepo-remote-cache (npm, the common
# self-hosted Turborepo server) on its filesystem storage: PUT then GET-hit throughput of
# 1 KiB, 1 MiB and 100 MiB artifacts over the Turborepo API, the same wrk load for both,
# each server started fresh per size on an empty data directory; peak RSS (VmHWM) per run.
# The cache runs twice: as configured by default (every artifact fsynced before it is
# renamed into place) and with --no-fsync, which is what the peer does (it never fsyncs).
#
#   bench/cache.sh                       # 10 s per phase
#   DURATION=20 SIZES="1024 1048576" bench/cache.sh
#
# Prints markdown tables: throughput ratios, peak RSS, and the disk's own write ceiling at each
# row's upload concurrency (what no server can beat with fsync on); paste them into bench/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")"
bench=$(pwd)

DURATION=${DURATION:-10}
SIZES=${SIZES:-"1024 1048576 104857600"}
PORT=${PORT:-18090}
THREADS=${THREADS:-2}

if ! command -v wrk >/dev/null 2>&1; then
  echo "== installing wrk (Debian package)"
  apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi

echo "== building the cache (release, main workspace)" >&2
(cd .. && cargo build --release -p cache)
cache_bin=$(cd .. && pwd)/target/release/cache

echo "== installing turborepo-remote-cache (npm ci, bench/cache-peer)" >&2
if [ ! -x cache-peer/node_modules/.bin/turborepo-remote-cache ]; then
  (cd cache-peer && npm ci --no-audit --no-fund >/dev/null)
fi
peer_js=$bench/cache-peer/node_modules/turborepo-remote-cache/dist/cli.js

out=$(mktemp -d)
pid=
trap 'if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi; rm -rf "$out"' EXIT

wait_ready() {
  for _ in $(seq 1 200); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  echo "server did not start on port $PORT" >&2
  return 1
}

start() { # server data-dir
  case "$1" in
    zzz|nofsync)
      extra=""; [ "$1" = nofsync ] && extra=--no-fsync
      RUST_LOG=warn "$cache_bin" --port "$PORT" --dir "$2" --token bench --max-size 50GiB \
        --max-artifact-size 200MiB $extra >"$out/server.log" 2>&1 &
      ;;
    peer)
      NODE_ENV=production PORT=$PORT HOST=127.0.0.1 TURBO_TOKEN=bench STORAGE_PROVIDER=local \
        STORAGE_PATH="$2" STORAGE_PATH_USE_TMP_FOLDER=false LOG_LEVEL=warn ENABLE_STATUS_LOG=false \
        BODY_LIMIT=209715200 node "$peer_js" >"$out/server.log" 2>&1 &
      ;;
  esac
  pid=$!
  wait_ready
}

conns_for() { # size -> connections
  if [ "$1" -le 65536 ]; then echo 32; elif [ "$1" -le 16777216 ]; then echo 8; else echo 2; fi
}

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$out/load" >&2
for size in $SIZES; do
  conns=$(conns_for "$size")
  for server in zzz nofsync peer; do
    data=$(mktemp -d)
    start "$server" "$data"
    for op in put get; do
      SIZE=$size wrk -t"$THREADS" -c"$conns" -d"${DURATION}s" -s "cache/$op.lua" --timeout 60s \
        "http://127.0.0.1:$PORT" >"$out/$server.$size.$op.txt"
      echo "$server size=$size $op: $(grep -E 'Requests/sec' "$out/$server.$size.$op.txt")" \
        "$(grep -E 'Non-2xx' "$out/$server.$size.$op.txt" || true)" >&2
    done
    grep VmHWM "/proc/$pid/status" | awk '{print $2}' >"$out/$server.$size.hwm"
    kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
    rm -rf "$data"
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out/load" >&2

# The disk's own ceiling, at the same concurrency as each PUT row: 1 MiB files written
# by that many threads, each fsynced (durable) or not (buffered). A PUT row cannot go
# faster than the disk takes fsynced writes, whatever the server.
echo "== disk ceiling (bench/cache/disk_ceiling.py)" >&2
scratch=$(mktemp -d)
for size in $SIZES; do
  python3 cache/disk_ceiling.py "$scratch" 4 "$(conns_for "$size")" >"$out/ceiling.$size"
  echo "size=$size writers=$(conns_for "$size"): $(cat "$out/ceiling.$size")" >&2
done
rm -rf "$scratch"

python3 - "$out" "$SIZES" <<'PY'
import pathlib, re, sys
out, sizes = pathlib.Path(sys.argv[1]), [int(s) for s in sys.argv[2].split()]

def label(n):
    for unit, div in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= div:
            return f"{n // div} {unit}"
    return f"{n} B"

def parse(path):
    text = path.read_text()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    errs = re.search(r"Socket errors:.*", text)
    return rps, int(bad.group(1)) if bad else 0, errs.group(0) if errs else ""

print(" ".join(pathlib.Path(out, "load").read_text().split("\n")).strip())
print()
print("| artifact | op | cache req/s | cache --no-fsync req/s | turborepo-remote-cache req/s | ratio | ratio (--no-fsync) | MiB/s (cache / no-fsync / peer) |")
print("|---|---|---:|---:|---:|---:|---:|---|")
ratios, ratios_nf, notes = [], [], []
for size in sizes:
    for op in ("put", "get"):
        z, zbad, zerr = parse(out / f"zzz.{size}.{op}.txt")
        n, nbad, nerr = parse(out / f"nofsync.{size}.{op}.txt")
        p, pbad, perr = parse(out / f"peer.{size}.{op}.txt")
        ratio = z / p if p else float("inf")
        ratio_nf = n / p if p else float("inf")
        ratios.append(ratio)
        ratios_nf.append(ratio_nf)
        mib = size / (1 << 20)
        print(f"| {label(size)} | {op.upper()} | {z:,.0f} | {n:,.0f} | {p:,.0f} | {ratio:.2f}x | {ratio_nf:.2f}x | {z * mib:,.1f} / {n * mib:,.1f} / {p * mib:,.1f} |")
        for name, bad, err in (("cache", zbad, zerr), ("cache --no-fsync", nbad, nerr), ("peer", pbad, perr)):
            if bad or err:
                notes.append(f"{name} {label(size)} {op}: {bad} non-2xx responses {err}")
print()
print("| artifact | cache peak RSS | cache --no-fsync peak RSS | turborepo-remote-cache peak RSS |")
print("|---|---:|---:|---:|")
for size in sizes:
    z, n, p = (int((out / f"{s}.{size}.hwm").read_text() or 0) / 1024 for s in ("zzz", "nofsync", "peer"))
    print(f"| {label(size)} | {z:.1f} MiB | {n:.1f} MiB | {p:.1f} MiB |")
print()
print()
print("| artifact | concurrent uploads | 3x the peer's PUT | disk: fsynced 1 MiB writes | disk: buffered writes |")
print("|---|---:|---:|---:|---:|")
for size in sizes:
    p, _, _ = parse(out / f"peer.{size}.put.txt")
    ceiling = dict(kv.split("=") for kv in (out / f"ceiling.{size}").read_text().split())
    writers = 32 if size <= 65536 else 8 if size <= 16777216 else 2
    print(f"| {label(size)} | {writers} | {3 * p * size / (1 << 20):,.0f} MiB/s | {int(ceiling['durable']):,} MiB/s | {int(ceiling['buffered']):,} MiB/s |")
print()
for name, rs in (("cache (fsync)", ratios), ("cache --no-fsync", ratios_nf)):
    print(f"{name}: lowest ratio {min(rs):.2f}x, highest {max(rs):.2f}x; >= 3x on {sum(r >= 3 for r in rs)} of {len(rs)} rows.")
for note in notes:
    print(f"- {note}")
PY
