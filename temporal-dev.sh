#!/usr/bin/env bash
# Installs the pinned Temporal CLI and runs its dev server for Rankwright.
#
#   ./temporal-dev.sh install      use a temporal CLI >= 1.5.1 from PATH, else build v1.5.1 into .temporal/bin
#   ./temporal-dev.sh start        start the dev server in the background (idempotent), wait until healthy
#   ./temporal-dev.sh foreground   run the dev server in this terminal, with its log
#   ./temporal-dev.sh stop         stop the background server
#   ./temporal-dev.sh status       say whether it runs, where, and where its data lives
#   ./temporal-dev.sh path         print the path of the temporal binary in use
#
# Settings (environment): RANKWRIGHT_HOME (data root, default ./.rankwright; the SQLite database lives in
# $RANKWRIGHT_HOME/temporal/dev.sqlite so a restart keeps every workflow), TEMPORAL_PORT (7233),
# TEMPORAL_UI_PORT (8233), TEMPORAL_HTTP_PORT and TEMPORAL_METRICS_PORT (unset: a random free port each),
# TEMPORAL_BIN (a temporal binary to use instead).
set -euo pipefail

PINNED_VERSION="1.5.1"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
HOME_DIR="${RANKWRIGHT_HOME:-$ROOT/.rankwright}"
case "$HOME_DIR" in /*) ;; *) HOME_DIR="$PWD/$HOME_DIR" ;; esac
STATE_DIR="$HOME_DIR/temporal"
DB_FILE="$STATE_DIR/dev.sqlite"
PID_FILE="$STATE_DIR/server.pid"
LOG_FILE="$STATE_DIR/server.log"
PORT="${TEMPORAL_PORT:-7233}"
UI_PORT="${TEMPORAL_UI_PORT:-8233}"
HTTP_PORT="${TEMPORAL_HTTP_PORT:-}"
METRICS_PORT="${TEMPORAL_METRICS_PORT:-}"
LOCAL_BIN="$ROOT/.temporal/bin/temporal"

log() { echo "[temporal-dev] $*" >&2; }

# Prints the version of a temporal binary ("1.5.1"), or nothing.
version_of() { "$1" --version 2>/dev/null | sed -nE 's/^temporal version ([0-9]+\.[0-9]+\.[0-9]+).*/\1/p' | head -n1; }

# True when version $1 >= version $2.
version_at_least() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]; }

find_temporal() {
  if [ -n "${TEMPORAL_BIN:-}" ] && [ -x "$TEMPORAL_BIN" ]; then echo "$TEMPORAL_BIN"; return 0; fi
  if [ -x "$LOCAL_BIN" ]; then echo "$LOCAL_BIN"; return 0; fi
  local onpath
  onpath="$(command -v temporal || true)"
  if [ -n "$onpath" ]; then
    local v
    v="$(version_of "$onpath")"
    if [ -n "$v" ] && version_at_least "$v" "$PINNED_VERSION"; then echo "$onpath"; return 0; fi
  fi
  return 1
}

cmd_install() {
  local found
  if found="$(find_temporal)"; then
    log "using $found ($(version_of "$found"))"
    return 0
  fi
  if ! command -v go >/dev/null 2>&1; then
    log "error: no temporal CLI >= $PINNED_VERSION on PATH and Go is not installed."
    log "Install Go (https://go.dev/dl/) or a Temporal CLI (https://docs.temporal.io/cli), then run this again."
    exit 1
  fi
  log "building Temporal CLI v$PINNED_VERSION from its Go module into $(dirname "$LOCAL_BIN")"
  log "(the first build downloads and compiles the server and the Web UI: it takes a few minutes)"
  mkdir -p "$(dirname "$LOCAL_BIN")"
  GOBIN="$(dirname "$LOCAL_BIN")" go install \
    -ldflags "-X github.com/temporalio/cli/temporalcli.Version=$PINNED_VERSION" \
    "github.com/temporalio/cli/cmd/temporal@v$PINNED_VERSION"
  log "installed $LOCAL_BIN ($(version_of "$LOCAL_BIN"))"
}

is_healthy() { "$1" operator cluster health --address "127.0.0.1:$PORT" >/dev/null 2>&1; }

server_args() {
  local args=(server start-dev
    --db-filename "$DB_FILE"
    --ip 127.0.0.1 --port "$PORT" --ui-port "$UI_PORT"
    --log-level warn
    --dynamic-config-value frontend.enableUpdateWorkflowExecution=true
    --dynamic-config-value frontend.workerVersioningWorkflowAPIs=true
    --dynamic-config-value limit.historyCount.suggestContinueAsNew=2000)
  if [ -n "$HTTP_PORT" ]; then args+=(--http-port "$HTTP_PORT"); fi
  if [ -n "$METRICS_PORT" ]; then args+=(--metrics-port "$METRICS_PORT"); fi
  # Registered at start (idempotent for start-dev); names and types come from contracts/names.ts.
  local attr
  for attr in CampaignId=Keyword Phase=Keyword ReviewState=Keyword ModelFamily=Keyword BestNE=Double; do
    args+=(--search-attribute "$attr")
  done
  printf '%s\n' "${args[@]}"
}

cmd_start() {
  cmd_install
  local bin
  bin="$(find_temporal)"
  if is_healthy "$bin"; then
    log "already running on 127.0.0.1:$PORT — Web UI: http://localhost:$UI_PORT"
    return 0
  fi
  mkdir -p "$STATE_DIR"
  local args=()
  mapfile -t args < <(server_args)
  log "starting dev server (data: $DB_FILE, log: $LOG_FILE)"
  nohup "$bin" "${args[@]}" >>"$LOG_FILE" 2>&1 &
  echo $! >"$PID_FILE"
  local i
  for i in $(seq 1 120); do
    if is_healthy "$bin"; then
      log "healthy on 127.0.0.1:$PORT"
      echo "Temporal Web UI: http://localhost:$UI_PORT"
      return 0
    fi
    if ! kill -0 "$(cat "$PID_FILE")" 2>/dev/null; then
      log "error: the dev server exited; last lines of $LOG_FILE:"
      tail -n 20 "$LOG_FILE" >&2 || true
      exit 1
    fi
    sleep 0.5
  done
  log "error: the dev server did not become healthy within 60 s; see $LOG_FILE"
  exit 1
}

cmd_foreground() {
  cmd_install
  local bin args=()
  bin="$(find_temporal)"
  mkdir -p "$STATE_DIR"
  mapfile -t args < <(server_args)
  args=("${args[@]/warn/info}")
  echo "Temporal Web UI: http://localhost:$UI_PORT (Ctrl-C stops the server)"
  exec "$bin" "${args[@]}"
}

cmd_stop() {
  if [ -f "$PID_FILE" ] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; then
    local pid
    pid="$(cat "$PID_FILE")"
    kill "$pid"
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$PID_FILE"
    log "stopped"
  else
    log "not running (no live pid in $PID_FILE)"
  fi
}

cmd_status() {
  local bin
  if ! bin="$(find_temporal)"; then echo "temporal CLI: not installed (run: $0 install)"; exit 3; fi
  echo "temporal CLI: $bin ($(version_of "$bin"))"
  echo "database: $DB_FILE"
  if is_healthy "$bin"; then
    echo "server: running on 127.0.0.1:$PORT — Web UI: http://localhost:$UI_PORT"
  else
    echo "server: not running"
    exit 3
  fi
}

case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start ;;
  foreground | fg) cmd_foreground ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  path) find_temporal || { log "not installed"; exit 1; } ;;
  *)
    sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
