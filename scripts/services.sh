#!/usr/bin/env bash
# Helpers that make sure the services the tests talk to are up. Sourced by scripts/test.

: "${ZZZ_TEST_DATABASE_URL:=postgres://postgres@127.0.0.1:5432/postgres}"
export ZZZ_TEST_DATABASE_URL

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
  trap 'stop_temp_postgres' EXIT
  export ZZZ_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
}

stop_temp_postgres() {
  if [ -n "${ZZZ_PG_TEMP_DIR:-}" ]; then
    "${ZZZ_PG_RUN[@]}" "$ZZZ_PG_BIN/pg_ctl" -D "$ZZZ_PG_TEMP_DIR/data" -m fast stop >/dev/null 2>&1 || true
    rm -rf "$ZZZ_PG_TEMP_DIR"
  fi
}
