//! End-to-end training on generated datasets: every model learns, probabilities point the right
//! way, artifacts are reproducible, and training and serving score rows identically.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use data::{DatasetConfig, Labels};
use model::{Artifact, Metric};
use preprocess::Balance;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use sha2::Digest;
use train::learners::ModelKind;
use train::sink::{FileSink, MemorySink, Recorded, Stage};
use train::threshold::{CalibrationKind, ThresholdRule};
use train::{TrainError, TrainOptions, TrainOutcome, run};

mod common;

use common::write_binary;

fn kind(short: &str) -> ModelKind {
    short.parse().unwrap()
}

fn options(config: &Path, data: &Path) -> TrainOptions {
    let mut options = TrainOptions::from_config(
        DatasetConfig::load(config).unwrap(),
        config.to_path_buf(),
        data.to_path_buf(),
    )
    .unwrap();
    options.seed = 7;
    options
}

/// Asserts that every model on the leaderboard scores above `bound` on `metric`.
fn assert_every_model_above(outcome: &TrainOutcome, metric: Metric, bound: f64, context: &str) {
    for entry in &outcome.artifact.leaderboard {
        let value = entry.metric(metric).unwrap();
        assert!(
            value > bound,
            "{context}: {} has {metric} {value:.3}",
            entry.model
        );
    }
}

/// Trains and writes the artifact and reports into `out`, as the `train` command does.
fn train_into(options: &TrainOptions, out: &Path) -> Result<TrainOutcome, TrainError> {
    run(options, &FileSink::new(out))
}

#[test]
fn every_model_learns_with_probabilities_pointing_at_the_positive_class() {
    // Positive as minority and as majority: linfa-logistic's own notion of "positive" is the
    // majority class, so one of these would fail if the mapping were wrong.
    for (share, seed) in [(0.3, 1), (0.7, 2)] {
        let dir = tempfile::tempdir().unwrap();
        let (config, data) = write_binary(dir.path(), 400, share, seed);
        let outcome = train_into(&options(&config, &data), &dir.path().join("out")).unwrap();
        assert_eq!(
            outcome.results.len(),
            10,
            "eight families and two ensembles"
        );
        assert_every_model_above(&outcome, Metric::RocAuc, 0.75, &format!("share {share}"));
        let decision = &outcome.artifact.decision;
        assert!(decision.oof_sensitivity.unwrap() >= 0.8, "{decision:?}");
        let threshold = decision.threshold.unwrap();
        assert!(threshold > 0.0 && threshold < 1.0);
    }
}

