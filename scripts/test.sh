#!/usr/bin/env bash
#
# THE test command (also what CI runs, through .ci/run).
#
# 1. makes sure the integration tests' dependencies run on loopback:
#    PostgreSQL 127.0.0.1:5432, NATS JetStream 127.0.0.1:4222, moto server
#    127.0.0.1:5000 (S3 / Secrets Manager), and the Python tools in .venv;
#    and that the fault tests can start private servers of their own on spare
#    ports (initdb/postgres, nats-server, setpriv installed; none started);
# 2. validates the Kubernetes manifests offline (scripts/validate-k8s.sh);
# 3. runs the Rust tests last, so cargo's summary is the final output:
#    `cargo nextest run` when cargo-nextest is installed, `cargo test` otherwise.
#    Doc tests are not run (nextest does not run them; `cargo test --workspace
#    --doc` compiles every crate once more, too slow for every run).
#
# Extra arguments go to the test runner, e.g. `scripts/test.sh -p gantry-intake`.
# Exits non-zero when anything fails.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$GANTRY_ROOT"

ensure_everything

export GANTRY_TEST_DATABASE_URL="${GANTRY_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
export GANTRY_TEST_NATS_URL="${GANTRY_TEST_NATS_URL:-nats://127.0.0.1:4222}"
export GANTRY_TEST_AWS_ENDPOINT="${GANTRY_TEST_AWS_ENDPOINT:-$GANTRY_MOTO_URL}"
export_local_aws_env

k8s_status=0
_gantry_log "validating Kubernetes manifests"
bash scripts/validate-k8s.sh || k8s_status=$?

if cargo nextest --version >/dev/null 2>&1; then
    runner=(cargo nextest run --workspace --no-fail-fast)
else
    _gantry_log "cargo-nextest not found: using cargo test"
    runner=(cargo test --workspace --no-fail-fast)
fi
_gantry_log "running ${runner[*]} $*"
test_status=0
"${runner[@]}" "$@" || test_status=$?

if [[ $k8s_status -ne 0 ]]; then
    _gantry_err "Kubernetes manifest validation failed (exit $k8s_status); see above"
fi
if [[ $test_status -ne 0 || $k8s_status -ne 0 ]]; then
    exit 1
fi
