#!/usr/bin/env bash
# Local Redis, PostgreSQL and NATS (JetStream) for development and tests.
#
#   scripts/services.sh up                     install what is missing (apt-get), start all three, write .run/env
#   scripts/services.sh down                   stop all three (data is kept under .run/)
#   scripts/services.sh status                 report each server (exit 1 if any is not answering)
#   scripts/services.sh env                    print .run/env (the URLs to `source`)
#   scripts/services.sh restart redis|nats|postgres   stop then start one server, keeping its data
#   scripts/services.sh stop|start redis|nats|postgres   stop or start one server (for outage tests)
#
# Our own instances, never the system's services: loopback only, dedicated ports, data under <repo>/.run/.
#   Redis 16379, PostgreSQL 15432, NATS 14222 (monitoring 18222), overridable with
#   SLUICE_REDIS_PORT, SLUICE_PG_PORT, SLUICE_NATS_PORT, SLUICE_NATS_MONITOR_PORT. Without an override, a
#   port held by another process (say, another checkout's servers) is replaced by the next free one;
#   the ports in use are kept in .run/ports and the URLs in .run/env always show them.
# SLUICE_SERVICES_TIMEOUT (seconds, default 30) bounds each wait for a server to answer or stop.
# PostgreSQL runs with pg_stat_statements preloaded (track = all) and the extension created in the
# test database, so tests can count the statements a service sends; a server found running
# without it is restarted once by up/start.
# Every command is idempotent; it prints what it did and exits non-zero if anything failed.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUN="$ROOT/.run"
PORTS_FILE="$RUN/ports"
# Ports: SLUICE_*_PORT if set (then fixed), else the ones recorded in .run/ports by an earlier start,
# else the defaults. A port that is not fixed moves to the next free one if another process holds it
# (e.g. another checkout's servers); the URLs in .run/env always show the ports really used.
REDIS_PORT=16379 PG_PORT=15432 NATS_PORT=14222 NATS_MON_PORT=18222
if [ -f "$PORTS_FILE" ]; then
  while IFS='=' read -r k v; do
    case "$k" in
      REDIS_PORT | PG_PORT | NATS_PORT | NATS_MON_PORT) [[ "$v" =~ ^[0-9]+$ ]] && printf -v "$k" '%s' "$v" ;;
    esac
  done <"$PORTS_FILE"
fi
REDIS_PORT="${SLUICE_REDIS_PORT:-$REDIS_PORT}"
PG_PORT="${SLUICE_PG_PORT:-$PG_PORT}"
NATS_PORT="${SLUICE_NATS_PORT:-$NATS_PORT}"
NATS_MON_PORT="${SLUICE_NATS_MONITOR_PORT:-$NATS_MON_PORT}"
TIMEOUT="${SLUICE_SERVICES_TIMEOUT:-30}"
DB_NAME=mastodon_sluice
SCHEMA="$ROOT/db/mastodon-schema.sql"
HOST=127.0.0.1

say() { echo "services: $*"; }
warn() { echo "services: $*" >&2; }
fail() { echo "services: FAILED: $*" >&2; }