#[test]
fn artifact_and_reports_are_written_and_reproducible() {
    let dir = tempfile::tempdir().unwrap();
    let (config, data) = write_binary(dir.path(), 300, 0.35, 3);
    let first = dir.path().join("first");
    let second = dir.path().join("second");
    train_into(&options(&config, &data), &first).unwrap();
    train_into(&options(&config, &data), &second).unwrap();
    let bytes = std::fs::read(first.join("model.bin")).unwrap();
    assert_eq!(
        bytes,
        std::fs::read(second.join("model.bin")).unwrap(),
        "same seed, same bytes"
    );
    let mut other_seed = options(&config, &data);
    other_seed.seed = 8;
    train_into(&other_seed, &dir.path().join("third")).unwrap();
    assert_ne!(
        bytes,
        std::fs::read(dir.path().join("third/model.bin")).unwrap()
    );

    for file in [
        "leaderboard.json",
        "leaderboard.csv",
        "leaderboard.md",
        "model.json",
        "plots/roc_curves.svg",
        "plots/confusion_matrix.svg",
        "plots/calibration.svg",
    ] {
        assert!(first.join(file).is_file(), "{file} missing");
    }
    // Out-of-fold probabilities: every row once, stratified folds of equal size, each row's
    // probabilities summing to one.
    let out_of_fold = std::fs::read_to_string(first.join("out_of_fold.csv")).unwrap();
    let mut lines = out_of_fold.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("row,fold,label,probability_")
    );
    let mut fold_sizes = [0usize; 5];
    for (row, line) in lines.enumerate() {
        let cells: Vec<&str> = line.split(',').collect();
        assert_eq!(cells[0], row.to_string());
        fold_sizes[cells[1].parse::<usize>().unwrap()] += 1;
        let total: f64 = cells[3..].iter().map(|p| p.parse::<f64>().unwrap()).sum();
        assert!((total - 1.0).abs() < 1e-9, "row {row}: {total}");
    }
    assert_eq!(fold_sizes, [60; 5], "300 rows in 5 folds");
    let leaderboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(first.join("leaderboard.json")).unwrap())
            .unwrap();
    let entries = leaderboard.as_array().unwrap();
    assert_eq!(entries.len(), 10, "eight families and two ensembles");
    for entry in entries {
        assert!(entry["model"].is_string());
        for metric in [
            "roc_auc",
            "pr_auc",
            "recall",
            "specificity",
            "mcc",
            "brier",
            "log_loss",
        ] {
            assert!(entry["metrics"][metric]["mean"].is_number(), "{metric}");
            assert!(entry["metrics"][metric]["std"].is_number(), "{metric}");
        }
        // Timing is reported beside the metrics, never among them.
        assert!(entry["metrics"].get("fit_time_ms").is_none());
        assert!(entry["fit_time_ms"]["mean"].as_f64().unwrap() >= 0.0);
        assert!(entry["predict_us_per_record"].as_f64().unwrap() >= 0.0);
        assert!(entry["params"].is_object());
    }
    // A model's size in an artifact: a forest of deep trees is far larger than a linear model.
    let size_of = |name: &str| {
        leaderboard
            .as_array()
            .unwrap()
            .iter()
            .find(|entry| entry["model"] == name)
            .map(|entry| entry["model_kb"].as_f64().unwrap())
    };
    let (forest, linear) = (
        size_of("random_forest").unwrap(),
        size_of("logistic_regression").unwrap(),
    );
    assert!(forest > 20.0 * linear, "{forest} KB vs {linear} KB");
    let card: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(first.join("model.json")).unwrap()).unwrap();
    assert_eq!(card["dataset"]["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(card["seed"], 7);
    let sha256: String = sha2::Sha256::digest(&bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    assert_eq!(
        card["artifact_sha256"],
        sha256.as_str(),
        "the card names its model"
    );
}

#[test]
fn every_fitted_model_round_trips_through_the_artifact() {
    let dir = tempfile::tempdir().unwrap();
    let (config_path, data) = write_binary(dir.path(), 150, 0.4, 9);
    let config = DatasetConfig::load(&config_path).unwrap();
    let dataset = data::load(&config, &data, Labels::Required).unwrap();
    for kind in ModelKind::singles() {
        let mut opts = options(&config_path, &data);
        opts.models = vec![kind];
        let out = dir.path().join(kind.short());
        let outcome = train_into(&opts, &out).unwrap();
        let loaded = Artifact::load(&out.join("model.bin")).unwrap();
        // Bytes, not `==`: a model that leaves missing values to the trees stores NaN fills,
        // which are equal bit for bit but not as numbers.
        assert_eq!(
            loaded.to_bytes().unwrap(),
            outcome.artifact.to_bytes().unwrap(),
            "{}",
            kind.name()
        );
        assert_eq!(loaded.model_name, kind.name());
        assert_rows_predict_as_each_row(&loaded, &dataset, kind.name());
        for row in dataset.raw.rows() {
            let raw = row.to_vec();
            assert_eq!(
                loaded.predict_raw(&raw),
                outcome.artifact.predict_raw(&raw),
                "{}",
                kind.name()
            );
        }
    }
}

/// Many rows predicted at once (as batch scoring does) give each row's one-row prediction, bit
/// for bit: the block walk of tree ensembles changes the speed, never a probability.
fn assert_rows_predict_as_each_row(artifact: &Artifact, dataset: &data::Dataset, context: &str) {
    let n_classes = artifact.schema.classes.len();
    let n_rows = dataset.raw.nrows();
    let raws: Vec<f64> = dataset.raw.iter().copied().collect();
    let mut probabilities = vec![0.0; n_rows * n_classes];
    let mut labels = vec![0; n_rows];
    artifact.predict_rows(&raws, &mut probabilities, &mut labels);
    for (row_idx, row) in dataset.raw.rows().into_iter().enumerate() {
        let one = artifact.predict_raw(&row.to_vec());
        let batch = &probabilities[row_idx * n_classes..(row_idx + 1) * n_classes];
        let same_bits = one
            .probabilities
            .iter()
            .zip(batch)
            .all(|(a, b)| a.to_bits() == b.to_bits());
        assert!(
            same_bits,
            "{context} row {row_idx}: {batch:?} against {:?}",
            one.probabilities
        );
        assert_eq!(labels[row_idx], one.label_idx, "{context} row {row_idx}");
    }
}

#[test]
fn tree_ensembles_and_their_ensembles_predict_blocks_of_rows_as_single_rows() {
    let dir = tempfile::tempdir().unwrap();
    let (config_path, data) = write_binary(dir.path(), 200, 0.4, 5);
    let config = DatasetConfig::load(&config_path).unwrap();
    let dataset = data::load(&config, &data, Labels::Required).unwrap();
    for shipped in ["vote", "stack"] {
        let mut opts = options(&config_path, &data);
        opts.models = ["rf", "gbm", "hgb", "et"].iter().map(|s| kind(s)).collect();
        opts.ensemble_size = 3;
        opts.selection = train::selection::SelectionRule::Model(kind(shipped));
        let outcome = train_into(&opts, &dir.path().join(shipped)).unwrap();
        assert_rows_predict_as_each_row(&outcome.artifact, &dataset, shipped);
    }
    // Multiclass: boosting grows one tree per class per round.
    let (config_path, data) = write_grades(dir.path(), 150, false, 3.0, 2);
    let config = DatasetConfig::load(&config_path).unwrap();
    let dataset = data::load(&config, &data, Labels::Required).unwrap();
    for family in ["gbm", "hgb", "rf"] {
        let mut opts = options(&config_path, &data);
        opts.models = vec![kind(family)];
        let outcome = train_into(&opts, &dir.path().join(format!("grades-{family}"))).unwrap();
        assert_rows_predict_as_each_row(&outcome.artifact, &dataset, family);
    }
}

#[test]
fn named_records_and_training_rows_score_identically() {
    let dir = tempfile::tempdir().unwrap();
    let (config_path, data) = write_binary(dir.path(), 200, 0.4, 4);
    train_into(&options(&config_path, &data), &dir.path().join("out")).unwrap();
    let artifact = Artifact::load(&dir.path().join("out/model.bin")).unwrap();
    let config = DatasetConfig::load(&config_path).unwrap();
    let dataset = data::load(&config, &data, Labels::Required).unwrap();
    let text = std::fs::read_to_string(&data).unwrap();
    for (row_idx, line) in text.lines().skip(1).take(50).enumerate() {
        let named = common::predict_line(&artifact, line);
        let raw: Vec<f64> = dataset.raw.row(row_idx).to_vec();
        assert_eq!(named, artifact.predict_raw(&raw), "row {row_idx}");
    }
}

/// Three grades in two numeric features and a categorical one. With `tiny_class`, grade "c"
/// has only 5 rows, like wine quality 9; otherwise the grades take turns. `spread` sets how far
/// apart the grades' centres are.
fn write_grades(
    dir: &Path,
    n_rows: usize,
    tiny_class: bool,
    spread: f64,
    seed: u64,
) -> (PathBuf, PathBuf) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut csv = String::from("kind,x1,x2,grade\n");
    for row in 0..n_rows {
        let grade = match (tiny_class, row) {
            (true, 0..5) => 2,
            (true, _) => row % 2,
            (false, _) => row % 3,
        };
        let center = [0.0, 1.0, 2.0][grade] * spread;
        let x1 = center + rng.gen_range(-1.5..1.5f64);
        let x2 = if rng.gen_bool(0.05) {
            String::new()
        } else {
            format!("{:.3}", center + rng.gen_range(-1.5..1.5f64))
        };
        let kind = if rng.gen_bool(0.5) { "red" } else { "white" };
        let _ = writeln!(csv, "{kind},{x1:.3},{x2},{}", ["a", "b", "c"][grade]);
    }
    write_fixture(
        dir,
        "grades",
        &csv,
        "task = \"multiclass\"\ntarget = \"grade\"\nclasses = [\"a\", \"b\", \"c\"]\n\
         [[features]]\nname = \"kind\"\nkind = \"categorical\"\n[[features]]\nname = \"x1\"\nkind = \"numeric\"\n[[features]]\nname = \"x2\"\nkind = \"numeric\"\n",
    )
}

/// Writes `NAME.csv` and a config `NAME.toml` (name and path, then `config`); returns both.
fn write_fixture(dir: &Path, name: &str, csv: &str, config: &str) -> (PathBuf, PathBuf) {
    let data = dir.join(format!("{name}.csv"));
    std::fs::write(&data, csv).unwrap();
    let config_path = dir.join(format!("{name}.toml"));
    std::fs::write(
        &config_path,
        format!("name = \"{name}\"\npath = \"x.csv\"\n{config}"),
    )
    .unwrap();
    (config_path, data)
}

#[test]
fn multiclass_copes_with_a_tiny_class_and_more_folds_than_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let (config, data) = write_grades(dir.path(), 305, true, 2.0, 5);
    for folds in [5, 8] {
        let mut opts = options(&config, &data);
        assert_eq!(opts.metric, Metric::Accuracy, "the multiclass default");
        opts.folds = folds;
        let out = dir.path().join(format!("out{folds}"));
        let outcome = train_into(&opts, &out).unwrap();
        assert_eq!(outcome.results.len(), 10, "folds {folds}");
        assert_every_model_above(&outcome, Metric::Accuracy, 0.6, &format!("folds {folds}"));
        assert_eq!(
            outcome
                .warnings
                .iter()
                .any(|w| w.contains("class `c` has 5 rows")),
            folds > 5,
            "{:?}",
            outcome.warnings
        );
        assert!(outcome.artifact.decision.threshold.is_none());
    }
}

