#!/usr/bin/env bash
# Phoenix Channels at scale: joined sockets held, server RSS per joined socket, and the time
# for one broadcast to reach every subscriber. Builds bench/channels in release, starts the
# zzz server (channels_server) and drives it with the protocol-speaking load client
# (channels_load), then prints a markdown table.
#
#   bench/channels.sh                    # 100,000 sockets
#   SOCKETS=10000 bench/channels.sh
#   SOCKETS=100000 HOLD=70 ROUNDS=3 bench/channels.sh
#   SERVER=bare SOCKETS=100000 bench/channels.sh   # the floor: no framework, one write() per socket
#
# Environment:
#   SERVER (zzz)       zzz: the zzz app (channels_server); bare: channels_bare, a framework-free
#                      epoll server speaking just enough of the protocol, whose broadcast is one
#                      pre-encoded frame and one write() per socket (the machine's floor)
#   SOCKETS (100000)   joined sockets to open
#   SOURCES (auto)     source addresses 127.0.0.2..127.0.0.(N+1) (default: one per 20,000 sockets
#                      per server, at least 2)
#   SERVERS (auto)     server processes; 1 whenever the open-files limit allows SOCKETS in one
#                      process. Only when it cannot be raised (no CAP_SYS_RESOURCE) are the
#                      sockets sharded over several servers, and the table says so.
#   ROUNDS (3)         timed broadcasts;  PAYLOAD (16) bytes of broadcast body
#   HOLD (0)           seconds to hold every socket afterwards (past 60 s proves heartbeats work)
#   CONCURRENCY (128)  handshakes in flight per load worker;  THREADS (1) threads per load worker
#   REPORT             also write the figures as JSON to this file
#
# Ports: one source address gives about 28,000 ephemeral ports per server address with the
# default net.ipv4.ip_local_port_range (32768 60999). Rather than widening that range (which
# would let the client's ports collide with fixed ports other programs listen on), the
# client spreads its sockets over several source addresses 127.0.0.2…, binding each before
# connecting (IP_BIND_ADDRESS_NO_PORT, SO_REUSEADDR); 127.0.0.1 is not used as a source.
# Kernel settings (set here when writable, i.e. as root; otherwise printed):
#   net.core.somaxconn = 65535, net.ipv4.tcp_max_syn_backlog = 65535   (accept backlog under a connect storm)
#   net.ipv4.tcp_tw_reuse = 1   (reuse TIME_WAIT ports between runs)
# Each connection needs one descriptor in the server and one in the client: the script asks
# for an open-files hard limit of SOCKETS + 4096 (needs root with CAP_SYS_RESOURCE).
# Every address used is on 127.0.0.0/8.
set -euo pipefail
cd "$(dirname "$0")"

SOCKETS=${SOCKETS:-100000}
ROUNDS=${ROUNDS:-3}
PAYLOAD=${PAYLOAD:-16}
HOLD=${HOLD:-0}
CONCURRENCY=${CONCURRENCY:-128}
THREADS=${THREADS:-1}
SERVER=${SERVER:-zzz}
case "$SERVER" in
  zzz) server_bin=channels_server ;;
  bare) server_bin=channels_bare ;;
  *) echo "SERVER must be zzz or bare, not '$SERVER'" >&2; exit 2 ;;
esac

setting() {
  local path=/proc/sys/$1 want=$2
  if [ "$(tr -s '\t ' ' ' <"$path" 2>/dev/null)" = "$want" ]; then return; fi
  if echo "$want" >"$path" 2>/dev/null; then
    echo "== set ${1//\//.} = $want" >&2
  else
    echo "== cannot set ${1//\//.} (now: $(cat "$path" 2>/dev/null)); as root: sysctl -w ${1//\//.}=\"$want\"" >&2
  fi
}
setting net/core/somaxconn 65535
setting net/ipv4/tcp_max_syn_backlog 65535
setting net/ipv4/tcp_tw_reuse 1

want=$(( SOCKETS + 4096 ))
if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt "$want" ]; then
  ulimit -Hn "$want" 2>/dev/null || echo "== cannot raise the open-files hard limit to $want (no CAP_SYS_RESOURCE); it stays $(ulimit -Hn)" >&2
fi
ulimit -Sn "$(ulimit -Hn)"
if [ "$(ulimit -Hn)" = unlimited ]; then per_process=$(( SOCKETS + 256 )); else per_process=$(( $(ulimit -Hn) - 256 )); fi
SERVERS=${SERVERS:-$(( (SOCKETS + per_process - 1) / per_process ))}
per_server=$(( (SOCKETS + SERVERS - 1) / SERVERS ))
if [ "$per_server" -gt "$per_process" ]; then
  echo "SERVERS=$SERVERS would put $per_server sockets in one server, over its open-files budget of $per_process" >&2
  exit 1
fi
SOURCES=${SOURCES:-$(( per_server / 20000 + 1 > 2 ? per_server / 20000 + 1 : 2 ))}
if [ "$SERVERS" -gt 1 ]; then
  echo "== one process may hold $per_process sockets: sharding $SOCKETS sockets over $SERVERS server processes" >&2
fi

cargo build --release -p bench_channels >&2
out=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$out"
}
trap cleanup EXIT

# Each server takes a free port (PORT=0) and prints `ready <addr>`.
addrs=()
for k in $(seq 1 "$SERVERS"); do
  PORT=0 RUST_LOG=warn ./target/release/$server_bin >"$out/server$k.log" 2>&1 &
  pids+=($!)
done
for k in $(seq 1 "$SERVERS"); do
  for _ in $(seq 1 100); do
    grep -q '^ready' "$out/server$k.log" && break
    sleep 0.1
  done
  grep '^ready' "$out/server$k.log" >&2 || { cat "$out/server$k.log" >&2; echo "server $k did not start" >&2; exit 1; }
  addrs+=("$(awk '/^ready/ {print $2; exit}' "$out/server$k.log")")
done

echo "== $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(free -g | awk '/^Mem/ {print $2}') GiB; SERVER=$SERVER ($server_bin) SOCKETS=$SOCKETS SERVERS=$SERVERS SOURCES=$SOURCES" >&2
servers=$(IFS=,; echo "${addrs[*]}")
./target/release/channels_load --servers "$servers" --sockets "$SOCKETS" --sources "$SOURCES" \
  --concurrency "$CONCURRENCY" --threads "$THREADS" --rounds "$ROUNDS" --payload "$PAYLOAD" \
  --hold "$HOLD" --per-worker "$per_process" ${REPORT:+--report "$REPORT"}
for k in $(seq 1 "$SERVERS"); do
  if grep -qiE 'panic|error' "$out/server$k.log"; then
    echo "== server $k log:" >&2; tail -20 "$out/server$k.log" >&2
  fi
done