is_root() { [ "$(id -u)" -eq 0 ]; }
# A zombie (exited, not yet reaped by its reparented parent) counts as dead.
pid_alive() {
  [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null || return 1
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  stat="${stat##*) }"
  [ "${stat%% *}" != Z ]
}
read_pid() { [ -s "$1" ] && head -n1 "$1" | tr -dc '0-9'; }
port_open() { (: <"/dev/tcp/$HOST/$1") 2>/dev/null; }
port_owner() { # best effort: "name (pid N)" of the process listening on a port
  command -v ss >/dev/null || return 0
  ss -Hltnp "sport = :$1" 2>/dev/null | grep -o 'users:(("[^"]*",pid=[0-9]*' | head -n1 |
    sed -E 's/users:\(\("([^"]*)",pid=([0-9]*)/\1 (pid \2)/'
}
save_ports() {
  printf 'REDIS_PORT=%s\nPG_PORT=%s\nNATS_PORT=%s\nNATS_MON_PORT=%s\n' \
    "$REDIS_PORT" "$PG_PORT" "$NATS_PORT" "$NATS_MON_PORT" >"$PORTS_FILE"
}
# ensure_free_port SERVICE VAR ENVVAR: make sure the port in $VAR is free before starting SERVICE.
# If another process holds it and ENVVAR is not set, move VAR to the next free port.
ensure_free_port() {
  local name="$1" var="$2" envvar="$3" p="${!2}" who i
  port_open "$p" || return 0
  who="$(port_owner "$p")"
  if [ -n "${!envvar:-}" ]; then
    fail "$name: port $HOST:$p (set by $envvar) is in use by ${who:-another process}"
    return 1
  fi
  for ((i = p + 1; i <= p + 100 && i < 65536; i++)); do
    if ! port_open "$i"; then
      warn "$name: port $HOST:$p is in use by ${who:-another process}; using $i instead (set $envvar to choose)"
      printf -v "$var" '%s' "$i"
      save_ports
      return 0
    fi
  done
  fail "$name: port $HOST:$p is in use by ${who:-another process} and no free port found after it"
  return 1
}
show_log() {
  [ -f "$1" ] || return 0
  warn "last lines of $1:"
  tail -n 15 "$1" | sed 's/^/    /' >&2
}
# wait_for DESCRIPTION COMMAND...: retry COMMAND every 0.2 s until it succeeds or TIMEOUT passes.
wait_for() {
  local what="$1" deadline=$((SECONDS + TIMEOUT))
  shift
  until "$@" >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      fail "$what: no answer within ${TIMEOUT}s"
      return 1
    fi
    sleep 0.2
  done
}
wait_dead() {
  local pid="$1" deadline=$((SECONDS + TIMEOUT))
  while pid_alive "$pid"; do
    [ "$SECONDS" -ge "$deadline" ] && return 1
    sleep 0.2
  done
}

# ---------------------------------------------------------------- installation
PG_BIN=""
find_pg_bin() {
  PG_BIN=""
  if [ -n "${SLUICE_PG_BIN:-}" ] && [ -x "$SLUICE_PG_BIN/initdb" ]; then
    PG_BIN="$SLUICE_PG_BIN"
    return 0
  fi
  local d
  # Highest installed major version first.
  for d in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -t/ -k5,5 -rn); do
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/postgres" ] && [ -x "$d/pg_isready" ] && [ -x "$d/psql" ]; then
      PG_BIN="$d"
      return 0
    fi
  done
  if command -v initdb >/dev/null && command -v pg_ctl >/dev/null && command -v pg_isready >/dev/null && command -v psql >/dev/null; then
    PG_BIN="$(dirname "$(command -v initdb)")"
    return 0
  fi
  return 1
}

apt_install() {
  local sudo=()
  if ! is_root; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
      sudo=(sudo -n)
    else
      fail "missing packages ($*) and not root (no passwordless sudo): install them with apt-get"
      return 1
    fi
  fi
  # Keep the packages' own init scripts from starting system-wide servers (we run our own).
  local policy=/usr/sbin/policy-rc.d added_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null && "${sudo[@]}" chmod 755 "$policy" && added_policy=1
  fi
  local rc=0
  say "installing with apt-get: $*"
  if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" </dev/null; then
    say "apt-get install failed; running apt-get update and retrying"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null &&
      "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" </dev/null || rc=1
  fi
  [ "$added_policy" -eq 1 ] && "${sudo[@]}" rm -f "$policy"
  [ "$rc" -eq 0 ] || fail "apt-get install $*"
  return "$rc"
}

