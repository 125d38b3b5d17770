//! The artifact format: round trip, and a clear refusal for every kind of damaged file.

use model::classifier::{Boosting, FlatTree, GaussianNb, Knn, Linear, SvmBinary, TreeNode};
use model::{
    Artifact, ArtifactError, Classifier, ColumnTransform, Decision, FeatureKind, FeatureSpec,
    FillRule, FittedPreprocessor, LeaderboardEntry, Metric, MetricSummary, Pipeline, Provenance,
    Schema, Task, Value,
};
use model::{Distribution, Ecdf, FeatureReference, Reference};

fn stump(n_values: usize) -> FlatTree {
    FlatTree {
        nodes: vec![
            TreeNode::Split {
                feature: 0,
                threshold: 0.0,
                left: 1,
                right: 2,
            },
            TreeNode::Leaf { offset: 0 },
            TreeNode::Leaf {
                offset: n_values as u32,
            },
        ],
        values: (0..2 * n_values)
            .map(|i| {
                if i % n_values == i / n_values {
                    0.8
                } else {
                    0.2
                }
            })
            .collect(),
        n_values,
        covers: vec![4.0, 3.0, 1.0],
        missing_left: Vec::new(),
        layout: Default::default(),
    }
}

/// One classifier of every kind, over 2 model inputs and 2 classes.
fn all_classifiers() -> Vec<Classifier> {
    vec![
        Classifier::Logistic(Linear {
            weights: vec![1.5, -0.5],
            intercepts: vec![0.1],
            n_inputs: 2,
        }),
        Classifier::DecisionTree(stump(2)),
        Classifier::Forest(vec![stump(2), stump(2)]),
        Classifier::GradientBoosting(Boosting {
            base_scores: vec![0.2],
            learning_rate: 0.1,
            trees: vec![vec![stump(1)]],
        }),
        Classifier::Knn(Knn {
            points: vec![0.0, 0.0, 1.0, 1.0],
            labels: vec![0, 1],
            n_inputs: 2,
            k: 1,
            distance_weighted: true,
        }),
        Classifier::Svm(vec![SvmBinary {
            support_vectors: vec![0.0, 0.0, 1.0, 1.0],
            coefficients: vec![-1.0, 1.0],
            rho: 0.0,
            kernel_eps: 2.0,
            platt_a: -2.0,
            platt_b: 0.0,
            n_inputs: 2,
        }]),
        Classifier::NaiveBayes(GaussianNb {
            means: vec![0.0, 0.0, 1.0, 1.0],
            variances: vec![1.0; 4],
            log_priors: vec![0.6f64.ln(), 0.4f64.ln()],
            n_inputs: 2,
        }),
    ]
}

