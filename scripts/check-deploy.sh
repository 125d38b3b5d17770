#!/usr/bin/env bash
# Validates the operations files: every Kubernetes manifest under deploy/k8s with
# kubernetes-validate --strict (unknown fields are errors) for a current Kubernetes version,
# the kustomization's resource list against the files present, and the KServe
# InferenceService against KServe's CRD schema kept in deploy/kserve/.
# usage: scripts/check-deploy.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh
bin="$(dirname "$VIGIL_PYTHON")"
manifests=()
for file in deploy/k8s/*.yaml; do
  [[ "$(basename "$file")" == kustomization.yaml ]] || manifests+=("$file")
done
"$bin/kubernetes-validate" --kubernetes-version 1.37.0 --strict --quiet "${manifests[@]}"
echo "check-deploy: ${#manifests[@]} manifests valid for Kubernetes 1.37 (kubernetes-validate --strict)"
"$VIGIL_PYTHON" - <<'PY'
import pathlib, sys, yaml
folder = pathlib.Path("deploy/k8s")
listed = set(yaml.safe_load((folder / "kustomization.yaml").read_text())["resources"])
present = {path.name for path in folder.glob("*.yaml")} - {"kustomization.yaml"}
if listed != present:
    sys.exit(f"check-deploy: kustomization lists {sorted(listed - present)} missing, leaves out {sorted(present - listed)}")
print(f"check-deploy: kustomization lists all {len(listed)} manifests")
PY
"$VIGIL_PYTHON" deploy/kserve/validate.py
echo "check-deploy: ok"
