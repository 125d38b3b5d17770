//! End-to-end training on generated datasets: every model learns, probabilities point the right
//! way, artifacts are reproducible, and training and serving score rows identically.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use data::{DatasetConfig, Labels};
use model::{Artifact, Value};
use preprocess::{Balance, PreprocessParams};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use train::learners::ModelKind;
use train::threshold::{CalibrationKind, ThresholdRule};
use train::{TrainOptions, run};

const BINARY_CONFIG: &str = r#"
name = "synthetic"
path = "data/synthetic.csv"
task = "binary"
target = "outcome"
classes = ["healthy", "sick"]
positive_class = "sick"
id_columns = ["pid"]
[training]
threshold = "sensitivity>=0.80"
[[features]]
name = "marker"
kind = "numeric"
zero_is_missing = true
range = [0, 500]
[[features]]
name = "age"
kind = "integer"
range = [0, 120]
[[features]]
name = "smoker"
kind = "binary"
[[features]]
name = "ward"
kind = "categorical"
"#;

/// Writes a binary dataset whose positive class is a `positive_share` minority (or majority).
fn write_binary(dir: &Path, n_rows: usize, positive_share: f64, seed: u64) -> (PathBuf, PathBuf) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut csv = String::from("pid,marker,age,smoker,ward,outcome\n");
    for row in 0..n_rows {
        let sick = rng.gen_bool(positive_share);
        let marker = if rng.gen_bool(0.08) {
            0.0
        } else {
            (if sick { 160.0 } else { 110.0 } + rng.gen_range(-45.0..45.0f64)).round()
        };
        let age = if sick {
            rng.gen_range(35..80)
        } else {
            rng.gen_range(20..65)
        };
        let smoker = u8::from(rng.gen_bool(if sick { 0.5 } else { 0.2 }));
        let ward = ["north", "south", "east"][rng.gen_range(0..3)];
        let age_text = if rng.gen_bool(0.03) {
            "NA".to_owned()
        } else {
            age.to_string()
        };
        let _ = writeln!(
            csv,
            "P{row},{marker},{age_text},{smoker},{ward},{}",
            if sick { "sick" } else { "healthy" }
        );
    }
    let data = dir.join("synthetic.csv");
    std::fs::write(&data, csv).unwrap();
    let config = dir.join("synthetic.toml");
    std::fs::write(&config, BINARY_CONFIG).unwrap();
    (config, data)
}

fn options(config: &Path, data: &Path, out: &Path) -> TrainOptions {
    TrainOptions {
        config: DatasetConfig::load(config).unwrap(),
        config_path: config.to_path_buf(),
        data_path: data.to_path_buf(),
        out_dir: out.to_path_buf(),
        seed: 7,
        folds: 5,
        repeats: 1,
        metric: "roc_auc".into(),
        balance: Balance::None,
        models: ModelKind::ALL.to_vec(),
        tune: 0,
        threshold: ThresholdRule::MinSensitivity(0.8),
        calibration: CalibrationKind::None,
        preprocess: PreprocessParams::default().check().unwrap(),
    }
}

fn quiet(_: &str) {}

