#!/usr/bin/env bash
#
# THE test command (also what CI runs, through .ci/run).
#
# 1. makes sure the integration tests' dependencies run on loopback:
#    PostgreSQL 127.0.0.1:5432, NATS JetStream 127.0.0.1:4222, moto server
#    127.0.0.1:5000 (S3 / Secrets Manager), and the Python tools in .venv;
#    and that the fault tests can start private servers of their own on spare
#    ports (initdb/postgres, nats-server, setpriv installed; none started);
#    and that the console's browser test has Debian's chromium and its
#    playwright-core (services/console/tests/browser, `npm ci`);
# 2. validates the Kubernetes manifests offline (scripts/validate-k8s.sh),
#    and checks the alerting rules (promtool, with their unit tests) and the
#    Grafana dashboard (scripts/check-monitoring.sh);
# 3. runs the Rust tests: `cargo nextest run` when cargo-nextest is
#    installed, `cargo test` otherwise;
# 4. builds the gantry binary and runs the Backstage module's tests against
#    it (integrations/backstage).
#    Doc tests are not run (nextest does not run them; `cargo test --workspace
#    --doc` compiles every crate once more, too slow for every run);
# 5. runs the Python client's tests against the same binary
#    (clients/python/test.sh; pytest's summary closes the output).
#
# Extra arguments go to the test runner, e.g. `scripts/test.sh -p gantry-intake`.
# Exits non-zero when anything fails.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$GANTRY_ROOT"

ensure_everything
ensure_chromium
ensure_browser_test_deps

export GANTRY_TEST_DATABASE_URL="${GANTRY_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
export GANTRY_TEST_NATS_URL="${GANTRY_TEST_NATS_URL:-nats://127.0.0.1:4222}"
export GANTRY_TEST_AWS_ENDPOINT="${GANTRY_TEST_AWS_ENDPOINT:-$GANTRY_MOTO_URL}"
export_local_aws_env

k8s_status=0
_gantry_log "validating Kubernetes manifests"
bash scripts/validate-k8s.sh || k8s_status=$?
monitoring_status=0
_gantry_log "checking alerting rules and the dashboard"
bash scripts/check-monitoring.sh || monitoring_status=$?

if cargo nextest --version >/dev/null 2>&1; then
    runner=(cargo nextest run --workspace --no-fail-fast)
else
    _gantry_log "cargo-nextest not found: using cargo test"
    runner=(cargo test --workspace --no-fail-fast)
fi
_gantry_log "running ${runner[*]} $*"
test_status=0
"${runner[@]}" "$@" || test_status=$?

# --- Backstage scaffolder module (integrations/backstage) --------------------
# Its type check, unit, template and live tests (jest). The live test starts
# the gantry binary the cargo tests above just built, on its own port, schema
# and stream. Dependencies come from the
# committed package-lock.json (`npm ci`), reinstalled only when it changes.
backstage_status=0
backstage_dir="$GANTRY_ROOT/integrations/backstage"
# The test build above does not link the binary itself.
cargo build -p gantry --quiet || backstage_status=$?
if [[ $backstage_status -ne 0 ]]; then
    _gantry_err "building the gantry binary failed"
elif ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
    _gantry_err "npm/node not found: the Backstage module's tests need Node.js >= 20 with npm (integrations/backstage)"
    backstage_status=1
else
    _gantry_log "running the Backstage module's tests (integrations/backstage)"
    (
        cd "$backstage_dir"
        stamp=node_modules/.gantry-package-lock.sha256
        want="$(sha256sum <package-lock.json | cut -d' ' -f1)"
        if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
            mkdir -p "$GANTRY_STATE_DIR"
            _gantry_log "npm ci in integrations/backstage (log: .gantry/npm.log)"
            if ! npm ci --no-audit --no-fund >>"$GANTRY_STATE_DIR/npm.log" 2>&1; then
                tail -n 20 "$GANTRY_STATE_DIR/npm.log" >&2
                _gantry_err "npm ci failed in integrations/backstage"
                exit 1
            fi
            printf '%s\n' "$want" >"$stamp"
        fi
        GANTRY_BIN="${CARGO_TARGET_DIR:-$GANTRY_ROOT/target}/debug/gantry" GANTRY_LIVE_TEST=required \
            nice npm test --silent
    ) || backstage_status=$?
fi
if [[ $backstage_status -ne 0 ]]; then
    _gantry_err "the Backstage module's tests failed (exit $backstage_status); see above"
    test_status=1
fi
# --- end of the Backstage block ----------------------------------------------

# --- Python client (clients/python) ------------------------------------------
# Its unit tests and live tests against a `gantry serve ingest` of their own
# (own port, schema, stream, blob directory and tokens), on the binary built
# above; clients/python/test.sh installs the client's pinned dependencies into
# .venv and builds the client (stubs generated from proto/). Its summary now
# closes the output.
python_client_status=0
_gantry_log "running the Python client's tests (clients/python)"
GANTRY_BIN="${CARGO_TARGET_DIR:-$GANTRY_ROOT/target}/debug/gantry" \
    bash clients/python/test.sh || python_client_status=$?
if [[ $python_client_status -ne 0 ]]; then
    _gantry_err "the Python client's tests failed (exit $python_client_status); see above"
    test_status=1
fi
# --- end of the Python client block ------------------------------------------

if [[ $k8s_status -ne 0 ]]; then
    _gantry_err "Kubernetes manifest validation failed (exit $k8s_status); see above"
fi
if [[ $monitoring_status -ne 0 ]]; then
    _gantry_err "the alerting rules or the dashboard failed their checks (exit $monitoring_status); see above"
fi
if [[ $test_status -ne 0 || $k8s_status -ne 0 || $monitoring_status -ne 0 ]]; then
    exit 1
fi