# ensure_installed [redis] [nats] [postgres]
ensure_installed() {
  local want=("$@") pkgs=() s
  for s in "${want[@]}"; do
    case "$s" in
      redis)
        command -v redis-server >/dev/null || pkgs+=(redis-server)
        command -v redis-cli >/dev/null || pkgs+=(redis-tools)
        ;;
      nats)
        command -v nats-server >/dev/null || pkgs+=(nats-server)
        command -v curl >/dev/null || pkgs+=(curl)
        ;;
      postgres)
        find_pg_bin || pkgs+=(postgresql)
        command -v runuser >/dev/null || pkgs+=(util-linux)
        ;;
    esac
  done
  command -v flock >/dev/null || pkgs+=(util-linux)
  if [ "${#pkgs[@]}" -gt 0 ]; then
    # shellcheck disable=SC2207
    pkgs=($(printf '%s\n' "${pkgs[@]}" | sort -u))
    apt_install "${pkgs[@]}" || return 1
  fi
  for s in "${want[@]}"; do
    if [ "$s" = postgres ] && ! find_pg_bin; then
      fail "PostgreSQL binaries (initdb, pg_ctl, postgres, psql, pg_isready) not found after install; set SLUICE_PG_BIN"
      return 1
    fi
  done
  return 0
}

