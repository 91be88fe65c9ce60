#!/usr/bin/env bash
# A private PostgreSQL cluster, the test server of the PostgreSQL store.
#
#   scripts/services/postgres.sh up       install (once), initdb (once), start; idempotent
#   scripts/services/postgres.sh down     stop it; idempotent
#   scripts/services/postgres.sh status   exit 0 and print the URL when it runs, 3 when it does not
#
# Uses Debian's `postgresql` package (apt-get installs it when missing, as root) but never its
# default cluster or service. The cluster lives in ${INGEST_SERVICES_DIR:-$PWD/.services}/postgres,
# or in /tmp/ingest-services-<uid>/postgres when the postgres user cannot reach that folder
# (it says so); as root, initdb and pg_ctl run as user postgres. It listens on 127.0.0.1 only,
# with trust auth and no unix socket, and has a database `ingest_test`. `up` and `status` print
# postgres://postgres@127.0.0.1:<port>/ingest_test on stdout; messages go to stderr.
#
# Environment (optional): INGEST_SERVICES_DIR, INGEST_PG_PORT (default 15432).
set -euo pipefail

PORT="${INGEST_PG_PORT:-15432}"
DB=ingest_test
PG_USER=postgres

log() { echo "postgres.sh: $*" >&2; }
die() {
    log "$*"
    exit 1
}

usage() { die "usage: $0 up|down|status"; }
[ $# -eq 1 ] || usage
CMD="$1"
case "$CMD" in up | down | status) ;; *) usage ;; esac

IS_ROOT=0
[ "$(id -u)" -eq 0 ] && IS_ROOT=1

# Run a command as the cluster owner (postgres when we are root, else ourselves), from `/`
# so a home directory it cannot read does not matter.
as_owner() {
    if [ "$IS_ROOT" -eq 1 ]; then
        (cd / && runuser -u "$PG_USER" -- "$@")
    else
        (cd / && "$@")
    fi
}

# The newest installed server's binaries.
find_bindir() {
    local d
    d="$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
    [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && echo "$d"
}

BINDIR="$(find_bindir || true)"
if [ -z "$BINDIR" ]; then
    [ "$CMD" = up ] || die "PostgreSQL is not installed (no /usr/lib/postgresql/<ver>/bin)"
    [ "$IS_ROOT" -eq 1 ] || die "PostgreSQL is not installed; run as root or: sudo apt-get install -y postgresql"
    log "installing the postgresql package"
    export DEBIAN_FRONTEND=noninteractive
    # policy-rc.d keeps the package from starting Debian's default cluster.
    POLICY=/usr/sbin/policy-rc.d
    CREATED_POLICY=0
    if [ ! -e "$POLICY" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$POLICY" && chmod +x "$POLICY" && CREATED_POLICY=1
    fi
    install_ok=0
    apt-get install -y -qq postgresql </dev/null >&2 ||
        { apt-get update -qq </dev/null >&2 && apt-get install -y -qq postgresql </dev/null >&2; } &&
        install_ok=1
    [ "$CREATED_POLICY" -eq 1 ] && rm -f "$POLICY"
    [ "$install_ok" -eq 1 ] || die "apt-get install postgresql failed"
    BINDIR="$(find_bindir || true)"
    [ -n "$BINDIR" ] || die "postgresql installed but no /usr/lib/postgresql/<ver>/bin/initdb found"
fi
VERSION="$(basename "$(dirname "$BINDIR")")"

if [ "$IS_ROOT" -eq 1 ]; then
    id "$PG_USER" >/dev/null 2>&1 || die "user $PG_USER does not exist (the postgresql package creates it)"
fi

# The cluster directory: the project's services dir when the owner can reach it, else /tmp.
BASE="${INGEST_SERVICES_DIR:-$PWD/.services}"
mkdir -p "$BASE"
BASE="$(cd "$BASE" && pwd)"
reachable() { as_owner test -x "$1" 2>/dev/null; }
if ! reachable "$BASE"; then
    FALLBACK="/tmp/ingest-services-$(id -u)"
    [ "$CMD" = up ] && log "$BASE is not accessible to user $PG_USER; using $FALLBACK"
    BASE="$FALLBACK"
    mkdir -p "$BASE"
    if [ -L "$BASE" ] || [ ! -O "$BASE" ]; then
        die "$BASE exists but is not a directory owned by $(id -un)"
    fi
    chmod 755 "$BASE"
    reachable "$BASE" || die "$BASE is not accessible to user $PG_USER"
fi
DATA="$BASE/postgres"
LOGFILE="$DATA/server.log"
URL="postgres://$PG_USER@127.0.0.1:$PORT/$DB"

# One `up`/`down` at a time (parallel test processes).
exec 9>"$BASE/.postgres.lock"
flock 9

running() { [ -f "$DATA/PG_VERSION" ] && as_owner "$BINDIR/pg_ctl" -D "$DATA" status >/dev/null 2>&1; }

psql_admin() {
    "$BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U "$PG_USER" -d postgres "$@" </dev/null
}

case "$CMD" in
status)
    if running; then
        log "running (PostgreSQL $VERSION, data $DATA)"
        echo "$URL"
        exit 0
    fi
    log "stopped (data $DATA)"
    exit 3
    ;;
down)
    if running; then
        as_owner "$BINDIR/pg_ctl" -D "$DATA" -m fast -w -t 60 stop >&2
        log "stopped"
    else
        log "not running"
    fi
    exit 0
    ;;
