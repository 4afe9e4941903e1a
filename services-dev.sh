#!/usr/bin/env bash
# Runs the development servers of a Rankwright fleet on this machine: PostgreSQL (the insights database) and MinIO
# (an S3-compatible store). Real servers, loopback only, their data under the home; no system service is touched.
#
#   ./services-dev.sh install [postgres|minio]   check PostgreSQL's server binaries; build MinIO into .services/bin
#   ./services-dev.sh start [postgres|minio]     start them in the background (idempotent), wait until healthy, and
#                                                print the variables a worker or the CLI needs (eval-able lines)
#   ./services-dev.sh stop [postgres|minio]      stop them
#   ./services-dev.sh status                     say what runs, where, and where its data lives
#   ./services-dev.sh env                        print the variables again (the servers need not be running)
#
# Settings (environment): RANKWRIGHT_HOME (data root, default ./.rankwright; the servers' data and logs live in
# $RANKWRIGHT_HOME/services), RANKWRIGHT_SERVICES_DIR (that folder elsewhere), RANKWRIGHT_PG_PORT (55432),
# RANKWRIGHT_PG_BIN (a folder with initdb and pg_ctl; default: the newest /usr/lib/postgresql/*/bin, else PATH),
# RANKWRIGHT_MINIO_PORT (59000), RANKWRIGHT_MINIO_BUCKET (rankwright), MINIO_BIN (a minio binary to use instead of
# building one).
set -euo pipefail

MINIO_VERSION="v0.0.0-20260212201848-7aac2a2c5b7c"
PG_MIN_MAJOR=15
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
HOME_DIR="${RANKWRIGHT_HOME:-$ROOT/.rankwright}"
case "$HOME_DIR" in /*) ;; *) HOME_DIR="$PWD/$HOME_DIR" ;; esac
STATE_DIR="${RANKWRIGHT_SERVICES_DIR:-$HOME_DIR/services}"
case "$STATE_DIR" in /*) ;; *) STATE_DIR="$PWD/$STATE_DIR" ;; esac

PG_PORT="${RANKWRIGHT_PG_PORT:-55432}"
PG_DIR="$STATE_DIR/postgres"
PG_DATA="$PG_DIR/data"
PG_SOCKETS="$PG_DIR/run"
PG_LOG="$PG_DIR/server.log"
# The superuser initdb creates, whoever runs it: the URL names it, so it must not depend on the caller's login.
PG_USER="rankwright"
PG_DATABASE="rankwright"

MINIO_PORT="${RANKWRIGHT_MINIO_PORT:-59000}"
MINIO_BUCKET="${RANKWRIGHT_MINIO_BUCKET:-rankwright}"
MINIO_DIR="$STATE_DIR/minio"
MINIO_DATA="$MINIO_DIR/data"
MINIO_PID="$MINIO_DIR/server.pid"
MINIO_LOG="$MINIO_DIR/server.log"
# A key pair made at the first start and kept beside the data (mode 600): no password lives in this script.
MINIO_CREDENTIALS="$MINIO_DIR/credentials"
MINIO_LOCAL_BIN="$ROOT/.services/bin/minio"
MINIO_REGION="us-east-1"

log() { echo "[services-dev] $*" >&2; }
die() { log "error: $*"; exit 1; }

# ---------------------------------------------------------------- PostgreSQL

# Prints the folder holding initdb/pg_ctl/postgres (major version >= PG_MIN_MAJOR), or fails.
find_pg_bin() {
  if [ -n "${RANKWRIGHT_PG_BIN:-}" ]; then
    [ -x "$RANKWRIGHT_PG_BIN/pg_ctl" ] || die "RANKWRIGHT_PG_BIN=$RANKWRIGHT_PG_BIN has no executable pg_ctl"
    echo "$RANKWRIGHT_PG_BIN"
    return 0
  fi
  # Debian keeps server binaries out of PATH, in one folder per major version; the newest one wins.
  local dir
  dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)"
  if [ -z "$dir" ] && command -v pg_ctl >/dev/null 2>&1; then dir="$(dirname "$(command -v pg_ctl)")"; fi
  [ -n "$dir" ] && [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] || return 1
  local major
  major="$("$dir/pg_ctl" --version | sed -nE 's/.* ([0-9]+)(\.[0-9]+)?.*/\1/p')"
  [ -n "$major" ] && [ "$major" -ge "$PG_MIN_MAJOR" ] || return 1
  echo "$dir"
}

