#!/usr/bin/env bash
#
# Checks what operators load into Prometheus and Grafana (monitoring/):
#
# 1. `promtool check rules` on monitoring/prometheus/gantry-alerts.yaml and
#    `promtool test rules` on its unit tests (each alert fires on the series
#    that should fire it, with its annotations, and not on quiet ones);
# 2. k8s/monitoring/prometheusrule.yaml (for the Prometheus Operator) holds
#    exactly the plain file's groups; `--write` regenerates it from them;
# 3. the Grafana dashboard is valid JSON a Grafana loads as is (a datasource
#    variable, every panel a query), and every metric an alert or a panel
#    names is one the metrics table of docs/operations.md lists.
#
# promtool: from PATH, else taken out of Debian's `prometheus` package
# (downloaded, not installed: no daemon) into .gantry/tools.
# Exits non-zero when anything does not hold.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$GANTRY_ROOT"
ensure_venv

write=0
[[ "${1:-}" == "--write" ]] && write=1

promtool="$(command -v promtool || true)"
if [[ -z "$promtool" ]]; then
    promtool="$GANTRY_STATE_DIR/tools/promtool"
    if [[ ! -x "$promtool" ]]; then
        _gantry_log "fetching promtool from Debian's prometheus package (into ${promtool#"$GANTRY_ROOT"/})"
        download="$(mktemp -d)"
        trap 'rm -rf "$download"' EXIT
        if ! (cd "$download" && apt-get download prometheus >/dev/null 2>&1); then
            _gantry_as_root env DEBIAN_FRONTEND=noninteractive apt-get update >/dev/null 2>&1 || true
            (cd "$download" && apt-get download prometheus >/dev/null 2>&1) || {
                _gantry_err "apt-get download prometheus failed: install promtool by hand"
                exit 1
            }
        fi
        dpkg-deb -x "$download"/prometheus_*.deb "$download/x"
        mkdir -p "$(dirname "$promtool")"
        install -m 0755 "$download/x/usr/bin/promtool" "$promtool"
    fi
fi

status=0
(cd monitoring/prometheus && "$promtool" check rules gantry-alerts.yaml && "$promtool" test rules gantry-alerts.test.yaml) ||
    status=1

"$GANTRY_VENV/bin/python" - "$write" <<'PY' || status=1
import json, re, sys
import yaml

write = sys.argv[1] == "1"
failures = []
rules_path = "monitoring/prometheus/gantry-alerts.yaml"
operator_path = "k8s/monitoring/prometheusrule.yaml"
dashboard_path = "monitoring/grafana/gantry-overview.json"

with open(rules_path) as handle:
    groups = yaml.safe_load(handle)["groups"]
operator = {
    "apiVersion": "monitoring.coreos.com/v1",
    "kind": "PrometheusRule",
    "metadata": {"name": "gantry", "labels": {"app.kubernetes.io/name": "gantry", "role": "alert-rules"}},
    "spec": {"groups": groups},
}
header = (
    "# Generated from monitoring/prometheus/gantry-alerts.yaml by\n"
    "# `scripts/check-monitoring.sh --write`; do not edit (the test fails when they differ).\n"
)
if write:
    with open(operator_path, "w") as handle:
        handle.write(header + yaml.safe_dump(operator, sort_keys=False, width=120))
    print(f"wrote {operator_path}")
with open(operator_path) as handle:
    if yaml.safe_load(handle) != operator:
        failures.append(f"{operator_path} differs from {rules_path}: run scripts/check-monitoring.sh --write")

with open("docs/operations.md") as handle:
    # The first cell of each row of the metrics table (one row lists several).
    documented = {name for line in handle if line.startswith("| `") for name in re.findall(r"`([a-z_]+)`", line.split("|")[1])}

# Gantry's metric names start with the part they come from.
METRIC = re.compile(r"\b((?:grpc|eventlog|reactor|provisioner|intake|ingest|lineage|rotation|process|gantry)_[a-z0-9_]+)\b")

def metrics_of(expr):
    return {re.sub(r"_(bucket|count|sum)$", "", name) for name in METRIC.findall(expr)}

with open(dashboard_path) as handle:
    dashboard = json.load(handle)
variables = {variable["name"] for variable in dashboard["templating"]["list"]}
if "datasource" not in variables:
    failures.append(f"{dashboard_path}: no datasource variable, so it does not load as is")
exprs = []
for panel in dashboard["panels"]:
    if panel["type"] == "row":
        continue
    targets = panel.get("targets") or []
    if not targets or not all(target.get("expr") for target in targets):
        failures.append(f"{dashboard_path}: panel {panel['title']!r} has no query")
    exprs += [(f"panel {panel['title']!r}", target["expr"]) for target in targets]
for group in groups:
    for rule in group["rules"]:
        exprs.append((f"alert {rule['alert']}", rule["expr"]))
for where, expr in exprs:
    for metric in sorted(metrics_of(expr) - documented):
        failures.append(f"{where} names {metric}, which docs/operations.md's metrics table does not list")

for failure in failures:
    print(f"FAIL  {failure}")
if not failures:
    print(f"ok    {len(exprs)} queries name only documented metrics; {operator_path} matches {rules_path}")
sys.exit(1 if failures else 0)
PY
exit "$status"
