#!/usr/bin/env python3
"""Checks a trained leaderboard.json against scripts/metric-gates.toml.

usage: check-gates.py DATASET LEADERBOARD_JSON [GATES_TOML]
Prints each model's score beside its scikit-learn twin and exits 1 on any failed gate.
"""
import json
import sys
import tomllib


def main() -> int:
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    dataset, leaderboard_path = sys.argv[1], sys.argv[2]
    gates_path = sys.argv[3] if len(sys.argv) > 3 else "scripts/metric-gates.toml"
    with open(gates_path, "rb") as handle:
        gates = tomllib.load(handle)[dataset]
    with open(leaderboard_path) as handle:
        leaderboard = json.load(handle)
    metric = gates["metric"]
    scores = {entry["model"]: entry["metrics"][metric]["mean"] for entry in leaderboard}
    failures = []
    best_model = max(scores, key=scores.get)
    best = scores[best_model]
    tolerance = gates.get("tolerance")
    for model, score in scores.items():
        twin = gates.get("twins", {}).get(model)
        note = ""
        if twin is not None:
            note = f"scikit-learn {twin:.3f}, difference {score - twin:+.3f}"
            if tolerance is not None and score < twin - tolerance:
                failures.append(f"{model} {metric} {score:.3f} is more than {tolerance} below scikit-learn's {twin:.3f}")
                note += "  FAIL"
        print(f"{dataset}: {model:<22} {metric} {score:.3f}  ({note})")
    if best < gates["best_at_least"]:
        failures.append(f"best {metric} {best:.3f} ({best_model}) is below the gate {gates['best_at_least']}")
    if best > gates["leak_above"]:
        failures.append(f"best {metric} {best:.3f} ({best_model}) is above {gates['leak_above']}: look for leakage")
    for failure in failures:
        print(f"gate failed: {dataset}: {failure}", file=sys.stderr)
    if not failures:
        print(f"{dataset}: gates passed (best {best_model} {metric} {best:.3f} >= {gates['best_at_least']})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