#[test]
fn multiclass_probabilities_sum_to_one_and_every_class_is_recalled_above_chance() {
    let dir = tempfile::tempdir().unwrap();
    // Separable: centres 6 apart with noise of half-width 1.5, 100 rows per grade.
    let (config, data) = write_grades(dir.path(), 300, false, 6.0, 11);
    let mut opts = options(&config, &data);
    opts.models = ModelKind::singles().collect();
    let outcome = run(&opts, &MemorySink::default()).unwrap();
    let loaded = train::stages::load(&opts).unwrap();
    let n_classes = 3;
    for result in &outcome.results {
        let name = result.kind.name();
        let mut recalled = vec![0usize; n_classes];
        let mut support = vec![0usize; n_classes];
        for (probabilities, truth) in result.oof.rows().into_iter().zip(loaded.y()) {
            let total: f64 = probabilities.sum();
            assert!(
                (total - 1.0).abs() < 1e-9,
                "{name}: probabilities sum to {total}"
            );
            assert!(
                probabilities.iter().all(|p| (0.0..=1.0).contains(p)),
                "{name}"
            );
            support[*truth] += 1;
            if model::argmax(&probabilities.to_vec()) == *truth {
                recalled[*truth] += 1;
            }
        }
        for class_idx in 0..n_classes {
            let recall = recalled[class_idx] as f64 / support[class_idx] as f64;
            assert!(
                recall > 1.0 / n_classes as f64,
                "{name}: recall of class {class_idx} is {recall:.3}, not above chance"
            );
        }
    }
    // The shipped pipeline, too, on every training row.
    for row in loaded.dataset.raw.rows() {
        let prediction = outcome.artifact.predict_raw(&row.to_vec());
        let total: f64 = prediction.probabilities.iter().sum();
        assert!((total - 1.0).abs() < 1e-9, "artifact: {total}");
    }
}

