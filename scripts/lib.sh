# shellcheck shell=bash
# shellcheck disable=SC2016 # the single-quoted `bash -c` scripts read their own positional arguments
#
# Shared helpers for scripts/*.sh. Source it (`source scripts/lib.sh`), then call
# the ensure_* functions. Each one is idempotent: it does nothing and prints
# nothing when what it ensures is already there, and says what it does otherwise.
# On failure it prints `error: ...` and returns non-zero (it never `exit`s, so
# sourcing this file into an interactive shell is safe).
#
#   ensure_rust       cargo is on PATH (adds ~/.cargo/bin if needed) and new enough
#   ensure_postgres   PostgreSQL answers on 127.0.0.1:5432, user postgres, no password
#   ensure_nats       nats-server with JetStream answers on 127.0.0.1:4222
#   ensure_private_servers   what the fault tests need to start servers of their
#                     own: initdb/postgres, nats-server and setpriv (nothing started)
#   ensure_venv       .venv holds the pinned tools of scripts/requirements-dev.txt
#   ensure_moto       moto's server (S3 / Secrets Manager API) answers on 127.0.0.1:5000
#   ensure_chromium   Debian's chromium at /usr/bin/chromium (the console's browser test)
#   ensure_browser_test_deps   services/console/tests/browser/node_modules from its
#                     package-lock.json (playwright-core, which drives that chromium)
#   export_local_aws_env   dummy AWS credentials/region for the local emulator
#
# Missing system packages are installed with apt-get (Debian); `apt-get update`
# runs only when something must actually be installed.

if [[ -n "${_GANTRY_LIB_LOADED:-}" ]]; then
    return 0
fi
_GANTRY_LIB_LOADED=1

GANTRY_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
GANTRY_STATE_DIR="${GANTRY_ROOT}/.gantry"
GANTRY_VENV="${GANTRY_ROOT}/.venv"
GANTRY_REQUIREMENTS="${GANTRY_ROOT}/scripts/requirements-dev.txt"

GANTRY_PG_HOST=127.0.0.1
GANTRY_PG_PORT=5432
GANTRY_NATS_HOST=127.0.0.1
GANTRY_NATS_PORT=4222
GANTRY_NATS_STORE_DIR=/var/lib/nats-server
GANTRY_NATS_LOG=/var/log/nats-server.log
GANTRY_MOTO_HOST=127.0.0.1
GANTRY_MOTO_PORT=5000
GANTRY_MOTO_URL="http://${GANTRY_MOTO_HOST}:${GANTRY_MOTO_PORT}"
# The workspace's rust-version (edition 2024 needs at least this).
GANTRY_MIN_RUST=1.85

_gantry_log() { printf '==> %s\n' "$*" >&2; }
_gantry_err() { printf 'error: %s\n' "$*" >&2; }