pg_bin_or_die() {
  find_pg_bin || die "no PostgreSQL >= $PG_MIN_MAJOR server binaries (initdb, pg_ctl) found in /usr/lib/postgresql/*/bin or on PATH.
  On Debian/Ubuntu: apt-get install postgresql-$PG_MIN_MAJOR (or newer); or set RANKWRIGHT_PG_BIN to the folder holding them."
}

# PostgreSQL refuses to run as root: a root caller runs it as the unprivileged 'postgres' user, which owns its folder.
as_pg_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || die "running as root, and there is no 'postgres' user to run PostgreSQL as (initdb refuses root)"
    # From /: the caller's working folder may be closed to postgres (pg_ctl warns that it cannot enter it).
    (cd / && runuser -u postgres -- "$@")
  else
    "$@"
  fi
}

pg_running() { [ -f "$PG_DATA/postmaster.pid" ] && as_pg_owner "$1/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; }
pg_ready() { "$1/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -d "$PG_DATABASE" -U "$PG_USER" 2>/dev/null; }

pg_install() {
  local bin
  bin="$(pg_bin_or_die)"
  log "PostgreSQL: using $bin ($("$bin/pg_ctl" --version))"
}

pg_start() {
  local bin
  bin="$(pg_bin_or_die)"
  if pg_running "$bin" && pg_ready "$bin"; then
    log "PostgreSQL already running on 127.0.0.1:$PG_PORT (data: $PG_DATA)"
    return 0
  fi
  # As temporal-dev.sh does for its port: a server another checkout started there serves this one too.
  if pg_ready "$bin"; then
    log "PostgreSQL already running on 127.0.0.1:$PG_PORT (started from another home; its data is not $PG_DATA)"
    return 0
  fi
  mkdir -p "$PG_DIR" "$PG_SOCKETS"
  touch "$PG_LOG"
  if [ "$(id -u)" -eq 0 ]; then
    # pg_ctl (run as postgres) appends to the log too.
    chown postgres: "$PG_DIR" "$PG_SOCKETS" "$PG_LOG"
    # The postgres user must reach its folder: every folder above it needs search (x) permission for others.
    runuser -u postgres -- test -x "$PG_DIR" ||
      die "the 'postgres' user cannot reach $PG_DIR (a folder above it is private); set RANKWRIGHT_SERVICES_DIR (or RANKWRIGHT_HOME) to a folder it can enter"
  fi
  if [ ! -f "$PG_DATA/PG_VERSION" ]; then
    log "PostgreSQL: creating a cluster in $PG_DATA"
    # trust on loopback only (listen_addresses below): a development server, like temporal-dev.sh's. C collation, so
    # text sorts by bytes as SQLite's does.
    as_pg_owner "$bin/initdb" -D "$PG_DATA" -U "$PG_USER" -A trust -E UTF8 --no-locale >>"$PG_LOG" 2>&1 ||
      { tail -n 20 "$PG_LOG" >&2; die "initdb failed; see $PG_LOG"; }
  fi
  log "PostgreSQL: starting on 127.0.0.1:$PG_PORT (data: $PG_DATA, log: $PG_LOG)"
  as_pg_owner "$bin/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_SOCKETS" start >/dev/null ||
    { tail -n 20 "$PG_LOG" >&2; die "PostgreSQL did not start; see $PG_LOG (is port $PG_PORT taken? set RANKWRIGHT_PG_PORT)"; }
  local i
  for i in $(seq 1 60); do pg_ready "$bin" && break; [ "$i" -lt 60 ] || die "PostgreSQL is not ready after 30 s; see $PG_LOG"; sleep 0.5; done
  # The database the URL names; created once (the cluster keeps it across restarts).
  if ! "$bin/psql" -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname = '$PG_DATABASE'" | grep -q 1; then
    "$bin/createdb" -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" "$PG_DATABASE"
    log "PostgreSQL: created database $PG_DATABASE"
  fi
  log "PostgreSQL healthy on 127.0.0.1:$PG_PORT"
}

pg_stop() {
  local bin
  bin="$(pg_bin_or_die)"
  if pg_running "$bin"; then
    as_pg_owner "$bin/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null
    log "PostgreSQL stopped"
  else
    log "PostgreSQL not running (data: $PG_DATA)"
  fi
}

pg_status() {
  local bin
  if ! bin="$(find_pg_bin)"; then echo "postgres: server binaries not found (run: $0 install)"; return 3; fi
  if pg_running "$bin" && pg_ready "$bin"; then
    echo "postgres: running on 127.0.0.1:$PG_PORT — database $PG_DATABASE, data $PG_DATA"
  elif pg_ready "$bin"; then
    echo "postgres: running on 127.0.0.1:$PG_PORT — database $PG_DATABASE, started from another home"
  else
    echo "postgres: not running (data: $PG_DATA)"
    return 3
  fi
}

pg_env() { echo "export RANKWRIGHT_DATABASE_URL=postgres://$PG_USER@127.0.0.1:$PG_PORT/$PG_DATABASE"; }

# ---------------------------------------------------------------- MinIO

find_minio() {
  if [ -n "${MINIO_BIN:-}" ] && [ -x "$MINIO_BIN" ]; then echo "$MINIO_BIN"; return 0; fi
  if [ -x "$MINIO_LOCAL_BIN" ]; then echo "$MINIO_LOCAL_BIN"; return 0; fi
  return 1
}

minio_install() {
  local found
  if found="$(find_minio)"; then
    log "MinIO: using $found"
    return 0
  fi
  command -v go >/dev/null 2>&1 || die "MinIO is not built and Go is not installed: install Go (https://go.dev/dl/), or set MINIO_BIN"
  log "MinIO: building $MINIO_VERSION from its Go module into $(dirname "$MINIO_LOCAL_BIN")"
  log "(the first build downloads and compiles the server: it takes several minutes)"
  mkdir -p "$(dirname "$MINIO_LOCAL_BIN")"
  GOBIN="$(dirname "$MINIO_LOCAL_BIN")" go install "github.com/minio/minio@$MINIO_VERSION"
  log "MinIO: installed $MINIO_LOCAL_BIN"
}

minio_credentials() {
  if [ ! -s "$MINIO_CREDENTIALS" ]; then
    mkdir -p "$MINIO_DIR"
    (
      umask 077
      printf 'MINIO_ROOT_USER=rankwright\nMINIO_ROOT_PASSWORD=%s\n' "$(od -An -tx1 -N20 /dev/urandom | tr -d ' \n')" >"$MINIO_CREDENTIALS"
    )
  fi
  # shellcheck disable=SC1090
  . "$MINIO_CREDENTIALS"
}

minio_healthy() { curl -fsS -o /dev/null "http://127.0.0.1:$MINIO_PORT/minio/health/live" 2>/dev/null; }

# Creates the bucket with a signed S3 request (curl's SigV4), so no client tool is needed; an existing bucket is kept.
minio_bucket() {
  local code
  code="$(curl -sS -o /dev/null -w '%{http_code}' -X PUT \
    --aws-sigv4 "aws:amz:$MINIO_REGION:s3" --user "$MINIO_ROOT_USER:$MINIO_ROOT_PASSWORD" \
    "http://127.0.0.1:$MINIO_PORT/$MINIO_BUCKET")"
  case "$code" in
    200) log "MinIO: created bucket $MINIO_BUCKET" ;;
    409) ;; # BucketAlreadyOwnedByYou
    *) die "MinIO: creating bucket $MINIO_BUCKET answered HTTP $code; see $MINIO_LOG" ;;
  esac
}

