"""Validates deploy/kserve/inferenceservice.yaml against the KServe CRD schema kept beside it,
strictly: every object that lists its properties refuses others (as `kubectl apply
--validate=strict` does), so a misspelt field fails here rather than being dropped silently
by the API server.

usage: python deploy/kserve/validate.py
"""

import json
import sys
from pathlib import Path

import jsonschema
import yaml

here = Path(__file__).parent
schema = json.loads((here / "inferenceservice.schema.json").read_text())


def strict(node):
    if isinstance(node, dict):
        if node.get("type") == "object" and "properties" in node and not node.get(
            "x-kubernetes-preserve-unknown-fields"
        ):
            node.setdefault("additionalProperties", False)
        for value in node.values():
            strict(value)
    elif isinstance(node, list):
        for value in node:
            strict(value)


strict(schema)
failures = 0
for document in yaml.safe_load_all((here / "inferenceservice.yaml").read_text()):
    assert document["apiVersion"] == "serving.kserve.io/v1beta1", document["apiVersion"]
    assert document["kind"] == "InferenceService", document["kind"]
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(document), key=str)
    for error in errors:
        print(f"kserve: {'/'.join(map(str, error.absolute_path))}: {error.message}", file=sys.stderr)
    failures += len(errors)
    print(f"kserve: InferenceService `{document['metadata']['name']}`: "
          f"{'valid' if not errors else f'{len(errors)} problem(s)'} against the v1beta1 CRD schema")
sys.exit(1 if failures else 0)