# ---------------------------------------------------------------- redis
REDIS_DIR="$RUN/redis"
REDIS_PID="$RUN/redis.pid"
REDIS_LOG="$RUN/redis.log"
redis_ping() { [ "$(redis-cli -h "$HOST" -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; }

redis_start() {
  local pid
  pid="$(read_pid "$REDIS_PID")"
  if pid_alive "$pid"; then
    if wait_for "redis (pid $pid)" redis_ping; then
      say "redis: already running (pid $pid) on $HOST:$REDIS_PORT"
      return 0
    fi
    return 1
  fi
  rm -f "$REDIS_PID"
  ensure_free_port redis REDIS_PORT SLUICE_REDIS_PORT || return 1
  mkdir -p "$REDIS_DIR"
  # No background snapshots; "shutdown save" on stop keeps the data across restarts.
  if ! redis-server --bind "$HOST" --port "$REDIS_PORT" --daemonize yes --pidfile "$REDIS_PID" \
    --logfile "$REDIS_LOG" --dir "$REDIS_DIR" --save "" --appendonly no --protected-mode yes </dev/null 9>&-; then
    fail "redis: redis-server did not start"
    show_log "$REDIS_LOG"
    return 1
  fi
  if ! wait_for "redis on $HOST:$REDIS_PORT" redis_ping; then
    show_log "$REDIS_LOG"
    return 1
  fi
  save_ports
  say "redis: started (pid $(read_pid "$REDIS_PID")) on $HOST:$REDIS_PORT, data in ${REDIS_DIR#"$ROOT"/}"
}

redis_stop() {
  local pid
  pid="$(read_pid "$REDIS_PID")"
  if ! pid_alive "$pid"; then
    rm -f "$REDIS_PID"
    say "redis: not running"
    return 0
  fi
  redis-cli -h "$HOST" -p "$REDIS_PORT" shutdown save >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null
  if ! wait_dead "$pid"; then
    warn "redis: pid $pid did not stop within ${TIMEOUT}s, killing it"
    kill -KILL "$pid" 2>/dev/null
    wait_dead "$pid" || { fail "redis: could not stop pid $pid"; return 1; }
  fi
  rm -f "$REDIS_PID"
  say "redis: stopped (pid $pid)"
}

redis_status() {
  local pid
  pid="$(read_pid "$REDIS_PID")"
  if pid_alive "$pid"; then
    if redis_ping; then
      say "redis: running (pid $pid) on $HOST:$REDIS_PORT, answers PING"
      return 0
    fi
    say "redis: process $pid is alive but does not answer on $HOST:$REDIS_PORT"
    return 1
  fi
  say "redis: stopped"
  return 1
}

# ---------------------------------------------------------------- nats
NATS_DIR="$RUN/nats"
NATS_PID="$RUN/nats.pid"
NATS_LOG="$RUN/nats.log"
nats_healthy() { curl -fsS --max-time 2 "http://$HOST:$NATS_MON_PORT/healthz" >/dev/null 2>&1; }

nats_start() {
  local pid
  pid="$(read_pid "$NATS_PID")"
  if pid_alive "$pid"; then
    if wait_for "nats (pid $pid)" nats_healthy; then
      say "nats: already running (pid $pid) on $HOST:$NATS_PORT (monitoring $NATS_MON_PORT)"
      return 0
    fi
    return 1
  fi
  rm -f "$NATS_PID"
  ensure_free_port nats NATS_PORT SLUICE_NATS_PORT || return 1
  ensure_free_port "nats monitoring" NATS_MON_PORT SLUICE_NATS_MONITOR_PORT || return 1
  mkdir -p "$NATS_DIR"
  # nats-server has no daemon mode: detach it (own session, no terminal, output to the log).
  # max_payload is left at its 1 MiB default on purpose.
  setsid nats-server -a "$HOST" -p "$NATS_PORT" -m "$NATS_MON_PORT" -js -sd "$NATS_DIR" \
    -P "$NATS_PID" -l "$NATS_LOG" </dev/null >>"$NATS_LOG.stdout" 2>&1 9>&- &
  local started=$!
  if ! wait_for "nats monitoring http://$HOST:$NATS_MON_PORT/healthz" nats_healthy; then
    pid_alive "$started" || warn "nats: nats-server exited"
    show_log "$NATS_LOG.stdout"
    show_log "$NATS_LOG"
    return 1
  fi
  save_ports
  say "nats: started (pid $(read_pid "$NATS_PID")) on $HOST:$NATS_PORT (monitoring $NATS_MON_PORT), JetStream store in ${NATS_DIR#"$ROOT"/}"
}

nats_stop() {
  local pid
  pid="$(read_pid "$NATS_PID")"
  if ! pid_alive "$pid"; then
    rm -f "$NATS_PID"
    say "nats: not running"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null
  if ! wait_dead "$pid"; then
    warn "nats: pid $pid did not stop within ${TIMEOUT}s, killing it"
    kill -KILL "$pid" 2>/dev/null
    wait_dead "$pid" || { fail "nats: could not stop pid $pid"; return 1; }
  fi
  rm -f "$NATS_PID"
  say "nats: stopped (pid $pid)"
}

nats_status() {
  local pid
  pid="$(read_pid "$NATS_PID")"
  if pid_alive "$pid"; then
    if nats_healthy; then
      say "nats: running (pid $pid) on $HOST:$NATS_PORT, /healthz ok on $NATS_MON_PORT"
      return 0
    fi
    say "nats: process $pid is alive but /healthz on $HOST:$NATS_MON_PORT does not answer ok"
    return 1
  fi
  say "nats: stopped"
  return 1
}

# ---------------------------------------------------------------- postgres
PG_DATA="" PG_SOCK="" PG_LOG="" PG_BASE=""
pg_paths() {
  # The server runs as the `postgres` OS user when we are root, so it must be able to reach its
  # data directory. If the repo lives somewhere that user cannot traverse (e.g. under /root),
  # fall back to a per-checkout directory under /var/tmp.
  PG_BASE="$RUN"
  if is_root && ! runuser -u postgres -- test -x "$RUN" 2>/dev/null; then
    PG_BASE="/var/tmp/sluice-$(printf '%s' "$ROOT" | md5sum | cut -c1-10)"
  fi
  PG_DATA="$PG_BASE/pg"
  PG_SOCK="$PG_BASE/pg-socket"
  PG_LOG="$PG_BASE/pg.log"
}
as_pg() {
  if is_root; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}
pg_ready() { "$PG_BIN/pg_isready" -q -h "$HOST" -p "$PG_PORT" -U postgres -d postgres; }
psql_q() { "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$HOST" -p "$PG_PORT" -U postgres "$@"; }
pg_pid() { [ -f "$PG_DATA/postmaster.pid" ] && head -n1 "$PG_DATA/postmaster.pid" 2>/dev/null | tr -dc '0-9'; }

pg_init() {
  if is_root && ! id -u postgres >/dev/null 2>&1; then
    fail "postgres: OS user 'postgres' does not exist (it comes with the postgresql package)"
    return 1
  fi
  mkdir -p "$PG_BASE" "$PG_SOCK"
  [ -d "$PG_DATA" ] || mkdir -m 700 "$PG_DATA"
  if is_root; then
    chown postgres: "$PG_DATA" "$PG_SOCK" || return 1
  fi
  chmod 700 "$PG_DATA"
  if [ -s "$PG_DATA/PG_VERSION" ]; then
    return 0
  fi
  if [ -n "$(ls -A "$PG_DATA" 2>/dev/null)" ]; then
    fail "postgres: $PG_DATA is not empty but holds no cluster; remove it and retry"
    return 1
  fi
  say "postgres: initdb in $PG_DATA"
  if ! as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U postgres --auth=trust --encoding=UTF8 --locale=C >"$PG_BASE/initdb.log" 2>&1; then
    fail "postgres: initdb"
    show_log "$PG_BASE/initdb.log"
    return 1
  fi
  # Throw-away test cluster: loopback only, and durability traded for speed.
  as_pg tee -a "$PG_DATA/postgresql.conf" >/dev/null <<EOF

# --- added by scripts/services.sh
listen_addresses = '$HOST'
unix_socket_directories = '$PG_SOCK'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
EOF
}

# pg_stat_statements: preloaded (it needs shared memory at server start) and tracking nested
# statements too. Skipped with a warning when this PostgreSQL build does not ship the module.
PGSS_MARK="# --- pg_stat_statements, added by scripts/services.sh"
pgss_available() {
  local libdir
  libdir="$("$PG_BIN/pg_config" --pkglibdir 2>/dev/null)" || libdir="$PG_BIN/../lib"
  [ -f "$libdir/pg_stat_statements.so" ]
}
pgss_loaded() { # the running server has the library preloaded
  local libs
  libs="$(psql_q -d postgres -tAc "SHOW shared_preload_libraries" 2>/dev/null)" || return 1
  [[ ",${libs// /}," == *,pg_stat_statements,* ]]
}
pg_configure() {
  if ! pgss_available; then
    warn "postgres: pg_stat_statements is not installed with $PG_BIN; statement counting unavailable"
    return 0
  fi
  grep -qxF "$PGSS_MARK" "$PG_DATA/postgresql.conf" 2>/dev/null && return 0
  printf '\n%s\nshared_preload_libraries = '"'"'pg_stat_statements'"'"'\npg_stat_statements.track = all\n' "$PGSS_MARK" |
    as_pg tee -a "$PG_DATA/postgresql.conf" >/dev/null || {
    fail "postgres: could not write ${PG_DATA#"$ROOT"/}/postgresql.conf"
    return 1
  }
  say "postgres: enabled pg_stat_statements in ${PG_DATA#"$ROOT"/}/postgresql.conf"
}

pg_start() {
  pg_paths
  local pid
  pid="$(pg_pid)"
  if pid_alive "$pid"; then
    if ! wait_for "postgres (pid $pid)" pg_ready; then
      show_log "$PG_LOG"
      return 1
    fi
    if pgss_available && ! pgss_loaded; then
      # Started before pg_stat_statements was configured (or by other means): restart it once.
      say "postgres: running (pid $pid) without pg_stat_statements; restarting it to load the library"
      pg_configure || return 1
      pg_stop || return 1
      pid=""
    else
      say "postgres: already running (pid $pid) on $HOST:$PG_PORT"
    fi
  fi
  if ! pid_alive "$pid"; then
    ensure_free_port postgres PG_PORT SLUICE_PG_PORT || return 1
    pg_init || return 1
    pg_configure || return 1
    if is_root; then
      touch "$PG_LOG" && chown postgres: "$PG_LOG"
    fi
    # pg_ctl removes a stale postmaster.pid by itself.
    if ! as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t "$TIMEOUT" \
      -o "-p $PG_PORT -k $PG_SOCK -c listen_addresses=$HOST" start >/dev/null 2>&1 </dev/null 9>&-; then
      fail "postgres: pg_ctl start"
      show_log "$PG_LOG"
      return 1
    fi
    if ! wait_for "postgres on $HOST:$PG_PORT" pg_ready; then
      show_log "$PG_LOG"
      return 1
    fi
    save_ports
    say "postgres: started (pid $(pg_pid)) on $HOST:$PG_PORT, data in ${PG_DATA#"$ROOT"/}"
  fi
  pg_ensure_db
}

pg_ensure_db() {
  local exists loaded
  exists="$(psql_q -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'" 2>&1)" || {
    fail "postgres: query pg_database: $exists"
    return 1
  }
  if [ "$exists" != 1 ]; then
    psql_q -d postgres -c "CREATE DATABASE $DB_NAME OWNER postgres" >/dev/null || {
      fail "postgres: create database $DB_NAME"
      return 1
    }
    say "postgres: created database $DB_NAME"
  fi
  loaded="$(psql_q -d "$DB_NAME" -tAc "SELECT to_regclass('public.oauth_access_tokens') IS NOT NULL" 2>&1)" || {
    fail "postgres: check schema: $loaded"
    return 1
  }
  if [ "$loaded" = t ]; then
    say "postgres: database $DB_NAME has the schema already"
  else
    if [ ! -f "$SCHEMA" ]; then
      fail "postgres: schema file ${SCHEMA#"$ROOT"/} not found"
      return 1
    fi
    local out
    if ! out="$(psql_q -d "$DB_NAME" -f "$SCHEMA" 2>&1)"; then
      fail "postgres: loading ${SCHEMA#"$ROOT"/} into $DB_NAME:"
      printf '%s\n' "$out" | tail -n 15 | sed 's/^/    /' >&2
      return 1
    fi
    say "postgres: loaded ${SCHEMA#"$ROOT"/} into $DB_NAME"
  fi
  pg_ensure_pgss
}

