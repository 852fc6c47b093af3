#!/usr/bin/env bash
# The dev loop's speed, measured through `zzz server` the way a developer meets it:
#  (a) `zzz new` → first response from `zzz server`: cold (an empty target directory:
#      zzz and every dependency compile) and warm (a second new app in the same target
#      directory: only the app compiles);
#  (b) edit → new code served: with `zzz server` running the warm app, the page
#      controller's Rust source is edited EDITS times (default 5); each time, from the
#      write to the first GET / answered with the new text. Median and all runs printed.
# A third phase times the pieces of one warm rebuild (cargo with nothing to do,
# `cargo build` after an edit, the app's start) to show what dominates.
#
# Usage: bench/devloop.sh            (from anywhere; builds the zzz CLI in debug first)
# Env:   EDITS=N, PORT=P (default 4790), KEEP=1 keeps the work directory.
# No internet needed beyond crates.io for the new apps' dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q -p zzz_cli
ZZZ=$PWD/target/debug/zzz
EDITS=${EDITS:-5}
PORT=${PORT:-4790}
work=$(mktemp -d)
target=$work/target
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  if [ -z "${KEEP:-}" ]; then rm -rf "$work"; else echo "kept $work"; fi
}
trap cleanup EXIT

now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc; }

# GET / until its body contains $1.
wait_for_text() {
  until curl -s --max-time 600 "http://127.0.0.1:$PORT/" 2>/dev/null | grep -q -- "$1"; do sleep 0.02; done
}

# zzz new NAME, then zzz server in it; sets $elapsed to the seconds to the first page
# (not in a subshell: $server_pid must be this shell's).
new_and_serve() { # name
  local name=$1 start
  start=$(now)
  (cd "$work" && "$ZZZ" new "$name" >/dev/null)
  cd "$work/$name"
  CARGO_TARGET_DIR=$target "$ZZZ" server --port "$PORT" >"$work/$name.log" 2>&1 &
  server_pid=$!
  cd - >/dev/null
  wait_for_text "Welcome to $name"
  elapsed=$(secs "$start" "$(now)")
}

stop_server() {
  kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

new_and_serve devloop_cold
stop_server
printf 'zzz new → first response, cold: %6.1f s\n' "$elapsed"
new_and_serve devloop_warm
printf 'zzz new → first response, warm: %6.1f s\n' "$elapsed"

# (b) edits of the page controller while zzz server runs.
controller=$work/devloop_warm/src/controllers/page_controller.rs
grep -q 'env!("CARGO_PKG_NAME")' "$controller" || { echo "page_controller.rs changed shape; update bench/devloop.sh" >&2; exit 1; }
times=()
for i in $(seq 1 "$EDITS"); do
  sleep 1 # let the previous app settle
  start=$(now)
  sed -i "s/app: [^}]*}/app: \"edit $i\" }/" "$controller"
  wait_for_text "Welcome to edit $i"
  times+=("$(secs "$start" "$(now)")")
  printf '  edit %d → served: %5.2f s\n' "$i" "${times[-1]}"
done
printf 'edit → new code served, warm: median %.2f s of %d (%s)\n' \
  "$(printf '%s\n' "${times[@]}" | median)" "$EDITS" "$(printf '%.2f ' "${times[@]}")"
stop_server

# What one warm rebuild is made of.
cd "$work/devloop_warm"
export CARGO_TARGET_DIR=$target
t=$(now); cargo build -q; noop=$(secs "$t" "$(now)")
sed -i "s/app: [^}]*}/app: \"probe\" }/" "$controller"
t=$(now); cargo build -q; build=$(secs "$t" "$(now)")
t=$(now); PORT=$PORT "$target/debug/devloop_warm" >/dev/null 2>&1 & app=$!
until curl -s -o /dev/null "http://127.0.0.1:$PORT/api/health"; do sleep 0.01; done
start_app=$(secs "$t" "$(now)"); kill $app; wait $app 2>/dev/null || true
printf 'pieces: cargo no-op %.2f s, cargo build after an edit %.2f s, app start to first response %.2f s\n' \
  "$noop" "$build" "$start_app"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