minio_start() {
  minio_install
  local bin
  bin="$(find_minio)"
  minio_credentials
  if minio_healthy; then
    minio_bucket
    log "MinIO already running on 127.0.0.1:$MINIO_PORT (data: $MINIO_DATA)"
    return 0
  fi
  mkdir -p "$MINIO_DATA"
  log "MinIO: starting on 127.0.0.1:$MINIO_PORT (data: $MINIO_DATA, log: $MINIO_LOG)"
  MINIO_ROOT_USER="$MINIO_ROOT_USER" MINIO_ROOT_PASSWORD="$MINIO_ROOT_PASSWORD" MINIO_BROWSER=off \
    nohup "$bin" server "$MINIO_DATA" --address "127.0.0.1:$MINIO_PORT" --quiet >>"$MINIO_LOG" 2>&1 &
  echo $! >"$MINIO_PID"
  local i
  for i in $(seq 1 120); do
    if minio_healthy; then
      minio_bucket
      log "MinIO healthy on 127.0.0.1:$MINIO_PORT"
      return 0
    fi
    if ! kill -0 "$(cat "$MINIO_PID")" 2>/dev/null; then
      tail -n 20 "$MINIO_LOG" >&2 || true
      die "MinIO exited; see $MINIO_LOG (is port $MINIO_PORT taken? set RANKWRIGHT_MINIO_PORT)"
    fi
    sleep 0.5
  done
  die "MinIO did not become healthy within 60 s; see $MINIO_LOG"
}

