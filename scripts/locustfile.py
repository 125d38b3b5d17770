"""Load test in the shape of seed 004's locust file: the index, valid predictions with values
drawn from the model card's published ranges, and invalid payloads that must be refused with a
4xx. A valid request that fails, an invalid one that is not refused, or any 5xx counts as a
failure. Run by scripts/load-test.sh.
"""

import random

from locust import HttpUser, between, events, task

FEATURES = []


@events.test_start.add_listener
def read_the_model_card(environment, **_):
    import json
    import urllib.request

    with urllib.request.urlopen(f"{environment.host}/model") as response:
        FEATURES.extend(json.load(response)["features"])


def valid_record(rng):
    record = {}
    for feature in FEATURES:
        if feature["kind"] == "categorical":
            record[feature["name"]] = rng.choice(feature["categories"])
            continue
        low, high = feature["training_range"]["min"], feature["training_range"]["max"]
        if feature.get("accepted_range"):
            low = max(low, feature["accepted_range"]["min"])
            high = min(high, feature["accepted_range"]["max"])
        value = rng.uniform(low, high)
        if feature["kind"] == "binary":
            value = rng.choice([0, 1])
        elif feature["kind"] == "integer":
            value = int(round(value))
        record[feature["name"]] = value
    return record


class Clinician(HttpUser):
    wait_time = between(0.0, 0.05)

    def on_start(self):
        self.rng = random.Random(id(self))

    @task(1)
    def index(self):
        self.client.get("/")

    @task(6)
    def predict(self):
        self.client.post("/predict", json=valid_record(self.rng), name="/predict (valid)")

    @task(1)
    def predict_batch(self):
        records = [valid_record(self.rng) for _ in range(20)]
        self.client.post("/predict/batch", json=records, name="/predict/batch (valid)")

    @task(2)
    def invalid(self):
        record = valid_record(self.rng)
        kind = self.rng.choice(["missing", "type", "unknown", "range"])
        name = self.rng.choice(FEATURES)["name"]
        if kind == "missing":
            record.pop(name)
        elif kind == "type":
            record[name] = "not a number" if FEATURES[0]["kind"] != "categorical" else 3.5
        elif kind == "unknown":
            record["no_such_field"] = 1
        else:
            record[name] = 1e12
        with self.client.post("/predict", json=record, name="/predict (invalid)", catch_response=True) as response:
            if 400 <= response.status_code < 500:
                response.success()
            else:
                response.failure(f"invalid payload answered {response.status_code}")
