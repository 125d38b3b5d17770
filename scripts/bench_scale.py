#!/usr/bin/env python3
"""The Python side of scripts/bench-scale.sh: the synthetic table and the peers it is timed against.

usage:
  bench_scale.py generate ROWS CSV_PATH CONFIG_PATH [--seed 7] [--unlabelled]
      A seeded clinical-shaped table: 20 numeric features (x01..x20) with 5-15% empty cells,
      one 3-level categorical (`site`), a binary `outcome` from a nonlinear logit with
      interactions. With --unlabelled, no outcome column (for batch scoring). Writes the
      vigil dataset config beside it.
  bench_scale.py fit PEER CSV_PATH OUT_OF_FOLD_CSV
      Cross-validates PEER on the folds vigil used (the `fold` column of its out_of_fold.csv),
      then fits it on every row, with vigil's preprocessing; prints JSON: seconds, mean ROC-AUC,
      mean seconds of one fold's fit.
      PEER: sklearn_lr, sklearn_nb, sklearn_rf, sklearn_hgb, lightgbm, lightgbm_depth3.
  bench_scale.py score CSV_PATH TRAIN_CSV OUT_CSV
      pandas + LightGBM batch scoring: fits LightGBM on TRAIN_CSV (not timed), then times
      read_csv, predict_proba and to_csv of CSV_PATH; prints JSON: seconds.
"""
import argparse
import json
import sys
import time

import numpy as np
import pandas as pd

N_NUMERIC = 20
SITES = ["a", "b", "c"]


def numeric_names():
    return [f"x{idx:02d}" for idx in range(1, N_NUMERIC + 1)]


def generate(args):
    rng = np.random.default_rng(args.seed)
    n = args.rows
    x = rng.normal(size=(n, N_NUMERIC))
    # Some correlated measurements, as lab panels are.
    x[:, 1] += 0.6 * x[:, 0]
    x[:, 9] += 0.5 * x[:, 8]
    site = rng.choice(3, size=n, p=[0.5, 0.3, 0.2])
    logit = (
        -1.2
        + 0.9 * x[:, 0]
        - 0.7 * x[:, 1]
        + 0.6 * x[:, 2] * x[:, 3]
        + 0.8 * (x[:, 4] > 0.5)
        + 0.6 * np.sin(2.0 * x[:, 5])
        - 0.4 * x[:, 6] ** 2
        + 0.5 * x[:, 7]
        + 0.3 * x[:, 8] * (site == 1)
        + 0.6 * (site == 2)
        + 0.25 * np.abs(x[:, 10])
    )
    outcome = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(int)
    frame = pd.DataFrame(np.round(x * 10.0 + 50.0, 3), columns=numeric_names())
    for idx, name in enumerate(numeric_names()):
        share = 0.05 + 0.10 * (idx % 3) / 2.0
        frame.loc[rng.random(n) < share, name] = np.nan
    frame["site"] = np.array(SITES)[site]
    if not args.unlabelled:
        frame["outcome"] = outcome
    frame.to_csv(args.csv_path, index=False, na_rep="")
    with open(args.config_path, "w") as config:
        config.write(config_text(args.csv_path))


def config_text(csv_path):
    lines = [
        'name = "synthetic"',
        'description = "Generated clinical-shaped table (scripts/bench_scale.py); for benchmarks only."',
        'outcome = "outcome"',
        'intended_use = "Benchmarks of training and scoring speed; not a clinical model."',
        'limitations = ["Generated data."]',
        f'path = "{csv_path}"',
        'task = "binary"',
        'target = "outcome"',
        'classes = ["0", "1"]',
        'positive_class = "1"',
        "drop_duplicates = false",
        'on_out_of_range = "warn"',
        "",
        "[training]",
        'threshold = "youden"',
        'metric = "roc_auc"',
        'balance = "none"',
        "",
    ]
    for name in numeric_names():
        lines += ["[[features]]", f'name = "{name}"', 'kind = "numeric"', f'description = "measurement {name}"', ""]
    lines += ["[[features]]", 'name = "site"', 'kind = "categorical"', 'description = "enrolling site"',
              'categories = ["a", "b", "c"]', ""]
    return "\n".join(lines)


def load(csv_path):
    frame = pd.read_csv(csv_path)
    y = frame.pop("outcome").to_numpy() if "outcome" in frame else None
    return frame, y