#[test]
fn balancing_tuning_and_calibration_options_all_run() {
    let dir = tempfile::tempdir().unwrap();
    let (config, data) = write_binary(dir.path(), 250, 0.25, 6);
    for (idx, balance) in [
        Balance::Oversample,
        Balance::Smote { k: 5 },
        Balance::ClassWeight,
    ]
    .into_iter()
    .enumerate()
    {
        let mut opts = options(&config, &data);
        opts.balance = balance;
        opts.calibration = [
            CalibrationKind::Platt,
            CalibrationKind::Isotonic,
            CalibrationKind::None,
        ][idx];
        opts.threshold = [
            ThresholdRule::MaxF1,
            ThresholdRule::Youden,
            ThresholdRule::Fixed(0.5),
        ][idx];
        let outcome = run(&opts, &MemorySink::default()).unwrap();
        assert!(
            outcome.artifact.leaderboard[0]
                .metric(Metric::RocAuc)
                .unwrap()
                > 0.75,
            "{balance:?}"
        );
        assert_eq!(
            outcome.artifact.pipeline.calibration_name(),
            opts.calibration.as_str()
        );
        if balance == Balance::ClassWeight {
            let lr = outcome
                .artifact
                .leaderboard
                .iter()
                .find(|e| e.model == "logistic_regression")
                .unwrap();
            assert!(lr.params.contains(&(
                "balance".into(),
                "oversample (class weights unsupported)".into()
            )));
        }
    }
    let mut bad_metric = options(&config, &data);
    bad_metric.metric = Metric::MacroF1;
    let error = run(&bad_metric, &MemorySink::default())
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("metric `macro_f1` is not reported for a binary task"),
        "{error}"
    );
}

/// Rows in [0, 1) whose class alternates over 64 equal stripes: a tree needs more than 32
/// leaves (depth above 5, the default) to separate them.
fn write_stripes(dir: &Path, n_rows: usize) -> (PathBuf, PathBuf) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(21);
    let mut csv = String::from("x,noise,y\n");
    for _ in 0..n_rows {
        let x: f64 = rng.r#gen();
        let stripe = (x * 64.0) as usize;
        let _ = writeln!(
            csv,
            "{x:.6},{:.3},{}",
            rng.gen_range(0.0..1.0f64),
            ["even", "odd"][stripe % 2]
        );
    }
    write_fixture(
        dir,
        "stripes",
        &csv,
        "task = \"binary\"\ntarget = \"y\"\nclasses = [\"even\", \"odd\"]\npositive_class = \"odd\"\n\
         [[features]]\nname = \"x\"\nkind = \"numeric\"\n[[features]]\nname = \"noise\"\nkind = \"numeric\"\n",
    )
}

#[test]
fn tuning_stays_in_the_declared_space_and_beats_a_poor_default() {
    let dir = tempfile::tempdir().unwrap();
    let (config, data) = write_stripes(dir.path(), 3000);
    let mut default = options(&config, &data);
    default.models = vec![kind("dt")];
    let default_run = run(&default, &MemorySink::default()).unwrap();
    let mut tuned = default.clone();
    tuned.tune = 12;
    let tuned_run = run(&tuned, &MemorySink::default()).unwrap();
    let auc = |outcome: &TrainOutcome| {
        outcome.artifact.leaderboard[0]
            .metric(Metric::RocAuc)
            .unwrap()
    };
    let chosen = &tuned_run.results[0].params;
    assert!(chosen.in_search_space(), "{chosen:?}");
    assert_ne!(
        chosen,
        &kind("dt").default_params(),
        "tuning kept the poor default"
    );
    assert!(
        auc(&tuned_run) > auc(&default_run) + 0.1,
        "tuned {:.3} vs default {:.3}",
        auc(&tuned_run),
        auc(&default_run)
    );
    // Every candidate a tuning run can draw lies inside the declared space.
    for kind in ModelKind::all() {
        for params in train::tuning::candidates(kind, 40, 5).into_iter().skip(1) {
            assert!(params.in_search_space(), "{params:?}");
            assert_eq!(params.kind(), kind);
        }
    }
}

