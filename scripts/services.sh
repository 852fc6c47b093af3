#!/usr/bin/env bash
# Helpers that make sure the services the tests talk to are up. Sourced by scripts/test.

: "${ZZZ_TEST_DATABASE_URL:=postgres://postgres@127.0.0.1:5432/postgres}"
export ZZZ_TEST_DATABASE_URL
: "${ZZZ_TEST_REDIS_URL:=redis://127.0.0.1:6379}"
export ZZZ_TEST_REDIS_URL

pg_bin() {
  # The newest installed PostgreSQL's bin directory, or wherever initdb is on PATH.
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [ -n "$dir" ] && [ -x "$dir/initdb" ]; then echo "$dir"; return; fi
  dirname "$(command -v initdb)"
}

postgres_answers() {
  if command -v psql >/dev/null 2>&1; then
    psql "$1" -Atc 'select 1' >/dev/null 2>&1
  else
    # No client: a TCP connect is the best we can check.
    local hostport=${1#*@}; hostport=${hostport%%/*}
    (exec 3<>"/dev/tcp/${hostport%%:*}/${hostport##*:}") 2>/dev/null
  fi
}

ensure_postgres() {
  if postgres_answers "$ZZZ_TEST_DATABASE_URL"; then
    echo "== PostgreSQL answers at $ZZZ_TEST_DATABASE_URL"
    return
  fi
  local bin; bin=$(pg_bin)
  if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
    echo "PostgreSQL does not answer at $ZZZ_TEST_DATABASE_URL and no initdb is installed." >&2
    echo "Install it (apt-get install postgresql) or start a server and set ZZZ_TEST_DATABASE_URL." >&2
    exit 1
  fi
  local port dir
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  dir=$(mktemp -d /tmp/zzz-pg.XXXXXX)
  local run=()
  if [ "$(id -u)" = 0 ]; then
    # initdb refuses to run as root: run the cluster as the postgres user (or nobody).
    local user=postgres
    id "$user" >/dev/null 2>&1 || user=nobody
    chown -R "$user" "$dir"
    run=(runuser -u "$user" --)
  fi
  echo "== Starting a throwaway PostgreSQL on 127.0.0.1:$port in $dir"
  "${run[@]}" "$bin/initdb" -D "$dir/data" -U postgres --auth=trust >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; exit 1; }
  "${run[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off" start >/dev/null \
    || { cat "$dir/server.log" >&2; exit 1; }
  ZZZ_PG_TEMP_DIR=$dir
  ZZZ_PG_RUN=("${run[@]}")
  ZZZ_PG_BIN=$bin
  trap 'stop_temp_services' EXIT
  export ZZZ_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
}

stop_temp_postgres() {
  if [ -n "${ZZZ_PG_TEMP_DIR:-}" ]; then
    "${ZZZ_PG_RUN[@]}" "$ZZZ_PG_BIN/pg_ctl" -D "$ZZZ_PG_TEMP_DIR/data" -m fast stop >/dev/null 2>&1 || true
    rm -rf "$ZZZ_PG_TEMP_DIR"
  fi
}

redis_answers() {
  # redis://host:port[/db] -> host and port; PING with redis-cli, or a TCP connect without it.
  local hostport=${1#*://}; hostport=${hostport##*@}; hostport=${hostport%%/*}
  local host=${hostport%%:*} port=6379
  [ "$hostport" != "$host" ] && port=${hostport##*:}
  if command -v redis-cli >/dev/null 2>&1; then
    [ "$(redis-cli -h "$host" -p "$port" ping 2>/dev/null)" = PONG ]
  else
    (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null
  fi
}

ensure_redis() {
  if redis_answers "$ZZZ_TEST_REDIS_URL"; then
    echo "== Redis answers at $ZZZ_TEST_REDIS_URL"
    return
  fi
  if ! command -v redis-server >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "== Installing redis-server (apt-get)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server; } >/dev/null 2>&1 || true
  fi
  if ! command -v redis-server >/dev/null 2>&1; then
    echo "Redis does not answer at $ZZZ_TEST_REDIS_URL and redis-server is not installed." >&2
    echo "Install it (apt-get install redis-server) or start a server and set ZZZ_TEST_REDIS_URL." >&2
    exit 1
  fi
  local port dir
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  dir=$(mktemp -d /tmp/zzz-redis.XXXXXX)
  echo "== Starting a throwaway Redis on 127.0.0.1:$port in $dir"
  redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --save '' --appendonly no \
    --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
  export ZZZ_TEST_REDIS_URL="redis://127.0.0.1:$port"
  for _ in $(seq 50); do redis_answers "$ZZZ_TEST_REDIS_URL" && break; sleep 0.1; done
  redis_answers "$ZZZ_TEST_REDIS_URL" || { cat "$dir/redis.log" >&2; exit 1; }
  ZZZ_REDIS_TEMP_DIR=$dir
  trap 'stop_temp_services' EXIT
}

stop_temp_redis() {
  if [ -n "${ZZZ_REDIS_TEMP_DIR:-}" ]; then
    kill "$(cat "$ZZZ_REDIS_TEMP_DIR/redis.pid" 2>/dev/null)" 2>/dev/null || true
    rm -rf "$ZZZ_REDIS_TEMP_DIR"
  fi
}

stop_temp_services() {
  stop_temp_postgres
  stop_temp_redis
}
