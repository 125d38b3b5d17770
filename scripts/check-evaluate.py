"""Recomputes `train evaluate`'s figures with scikit-learn from `serve score`'s probabilities
and decided labels for the same file, and fails on any difference.

usage: check-evaluate.py EVALUATION_JSON LABELLED_CSV TARGET_COLUMN SCORES_CSV
"""

import json
import sys

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (accuracy_score, average_precision_score, balanced_accuracy_score,
                             brier_score_loss, confusion_matrix, log_loss, roc_auc_score)

evaluation_path, labelled_path, target, scores_path = sys.argv[1:5]
evaluation = json.load(open(evaluation_path))
labels = pd.read_csv(labelled_path, dtype={target: str})[target].astype(str).str.strip()
scores = pd.read_csv(scores_path, dtype={"label": str})
classes = list(evaluation["class_counts"])
positive = classes[1]
truth = (labels == positive).to_numpy()
probability = scores[f"probability_{positive}"].to_numpy()
decided = (scores["label"].astype(str) == positive).to_numpy()

logit = np.log(np.clip(probability, 1e-12, 1 - 1e-12) / (1 - np.clip(probability, 1e-12, 1 - 1e-12)))
recalibration = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000).fit(logit.reshape(-1, 1), truth)
tn, fp, fn, tp = confusion_matrix(truth, decided).ravel()
expected = {
    "roc_auc": roc_auc_score(truth, probability),
    "pr_auc": average_precision_score(truth, probability),
    "sensitivity": tp / (tp + fn),
    "specificity": tn / (tn + fp),
    "ppv": tp / (tp + fp),
    "npv": tn / (tn + fn),
    "accuracy": accuracy_score(truth, decided),
    "balanced_accuracy": balanced_accuracy_score(truth, decided),
    "brier": brier_score_loss(truth, probability),
    "log_loss": log_loss(truth, probability),
    "calibration_slope": recalibration.coef_[0][0],
    "calibration_intercept": recalibration.intercept_[0],
}
# scikit-learn's logistic fit stops at its own tolerance; the rest is exact arithmetic.
tolerance = {"calibration_slope": 1e-4, "calibration_intercept": 1e-4}
problems = []
# Scores that separate the classes perfectly (a forest on its own training rows) have no finite
# recalibration: ours reports it as undefined (null), where scikit-learn's unpenalised fit
# returns whatever its last iteration reached.
separated = expected["roc_auc"] == 1.0
for name, value in expected.items():
    ours = evaluation["figures"][name]["value"]
    if ours is None:
        if not (separated and name.startswith("calibration_")):
            problems.append(f"{name}: ours undefined, scikit-learn {value}")
        continue
    if abs(ours - value) > tolerance.get(name, 1e-9):
        problems.append(f"{name}: ours {ours}, scikit-learn {value}")
    low, high = evaluation["figures"][name]["lower"], evaluation["figures"][name]["upper"]
    if not (low <= ours <= high):
        problems.append(f"{name}: {ours} outside its interval [{low}, {high}]")
assert len(truth) == evaluation["n_records"], (len(truth), evaluation["n_records"])
assert evaluation["confusion"]["counts"] == [[int(tn), int(fp)], [int(fn), int(tp)]], evaluation["confusion"]
if problems:
    sys.exit("check-evaluate: " + "; ".join(problems))
figures = evaluation["figures"]
compared = sum(figures[name]["value"] is not None for name in expected)
slope = figures["calibration_slope"]["value"]
print(f"check-evaluate: {evaluation['dataset']}: {compared} figures equal scikit-learn's on "
      f"{len(truth)} rows{'' if compared == len(expected) else f' ({len(expected) - compared} undefined: the scores separate the classes)'} "
      f"(AUC {figures['roc_auc']['value']:.4f} "
      f"[{figures['roc_auc']['lower']:.3f}, {figures['roc_auc']['upper']:.3f}], sensitivity "
      f"{figures['sensitivity']['value']:.3f}, specificity {figures['specificity']['value']:.3f}, "
      f"Brier {figures['brier']['value']:.4f}, calibration slope "
      f"{'undefined' if slope is None else format(slope, '.3f')}); confusion matrix equal")