#[test]
fn a_family_trains_the_same_forest_whatever_else_the_run_trains() {
    let dir = tempfile::tempdir().unwrap();
    let (config, data) = write_binary(dir.path(), 200, 0.4, 12);
    let default = options(&config, &data);
    assert_eq!(default.models, ModelKind::default_run());
    let mut alone = default.clone();
    alone.models = vec![kind("rf")];
    let mut reordered = default.clone();
    reordered.models = vec![kind("rf"), kind("lr")];
    let forest = |opts: &TrainOptions| {
        let outcome = run(opts, &MemorySink::default()).unwrap();
        let result = outcome
            .results
            .into_iter()
            .find(|result| result.kind == kind("rf"))
            .unwrap();
        let loaded = train::stages::load(opts).unwrap();
        let pipeline = train::stages::final_fit(&loaded.trainer(opts), &result, opts).unwrap();
        (result.oof, result.fold_metrics, pipeline)
    };
    let (oof, fold_metrics, pipeline) = forest(&default);
    for other in [&alone, &reordered] {
        let (other_oof, other_metrics, other_pipeline) = forest(other);
        assert!(
            oof.iter()
                .zip(&other_oof)
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "out-of-fold probabilities differ: {:?}",
            other.models
        );
        assert_eq!(fold_metrics, other_metrics);
        assert_eq!(pipeline, other_pipeline, "the final forest differs");
    }
}

#[test]
fn importance_on_kept_fold_pipelines_equals_importance_on_refitted_ones() {
    let dir = tempfile::tempdir().unwrap();
    let (config, data) = write_binary(dir.path(), 200, 0.4, 13);
    let opts = options(&config, &data);
    let outcome = run(&opts, &MemorySink::default()).unwrap();
    let chosen = &outcome.results[0];
    // Small models are all kept for the chosen one; the others let theirs go.
    assert_eq!(chosen.fold_pipelines.len(), opts.folds);
    assert!(chosen.fold_pipelines.iter().all(Option::is_some));
    assert!(
        outcome.results[1..]
            .iter()
            .all(|result| result.fold_pipelines.is_empty())
    );
    let mut refitting = chosen.clone();
    refitting.fold_pipelines.clear();
    let loaded = train::stages::load(&opts).unwrap();
    let refitted =
        train::importance::permutation_importance(&loaded.trainer(&opts), &refitting, &opts)
            .unwrap();
    assert_eq!(outcome.artifact.importance, Some(refitted));
}

#[test]
fn a_run_reports_to_its_sink_and_writes_nothing_without_a_file_sink() {
    let dir = tempfile::tempdir().unwrap();
    let (config, data) = write_binary(dir.path(), 150, 0.4, 13);
    let before: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    let mut opts = options(&config, &data);
    opts.models = vec![kind("lr"), kind("nb")];
    let sink = MemorySink::default();
    let outcome = run(&opts, &sink).unwrap();
    let after: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(before.len(), after.len(), "no file was written");
    assert!(Artifact::from_bytes(&outcome.artifact_bytes, Path::new("memory")).is_ok());
    assert!(
        outcome
            .reports
            .iter()
            .any(|file| file.path == Path::new("model.json"))
    );
    let events = sink.events();
    let stages: Vec<Stage> = events
        .iter()
        .filter_map(|event| match event {
            Recorded::Stage(stage) => Some(*stage),
            _ => None,
        })
        .collect();
    assert_eq!(
        stages,
        vec![
            Stage::Load,
            Stage::Profile,
            Stage::CrossValidate,
            Stage::Select,
            Stage::FinalFit,
            Stage::Decide,
            Stage::Package
        ]
    );
    assert!(events.contains(&Recorded::Planned(
        vec![
            "logistic_regression",
            "gaussian_naive_bayes",
            "soft_voting",
            "stacking"
        ],
        20
    )));
    let folds = events
        .iter()
        .filter(|event| matches!(event, Recorded::Fold(..)))
        .count();
    assert_eq!(folds, 20, "one event per model and fold");
    assert_eq!(
        events.last(),
        Some(&Recorded::Finished(
            outcome
                .results
                .iter()
                .map(|result| result.kind.name())
                .collect()
        ))
    );
}

#[test]
fn the_artifact_records_the_imputation_each_column_used() {
    let dir = tempfile::tempdir().unwrap();
    let (config, data) = write_binary(dir.path(), 150, 0.4, 15);
    let mut opts = options(&config, &data);
    opts.models = vec![kind("lr")];
    opts.preprocess = preprocess::PreprocessParams {
        numeric_imputation: preprocess::Imputation::Mean,
        ..preprocess::PreprocessParams::default()
    }
    .check()
    .unwrap();
    let outcome = run(&opts, &MemorySink::default()).unwrap();
    let rules: Vec<model::FillRule> = outcome
        .artifact
        .pipeline
        .preprocessor
        .columns
        .iter()
        .map(|column| match column {
            model::ColumnTransform::Numeric { fill_rule, .. }
            | model::ColumnTransform::OneHot { fill_rule, .. } => *fill_rule,
        })
        .collect();
    // marker (numeric), age (integer), smoker (binary), ward (categorical).
    assert_eq!(
        rules,
        [
            model::FillRule::Mean,
            model::FillRule::Median,
            model::FillRule::MostFrequent,
            model::FillRule::MostFrequent
        ]
    );
}