esac

# up
if [ -f "$DATA/PG_VERSION" ] && [ "$(cat "$DATA/PG_VERSION")" != "$VERSION" ]; then
    die "$DATA holds a PostgreSQL $(cat "$DATA/PG_VERSION") cluster, binaries are $VERSION: remove it or set INGEST_SERVICES_DIR"
fi
if [ ! -f "$DATA/PG_VERSION" ]; then
    log "creating cluster in $DATA (PostgreSQL $VERSION)"
    rm -rf "$DATA"
    mkdir -p "$DATA"
    [ "$IS_ROOT" -eq 1 ] && chown "$PG_USER:" "$DATA"
    chmod 700 "$DATA"
    LOCALE_ARGS=(--no-locale)
    if locale -a 2>/dev/null | grep -qix 'c.utf-\?8'; then LOCALE_ARGS=(--locale=C.UTF-8); fi
    as_owner "$BINDIR/initdb" -D "$DATA" -U "$PG_USER" -E UTF8 "${LOCALE_ARGS[@]}" \
        --auth-host=trust --auth-local=reject >"$BASE/initdb.log" 2>&1 ||
        die "initdb failed, see $BASE/initdb.log"
    as_owner tee -a "$DATA/postgresql.conf" >/dev/null <<EOF

# ingest: private test cluster (scripts/services/postgres.sh)
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
max_connections = 200
EOF
    as_owner tee "$DATA/pg_hba.conf" >/dev/null <<'EOF'
# ingest: trust on IPv4 loopback only; no unix socket, no other host.
host all all 127.0.0.1/32 trust
EOF
fi
# The port can change between runs: it is given on the command line, not in the config.
if running; then
    RUN_PORT="$(sed -n 4p "$DATA/postmaster.pid" 2>/dev/null || true)"
    [ "$RUN_PORT" = "$PORT" ] ||
        die "the cluster in $DATA is running on port $RUN_PORT, not $PORT: run '$0 down' first"
    log "already running (data $DATA)"
else
    if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
        die "port $PORT is already in use by another process (set INGEST_PG_PORT)"
    fi
    as_owner "$BINDIR/pg_ctl" -D "$DATA" -l "$LOGFILE" -o "-p $PORT" -w -t 60 start >&2 9>&- ||
        die "pg_ctl start failed; last log lines: $(tail -n 5 "$LOGFILE" 2>/dev/null | tr '\n' ' ')"
    log "started PostgreSQL $VERSION on 127.0.0.1:$PORT (data $DATA)"
fi
if [ "$(psql_admin -tA -c "SELECT 1 FROM pg_database WHERE datname = '$DB'")" != 1 ]; then
    psql_admin -c "CREATE DATABASE $DB" || die "cannot create database $DB"
fi
echo "$URL"