#[test]
fn every_model_learns_with_probabilities_pointing_at_the_positive_class() {
    // Positive as minority and as majority: linfa-logistic's own notion of "positive" is the
    // majority class, so one of these would fail if the mapping were wrong.
    for (share, seed) in [(0.3, 1), (0.7, 2)] {
        let dir = tempfile::tempdir().unwrap();
        let (config, data) = write_binary(dir.path(), 400, share, seed);
        let outcome = run(&options(&config, &data, &dir.path().join("out")), &quiet).unwrap();
        assert_eq!(outcome.results.len(), 7);
        for entry in &outcome.artifact.leaderboard {
            let auc = entry.metric("roc_auc").unwrap();
            assert!(
                auc > 0.75,
                "share {share}: {} has ROC-AUC {auc:.3}",
                entry.model
            );
        }
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
    run(&options(&config, &data, &first), &quiet).unwrap();
    run(&options(&config, &data, &second), &quiet).unwrap();
    let bytes = std::fs::read(first.join("model.bin")).unwrap();
    assert_eq!(
        bytes,
        std::fs::read(second.join("model.bin")).unwrap(),
        "same seed, same bytes"
    );
    let mut other_seed = options(&config, &data, &dir.path().join("third"));
    other_seed.seed = 8;
    run(&other_seed, &quiet).unwrap();
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
    let leaderboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(first.join("leaderboard.json")).unwrap())
            .unwrap();
    let entries = leaderboard.as_array().unwrap();
    assert_eq!(entries.len(), 7);
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
            "fit_time_ms",
        ] {
            assert!(entry["metrics"][metric]["mean"].is_number(), "{metric}");
            assert!(entry["metrics"][metric]["std"].is_number(), "{metric}");
        }
        assert!(entry["params"].is_object());
    }
    let card: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(first.join("model.json")).unwrap()).unwrap();
    assert_eq!(card["dataset"]["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(card["seed"], 7);
}

#[test]
fn every_fitted_model_round_trips_through_the_artifact() {
    let dir = tempfile::tempdir().unwrap();
    let (config_path, data) = write_binary(dir.path(), 150, 0.4, 9);
    let config = DatasetConfig::load(&config_path).unwrap();
    let dataset = data::load(&config, &data, Labels::Required).unwrap();
    for kind in ModelKind::ALL {
        let mut opts = options(&config_path, &data, &dir.path().join(kind.short()));
        opts.models = vec![kind];
        let outcome = run(&opts, &quiet).unwrap();
        let loaded = Artifact::load(&opts.out_dir.join("model.bin")).unwrap();
        assert_eq!(loaded, outcome.artifact, "{}", kind.name());
        assert_eq!(loaded.pipeline.classifier.short_name(), kind.short());
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

#[test]
fn named_records_and_training_rows_score_identically() {
    let dir = tempfile::tempdir().unwrap();
    let (config_path, data) = write_binary(dir.path(), 200, 0.4, 4);
    run(
        &options(&config_path, &data, &dir.path().join("out")),
        &quiet,
    )
    .unwrap();
    let artifact = Artifact::load(&dir.path().join("out/model.bin")).unwrap();
    let config = DatasetConfig::load(&config_path).unwrap();
    let dataset = data::load(&config, &data, Labels::Required).unwrap();
    let text = std::fs::read_to_string(&data).unwrap();
    for (row_idx, line) in text.lines().skip(1).take(50).enumerate() {
        let cells: Vec<&str> = line.split(',').collect();
        let values: Vec<Value> = cells[1..5]
            .iter()
            .map(|cell| Value::Text((*cell).to_owned()))
            .collect();
        let names = ["marker", "age", "smoker", "ward"];
        let named = artifact
            .predict_record(names.iter().copied().zip(values.iter()))
            .unwrap();
        let raw: Vec<f64> = dataset.raw.row(row_idx).to_vec();
        assert_eq!(named, artifact.predict_raw(&raw), "row {row_idx}");
    }
}

#[test]
fn multiclass_copes_with_a_tiny_class_and_more_folds_than_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(5);
    let mut csv = String::from("kind,x1,x2,grade\n");
    for row in 0..305 {
        // Grade "c" has only 5 rows, like wine quality 9.
        let grade = if row < 5 { 2 } else { row % 2 };
        let center = [0.0, 2.0, 4.0][grade];
        let x1 = center + rng.gen_range(-1.5..1.5f64);
        let x2 = if rng.gen_bool(0.05) {
            String::new()
        } else {
            format!("{:.3}", center + rng.gen_range(-1.5..1.5f64))
        };
        let kind = if rng.gen_bool(0.5) { "red" } else { "white" };
        let _ = writeln!(csv, "{kind},{x1:.3},{x2},{}", ["a", "b", "c"][grade]);
    }
    let data = dir.path().join("grades.csv");
    std::fs::write(&data, csv).unwrap();
    let config = dir.path().join("grades.toml");
    std::fs::write(
        &config,
        "name = \"grades\"\npath = \"x.csv\"\ntask = \"multiclass\"\ntarget = \"grade\"\nclasses = [\"a\", \"b\", \"c\"]\n\
         [[features]]\nname = \"kind\"\nkind = \"categorical\"\n[[features]]\nname = \"x1\"\nkind = \"numeric\"\n[[features]]\nname = \"x2\"\nkind = \"numeric\"\n",
    )
    .unwrap();
    for folds in [5, 8] {
        let mut opts = options(&config, &data, &dir.path().join(format!("out{folds}")));
        opts.metric = "accuracy".into();
        opts.folds = folds;
        let outcome = run(&opts, &quiet).unwrap();
        assert_eq!(outcome.results.len(), 7, "folds {folds}");
        for entry in &outcome.artifact.leaderboard {
            let accuracy = entry.metric("accuracy").unwrap();
            assert!(
                accuracy > 0.6,
                "folds {folds}: {} accuracy {accuracy:.3}",
                entry.model
            );
        }
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
        let artifact = Artifact::load(&opts.out_dir.join("model.bin")).unwrap();
        let prediction = artifact.predict_raw(&[0.0, 4.0, 4.0]);
        assert_eq!(prediction.probabilities.len(), 3);
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
        let mut opts = options(&config, &data, &dir.path().join(format!("b{idx}")));
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
        let outcome = run(&opts, &quiet).unwrap();
        assert!(
            outcome.artifact.leaderboard[0].metric("roc_auc").unwrap() > 0.75,
            "{balance:?}"
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
    let mut tuned = options(&config, &data, &dir.path().join("tuned"));
    tuned.tune = 3;
    tuned.models = vec![ModelKind::Logistic, ModelKind::GradientBoosting];
    let outcome = run(&tuned, &quiet).unwrap();
    assert_eq!(outcome.results.len(), 2);
    let mut bad_metric = options(&config, &data, &dir.path().join("bad"));
    bad_metric.metric = "accuracy_typo".into();
    let error = run(&bad_metric, &quiet).unwrap_err().to_string();
    assert!(error.contains("unknown metric `accuracy_typo`"), "{error}");
}

#[test]
fn cli_reports_bad_rows_with_line_and_column_and_fails() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/tests/fixtures");
    let output = Command::new(env!("CARGO_BIN_EXE_train"))
        .args(["--quiet", "--config"])
        .arg(fixtures.join("toy.toml"))
        .arg("--data")
        .arg(fixtures.join("bad_number_line57.csv"))
        .arg("--out")
        .arg(tempfile::tempdir().unwrap().path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("line 57") && stderr.contains("`glucose`") && stderr.contains("`12x`"),
        "{stderr}"
    );

    let out = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_train"))
        .args(["eda", "--config"])
        .arg(fixtures.join("toy.toml"))
        .arg("--data")
        .arg(fixtures.join("bom_cr.csv"))
        .arg("--out")
        .arg(out.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("rows: 80"));
    assert!(out.path().join("report.html").is_file());
}
