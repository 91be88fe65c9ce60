#!/usr/bin/env bash
# The Qdrant-compatible TEST server (`qdrant-test-server`, built from this repo; NOT Qdrant)
# as a local background service, for tests and `make` targets that want a Qdrant endpoint.
#
#   scripts/services/qdrant.sh up|down|status
#
# Runs the already-built binary ($QDRANT_TEST_SERVER_BIN, default
# $CARGO_TARGET_DIR/debug/qdrant-test-server; build it with
# `cargo build --bin qdrant-test-server`) on 127.0.0.1:${INGEST_QDRANT_PORT:-16334} (gRPC),
# data, pid file and log under ${INGEST_SERVICES_DIR:-$PWD/.services}/qdrant.
# Idempotent and non-interactive: `up` when up and `down` when down succeed doing nothing.
# `status` exits 0 when up, 3 when down.
set -euo pipefail

PORT="${INGEST_QDRANT_PORT:-16334}"
ADDR="127.0.0.1:${PORT}"
SERVICE_DIR="${INGEST_SERVICES_DIR:-$PWD/.services}/qdrant"
DATA_DIR="${SERVICE_DIR}/data"
PID_FILE="${SERVICE_DIR}/qdrant-test-server.pid"
LOG_FILE="${SERVICE_DIR}/qdrant-test-server.log"
BIN="${QDRANT_TEST_SERVER_BIN:-${CARGO_TARGET_DIR:-$HOME/.cache/ingest-target}/debug/qdrant-test-server}"
WAIT_SECONDS="${INGEST_QDRANT_WAIT_SECONDS:-30}"

say() { echo "qdrant.sh: $*"; }
die() { echo "qdrant.sh: $*" >&2; exit 1; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/${PORT}") 2>/dev/null; }

# The pid in the pid file, if that process is alive and is our server.
server_pid() {
    [[ -f "$PID_FILE" ]] || return 1
    local pid
    pid="$(cat "$PID_FILE" 2>/dev/null || true)"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    if [[ -r "/proc/$pid/cmdline" ]]; then
        tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q 'qdrant-test-server' || return 1
    fi
    echo "$pid"
}

up() {
    local pid
    if pid="$(server_pid)"; then
        say "already up: http://${ADDR} (pid ${pid}, data ${DATA_DIR})"
        return 0
    fi
    rm -f "$PID_FILE"
    if port_open; then
        die "port ${PORT} is already in use by another process (set INGEST_QDRANT_PORT)"
    fi
    [[ -x "$BIN" ]] || die "no server binary at ${BIN}: run 'cargo build --bin qdrant-test-server' or set QDRANT_TEST_SERVER_BIN"
    mkdir -p "$DATA_DIR"
    nohup "$BIN" --addr "$ADDR" --data-dir "$DATA_DIR" </dev/null >>"$LOG_FILE" 2>&1 &
    pid=$!
    echo "$pid" >"$PID_FILE"
    local waited=0
    while ! port_open; do
        if ! kill -0 "$pid" 2>/dev/null; then
            rm -f "$PID_FILE"
            echo "qdrant.sh: server exited while starting; last log lines:" >&2
            tail -n 20 "$LOG_FILE" >&2 || true
            exit 1
        fi
        if (( waited >= WAIT_SECONDS * 10 )); then
            kill -TERM "$pid" 2>/dev/null || true
            rm -f "$PID_FILE"
            die "server did not open port ${PORT} within ${WAIT_SECONDS}s (log: ${LOG_FILE})"
        fi
        sleep 0.1
        waited=$((waited + 1))
    done
    say "up: http://${ADDR} (pid ${pid}, TEST server, not Qdrant; data ${DATA_DIR}; log ${LOG_FILE})"
}

down() {
    local pid
    if ! pid="$(server_pid)"; then
        rm -f "$PID_FILE"
        say "already down"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    local waited=0
    while kill -0 "$pid" 2>/dev/null; do
        if (( waited >= WAIT_SECONDS * 10 )); then
            say "server (pid ${pid}) did not stop in ${WAIT_SECONDS}s: killing it"
            kill -KILL "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.1
        waited=$((waited + 1))
    done
    rm -f "$PID_FILE"
    say "down"
}

status() {
    local pid
    if pid="$(server_pid)" && port_open; then
        say "up: http://${ADDR} (pid ${pid}, data ${DATA_DIR})"
        return 0
    fi
    say "down"
    return 3
}

case "${1:-}" in
    up) up ;;
    down) down ;;
    status) status ;;
    *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
