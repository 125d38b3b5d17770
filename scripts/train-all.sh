#!/usr/bin/env bash
# Trains the three shipped datasets into artifacts/<dataset>/ (model, reports, EDA).
# Data comes from data/ (a user's download) or, when given as $1, another folder laid out like
# ../shared/data (CI and developers): `scripts/train-all.sh ../shared/data`.
set -euo pipefail
cd "$(dirname "$0")/.."
source_dir="${1:-}"

path_for() {
  # $1 = dataset folder name in shared/data, $2 = file name
  if [[ -n "$source_dir" ]]; then echo "$source_dir/$1/$2"; else echo "data/$2"; fi
}

train=(cargo run --release --quiet -p train --)
"${train[@]}" eda --config data/sepsis.toml --data "$(path_for sepsis Paitients_Files_Train.csv)"
"${train[@]}" --config data/sepsis.toml --data "$(path_for sepsis Paitients_Files_Train.csv)"
"${train[@]}" eda --config data/heart_failure.toml --data "$(path_for heart_failure heart_failure_clinical_records_dataset.csv)"
"${train[@]}" --config data/heart_failure.toml --data "$(path_for heart_failure heart_failure_clinical_records_dataset.csv)"
"${train[@]}" eda --config data/wine_quality.toml --data "$(path_for wine_quality winequalityN.csv)"
"${train[@]}" --config data/wine_quality.toml --data "$(path_for wine_quality winequalityN.csv)"