# CREATE EXTENSION pg_stat_statements in the test database, once the library is loaded (without
# it the view can be created but every read of it fails).
pg_ensure_pgss() {
  pgss_loaded || return 0
  local out
  if ! out="$(psql_q -d "$DB_NAME" -tAc "SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS pg_stat_statements" 2>&1)"; then
    fail "postgres: CREATE EXTENSION pg_stat_statements in $DB_NAME: $out"
    return 1
  fi
}

pg_stop() {
  pg_paths
  local pid
  pid="$(pg_pid)"
  if ! pid_alive "$pid"; then
    say "postgres: not running"
    return 0
  fi
  if ! as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w -t "$TIMEOUT" stop >/dev/null 2>&1 </dev/null; then
    warn "postgres: pg_ctl stop failed, sending SIGQUIT to pid $pid"
    kill -QUIT "$pid" 2>/dev/null
    wait_dead "$pid" || { fail "postgres: could not stop pid $pid"; return 1; }
  fi
  say "postgres: stopped (pid $pid)"
}

pg_status() {
  pg_paths
  local pid
  pid="$(pg_pid)"
  if pid_alive "$pid"; then
    if pg_ready; then
      local loaded
      loaded="$(psql_q -d "$DB_NAME" -tAc "SELECT to_regclass('public.oauth_access_tokens') IS NOT NULL" 2>/dev/null)"
      if [ "$loaded" = t ]; then
        say "postgres: running (pid $pid) on $HOST:$PG_PORT, database $DB_NAME has the schema"
        return 0
      fi
      say "postgres: running (pid $pid) on $HOST:$PG_PORT, but database $DB_NAME or its schema is missing (run up)"
      return 1
    fi
    say "postgres: process $pid is alive but pg_isready fails on $HOST:$PG_PORT"
    return 1
  fi
  say "postgres: stopped"
  return 1
}