#[test]
fn forest_leaves_grow_with_the_training_rows() {
    use train::learners::Learner;
    use train::learners::ensemble::Ensemble;
    let defaults = train::learners::random_forest::RANDOM_FOREST.default_params();
    let _: &Ensemble = &train::learners::random_forest::RANDOM_FOREST;
    assert_eq!(
        defaults.min_leaf(599),
        1,
        "small tables keep one-row leaves"
    );
    assert_eq!(defaults.min_leaf(5_000), 1);
    assert_eq!(defaults.min_leaf(5_001), 2);
    assert_eq!(defaults.min_leaf(100_000), 20);
    assert_eq!(defaults.min_leaf(1_000_000), 200);
}

#[test]
fn invalid_hyperparameters_are_refused_naming_the_parameter() {
    use train::learners::ensemble::{Ensemble, ForestParams, MaxFeatures};
    let rf = kind("rf");
    let params = train::learners::ModelParams::new::<Ensemble>(
        rf,
        ForestParams {
            n_trees: 0,
            max_depth: None,
            min_samples_leaf: 1,
            min_leaf_fraction: 0.0,
            max_features: MaxFeatures::Sqrt,
            bootstrap: true,
        },
    );
    let x = ndarray::Array2::<f64>::zeros((4, 1));
    let data = train::learners::FitData::new(x.view(), &[0, 1, 0, 1], None, 2, 1);
    let error = rf.fit(&params, &data, 0).unwrap_err().to_string();
    assert!(
        error.contains("random_forest") && error.contains("`n_trees`"),
        "{error}"
    );
    let error = kind("lr").fit(&params, &data, 0).unwrap_err().to_string();
    assert!(error.contains("parameters of `random_forest`"), "{error}");
}

#[test]
fn the_registry_names_every_family_once() {
    let kinds: Vec<ModelKind> = ModelKind::all().collect();
    for names in [
        kinds.iter().map(|k| k.short()).collect::<Vec<_>>(),
        kinds.iter().map(|k| k.name()).collect::<Vec<_>>(),
    ] {
        let mut distinct = names.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), names.len(), "{names:?}");
    }
    let default: Vec<&str> = ModelKind::default_run().iter().map(|k| k.short()).collect();
    assert_eq!(
        default,
        ["lr", "dt", "rf", "gbm", "knn", "svm", "nb", "hgb"]
    );
    assert_eq!(kind("extra_trees"), kind("et"));
    assert!("xgb".parse::<ModelKind>().unwrap_err().contains("`et`"));
}

/// Runs the `train` binary with `args`, then `--config`, `--data` and `--out`.
fn train_cli(args: &[&str], config: &Path, data: &Path, out: &Path) -> std::process::Output {
    let store = tempfile::tempdir().unwrap();
    Command::new(env!("CARGO_BIN_EXE_train"))
        .args(args)
        .arg("--config")
        .arg(config)
        .arg("--data")
        .arg(data)
        .arg("--out")
        .arg(out)
        // A run store of the test's own: the default sits beside `out`, outside the test.
        .env("VIGIL_RUN_STORE", store.path().join("runs.sqlite"))
        .output()
        .unwrap()
}

#[test]
fn cli_reports_bad_rows_with_line_and_column_and_fails() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/tests/fixtures");
    let output = train_cli(
        &["--quiet"],
        &fixtures.join("toy.toml"),
        &fixtures.join("bad_number_line57.csv"),
        tempfile::tempdir().unwrap().path(),
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("line 57")
            && stderr.contains("`glucose`")
            && stderr.contains("expected a number")
            && !stderr.contains("12x"),
        "{stderr}"
    );
    let output = train_cli(
        &["--quiet", "--show-values"],
        &fixtures.join("toy.toml"),
        &fixtures.join("bad_number_line57.csv"),
        tempfile::tempdir().unwrap().path(),
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("invalid value `12x`"));

    let out = tempfile::tempdir().unwrap();
    let output = train_cli(
        &["eda"],
        &fixtures.join("toy.toml"),
        &fixtures.join("bom_cr.csv"),
        out.path(),
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("rows: 80"));
    assert!(out.path().join("report.html").is_file());

    let output = Command::new(env!("CARGO_BIN_EXE_train"))
        .args(["--models", "lr,xgb"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("unknown model `xgb`"), "{stderr}");

    let output = Command::new(env!("CARGO_BIN_EXE_train"))
        .arg("families")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success());
    for kind in ModelKind::all() {
        assert!(stdout.contains(kind.name()), "{stdout}");
    }
    assert!(stdout.contains("et     extra_trees"), "{stdout}");
}

#[test]
fn cli_trains_extra_trees_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let (config, data) = write_binary(dir.path(), 200, 0.4, 14);
    let out = dir.path().join("et");
    let output = train_cli(&["--quiet", "--models", "et"], &config, &data, &out);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let artifact = Artifact::load(&out.join("model.bin")).unwrap();
    assert_eq!(artifact.model_name, "extra_trees");
    assert!(
        artifact
            .params
            .contains(&("bootstrap".into(), "false".into()))
    );
    assert!(artifact.leaderboard[0].metric(Metric::RocAuc).unwrap() > 0.75);
}

