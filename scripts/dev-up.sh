#!/usr/bin/env bash
#
# THE "run the whole mesh" command, on this machine:
#
#   1. makes sure PostgreSQL (127.0.0.1:5432), NATS JetStream (127.0.0.1:4222),
#      the Python tools (.venv) and moto server (http://127.0.0.1:5000) run;
#   2. builds the gantry binary in the dev profile (cargo build -p gantry, the
#      same build scripts/test.sh makes, so a first run compiles once), and
#      runs target/debug/gantry;
#   3. creates dev tokens once: hashes in .gantry/tokens.yaml, clear tokens in
#      .gantry/dev-tokens.env (mode 600; .gantry/ is git-ignored, never commit it);
#   4. runs `gantry serve all` in the foreground (ctrl-c stops it).
#
# Extra arguments go before `serve`, e.g. `scripts/dev-up.sh --config my.toml`.
# Environment variables GANTRY_* are passed through and win over the defaults below.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$GANTRY_ROOT"

ensure_everything

# The dev profile, not --release: scripts/test.sh builds this same binary,
# so the two commands of the quick start share one compile of everything.
_gantry_log "building gantry (cargo build -p gantry)"
cargo build -p gantry
gantry="${CARGO_TARGET_DIR:-$GANTRY_ROOT/target}/debug/gantry"
if [[ ! -x "$gantry" ]]; then
    _gantry_err "the build finished but $gantry is missing"
    exit 1
fi

# --- dev principals -------------------------------------------------------
# subject:groups (comma-separated)
principals=(
    "alice:developers"       # the requester
    "bob:databases-rds"      # approves small/medium
    "carol:platform-team"    # large/xlarge, with dave
    "dave:security"
    "backstage:backstage"    # the Backstage backend's service account
    "agent:tenant:team-ml"   # an orchestrator agent storing team-ml's artifacts
)
tokens_file="$GANTRY_STATE_DIR/tokens.yaml"
env_file="$GANTRY_STATE_DIR/dev-tokens.env"
umask 077
mkdir -p "$GANTRY_STATE_DIR"
chmod 700 "$GANTRY_STATE_DIR"
if [[ ! -f "$env_file" ]]; then
    {
        echo "# Gantry dev tokens (clear text): source this file; never commit it."
        echo "# Hashes of these tokens are in .gantry/tokens.yaml (GANTRY_AUTH__TOKENS_FILE)."
        echo "export GANTRY_SERVER=http://127.0.0.1:50051"
    } >"$env_file"
fi

created=()
for principal in "${principals[@]}"; do
    subject="${principal%%:*}"
    groups="${principal#*:}"
    var="${subject^^}_TOKEN"
    token="$(sed -n "s/^export ${var}=//p" "$env_file" | tail -n 1)"
    token="${token#\'}"
    token="${token%\'}"
    # Keep a token only while its hash is still in the tokens file.
    if [[ -n "$token" && -f "$tokens_file" ]] &&
        grep -qF "$(printf '%s' "$token" | sha256sum | cut -d' ' -f1)" "$tokens_file"; then
        continue
    fi
    token="$("$gantry" admin token create --subject "$subject" --groups "$groups" --tokens-file "$tokens_file")"
    token="$(printf '%s\n' "$token" | sed '/^[[:space:]]*$/d')"
    if [[ ! "$token" =~ ^[A-Za-z0-9._~+/=-]+$ ]]; then
        _gantry_err "\`gantry admin token create\` did not print one token on stdout for $subject"
        exit 1
    fi
    sed -i "/^export ${var}=/d" "$env_file"
    printf "export %s='%s'\n" "$var" "$token" >>"$env_file"
    created+=("$subject")
done
chmod 600 "$env_file" "$tokens_file"
if [[ ${#created[@]} -gt 0 ]]; then
    _gantry_log "created dev tokens for: ${created[*]}"
fi

export GANTRY_AUTH__TOKENS_FILE="${GANTRY_AUTH__TOKENS_FILE:-$tokens_file}"
export GANTRY_TELEMETRY__LOG_FORMAT="${GANTRY_TELEMETRY__LOG_FORMAT:-pretty}"
export GANTRY_AWS__ENDPOINT_URL="${GANTRY_AWS__ENDPOINT_URL:-$GANTRY_MOTO_URL}"
export_local_aws_env
# On one machine every environment's platform Postgres is the local one
# (database names are then unique across environments, not only within).
for environment in DEV TEST STAGING PROD; do
    for service in PROVISIONER ROTATION; do
        var="GANTRY_${service}__ENVIRONMENTS__${environment}__ADMIN_URL"
        export "$var=${!var:-postgres://postgres@${GANTRY_PG_HOST}:${GANTRY_PG_PORT}/postgres}"
    done
done
# The emulator takes any role for bucket replication.
export GANTRY_PROVISIONER__REPLICATION_ROLE_ARN="${GANTRY_PROVISIONER__REPLICATION_ROLE_ARN:-arn:aws:iam::123456789012:role/gantry-replication}"

cat >&2 <<EOF

Gantry dev mesh: intake on ${GANTRY_INTAKE__LISTEN:-127.0.0.1:50051}, provisioner on ${GANTRY_PROVISIONER__LISTEN:-127.0.0.1:50052},
  ingest on ${GANTRY_INGEST__LISTEN:-127.0.0.1:50053} (artifacts under .gantry/artifacts), lineage on ${GANTRY_LINEAGE__LISTEN:-127.0.0.1:50054},
  rotation on ${GANTRY_ROTATION__LISTEN:-127.0.0.1:50055},
  console (event stream) on ${GANTRY_CONSOLE__LISTEN:-127.0.0.1:50056}, its page on http://${GANTRY_CONSOLE__HTTP_LISTEN:-127.0.0.1:8080}/ (log in with a token below),
  metrics on http://${GANTRY_TELEMETRY__METRICS_LISTEN:-127.0.0.1:9464}/metrics
  Postgres 127.0.0.1:5432 (every environment's platform Postgres too), NATS 127.0.0.1:4222,
  moto $GANTRY_MOTO_URL (Secrets Manager, S3)

Tokens (alice requests; bob: databases-rds, carol: platform-team, dave: security, backstage: service account).
In another terminal:
  source .gantry/dev-tokens.env
  alias gantry=${gantry#"$GANTRY_ROOT"/}
  GANTRY_TOKEN=\$ALICE_TOKEN gantry request db ...
  GANTRY_TOKEN=\$BOB_TOKEN   gantry request list
  GANTRY_TOKEN=\$BOB_TOKEN   gantry request approve <ID>
  GANTRY_TOKEN=\$CAROL_TOKEN gantry events watch --from 1

Ctrl-C stops the mesh (Postgres, NATS and moto keep running).

EOF

exec "$gantry" "$@" serve all
