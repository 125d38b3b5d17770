"""Reads a run back from MLflow's REST API and compares it with what `train` wrote locally:
the chosen model's cross-validated metrics, the per-fold history, the artifacts (model.bin
byte for byte), and the registered model version carrying the alias `candidate`.

usage: check-mlflow.py TRACKING_URI OUT_DIR RUN_STORE
"""

import hashlib
import json
import sqlite3
import sys
import urllib.parse
import urllib.request

uri, out_dir, store = sys.argv[1:4]


def call(path, body=None):
    request = urllib.request.Request(
        uri + path,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        data = response.read()
    return json.loads(data) if path.startswith("/api/2.0/mlflow/") else data


leaderboard = json.load(open(f"{out_dir}/leaderboard.json"))
local_model = open(f"{out_dir}/model.bin", "rb").read()
(local_run_id,) = sqlite3.connect(store).execute(
    "SELECT run_id FROM runs ORDER BY started_at_ms DESC LIMIT 1").fetchone()

experiment = call("/api/2.0/mlflow/experiments/get-by-name?experiment_name=vigil-heart_failure")
experiment_id = experiment["experiment"]["experiment_id"]
runs = call("/api/2.0/mlflow/runs/search", {"experiment_ids": [experiment_id]})["runs"]
matching = [run for run in runs
            if {"key": "vigil.run_id", "value": local_run_id} in run["data"].get("tags", [])]
assert len(matching) == 1, f"{len(matching)} MLflow runs carry vigil.run_id {local_run_id}"
run = matching[0]
run_id = run["info"]["run_id"]
assert run["info"]["status"] == "FINISHED", run["info"]
metrics = {metric["key"]: metric["value"] for metric in run["data"]["metrics"]}
params = {param["key"]: param["value"] for param in run["data"]["params"]}

chosen = params["chosen_model"]
entry = next(model for model in leaderboard if model["model"] == chosen)
for name in ("roc_auc", "brier"):
    local = entry["metrics"][name]["mean"]
    assert abs(metrics[name] - local) < 1e-12, (name, metrics[name], local)
history = call("/api/2.0/mlflow/metrics/get-history?" + urllib.parse.urlencode(
    {"run_id": run_id, "metric_key": f"{chosen}.roc_auc"}))["metrics"]
folds = sorted(point["step"] for point in history)
assert folds == list(range(len(folds))) and len(folds) >= 5, folds

listed = json.loads(call("/api/2.0/mlflow-artifacts/artifacts?" + urllib.parse.urlencode(
    {"path": f"{experiment_id}/{run_id}/artifacts"})))
names = sorted(file["path"] for file in listed["files"])
for expected in ("leaderboard.json", "model", "model.json", "plots"):
    assert expected in names, names
remote_model = call(f"/api/2.0/mlflow-artifacts/artifacts/{experiment_id}/{run_id}/artifacts/model/model.bin")
assert hashlib.sha256(remote_model).hexdigest() == hashlib.sha256(local_model).hexdigest()

version = call("/api/2.0/mlflow/registered-models/alias?" + urllib.parse.urlencode(
    {"name": "vigil-heart_failure", "alias": "candidate"}))["model_version"]
assert version["run_id"] == run_id and "candidate" in version["aliases"], version

print(f"check-mlflow: run {run_id} FINISHED in experiment {experiment_id}: {len(params)} params, "
      f"{len(metrics)} metrics; {chosen} roc_auc {metrics['roc_auc']:.4f} and brier "
      f"{metrics['brier']:.4f} equal leaderboard.json; {len(folds)} folds as steps")
print(f"check-mlflow: artifacts {', '.join(names)}; model/model.bin equals the local one "
      f"(sha256 {hashlib.sha256(local_model).hexdigest()[:16]}...)")
print(f"check-mlflow: registered model vigil-heart_failure version {version['version']} "
      f"(alias candidate) from that run")
print("check-mlflow: ok")
