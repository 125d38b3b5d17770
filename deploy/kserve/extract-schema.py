"""Extracts, from KServe's InferenceService CRD, the part of its v1beta1 OpenAPI schema that
deploy/kserve/inferenceservice.yaml uses (the resource's envelope and `spec.predictor` with
its container fields), and writes it as deploy/kserve/inferenceservice.schema.json with its
source named. Run again when moving to another KServe release:

    python deploy/kserve/extract-schema.py path/to/serving.kserve.io_inferenceservices.yaml COMMIT
"""

import json
import sys
from pathlib import Path

import yaml

# The predictor fields vigil's manifest may use.
PREDICTOR_FIELDS = {
    "annotations", "containers", "labels", "maxReplicas", "minReplicas", "scaleMetric",
    "scaleTarget", "securityContext", "serviceAccountName", "terminationGracePeriodSeconds",
    "timeout", "volumes", "nodeSelector", "tolerations",
}

crd_path, commit = sys.argv[1], sys.argv[2]
crd = yaml.safe_load(Path(crd_path).read_text())
version = next(version for version in crd["spec"]["versions"] if version["name"] == "v1beta1")
schema = version["schema"]["openAPIV3Schema"]
spec = schema["properties"]["spec"]
predictor = spec["properties"]["predictor"]
predictor["properties"] = {
    name: value for name, value in predictor["properties"].items() if name in PREDICTOR_FIELDS
}
spec["properties"] = {"predictor": predictor}
schema["properties"].pop("status", None)
schema["$comment"] = (
    "Extracted by deploy/kserve/extract-schema.py from KServe's CRD "
    "config/crd/full/serving.kserve.io_inferenceservices.yaml (version v1beta1) at "
    f"https://github.com/kserve/kserve commit {commit}; Apache-2.0."
)
out = Path(__file__).with_name("inferenceservice.schema.json")
out.write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n")
print(f"wrote {out} ({out.stat().st_size} bytes)")
