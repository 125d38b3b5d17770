"""Drives a running `serve` (sepsis) with the clients other tools use: MLflow's own scoring
client (`mlflow.pyfunc.scoring_server.client.ScoringServerClient`, whose payloads come from
`dump_input_data`: a pandas DataFrame, a dict of columns, a list of records) and Triton's
`tritonclient.http` for the Open Inference Protocol (one tensor per feature, one matrix, and
binary tensor data as the client sends by default).
Every answer must equal what `/predict/batch` returns for the same rows.

usage: python scripts/check-protocols.py http://127.0.0.1:PORT
"""

import json
import sys
import urllib.parse
import urllib.request

import numpy as np
import pandas as pd
import tritonclient.http as triton
from mlflow.pyfunc.scoring_server.client import ScoringServerClient

BASE = sys.argv[1]
HOST, PORT = urllib.parse.urlsplit(BASE).hostname, urllib.parse.urlsplit(BASE).port
FRAME = pd.DataFrame(
    {
        "PRG": [6, 1, 8, 0],
        "PL": [148, 85, 183, 137],
        "PR": [72, 66, 64, 40],
        "SK": [35, 29, 0, 35],
        "TS": [0, 0, 0, 168],
        "M11": [33.6, 26.6, 23.3, 43.1],
        "BD2": [0.627, 0.351, 0.672, 2.288],
        "Age": [50, 31, 32, 33],
        "Insurance": [0, 0, 1, 1],
    }
)


def batch_probabilities():
    request = urllib.request.Request(
        f"{BASE}/predict/batch",
        data=FRAME.to_json(orient="records").encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request) as response:
        return [prediction["probability"] for prediction in json.load(response)]


expected = batch_probabilities()
checks = 0

mlflow_client = ScoringServerClient(HOST, PORT)
mlflow_client.wait_server_ready(timeout=10)
print(f"mlflow: /version says {mlflow_client.get_version()!r}")
for name, data in [
    ("DataFrame (dataframe_split)", FRAME),
    ("dict of column arrays (inputs)", {column: FRAME[column].to_numpy() for column in FRAME.columns}),
    ("list of records (inputs)", FRAME.to_dict(orient="records")),
]:
    predictions = mlflow_client.invoke(data).get_predictions(predictions_format="ndarray")
    got = [prediction["probability"] for prediction in predictions]
    assert np.allclose(got, expected, rtol=0, atol=1e-12), (name, got, expected)
    checks += 1
    print(f"mlflow: {name}: {len(got)} predictions equal /predict/batch")

client = triton.InferenceServerClient(url=f"{HOST}:{PORT}")
assert client.is_server_live() and client.is_server_ready() and client.is_model_ready("sepsis")
metadata = client.get_model_metadata("sepsis")
print(f"triton: model `{metadata['name']}` versions {metadata['versions']}, {len(metadata['inputs'])} inputs")
inputs = []
for column in FRAME.columns:
    tensor = triton.InferInput(column, [len(FRAME), 1], "FP64")
    tensor.set_data_from_numpy(FRAME[[column]].to_numpy(dtype=np.float64), binary_data=False)
    inputs.append(tensor)
outputs = [triton.InferRequestedOutput(name, binary_data=False) for name in ("label", "probability")]
result = client.infer("sepsis", inputs, outputs=outputs, request_id="check-1")
got = result.as_numpy("probability").tolist()
assert np.allclose(got, expected, rtol=0, atol=1e-12), (got, expected)
assert result.get_response()["id"] == "check-1"
checks += 1
print(f"triton: one tensor per feature: {len(got)} probabilities equal /predict/batch; labels {result.as_numpy('label').tolist()}")
matrix = triton.InferInput("input-0", list(FRAME.shape), "FP64")
matrix.set_data_from_numpy(FRAME.to_numpy(dtype=np.float64), binary_data=False)
result = client.infer("sepsis", [matrix], outputs=[triton.InferRequestedOutput("probabilities", binary_data=False)])
got = result.as_numpy("probabilities")[:, 1].tolist()
assert np.allclose(got, expected, rtol=0, atol=1e-12), (got, expected)
checks += 1
print("triton: one [4, 9] matrix: probabilities equal /predict/batch")
binary = triton.InferInput("input-0", list(FRAME.shape), "FP64")
binary.set_data_from_numpy(FRAME.to_numpy(dtype=np.float64))  # tritonclient's default: binary
result = client.infer("sepsis", [binary])
got = result.as_numpy("probability").tolist()
assert np.allclose(got, expected, rtol=0, atol=1e-12), (got, expected)
checks += 1
print("triton: binary tensor data (the client's default): probabilities equal /predict/batch")
print(f"check-protocols: ok ({checks} client checks)")
