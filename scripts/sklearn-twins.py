#!/usr/bin/env python3
"""Measures scikit-learn "twins" of vigil's model families on a dataset config.

The twins are the figures in scripts/metric-gates.toml: 5-fold stratified cross-validation with
the same preprocessing vigil fits inside every fold (configured zeros and empty/NA cells are
missing, median imputation for numeric and integer columns, most-frequent for binary ones,
standard scaling, one-hot categories, exact duplicates dropped when the config says so).

usage: sklearn-twins.py CONFIG_TOML DATA_CSV [--models et,rf,...] [--seed 42] [--folds 5]
Needs scikit-learn and pandas (scripts/check-twins.sh makes a virtualenv with them).
Prints one line per model: name, metric, mean and standard deviation over folds.
"""
import argparse
import sys
import tomllib

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (ExtraTreesClassifier, GradientBoostingClassifier,
                              RandomForestClassifier)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier


def twins(seed):
    """scikit-learn's counterpart of each vigil family, with vigil's default hyperparameters."""
    return {
        "lr": ("logistic_regression", LogisticRegression(max_iter=1000)),
        "dt": ("decision_tree", DecisionTreeClassifier(max_depth=5, min_samples_leaf=5, random_state=seed)),
        "rf": ("random_forest", RandomForestClassifier(n_estimators=200, random_state=seed)),
        "et": ("extra_trees", ExtraTreesClassifier(n_estimators=300, random_state=seed)),
        "gbm": ("gradient_boosting", GradientBoostingClassifier(random_state=seed)),
        "knn": ("k_nearest_neighbours", KNeighborsClassifier(n_neighbors=15, weights="distance")),
        "svm": ("svm", SVC(probability=True, random_state=seed)),
        "nb": ("gaussian_naive_bayes", GaussianNB()),
    }


def load(config, data_path):
    frame = pd.read_csv(data_path, na_values=["NA", "NaN", "null", ""], encoding="utf-8-sig")
    features = config["features"]
    columns = [feature["name"] for feature in features]
    frame = frame[columns + [config["target"]]]
    if config.get("drop_duplicates", False):
        frame = frame.drop_duplicates()
    for feature in features:
        if feature.get("zero_is_missing", False):
            frame.loc[frame[feature["name"]] == 0, feature["name"]] = np.nan
    y = frame[config["target"]].astype(str)
    if config["task"] == "binary":
        y = (y == str(config["positive_class"])).astype(int)
    return frame[columns], y


def preprocessing(config):
    by_kind = {}
    for feature in config["features"]:
        by_kind.setdefault(feature["kind"], []).append(feature["name"])
    parts = []
    if by_kind.get("numeric") or by_kind.get("integer"):
        parts.append(("median", Pipeline([("impute", SimpleImputer(strategy="median")),
                                          ("scale", StandardScaler())]),
                      by_kind.get("numeric", []) + by_kind.get("integer", [])))
    if by_kind.get("binary"):
        parts.append(("binary", Pipeline([("impute", SimpleImputer(strategy="most_frequent")),
                                          ("scale", StandardScaler())]), by_kind["binary"]))
    if by_kind.get("categorical"):
        parts.append(("onehot", Pipeline([("impute", SimpleImputer(strategy="most_frequent")),
                                          ("encode", OneHotEncoder(handle_unknown="ignore"))]),
                      by_kind["categorical"]))
    return ColumnTransformer(parts)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    parser.add_argument("data")
    parser.add_argument("--models", default="lr,dt,rf,et,gbm,knn,svm,nb")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()
    with open(args.config, "rb") as handle:
        config = tomllib.load(handle)
    x, y = load(config, args.data)
    metric = "roc_auc" if config["task"] == "binary" else "accuracy"
    folds = StratifiedKFold(n_splits=args.folds, shuffle=True, random_state=args.seed)
    available = twins(args.seed)
    for short in args.models.split(","):
        if short not in available:
            print(f"unknown model `{short}`, expected one of {', '.join(available)}", file=sys.stderr)
            return 2
        name, estimator = available[short]
        pipeline = Pipeline([("prep", preprocessing(config)), ("model", estimator)])
        scores = cross_val_score(pipeline, x, y, cv=folds, scoring=metric)
        print(f"{config['name']}: {name} {metric} {scores.mean():.4f} ± {scores.std():.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