/// Explains every row of `dataset` with the artifact's explainer and checks that the base value
/// plus the contributions equals the explained output, and that the output is what prediction
/// returns (the probability itself, or its log-odds; class logits through their softmax).
fn assert_explanations_add_up(artifact: &Artifact, dataset: &data::Dataset, context: &str) {
    use model::explain::{Method, Scale, target_class};
    let pipeline = &artifact.pipeline;
    let method = Method::for_classifier(&pipeline.classifier);
    for row in dataset.raw.rows().into_iter().take(40) {
        let raw = row.to_vec();
        let prediction = artifact.predict_raw(&raw);
        let class_idx = target_class(pipeline, prediction.label_idx);
        let explain = |class_idx| {
            artifact
                .explainer
                .explain(pipeline, &raw, class_idx)
                .unwrap()
        };
        let explanation = explain(class_idx);
        assert_eq!(explanation.method, method, "{context}");
        assert_eq!(
            explanation.contributions.len(),
            artifact.schema.features.len()
        );
        let total = explanation.base_value + explanation.contributions.iter().sum::<f64>();
        assert!(
            (total - explanation.output_value).abs() < 1e-9,
            "{context}: {total} vs {}",
            explanation.output_value
        );
        assert_eq!(
            explanation.standard_errors.is_some(),
            method == Method::SampledShapley
        );
        let probability = match explanation.scale {
            Scale::Probability => explanation.output_value,
            Scale::LogOdds => 1.0 / (1.0 + (-explanation.output_value).exp()),
            Scale::Logit => {
                let logits: Vec<f64> = (0..pipeline.n_classes)
                    .map(|class_idx| explain(class_idx).output_value)
                    .collect();
                let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let total: f64 = logits.iter().map(|logit| (logit - max).exp()).sum();
                (logits[class_idx] - max).exp() / total
            }
        };
        // The explanation is of the model's output before calibration, which then maps it.
        let probability = if pipeline.calibration.is_some() && pipeline.n_classes == 2 {
            let mut both = vec![0.0; 2];
            both[class_idx] = probability;
            both[1 - class_idx] = 1.0 - probability;
            pipeline.calibrate(&mut both);
            both[class_idx]
        } else {
            probability
        };
        assert!(
            (probability - prediction.probabilities[class_idx]).abs() < 1e-9,
            "{context}: explained {probability} vs predicted {}",
            prediction.probabilities[class_idx]
        );
    }
}