# Runs a command as root (directly, or through sudo when not root).
_gantry_as_root() {
    if [[ ${EUID:-$(id -u)} -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        _gantry_err "root is needed for: $* (run as root or install sudo)"
        return 1
    fi
}

# Installs Debian packages; runs `apt-get update` once per shell, and only here.
_GANTRY_APT_UPDATED=
_gantry_apt_install() {
    if ! command -v apt-get >/dev/null 2>&1; then
        _gantry_err "apt-get not found: install $* by hand"
        return 1
    fi
    mkdir -p "$GANTRY_STATE_DIR"
    local aptlog="$GANTRY_STATE_DIR/apt.log"
    _gantry_log "installing $* with apt-get (log: ${aptlog#"$GANTRY_ROOT"/})"
    if [[ -z "$_GANTRY_APT_UPDATED" ]]; then
        if ! _gantry_as_root env DEBIAN_FRONTEND=noninteractive apt-get update >>"$aptlog" 2>&1; then
            tail -n 20 "$aptlog" >&2
            _gantry_err "apt-get update failed"
            return 1
        fi
        _GANTRY_APT_UPDATED=1
    fi
    if ! _gantry_as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y --no-install-recommends "$@" >>"$aptlog" 2>&1; then
        tail -n 20 "$aptlog" >&2
        _gantry_err "apt-get install $* failed"
        return 1
    fi
}

# True when something accepts TCP connections on host:port.
_gantry_port_open() {
    timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
}

# Polls a command until it succeeds; fails after the given number of seconds.
_gantry_wait() {
    local what="$1" seconds="$2" i
    shift 2
    for ((i = 0; i < seconds * 5; i++)); do
        if "$@"; then
            return 0
        fi
        sleep 0.2
    done
    _gantry_err "$what did not come up within ${seconds}s"
    return 1
}

# ---------------------------------------------------------------------------
# Rust

ensure_rust() {
    if ! command -v cargo >/dev/null 2>&1 && [[ -x "${HOME:-/root}/.cargo/bin/cargo" ]]; then
        export PATH="${HOME:-/root}/.cargo/bin:$PATH"
    fi
    if ! command -v cargo >/dev/null 2>&1; then
        _gantry_err "cargo not found: install the Rust toolchain (rustup, stable >= ${GANTRY_MIN_RUST}) and put ~/.cargo/bin on PATH"
        return 1
    fi
    local version
    version="$(cargo --version 2>/dev/null | awk '{print $2}')"
    if [[ -z "$version" ]]; then
        _gantry_err "cargo is on PATH but \`cargo --version\` fails: check the toolchain (rustup default stable)"
        return 1
    fi
    if [[ "$(printf '%s\n%s\n' "$GANTRY_MIN_RUST" "${version%%-*}" | sort -V | head -n 1)" != "$GANTRY_MIN_RUST" ]]; then
        _gantry_err "cargo $version is too old: the workspace needs Rust >= ${GANTRY_MIN_RUST} (rustup update stable)"
        return 1
    fi
    # Some dependencies (ring) compile C.
    if ! command -v cc >/dev/null 2>&1; then
        _gantry_log "installing a C compiler (build-essential)"
        _gantry_apt_install build-essential || return 1
    fi
}

# ---------------------------------------------------------------------------
# PostgreSQL

_gantry_pg_ready() {
    pg_isready -q -h "$GANTRY_PG_HOST" -p "$GANTRY_PG_PORT" >/dev/null 2>&1
}

# True when user postgres gets in over TCP on loopback without a password.
_gantry_pg_trust_ok() {
    env -u PGPASSWORD PGPASSFILE=/dev/null PGCONNECT_TIMEOUT=5 \
        psql -w -X -q -h "$GANTRY_PG_HOST" -p "$GANTRY_PG_PORT" -U postgres -d postgres \
        -tAc 'select 1' >/dev/null 2>&1
}

# Prints "<version> <name>" of the Debian cluster configured for our port,
# creating one when the machine has no cluster at all.
_gantry_pg_cluster() {
    local line
    line="$(pg_lsclusters -h 2>/dev/null | awk -v port="$GANTRY_PG_PORT" '$3 == port {print $1, $2; exit}')"
    if [[ -n "$line" ]]; then
        printf '%s\n' "$line"
        return 0
    fi
    if [[ -n "$(pg_lsclusters -h 2>/dev/null)" ]]; then
        _gantry_err "no PostgreSQL cluster uses port $GANTRY_PG_PORT (pg_lsclusters shows others): move one to $GANTRY_PG_PORT"
        return 1
    fi
    local version
    version="$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null | sort -V | tail -n 1)"
    if [[ -z "$version" ]]; then
        _gantry_err "PostgreSQL server binaries not found under /usr/lib/postgresql"
        return 1
    fi
    _gantry_log "creating PostgreSQL cluster $version/main on port $GANTRY_PG_PORT"
    if ! _gantry_as_root pg_createcluster --port "$GANTRY_PG_PORT" "$version" main >/dev/null; then
        _gantry_err "pg_createcluster $version main failed"
        return 1
    fi
    printf '%s main\n' "$version"
}

# Lets user postgres in over loopback TCP without a password (local dev/CI only):
# prepends two `trust` lines to the cluster's pg_hba.conf (first match wins)
# and reloads.
_gantry_pg_configure_trust() {
    local cluster version name hba marker tmp
    cluster="$(_gantry_pg_cluster)" || return 1
    read -r version name <<<"$cluster"
    hba="/etc/postgresql/$version/$name/pg_hba.conf"
    marker='# gantry: trust user postgres on loopback (scripts/lib.sh, local dev/CI only)'
    if [[ ! -f "$hba" ]]; then
        _gantry_err "PostgreSQL on $GANTRY_PG_HOST:$GANTRY_PG_PORT refuses user postgres without a password, and $hba does not exist: allow 'trust' for postgres from 127.0.0.1 and ::1"
        return 1
    fi
    if grep -qF "$marker" "$hba"; then
        _gantry_err "PostgreSQL on $GANTRY_PG_HOST:$GANTRY_PG_PORT refuses user postgres without a password although $hba has the trust lines: check the server's log"
        return 1
    fi
    _gantry_log "allowing user postgres without password on 127.0.0.1/::1 ($hba)"
    tmp="$(mktemp)"
    {
        printf '%s\n' "$marker"
        printf 'host    all    postgres    127.0.0.1/32    trust\n'
        printf 'host    all    postgres    ::1/128         trust\n'
        cat "$hba"
    } >"$tmp"
    # `cat >` keeps the file's owner and mode.
    _gantry_as_root sh -c 'cat "$1" > "$2"' _ "$tmp" "$hba" || { rm -f "$tmp"; return 1; }
    rm -f "$tmp"
    _gantry_as_root pg_ctlcluster --skip-systemctl-redirect "$version" "$name" reload >/dev/null || return 1
    sleep 0.5
    if ! _gantry_pg_trust_ok; then
        _gantry_err "user postgres still cannot log in without a password on $GANTRY_PG_HOST:$GANTRY_PG_PORT after editing $hba"
        return 1
    fi
}

ensure_postgres() {
    if ! command -v pg_ctlcluster >/dev/null 2>&1 || ! command -v psql >/dev/null 2>&1 ||
        ! command -v pg_isready >/dev/null 2>&1; then
        _gantry_apt_install postgresql || return 1
    fi
    if ! _gantry_pg_ready; then
        local cluster version name
        cluster="$(_gantry_pg_cluster)" || return 1
        read -r version name <<<"$cluster"
        _gantry_log "starting PostgreSQL $version/$name on $GANTRY_PG_HOST:$GANTRY_PG_PORT"
        if ! _gantry_as_root pg_ctlcluster --skip-systemctl-redirect "$version" "$name" start </dev/null >/dev/null; then
            _gantry_err "pg_ctlcluster $version $name start failed (see /var/log/postgresql/postgresql-$version-$name.log)"
            return 1
        fi
        _gantry_wait "PostgreSQL on $GANTRY_PG_HOST:$GANTRY_PG_PORT" 30 _gantry_pg_ready || return 1
    fi
    if ! _gantry_pg_trust_ok; then
        _gantry_pg_configure_trust || return 1
    fi
}

# ---------------------------------------------------------------------------
# NATS

# Prints the INFO line a NATS server sends on connect.
_gantry_nats_info() {
    timeout 3 bash -c 'exec 3<>"/dev/tcp/$1/$2" && IFS= read -r line <&3 && printf "%s\n" "$line"' \
        _ "$GANTRY_NATS_HOST" "$GANTRY_NATS_PORT" 2>/dev/null
}

_gantry_nats_up() { _gantry_port_open "$GANTRY_NATS_HOST" "$GANTRY_NATS_PORT"; }

ensure_nats() {
    local bin
    bin="$(command -v nats-server 2>/dev/null || true)"
    if [[ -z "$bin" && -x /usr/sbin/nats-server ]]; then
        bin=/usr/sbin/nats-server
    fi
    if [[ -z "$bin" ]]; then
        _gantry_apt_install nats-server || return 1
        bin=/usr/sbin/nats-server
    fi
    if ! _gantry_nats_up; then
        _gantry_log "starting nats-server with JetStream on $GANTRY_NATS_HOST:$GANTRY_NATS_PORT (log: $GANTRY_NATS_LOG)"
        _gantry_as_root mkdir -p "$GANTRY_NATS_STORE_DIR" || return 1
        # --pidfile: a nats-server running elsewhere (another port) must not
        # make start-stop-daemon think ours already runs.
        if ! _gantry_as_root start-stop-daemon --start --oknodo --background \
            --pidfile "/run/gantry-nats-server-$GANTRY_NATS_PORT.pid" --make-pidfile \
            --exec "$bin" -- -a "$GANTRY_NATS_HOST" -p "$GANTRY_NATS_PORT" -js \
            -sd "$GANTRY_NATS_STORE_DIR" -l "$GANTRY_NATS_LOG" </dev/null >/dev/null; then
            _gantry_err "start-stop-daemon could not start $bin"
            return 1
        fi
        _gantry_wait "nats-server on $GANTRY_NATS_HOST:$GANTRY_NATS_PORT (see $GANTRY_NATS_LOG)" 15 _gantry_nats_up || return 1
    fi
    # Whatever answers must be NATS with JetStream enabled: the INFO line a
    # server sends on connect says both.
    local info
    info="$(_gantry_nats_info)"
    if [[ "$info" != INFO* ]]; then
        _gantry_err "$GANTRY_NATS_HOST:$GANTRY_NATS_PORT answers but is not a NATS server"
        return 1
    fi
    if [[ "$info" != *'"jetstream":true'* ]]; then
        _gantry_err "the NATS server on $GANTRY_NATS_HOST:$GANTRY_NATS_PORT runs without JetStream: restart it with -js"
        return 1
    fi
}

# ---------------------------------------------------------------------------
# Private servers of the fault tests (libs/testkit/src/servers.rs)

# True when PostgreSQL's server binaries are there: Debian's
# /usr/lib/postgresql/<version>/bin (not on PATH), or initdb on PATH.
_gantry_pg_server_binaries() {
    compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || command -v initdb >/dev/null 2>&1
}

# The fault tests start and kill Postgres and NATS servers of their own on
# spare ports (never the shared ones): they need initdb and postgres,
# nats-server, and util-linux's setpriv (it runs Postgres as user postgres and
# ties each server's life to the test's). Installs what is missing; starts
# nothing.
ensure_private_servers() {
    local missing=()
    _gantry_pg_server_binaries || missing+=(postgresql)
    if ! command -v nats-server >/dev/null 2>&1 && [[ ! -x /usr/sbin/nats-server ]]; then
        missing+=(nats-server)
    fi
    command -v setpriv >/dev/null 2>&1 || missing+=(util-linux)
    if [[ ${#missing[@]} -gt 0 ]]; then
        _gantry_apt_install "${missing[@]}" || return 1
    fi
    if ! _gantry_pg_server_binaries; then
        _gantry_err "initdb not found under /usr/lib/postgresql/<version>/bin after installing postgresql"
        return 1
    fi
    if ! getent passwd postgres >/dev/null 2>&1; then
        _gantry_err "no OS user postgres (the fault tests run their Postgres as that user; package postgresql-common creates it)"
        return 1
    fi
}

# ---------------------------------------------------------------------------
# Python tools (.venv)

# Prints a python3 that can create virtualenvs, installing Debian's if needed.
_gantry_python() {
    local py
    py="$(command -v python3 2>/dev/null || true)"
    if [[ -z "$py" && -x "${HOME:-/root}/.pyenv/shims/python3" ]]; then
        py="${HOME:-/root}/.pyenv/shims/python3"
    fi
    if [[ -z "$py" ]]; then
        _gantry_apt_install python3 python3-venv >&2 || return 1
        py=/usr/bin/python3
    fi
    if ! "$py" -c 'import venv, ensurepip' >/dev/null 2>&1; then
        if [[ "$py" == /usr/bin/python3 ]]; then
            _gantry_apt_install python3-venv >&2 || return 1
        else
            _gantry_err "$py cannot create virtualenvs (modules venv/ensurepip missing)"
            return 1
        fi
    fi
    printf '%s\n' "$py"
}

_gantry_venv_complete() {
    local tool
    "$GANTRY_VENV/bin/python" -c '' >/dev/null 2>&1 || return 1
    for tool in kubectl kubernetes-validate moto_server; do
        [[ -x "$GANTRY_VENV/bin/$tool" ]] || return 1
    done
}

ensure_venv() {
    local stamp="$GANTRY_VENV/.gantry-requirements.sha256" want
    if [[ ! -f "$GANTRY_REQUIREMENTS" ]]; then
        _gantry_err "$GANTRY_REQUIREMENTS is missing"
        return 1
    fi
    want="$(sha256sum <"$GANTRY_REQUIREMENTS" | cut -d' ' -f1)"
    if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]] && _gantry_venv_complete; then
        return 0
    fi
    local py piplog="$GANTRY_STATE_DIR/pip.log"
    mkdir -p "$GANTRY_STATE_DIR"
    if ! "$GANTRY_VENV/bin/python" -c '' >/dev/null 2>&1; then
        py="$(_gantry_python)" || return 1
        _gantry_log "creating virtualenv ${GANTRY_VENV#"$GANTRY_ROOT"/} with $("$py" --version 2>&1)"
        rm -rf "$GANTRY_VENV"
        if ! "$py" -m venv "$GANTRY_VENV" >>"$piplog" 2>&1; then
            tail -n 20 "$piplog" >&2
            _gantry_err "$py -m venv $GANTRY_VENV failed"
            return 1
        fi
    fi
    _gantry_log "installing Python tools from ${GANTRY_REQUIREMENTS#"$GANTRY_ROOT"/} (log: ${piplog#"$GANTRY_ROOT"/})"
    rm -f "$stamp"
    if ! "$GANTRY_VENV/bin/python" -m pip install --disable-pip-version-check --no-input \
        -r "$GANTRY_REQUIREMENTS" >>"$piplog" 2>&1; then
        tail -n 20 "$piplog" >&2
        _gantry_err "pip install -r $GANTRY_REQUIREMENTS failed"
        return 1
    fi
    if ! _gantry_venv_complete; then
        _gantry_err "the virtualenv lacks kubectl, kubernetes-validate or moto_server after installing"
        return 1
    fi
    printf '%s\n' "$want" >"$stamp"
}

# ---------------------------------------------------------------------------
# moto server (S3 / Secrets Manager API on loopback)

# True when moto's dashboard (a static page, cheap at any state) answers on the moto port.
_gantry_moto_ok() {
    "$GANTRY_VENV/bin/python" - "$GANTRY_MOTO_URL/moto-api/" <<'EOF' >/dev/null 2>&1
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=5) as response:
    sys.exit(0 if response.status == 200 and b"<title>Moto</title>" in response.read() else 1)
EOF
}

ensure_moto() {
    ensure_venv || return 1
    if _gantry_port_open "$GANTRY_MOTO_HOST" "$GANTRY_MOTO_PORT"; then
        if ! _gantry_moto_ok; then
            _gantry_err "$GANTRY_MOTO_HOST:$GANTRY_MOTO_PORT is taken by something that is not a moto server"
            return 1
        fi
        return 0
    fi
    mkdir -p "$GANTRY_STATE_DIR"
    local pidfile="$GANTRY_STATE_DIR/moto.pid" logfile="$GANTRY_STATE_DIR/moto.log" pid i
    _gantry_log "starting moto server on $GANTRY_MOTO_URL (log: ${logfile#"$GANTRY_ROOT"/}, pid: ${pidfile#"$GANTRY_ROOT"/})"
    # Own session, no inherited terminal or pipes: ctrl-c in the caller does not
    # stop it, and a CI runner waiting for its output pipes to close does not wait for it.
    setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$pidfile" \
        "$GANTRY_VENV/bin/moto_server" -H "$GANTRY_MOTO_HOST" -p "$GANTRY_MOTO_PORT" \
        </dev/null >>"$logfile" 2>&1 &
    for ((i = 0; i < 150; i++)); do
        if _gantry_moto_ok; then
            return 0
        fi
        pid="$(cat "$pidfile" 2>/dev/null || true)"
        if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then
            tail -n 20 "$logfile" >&2
            _gantry_err "moto server exited during start-up"
            return 1
        fi
        sleep 0.2
    done
    _gantry_err "moto server did not answer on $GANTRY_MOTO_URL within 30s (see $logfile)"
    return 1
}

# ---------------------------------------------------------------------------
# Headless browser of the console's page test (services/console/tests)

GANTRY_CHROMIUM=/usr/bin/chromium
GANTRY_BROWSER_TEST_DIR="${GANTRY_ROOT}/services/console/tests/browser"

# Debian's chromium: the console test drives it headless through playwright-core
# (no browser download: playwright's own builds are not used).
ensure_chromium() {
    if [[ -x "$GANTRY_CHROMIUM" ]]; then
        return 0
    fi
    _gantry_apt_install chromium || return 1
    if [[ ! -x "$GANTRY_CHROMIUM" ]]; then
        _gantry_err "$GANTRY_CHROMIUM is missing after installing chromium"
        return 1
    fi
}

# The browser test's node_modules, from its committed package-lock.json
# (`npm ci`), reinstalled only when the lock file changes.
ensure_browser_test_deps() {
    if ! command -v npm >/dev/null 2>&1; then
        _gantry_err "npm not found: the console's browser test needs Node.js >= 18 with npm"
        return 1
    fi
    local stamp="$GANTRY_BROWSER_TEST_DIR/node_modules/.gantry-package-lock.sha256" want
    want="$(sha256sum <"$GANTRY_BROWSER_TEST_DIR/package-lock.json" | cut -d' ' -f1)"
    if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
        return 0
    fi
    mkdir -p "$GANTRY_STATE_DIR"
    _gantry_log "npm ci in services/console/tests/browser (log: .gantry/npm.log)"
    if ! (cd "$GANTRY_BROWSER_TEST_DIR" && npm ci --no-audit --no-fund >>"$GANTRY_STATE_DIR/npm.log" 2>&1); then
        tail -n 20 "$GANTRY_STATE_DIR/npm.log" >&2
        _gantry_err "npm ci failed in services/console/tests/browser"
        return 1
    fi
    printf '%s\n' "$want" >"$stamp"
}

# Dummy credentials and region for the local AWS emulator. Without them the AWS
# SDK's default credential chain would go looking for instance metadata over the
# network; with them nothing leaves loopback. Existing values are kept.
export_local_aws_env() {
    export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-testing}"
    export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-testing}"
    export AWS_REGION="${AWS_REGION:-us-east-1}"
    export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-$AWS_REGION}"
    export AWS_EC2_METADATA_DISABLED=true
}

# Everything the mesh and the tests need on this machine, installed and
# started when missing, reused when running.
ensure_everything() {
    ensure_rust && ensure_postgres && ensure_nats && ensure_private_servers && ensure_venv && ensure_moto
}