fn artifact(classifier: Classifier) -> Artifact {
    let feature = |name: &str| FeatureSpec {
        name: name.into(),
        kind: FeatureKind::Numeric,
        description: format!("{name} description"),
        unit: Some("mg".into()),
        zero_is_missing: name == "a",
        valid_range: Some((-100.0, 100.0)),
        training_range: Some((-5.0, 5.0)),
        categories: vec![],
        allow_missing: true,
    };
    let numeric = ColumnTransform::Numeric {
        zero_is_missing: false,
        fill: 0.5,
        fill_rule: FillRule::Mean,
        center: 0.0,
        scale: 1.0,
        missing_indicator: false,
    };
    Artifact {
        schema: Schema {
            dataset: "toy".into(),
            task: Task::Binary,
            features: vec![feature("a"), feature("b")],
            id_columns: vec!["id".into()],
            target: "y".into(),
            classes: vec!["no".into(), "yes".into()],
            positive_class: Some(1),
            aliases: vec![model::InputAlias {
                name: "a_alias".into(),
                feature: "a".into(),
                values: Vec::new(),
            }],
        },
        pipeline: Pipeline {
            preprocessor: FittedPreprocessor {
                columns: vec![numeric.clone(), numeric],
                output_names: vec!["a".into(), "b".into()],
            },
            classifier,
            calibration: None,
            n_classes: 2,
            positive_class: 1,
        },
        model_name: "test".into(),
        params: vec![("alpha".into(), "1".into())],
        decision: Decision {
            threshold: Some(0.4),
            rule: "youden".into(),
            oof_sensitivity: Some(0.8),
            oof_specificity: Some(0.7),
        },
        conformal: Some(model::ConformalSets {
            coverage: 0.9,
            min_probability: vec![0.25, 0.125],
            cv_coverage: vec![0.91, 0.9],
            cv_mean_set_size: 1.25,
        }),
        importance: Some(model::PermutationImportance {
            metric: Metric::RocAuc,
            repeats: 5,
            features: vec![model::FeatureImportance {
                feature: "a".into(),
                mean: 0.1,
                std: 0.01,
            }],
        }),
        purpose: model::Purpose {
            outcome: Some("toy outcome".into()),
            intended_use: "testing".into(),
            limitations: vec!["none known".into()],
            low_information_share: 0.5,
        },
        evidence: model::Evidence {
            figures: vec![(
                "sensitivity".into(),
                model::Estimate {
                    value: 0.8,
                    lower: 0.7,
                    upper: 0.9,
                },
            )],
            resamples: 1000,
            roc: vec![(0.0, 0.0), (0.5, 0.9), (1.0, 1.0)],
            operating_point: Some((0.3, 0.8)),
            precision_recall: vec![(0.0, 1.0), (1.0, 0.4)],
            calibration: vec![(0.1, 0.12), (0.8, 0.75)],
            confusion: vec![vec![5, 1], vec![2, 4]],
        },
        explainer: model::Explainer {
            input_means: vec![0.5, -0.25],
            background: Some(model::explain::Background {
                points: vec![0.0, 1.0, 2.0, 3.0],
                weights: vec![0.75, 0.25],
                n_inputs: 2,
            }),
            seed: 7,
            pairs_per_point: 4,
        },
        subgroups: vec![model::SubgroupFamily {
            spec: model::SubgroupSpec {
                feature: "a".into(),
                bands: vec![0.5],
            },
            groups: vec![model::GroupResult {
                label: "a < 0.5".into(),
                n: 10,
                prevalence: Some(0.25),
                figures: vec![(
                    "roc_auc".into(),
                    model::Estimate {
                        value: 0.75,
                        lower: 0.5,
                        upper: 1.0,
                    },
                )],
                note: None,
            }],
        }],
        leaderboard: vec![LeaderboardEntry {
            model: "test".into(),
            metrics: vec![MetricSummary {
                metric: Metric::RocAuc,
                mean: 0.8,
                std: 0.01,
            }],
            params: vec![],
        }],
        provenance: Provenance {
            trainer_version: "0.1.0".into(),
            seed: 42,
            folds: 5,
            repeats: 1,
            dataset_sha256: "00".repeat(32),
            n_training_rows: 10,
            balance: "none".into(),
        },
        reference: Reference {
            n_rows: 10,
            features: vec![
                FeatureReference {
                    missing_rate: 0.1,
                    distribution: Distribution::Numeric(
                        Ecdf::from_values([1.0, 2.0, 2.0]).unwrap(),
                    ),
                },
                FeatureReference {
                    missing_rate: 0.0,
                    distribution: Distribution::Empty,
                },
            ],
            probability: Ecdf::from_values([0.2, 0.7]),
            label_shares: vec![0.6, 0.4],
        },
    }
}

#[test]
fn every_classifier_round_trips_and_predicts_identically() {
    let rows = [[0.3, -0.2], [-1.0, 2.0], [f64::NAN, 0.0], [0.0, 5.0]];
    for classifier in all_classifiers() {
        let name = classifier.type_name();
        let original = artifact(classifier);
        let bytes = original.to_bytes().unwrap();
        let decoded = Artifact::from_bytes(&bytes, "mem.bin".as_ref()).unwrap();
        assert_eq!(decoded, original, "{name}");
        for row in rows {
            let before = original.predict_raw(&row);
            let after = decoded.predict_raw(&row);
            assert_eq!(before, after, "{name}");
            let total: f64 = after.probabilities.iter().sum();
            assert!(
                (total - 1.0).abs() < 1e-9,
                "{name}: probabilities sum to {total}"
            );
        }
        assert_eq!(
            decoded.to_bytes().unwrap(),
            bytes,
            "{name}: re-encoding is byte-identical"
        );
    }
}

