//! `train evaluate`'s scoring agrees with the server's on named records, also when the
//! evaluation file lacks a category the training file had (so its own category codes differ).

mod common;

use data::{DatasetConfig, Labels};
use model::Artifact;
use train::evaluate::{EvaluateOptions, Figure, evaluate};
use train::sink::FileSink;
use train::{TrainOptions, run};

#[test]
fn a_file_missing_a_category_is_scored_with_the_models_own_codes() {
    let dir = tempfile::tempdir().unwrap();
    let (config_path, data) = common::write_binary(dir.path(), 240, 0.4, 4);
    let config = DatasetConfig::load(&config_path).unwrap();
    let mut options = TrainOptions::from_config(config.clone(), config_path.clone(), data).unwrap();
    options.models = vec!["lr".parse().unwrap()];
    let out = dir.path().join("out");
    run(&options, &FileSink::new(&out)).unwrap();
    let bytes = std::fs::read(out.join("model.bin")).unwrap();
    let artifact = Artifact::from_bytes(&bytes, &out).unwrap();

    // New patients, none of them on the east ward.
    let fresh = tempfile::tempdir().unwrap();
    let (_, all) = common::write_binary(fresh.path(), 400, 0.4, 77);
    let text = std::fs::read_to_string(&all).unwrap();
    let kept: Vec<&str> = text
        .lines()
        .filter(|line| !line.contains(",east,"))
        .collect();
    let filtered = fresh.path().join("no-east.csv");
    std::fs::write(&filtered, kept.join("\n")).unwrap();
    let dataset = data::load(&config, &filtered, Labels::Required).unwrap();
    assert_eq!(
        dataset.features[3].categories,
        ["north", "south"],
        "the scenario: codes shifted"
    );

    let evaluation = evaluate(
        &artifact,
        &bytes,
        &dataset,
        EvaluateOptions {
            resamples: 0,
            seed: 1,
        },
    )
    .unwrap();
    let (mut scores, mut truth) = (Vec::new(), Vec::new());
    for line in &kept[1..] {
        let prediction = common::predict_line(&artifact, line);
        scores.push(prediction.probabilities[1]);
        truth.push(line.ends_with(",sick"));
    }
    let auc = model::evaluation::roc_auc(&scores, &truth);
    let brier = scores
        .iter()
        .zip(&truth)
        .map(|(s, t)| (s - f64::from(u8::from(*t))).powi(2))
        .sum::<f64>()
        / scores.len() as f64;
    assert_eq!(evaluation.n_records, scores.len());
    assert!((evaluation.figure(Figure::RocAuc).unwrap().value - auc).abs() < 1e-12);
    assert!((evaluation.figure(Figure::Brier).unwrap().value - brier).abs() < 1e-12);
}

/// Two quick families on 400 generated rows, a quarter held out.
fn holdout_options(dir: &std::path::Path) -> TrainOptions {
    let (config_path, data) = common::write_binary(dir, 400, 0.4, 6);
    let config = DatasetConfig::load(&config_path).unwrap();
    let mut options = TrainOptions::from_config(config, config_path, data).unwrap();
    options.models = vec!["lr".parse().unwrap(), "nb".parse().unwrap()];
    options.holdout = 0.25;
    options
}

#[test]
fn a_holdout_is_kept_out_of_training_and_reported_beside_cross_validation() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = holdout_options(dir.path());
    let memory = train::sink::MemorySink::default();
    let outcome = run(&options, &memory).unwrap();
    let holdout = outcome.holdout.as_ref().unwrap();
    // A quarter of each class, rounded per class.
    assert!(
        holdout.n_records.abs_diff(100) <= 1,
        "{}",
        holdout.n_records
    );
    let n_training = outcome.artifact.provenance.n_training_rows;
    assert_eq!(n_training + holdout.n_records, 400);
    let counts: Vec<usize> = holdout
        .class_counts
        .iter()
        .map(|(_, count)| *count)
        .collect();
    assert!(
        counts.iter().all(|count| *count > 20),
        "stratified: {counts:?}"
    );
    // Subgroups: every training row in exactly one group of each split; a group with few
    // records of a class says so instead of giving an interval.
    assert_eq!(outcome.artifact.subgroups.len(), 2);
    for family in &outcome.artifact.subgroups {
        let total: usize = family.groups.iter().map(|group| group.n).sum();
        assert_eq!(total, n_training, "{:?}", family.spec);
    }
    let oldest = outcome.artifact.subgroups[0]
        .groups
        .iter()
        .find(|group| group.label == "age ≥ 75");
    if let Some(oldest) = oldest {
        assert!(
            oldest.note.is_some() || oldest.figures[0].1.lower.is_finite(),
            "{oldest:?}"
        );
    }
    assert_eq!(
        holdout.subgroups.len(),
        2,
        "the held-out split is broken down too"
    );
    // Permutation importance: the marker separates the classes most (the fixture draws it
    // 50 apart by class); every feature is listed once, most important first.
    let importance = outcome.artifact.importance.as_ref().unwrap();
    let names: Vec<&str> = importance
        .features
        .iter()
        .map(|f| f.feature.as_str())
        .collect();
    assert_eq!(names.len(), 4);
    assert_eq!(names[0], "marker", "{importance:?}");
    assert!(importance.features[0].mean > 0.05, "{importance:?}");
    assert!(
        importance
            .features
            .windows(2)
            .all(|pair| pair[0].mean >= pair[1].mean)
    );
    let auc = holdout.figure(Figure::RocAuc).unwrap();
    assert!(
        auc.value > 0.8 && auc.lower < auc.value && auc.value < auc.upper,
        "{auc:?}"
    );
    let leaderboard = outcome
        .reports
        .iter()
        .find(|report| report.path.ends_with("leaderboard.md"))
        .unwrap();
    assert!(leaderboard.contents.contains("## Held-out test split"));
    assert!(
        leaderboard
            .contents
            .contains(&format!("refitted on the {n_training} training rows only"))
    );
    assert!(
        outcome
            .reports
            .iter()
            .any(|report| report.path.ends_with("holdout/evaluation.json"))
    );
    let model_report = outcome
        .reports
        .iter()
        .find(|report| report.path.ends_with(train::tripod::FILE_NAME))
        .unwrap();
    assert!(model_report.contents.contains("kept out as a test split"));
    assert!(
        model_report.contents.ends_with(
            &leaderboard.contents[leaderboard
                .contents
                .find("\n## Held-out test split")
                .unwrap()..]
        )
    );
    // Same seed: the same split and the same artifact; another seed: another split.
    let again = run(&options, &memory).unwrap();
    assert_eq!(again.artifact_bytes, outcome.artifact_bytes);
    options.seed += 1;
    let other = run(&options, &memory).unwrap();
    assert_ne!(other.holdout.unwrap().figures, holdout.figures);
}

