#!/usr/bin/env python3
"""Compares vigil's histogram gradient boosting with LightGBM on exactly the same folds.

usage: check-lightgbm.py CONFIG_TOML DATA_CSV TOLERANCE RUN_DIR...
Each RUN_DIR is the output of `train --models hgb --seed S`; its out_of_fold.csv gives every
row's fold and vigil's out-of-fold probability. LightGBM gets the rows vigil's preprocessing
gives the family (configured zeros and empty cells missing, categories one-hot) and LightGBM's
defaults, which are vigil's (100 rounds, learning rate 0.1, 31 leaves, 20 rows per leaf,
lambda 0, 255 bins). Prints the mean fold ROC-AUC of both per run and over runs; exits 1 when
the means over runs differ by more than TOLERANCE. Needs lightgbm, scikit-learn and pandas.
"""
import importlib.util
import pathlib
import sys
import tomllib

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

spec = importlib.util.spec_from_file_location("twins", pathlib.Path(__file__).with_name("sklearn-twins.py"))
twins = importlib.util.module_from_spec(spec)
spec.loader.exec_module(twins)

config_path, data_path, tolerance, *runs = sys.argv[1:]
config = tomllib.load(open(config_path, "rb"))
x, y = twins.load(config, data_path)
for feature in config["features"]:
    if feature["kind"] == "categorical":
        column = x.pop(feature["name"])
        for category in feature["categories"]:
            x[f"{feature['name']}={category}"] = (column.astype(str) == category).astype(float)
positive = f"probability_{config['positive_class']}"
vigil_means, lightgbm_means = [], []
for run in runs:
    out_of_fold = pd.read_csv(pathlib.Path(run) / "out_of_fold.csv")
    if len(out_of_fold) != len(y):
        sys.exit(f"check-lightgbm: `{run}/out_of_fold.csv` has {len(out_of_fold)} rows, the data {len(y)}")
    vigil, peer = [], []
    for fold in sorted(out_of_fold["fold"].unique()):
        validation = (out_of_fold["fold"] == fold).to_numpy()
        model = lgb.LGBMClassifier(n_estimators=100, learning_rate=0.1, num_leaves=31, min_child_samples=20,
                                   reg_lambda=0.0, max_bin=255, n_jobs=2, verbose=-1, random_state=0)
        model.fit(x[~validation], y[~validation])
        peer.append(roc_auc_score(y[validation], model.predict_proba(x[validation])[:, 1]))
        vigil.append(roc_auc_score(y[validation], out_of_fold[positive][validation]))
    vigil_means.append(np.mean(vigil))
    lightgbm_means.append(np.mean(peer))
    print(f"{run}: vigil {np.mean(vigil):.4f}  LightGBM {np.mean(peer):.4f}")
difference = np.mean(vigil_means) - np.mean(lightgbm_means)
print(f"over {len(runs)} runs: vigil {np.mean(vigil_means):.4f}  LightGBM {np.mean(lightgbm_means):.4f}  difference {difference:+.4f}")
if abs(difference) > float(tolerance):
    sys.exit(f"check-lightgbm: the difference {difference:+.4f} is beyond {tolerance}")