#[test]
fn damaged_files_are_refused_with_the_reason() {
    let bytes = artifact(all_classifiers().remove(0)).to_bytes().unwrap();
    let path = std::path::Path::new("model.bin");

    let mut flipped = bytes.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x01;
    let error = Artifact::from_bytes(&flipped, path).unwrap_err();
    assert!(matches!(error, ArtifactError::Checksum { .. }), "{error}");
    assert!(
        error.to_string().contains("`model.bin` is corrupted"),
        "{error}"
    );

    let error = Artifact::from_bytes(&bytes[..bytes.len() - 10], path).unwrap_err();
    assert!(matches!(error, ArtifactError::Truncated { .. }), "{error}");
    let error = Artifact::from_bytes(&bytes[..5], path).unwrap_err();
    assert!(
        matches!(error, ArtifactError::NotAnArtifact { .. }),
        "{error}"
    );

    let mut other_version = bytes.clone();
    other_version[8] = 99;
    let error = Artifact::from_bytes(&other_version, path).unwrap_err();
    assert!(error.to_string().contains("format version 99"), "{error}");

    let error = Artifact::from_bytes(b"{\"json\": true}", path).unwrap_err();
    assert!(matches!(error, ArtifactError::NotAnArtifact { .. }));

    let mut trailing = bytes.clone();
    trailing.push(0);
    assert!(matches!(
        Artifact::from_bytes(&trailing, path).unwrap_err(),
        ArtifactError::Inconsistent { .. }
    ));
}

#[test]
fn inconsistent_payload_is_refused() {
    let mut broken = artifact(all_classifiers().remove(0));
    broken.pipeline.preprocessor.columns.pop();
    broken.pipeline.preprocessor.output_names.pop();
    let bytes = broken.to_bytes().unwrap();
    let error = Artifact::from_bytes(&bytes, "x.bin".as_ref()).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("preprocessing has 1 columns, schema has 2 features"),
        "{error}"
    );
}

#[test]
fn save_is_atomic_and_leaves_no_temporary_files() {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("model.bin");
    let first = artifact(all_classifiers().remove(0));
    first.save(&path).unwrap();
    let second = artifact(all_classifiers().remove(1));
    second.save(&path).unwrap();
    assert_eq!(Artifact::load(&path).unwrap(), second);
    let names: Vec<String> = std::fs::read_dir(folder.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["model.bin"]);
    // A save that cannot complete leaves the previous artifact untouched.
    let blocked = folder.path().join("blocked");
    std::fs::create_dir_all(blocked.join("model.bin").join("occupied")).unwrap();
    assert!(first.save(&blocked.join("model.bin")).is_err());
    assert_eq!(Artifact::load(&path).unwrap(), second);
    let error = Artifact::load(&folder.path().join("missing.bin")).unwrap_err();
    assert!(error.to_string().contains("missing.bin"), "{error}");
}

#[test]
fn records_are_validated_field_by_field() {
    let artifact = artifact(all_classifiers().remove(0));
    let good = [
        ("a", Value::Number(1.0)),
        ("b", Value::Text("2.5".into())),
        ("id", Value::Text("P1".into())),
    ];
    let prediction = artifact
        .predict_record(good.iter().map(|(k, v)| (*k, v)))
        .unwrap();
    assert_eq!(prediction.probabilities.len(), 2);

    let bad = [
        ("a", Value::Number(1e6)),
        ("c", Value::Number(1.0)),
        ("b", Value::Other("an array")),
    ];
    let errors = artifact
        .predict_record(bad.iter().map(|(k, v)| (*k, v)))
        .unwrap_err();
    let fields: Vec<(&str, &str)> = errors
        .iter()
        .map(|e| (e.field.as_str(), e.problem.code()))
        .collect();
    assert_eq!(
        fields,
        vec![
            ("a", "out_of_range"),
            ("c", "extra_forbidden"),
            ("b", "type_error")
        ]
    );

    let missing = [("a", Value::Missing)];
    let errors = artifact
        .predict_record(missing.iter().map(|(k, v)| (*k, v)))
        .unwrap_err();
    assert_eq!(errors.len(), 1, "null is allowed for `a`; `b` is missing");
    assert_eq!(errors[0].field, "b");
    assert_eq!(errors[0].problem.code(), "missing");
}
