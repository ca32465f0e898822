#!/usr/bin/env bash
#
# The Python client's tests (clients/python), from a fresh clone as in CI:
#
# 1. PostgreSQL and NATS on loopback, and the project's .venv (scripts/lib.sh);
# 2. the client's pinned dependencies (requirements-test.txt) into .venv,
#    reinstalled only when that file changes;
# 3. the client itself, built from this checkout: its build step generates
#    the gRPC stubs from proto/ with grpcio-tools (nothing generated is
#    committed); reinstalled on every run, so the tests see the code as it is;
# 4. the gantry binary: $GANTRY_BIN when set, else `cargo build -p gantry`
#    (a no-op when up to date) into ${CARGO_TARGET_DIR:-target};
# 5. pytest: unit tests, and live tests against a `gantry serve ingest` that
#    the tests start on their own port, schema, stream, blob directory and
#    tokens file, and remove afterwards (tests/conftest.py).
#
# Extra arguments go to pytest, e.g. `clients/python/test.sh -k lineage -x`.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"
cd "$GANTRY_ROOT"

client_dir="$GANTRY_ROOT/clients/python"
python="$GANTRY_VENV/bin/python"
piplog="$GANTRY_STATE_DIR/pip-python-client.log"

ensure_postgres
ensure_nats
ensure_venv
mkdir -p "$GANTRY_STATE_DIR"

stamp="$GANTRY_VENV/.gantry-python-client-requirements.sha256"
want="$(sha256sum <"$client_dir/requirements-test.txt" | cut -d' ' -f1)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
    _gantry_log "installing the Python client's dependencies from clients/python/requirements-test.txt (log: ${piplog#"$GANTRY_ROOT"/})"
    rm -f "$stamp"
    if ! "$python" -m pip install --disable-pip-version-check --no-input \
        -r "$client_dir/requirements-test.txt" >>"$piplog" 2>&1; then
        tail -n 20 "$piplog" >&2
        _gantry_err "pip install -r clients/python/requirements-test.txt failed"
        exit 1
    fi
    printf '%s\n' "$want" >"$stamp"
fi

# Without build isolation: the pinned grpcio-tools and setuptools above build it.
if ! "$python" -m pip install --disable-pip-version-check --no-input --no-deps --no-build-isolation \
    --force-reinstall "$client_dir" >>"$piplog" 2>&1; then
    tail -n 20 "$piplog" >&2
    _gantry_err "building the Python client (clients/python) failed"
    exit 1
fi

if [[ -z "${GANTRY_BIN:-}" ]]; then
    ensure_rust
    cargo build -p gantry --quiet
    target="${CARGO_TARGET_DIR:-$GANTRY_ROOT/target}"
    [[ "$target" == /* ]] || target="$GANTRY_ROOT/$target"
    export GANTRY_BIN="$target/debug/gantry"
fi

export GANTRY_TEST_DATABASE_URL="${GANTRY_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
export GANTRY_TEST_NATS_URL="${GANTRY_TEST_NATS_URL:-nats://127.0.0.1:4222}"
cd "$client_dir"
# -p no:cacheprovider: no .pytest_cache in the work tree.
exec "$python" -m pytest -p no:cacheprovider "$@"