# ---------------------------------------------------------------- env file
env_text() {
  cat <<EOF
# Written by scripts/services.sh up: \`source .run/env\` (or read the URLs) to reach the local servers.
export REDIS_URL=redis://$HOST:$REDIS_PORT/0
export DATABASE_URL=postgres://postgres@$HOST:$PG_PORT/$DB_NAME
export NATS_URL=nats://$HOST:$NATS_PORT
export NATS_MONITOR_URL=http://$HOST:$NATS_MON_PORT
export SLUICE_SERVICES_SCRIPT=$ROOT/scripts/services.sh
EOF
}
write_env() {
  env_text >"$RUN/env.tmp" && mv -f "$RUN/env.tmp" "$RUN/env" && say "wrote ${RUN#"$ROOT"/}/env"
}

# ---------------------------------------------------------------- commands
canon() {
  case "$1" in
    redis) echo redis ;;
    nats | nats-server) echo nats ;;
    postgres | postgresql | pg) echo postgres ;;
    *) return 1 ;;
  esac
}
svc_start() {
  case "$1" in
    redis) redis_start ;;
    nats) nats_start ;;
    postgres) pg_start ;;
  esac
}
svc_stop() {
  case "$1" in
    redis) redis_stop ;;
    nats) nats_stop ;;
    postgres) pg_stop ;;
  esac
}