def imputing_pipeline(estimator):
    """vigil's default preprocessing: median imputation, standard scaling, one-hot `site`."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())])
    columns = ColumnTransformer([
        ("numeric", numeric, numeric_names()),
        ("site", OneHotEncoder(categories=[SITES], handle_unknown="ignore"), ["site"]),
    ])
    return Pipeline([("columns", columns), ("model", estimator)])


def native_missing(frame):
    """What vigil gives a model that handles missing values: NaN kept, `site` one-hot."""
    out = frame[numeric_names()].copy()
    for value in SITES:
        out[f"site={value}"] = (frame["site"] == value).astype(float)
    return out


def peer(name):
    """The peer estimator and whether it takes missing values natively."""
    if name == "sklearn_lr":
        from sklearn.linear_model import LogisticRegression
        return imputing_pipeline(LogisticRegression(max_iter=1000)), False
    if name == "sklearn_nb":
        from sklearn.naive_bayes import GaussianNB
        return imputing_pipeline(GaussianNB()), False
    if name == "sklearn_rf":
        from sklearn.ensemble import RandomForestClassifier
        return imputing_pipeline(RandomForestClassifier(n_estimators=200, n_jobs=2, random_state=0)), False
    if name == "sklearn_hgb":
        from sklearn.ensemble import HistGradientBoostingClassifier
        return HistGradientBoostingClassifier(max_iter=100, max_leaf_nodes=31, min_samples_leaf=20,
                                              l2_regularization=0.0, max_bins=255, early_stopping=False,
                                              random_state=0), True
    if name in ("lightgbm", "lightgbm_1core", "lightgbm_depth3"):
        # `lightgbm_1core` is LightGBM on one thread: a fit on one core, as each of vigil's
        # folds is (vigil fits two folds at once instead).
        import lightgbm as lgb
        leaves, depth = (8, 3) if name == "lightgbm_depth3" else (31, -1)
        shallow = name == "lightgbm_depth3"
        return lgb.LGBMClassifier(n_estimators=100, num_leaves=leaves, max_depth=depth, learning_rate=0.1,
                                  min_child_samples=1 if shallow else 20, reg_lambda=1.0 if shallow else 0.0,
                                  max_bin=255, n_jobs=1 if name == "lightgbm_1core" else 2, verbose=-1,
                                  random_state=0), True
    sys.exit(f"bench_scale.py: unknown peer `{name}`")


def fit(args):
    from sklearn.base import clone
    from sklearn.metrics import roc_auc_score

    start = time.perf_counter()
    frame, y = load(args.csv_path)
    estimator, native = peer(args.peer)
    x = native_missing(frame) if native else frame
    folds = pd.read_csv(args.out_of_fold)["fold"].to_numpy()
    if len(folds) != len(y):
        sys.exit(f"bench_scale.py: `{args.out_of_fold}` has {len(folds)} rows, the table {len(y)}")
    aucs, fit_seconds = [], []
    cv_start = time.perf_counter()
    for fold in np.unique(folds):
        validation = folds == fold
        fit_start = time.perf_counter()
        model = clone(estimator).fit(x[~validation], y[~validation])
        fit_seconds.append(time.perf_counter() - fit_start)
        aucs.append(roc_auc_score(y[validation], model.predict_proba(x[validation])[:, 1]))
    cv_seconds = time.perf_counter() - cv_start
    clone(estimator).fit(x, y)
    print(json.dumps({"seconds": time.perf_counter() - start, "roc_auc": float(np.mean(aucs)),
                      "fold_fit_seconds": float(np.mean(fit_seconds)), "cv_seconds": cv_seconds}))


def score(args):
    import lightgbm as lgb

    frame, y = load(args.train_csv)
    model = lgb.LGBMClassifier(n_estimators=100, num_leaves=31, learning_rate=0.1, min_child_samples=20,
                               reg_lambda=0.0, max_bin=255, n_jobs=2, verbose=-1, random_state=0)
    model.fit(native_missing(frame), y)
    start = time.perf_counter()
    rows = pd.read_csv(args.csv_path)
    probability = model.predict_proba(native_missing(rows))[:, 1]
    pd.DataFrame({"probability": probability}).to_csv(args.out_csv, index=False)
    print(json.dumps({"seconds": time.perf_counter() - start}))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    generate_parser = commands.add_parser("generate")
    generate_parser.add_argument("rows", type=int)
    generate_parser.add_argument("csv_path")
    generate_parser.add_argument("config_path")
    generate_parser.add_argument("--seed", type=int, default=7)
    generate_parser.add_argument("--unlabelled", action="store_true")
    fit_parser = commands.add_parser("fit")
    fit_parser.add_argument("peer")
    fit_parser.add_argument("csv_path")
    fit_parser.add_argument("out_of_fold")
    score_parser = commands.add_parser("score")
    score_parser.add_argument("csv_path")
    score_parser.add_argument("train_csv")
    score_parser.add_argument("out_csv")
    args = parser.parse_args()
    {"generate": generate, "fit": fit, "score": score}[args.command](args)


if __name__ == "__main__":
    main()