minio_stop() {
  if [ -f "$MINIO_PID" ] && kill -0 "$(cat "$MINIO_PID")" 2>/dev/null; then
    local pid
    pid="$(cat "$MINIO_PID")"
    kill "$pid"
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$MINIO_PID"
    log "MinIO stopped"
  else
    log "MinIO not running (no live pid in $MINIO_PID)"
  fi
}

minio_status() {
  if ! find_minio >/dev/null; then echo "minio: not built (run: $0 install minio)"; return 3; fi
  if minio_healthy; then
    echo "minio: running on 127.0.0.1:$MINIO_PORT — bucket $MINIO_BUCKET, data $MINIO_DATA"
  else
    echo "minio: not running (data: $MINIO_DATA)"
    return 3
  fi
}

minio_env() {
  minio_credentials
  echo "export RANKWRIGHT_STORE=s3://$MINIO_BUCKET/"
  echo "export AWS_ENDPOINT_URL=http://127.0.0.1:$MINIO_PORT"
  echo "export AWS_ACCESS_KEY_ID=$MINIO_ROOT_USER"
  echo "export AWS_SECRET_ACCESS_KEY=$MINIO_ROOT_PASSWORD"
  echo "export AWS_REGION=$MINIO_REGION"
}

# ---------------------------------------------------------------- commands

# Which services a command acts on: the one named, or both.
services() {
  case "${1:-}" in
    "") echo postgres minio ;;
    postgres | minio) echo "$1" ;;
    *) log "unknown service '$1' (expected postgres or minio)"; exit 2 ;;
  esac
}

cmd=${1:-}
shift || true
# Checked here, not inside each loop's $(…), where a failed check would not stop the script.
SERVICES="$(services "${1:-}")" || exit 2
case "$cmd" in
  install) for s in $SERVICES; do "${s/postgres/pg}_install"; done ;;
  start)
    for s in $SERVICES; do "${s/postgres/pg}_start"; done
    echo "# Rankwright fleet settings (eval \"\$($0 env)\" sets them in a shell):"
    for s in $SERVICES; do "${s/postgres/pg}_env"; done
    ;;
  stop) for s in $SERVICES; do "${s/postgres/pg}_stop"; done ;;
  status)
    rc=0
    for s in $SERVICES; do "${s/postgres/pg}_status" || rc=3; done
    exit "$rc"
    ;;
  env) for s in $SERVICES; do "${s/postgres/pg}_env"; done ;;
  *)
    sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