usage() {
  sed -n '2,/^set /p' "${BASH_SOURCE[0]}" | grep '^#' | sed 's/^# \{0,1\}//' >&2
  exit 2
}

cmd="${1:-}"
[ -n "$cmd" ] || usage
case "$cmd" in
  up | down | status | env) [ $# -eq 1 ] || usage ;;
  restart | start | stop) [ $# -eq 2 ] || usage ;;
  -h | --help | help) usage ;;
  *) usage ;;
esac

if [ "$cmd" = env ]; then
  if [ -f "$RUN/env" ]; then
    cat "$RUN/env"
  else
    warn "${RUN#"$ROOT"/}/env does not exist yet (run: scripts/services.sh up); printing what it would hold"
    env_text
  fi
  exit 0
fi

mkdir -p "$RUN" || {
  fail "cannot create $RUN"
  exit 1
}
# One invocation at a time (tests may restart a server while another invocation runs).
exec 9>"$RUN/services.lock"
if command -v flock >/dev/null; then
  flock -w $((TIMEOUT * 4)) 9 || {
    fail "another scripts/services.sh is still running (lock ${RUN#"$ROOT"/}/services.lock)"
    exit 1
  }
fi

failed=()
case "$cmd" in
  up)
    if ! ensure_installed redis nats postgres; then
      say "up: FAILED (installation)"
      exit 1
    fi
    for s in redis nats postgres; do
      svc_start "$s" || failed+=("$s")
    done
    { save_ports && write_env; } || failed+=(env)
    ;;
  down)
    find_pg_bin >/dev/null 2>&1
    for s in redis nats postgres; do
      if [ "$s" = postgres ] && [ -z "$PG_BIN" ]; then
        say "postgres: not installed, nothing to stop"
        continue
      fi
      svc_stop "$s" || failed+=("$s")
    done
    ;;
  status)
    find_pg_bin >/dev/null 2>&1
    for s in redis nats postgres; do
      if [ "$s" = postgres ] && [ -z "$PG_BIN" ]; then
        say "postgres: not installed"
        failed+=(postgres)
        continue
      fi
      svc_status_fn="${s/postgres/pg}_status"
      "$svc_status_fn" || failed+=("$s")
    done
    if [ "${#failed[@]}" -eq 0 ]; then
      say "status: all running"
      exit 0
    fi
    say "status: not running or not answering: ${failed[*]}"
    exit 1
    ;;
  restart | start | stop)
    s="$(canon "$2")" || usage
    if [ "$cmd" != stop ]; then
      ensure_installed "$s" || exit 1
    else
      find_pg_bin >/dev/null 2>&1
    fi
    if [ "$cmd" = restart ] || [ "$cmd" = stop ]; then
      svc_stop "$s" || failed+=("$s")
    fi
    if [ "${#failed[@]}" -eq 0 ] && { [ "$cmd" = restart ] || [ "$cmd" = start ]; }; then
      svc_start "$s" || failed+=("$s")
    fi
    ;;
esac

if [ "${#failed[@]}" -gt 0 ]; then
  say "$cmd: FAILED: ${failed[*]}"
  exit 1
fi
say "$cmd: ok"