#[test]
fn every_family_explains_its_predictions_additively() {
    let dir = tempfile::tempdir().unwrap();
    let (config_path, data) = write_binary(dir.path(), 160, 0.4, 12);
    let dataset = data::load(
        &DatasetConfig::load(&config_path).unwrap(),
        &data,
        Labels::Required,
    )
    .unwrap();
    for kind in ModelKind::singles() {
        let mut opts = options(&config_path, &data);
        opts.models = vec![kind];
        let outcome = run(&opts, &MemorySink::default()).unwrap();
        assert_explanations_add_up(&outcome.artifact, &dataset, kind.name());
        // Only the sampled families carry a background summary; it holds centroids, not rows.
        let background = outcome.artifact.explainer.background.as_ref();
        let sampled = matches!(kind.short(), "knn" | "svm" | "nb");
        assert_eq!(background.is_some(), sampled, "{}", kind.name());
        if let Some(background) = background {
            assert!(background.weights.len() <= train::background::BACKGROUND_POINTS);
            assert!((background.weights.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        }
    }
    let (config_path, data) = write_grades(dir.path(), 150, false, 2.0, 3);
    let dataset = data::load(
        &DatasetConfig::load(&config_path).unwrap(),
        &data,
        Labels::Required,
    )
    .unwrap();
    for short in ["lr", "gbm", "rf", "nb", "knn"] {
        let mut opts = options(&config_path, &data);
        opts.models = vec![kind(short)];
        let outcome = run(&opts, &MemorySink::default()).unwrap();
        assert_explanations_add_up(&outcome.artifact, &dataset, short);
    }
}

#[test]
fn the_terminal_leaderboard_fits_a_hundred_columns() {
    let dir = tempfile::tempdir().unwrap();
    let (config_path, data) = write_binary(dir.path(), 120, 0.4, 2);
    let (grades_config, grades) = write_grades(dir.path(), 150, false, 2.0, 3);
    for (config_path, data) in [(config_path, data), (grades_config, grades)] {
        let mut opts = options(&config_path, &data);
        opts.models = vec![kind("lr"), kind("nb"), kind("knn")];
        let outcome = run(&opts, &MemorySink::default()).unwrap();
        let table =
            train::report::leaderboard_table(&outcome.results, outcome.metrics, opts.metric);
        for line in table.lines() {
            assert!(
                line.chars().count() <= train::report::TERMINAL_WIDTH,
                "{} columns: {line}",
                line.chars().count()
            );
        }
        assert!(table.contains(&format!("*{}", opts.metric)), "{table}");
        // Each column shows its own metric: the first model's ranking figure is its own.
        let first = &outcome.results[0];
        let ranking = first
            .summaries(outcome.metrics)
            .into_iter()
            .find(|summary| summary.metric == opts.metric)
            .unwrap();
        let row = table.lines().nth(1).unwrap();
        assert!(
            row.contains(&format!("{:.3} ± {:.3}", ranking.mean, ranking.std)),
            "{row}"
        );
        // The next column is the first other metric shown (PR-AUC, or balanced accuracy).
        let next = if outcome.metrics.contains(&Metric::PrAuc) {
            Metric::PrAuc
        } else {
            Metric::BalancedAccuracy
        };
        let expected = first
            .summaries(outcome.metrics)
            .into_iter()
            .find(|summary| summary.metric == next)
            .unwrap()
            .mean;
        let shown: f64 = row.split_whitespace().nth(4).unwrap().parse().unwrap();
        assert_eq!(shown, (expected * 1000.0).round() / 1000.0, "{table}");
        // Header, three families and their two ensembles, footnote.
        assert_eq!(table.lines().count(), 1 + 5 + 1, "{table}");
    }
}

#[test]
fn a_margin_threshold_makes_the_card_interval_start_at_the_target() {
    let dir = tempfile::tempdir().unwrap();
    let (config_path, data) = write_binary(dir.path(), 300, 0.4, 21);
    let mut opts = options(&config_path, &data);
    opts.models = vec!["lr".parse().unwrap(), "rf".parse().unwrap()];
    opts.threshold = "sensitivity>=0.80".parse().unwrap();
    let plain = run(&opts, &MemorySink::default()).unwrap();
    opts.threshold = "sensitivity>=0.80@lower95".parse().unwrap();
    let margin = run(&opts, &MemorySink::default()).unwrap();
    let sensitivity =
        |outcome: &TrainOutcome| *outcome.artifact.evidence.figure("sensitivity").unwrap();
    // The plain rule's point sensitivity is about the target, its interval straddles it; the
    // margin rule's interval, from the same resamples, starts at or above it.
    assert!(sensitivity(&plain).lower < 0.8, "{:?}", sensitivity(&plain));
    assert!(
        sensitivity(&margin).lower >= 0.8 - 1e-12,
        "{:?}",
        sensitivity(&margin)
    );
    let (plain_threshold, margin_threshold) = (
        plain.artifact.decision.threshold.unwrap(),
        margin.artifact.decision.threshold.unwrap(),
    );
    assert!(margin_threshold < plain_threshold);
    assert_eq!(margin.artifact.decision.rule, "sensitivity>=0.80@lower95");
    // The same model and calibration either way: only the threshold moved.
    assert_eq!(plain.artifact.model_name, margin.artifact.model_name);
    assert_eq!(plain.selection, margin.selection);
}

#[test]
fn ensembles_of_the_best_families_are_candidates_and_ship_through_the_artifact() {
    let dir = tempfile::tempdir().unwrap();
    let (config, data) = write_binary(dir.path(), 300, 0.35, 12);
    let mut opts = options(&config, &data);
    opts.models = ["lr", "nb", "dt", "knn"].iter().map(|s| kind(s)).collect();
    opts.ensemble_size = 3;
    opts.selection = train::selection::SelectionRule::Model(kind("stack"));
    let outcome = train_into(&opts, &dir.path().join("out")).unwrap();
    let names: Vec<&str> = outcome.results.iter().map(|r| r.kind.name()).collect();
    assert_eq!(names.len(), 6, "{names:?}");
    assert_eq!(names[0], "stacking", "shipped as asked: {names:?}");
    assert!(names.contains(&"soft_voting"));
    // The members are the three best single families by the ranking metric.
    let mut singles: Vec<(f64, &str)> = outcome
        .results
        .iter()
        .filter(|r| !r.kind.info().combines_others)
        .map(|r| {
            let summaries = r.summaries(Metric::for_task(model::Task::Binary));
            (summaries[0].mean, r.kind.name())
        })
        .collect();
    singles.sort_by(|a, b| b.0.total_cmp(&a.0));
    let expected: Vec<&str> = singles.iter().take(3).map(|(_, name)| *name).collect();
    let stacking = &outcome.results[0];
    let members = stacking
        .params
        .pairs()
        .into_iter()
        .find(|(name, _)| name == "members")
        .unwrap()
        .1;
    assert_eq!(members, expected.join("+"));
    // The artifact holds the members and predicts, after a round trip, as the run did.
    let loaded = Artifact::load(&dir.path().join("out/model.bin")).unwrap();
    assert_eq!(loaded.model_name, "stacking");
    assert!(matches!(
        &loaded.pipeline.classifier,
        model::Classifier::Stacked(stacked) if stacked.members.len() == 3
    ));
    assert_eq!(
        loaded.to_bytes().unwrap(),
        outcome.artifact.to_bytes().unwrap()
    );
    // Ensembles are built from the run, never listed.
    let mut listed = options(&config, &data);
    listed.models = vec![kind("lr"), kind("vote")];
    let error = train_into(&listed, &dir.path().join("listed"))
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("`soft_voting` is built from the run's best families"),
        "{error}"
    );
}