#[test]
fn the_model_report_covers_every_tripod_section_from_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let (config_path, data) = common::write_binary(dir.path(), 240, 0.4, 5);
    // The config's own words for intended use and limitations land in the report.
    let mut text = std::fs::read_to_string(&config_path).unwrap();
    text = text.replacen(
        "task = \"binary\"",
        "intended_use = \"Ranking ward patients for review.\"\nlimitations = [\"One synthetic ward.\"]\ntask = \"binary\"",
        1,
    );
    std::fs::write(&config_path, text).unwrap();
    let config = DatasetConfig::load(&config_path).unwrap();
    let dataset = data::load(&config, &data, Labels::Required).unwrap();
    let mut options = TrainOptions::from_config(config, config_path, data).unwrap();
    options.models = vec!["lr".parse().unwrap(), "nb".parse().unwrap()];
    let outcome = run(&options, &train::sink::MemorySink::default()).unwrap();
    let report = &outcome
        .reports
        .iter()
        .find(|report| report.path.ends_with(train::tripod::FILE_NAME))
        .unwrap()
        .contents;
    for heading in [
        "## 1. Intended use",
        "## 2. Source of data and outcome",
        "## 3. Predictors",
        "## 4. Missing data",
        "## 5. Model building",
        "## 6. Performance (internal validation)",
        "## 7. Limitations",
    ] {
        assert!(report.contains(heading), "{heading} missing");
    }
    assert!(report.contains("Ranking ward patients for review."));
    assert!(report.contains("- One synthetic ward."));
    // The missing-data table counts what the loader read: zeros in `marker` mean missing.
    let n_missing = dataset
        .raw
        .column(0)
        .iter()
        .filter(|value| value.is_nan() || **value == 0.0)
        .count();
    assert!(n_missing > 0, "the fixture has missing markers");
    assert!(
        report.contains(&format!("| marker | {n_missing} (")),
        "{report}"
    );
    // Figures come with intervals that contain them.
    let sensitivity = report
        .lines()
        .find(|line| line.starts_with("| sensitivity | "))
        .unwrap();
    let numbers: Vec<f64> = sensitivity
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .filter_map(|part| part.parse().ok())
        .collect();
    assert_eq!(numbers.len(), 3, "{sensitivity}");
    assert!(
        numbers[1] <= numbers[0] && numbers[0] <= numbers[2],
        "{sensitivity}"
    );
    assert!(report.contains(&format!(
        "refitted on all {} development records",
        dataset.n_rows()
    )));
}

#[test]
fn a_holdout_refit_on_all_rows_ships_a_bigger_fit_with_the_same_test_figures() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = holdout_options(dir.path());
    let memory = train::sink::MemorySink::default();
    let train_only = run(&options, &memory).unwrap();
    options.holdout_refit = train::options::HoldoutRefit::All;
    let refit = run(&options, &memory).unwrap();
    // The test figures are the training-only fit's; the shipped model learned from every row
    // and kept the threshold chosen without the test rows.
    let (before, after) = (
        train_only.holdout.as_ref().unwrap(),
        refit.holdout.as_ref().unwrap(),
    );
    assert_eq!(before.figures, after.figures);
    assert_eq!(
        train_only.artifact.provenance.n_training_rows + before.n_records,
        400
    );
    assert_eq!(refit.artifact.provenance.n_training_rows, 400);
    assert_eq!(refit.artifact.decision, train_only.artifact.decision);
    assert_ne!(refit.artifact.pipeline, train_only.artifact.pipeline);
    let leaderboard = refit
        .reports
        .iter()
        .find(|report| report.path.ends_with("leaderboard.md"))
        .unwrap();
    assert!(
        leaderboard
            .contents
            .contains("then refitted on all 400 rows (test split included)"),
        "{}",
        leaderboard.contents
    );
    // Without a test split there is nothing to refit on.
    options.holdout = 0.0;
    let error = run(&options, &memory).unwrap_err();
    assert!(error.to_string().contains("no test split"), "{error}");
}
