//! HTTP JSON types, kept separate from the artifact's types so either can change alone.

use std::collections::BTreeMap;

use model::reference::Distribution;
use model::{
    Artifact, ColumnTransform, FeatureKind, FillRule, Metric, MetricMap, MetricSummary, PairMap,
    Task,
};
use serde::Serialize;
use serde_json::{Map, Value, json};

/// Response of `POST /predict` (and each element of `POST /predict/batch`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PredictionResponse {
    /// The record's id, echoed when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The decided class.
    pub label: String,
    /// Binary: probability of the positive class (compared with `threshold`).
    /// Multiclass: probability of the decided class.
    pub probability: f64,
    /// Probability of every class.
    pub probabilities: BTreeMap<String, f64>,
    /// Decision threshold on the positive class (binary tasks only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// Features that were missing (or a zero meaning missing) and filled by the imputer: the
    /// prediction assumed a typical value for them.
    pub imputed: Vec<String>,
    /// Features whose values lie outside the range seen in training, where the model
    /// extrapolates.
    pub out_of_training_range: Vec<String>,
    /// More than the model card's `low_information_share` of the features were imputed: the
    /// prediction says more about the training population than about this record.
    pub low_information: bool,
    /// The classes that cannot be ruled out at the model's conformal coverage: one is a
    /// confident answer, several mean uncertain (absent when the model has no sets).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prediction_set: Option<Vec<String>>,
    /// Each feature's contribution to this prediction (only with `?explain=true`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explanation: Option<ExplanationResponse>,
    /// Model name.
    pub model: String,
    /// Identifies the artifact: model name and a checksum of its bytes, prefixed `v<N>-` when
    /// served from registry version N.
    pub model_version: String,
}

/// Per-feature contributions to one prediction: `base_value` plus every `contribution` equals
/// `output_value`, the model's output for `class` in `scale`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExplanationResponse {
    /// How the contributions were computed.
    pub method: model::explain::Method,
    /// The method in words.
    pub method_description: &'static str,
    /// `log_odds`, `logit` or `probability`: the unit of every figure here.
    pub scale: model::explain::Scale,
    /// The class whose output is explained.
    pub class: String,
    /// The model's average output over its training population.
    pub base_value: f64,
    /// The model's output for this record.
    pub output_value: f64,
    /// One entry per feature, largest magnitude first.
    pub contributions: Vec<ContributionResponse>,
    /// What the explained output leaves out (a calibration applied after it), when anything.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// One feature's part in a prediction.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContributionResponse {
    /// Feature name.
    pub feature: String,
    /// The value the model saw (`null` when missing and imputed).
    pub value: Value,
    /// How far this feature moved the output from the base value.
    pub contribution: f64,
    /// Sampling standard error of `contribution` (sampled method only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub standard_error: Option<f64>,
}

impl ExplanationResponse {
    /// The HTTP form of an explanation of the raw row `raw`.
    pub fn new(artifact: &Artifact, raw: &[f64], explanation: model::Explanation) -> Self {
        let schema = &artifact.schema;
        let mut contributions: Vec<ContributionResponse> = schema
            .features
            .iter()
            .enumerate()
            .map(|(feature_idx, feature)| {
                let raw_value = raw.get(feature_idx).copied().unwrap_or(f64::NAN);
                let missing = artifact
                    .pipeline
                    .preprocessor
                    .columns
                    .get(feature_idx)
                    .is_some()
                    && artifact
                        .pipeline
                        .preprocessor
                        .is_missing(feature_idx, raw_value);
                let value = match feature.kind {
                    _ if missing => Value::Null,
                    FeatureKind::Categorical => feature
                        .categories
                        .get(raw_value as usize)
                        .map_or(Value::Null, |category| Value::String(category.clone())),
                    _ => json!(raw_value),
                };
                ContributionResponse {
                    feature: feature.name.clone(),
                    value,
                    contribution: explanation
                        .contributions
                        .get(feature_idx)
                        .copied()
                        .unwrap_or(0.0),
                    standard_error: explanation
                        .standard_errors
                        .as_ref()
                        .and_then(|errors| errors.get(feature_idx).copied()),
                }
            })
            .collect();
        contributions.sort_by(|a, b| b.contribution.abs().total_cmp(&a.contribution.abs()));
        ExplanationResponse {
            method: explanation.method,
            method_description: explanation.method.describe(),
            scale: explanation.scale,
            class: schema.classes.get(explanation.class_idx).cloned().unwrap_or_default(),
            base_value: explanation.base_value,
            output_value: explanation.output_value,
            contributions,
            note: artifact.pipeline.calibration.as_ref().map(|calibration| {
                format!(
                    "the model's output before its {} calibration, which maps it to the reported probability",
                    calibration.name()
                )
            }),
        }
    }
}

/// What replaces a missing value of a feature: `{"value": 29, "rule": "training median"}` (a
/// category's name for categorical features).
fn imputation(artifact: &Artifact, feature_idx: usize) -> Value {
    let feature = &artifact.schema.features[feature_idx];
    match artifact.pipeline.preprocessor.columns.get(feature_idx) {
        Some(ColumnTransform::OneHot {
            fill, fill_rule, ..
        }) => json!({"value": feature.categories.get(*fill), "rule": fill_rule.describe()}),
        Some(ColumnTransform::Numeric {
            fill, fill_rule, ..
        }) => json!({"value": fill, "rule": fill_rule.describe()}),
        None => Value::Null,
    }
}

/// A feature's typical value: the fitted imputer's fill, or, for a model that leaves missing
/// values to the model (a NaN fill), the training median from the drift reference.
pub fn fill_value(artifact: &Artifact, feature_idx: usize) -> Option<f64> {
    match artifact.pipeline.preprocessor.columns.get(feature_idx)? {
        ColumnTransform::Numeric { fill, .. } if fill.is_nan() => {
            match &artifact.reference.features.get(feature_idx)?.distribution {
                Distribution::Numeric(ecdf) => Some(ecdf.quantile(0.5)),
                Distribution::Shares(shares) => shares
                    .iter()
                    .enumerate()
                    .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)))
                    .map(|(code, _)| code as f64),
                Distribution::Empty => None,
            }
        }
        ColumnTransform::Numeric { fill, .. } => Some(*fill),
        ColumnTransform::OneHot { fill, .. } => Some(*fill as f64),
    }
}

/// A plausible example record: every feature at its training imputation value (a median or
/// the most frequent value), so documentation and the web page start from a typical patient.
pub fn example_record(artifact: &Artifact) -> Map<String, Value> {
    let mut record = Map::new();
    for (feature_idx, feature) in artifact.schema.features.iter().enumerate() {
        let fill = fill_value(artifact, feature_idx).unwrap_or(0.0);
        let value = match feature.kind {
            FeatureKind::Categorical => feature
                .categories
                .get(fill as usize)
                .map_or(Value::Null, |category| json!(category)),
            FeatureKind::Integer | FeatureKind::Binary => json!(fill.round() as i64),
            FeatureKind::Numeric => json!((fill * 1000.0).round() / 1000.0),
        };
        record.insert(feature.name.clone(), value);
    }
    record
}

/// How a feature's missing values are handled, in words, from the fitted imputer.
pub fn missing_rule(artifact: &Artifact, feature_idx: usize) -> String {
    let feature = &artifact.schema.features[feature_idx];
    let filled_with = match artifact.pipeline.preprocessor.columns.get(feature_idx) {
        Some(ColumnTransform::OneHot {
            fill, fill_rule, ..
        }) => match feature.categories.get(*fill) {
            Some(category) => format!("`{category}` ({})", fill_rule.describe()),
            None => "the most frequent category".to_owned(),
        },
        Some(ColumnTransform::Numeric {
            fill, fill_rule, ..
        }) => format!("{fill} ({})", fill_rule.describe()),
        None => "the training imputer's value".to_owned(),
    };
    let handled = match artifact.pipeline.preprocessor.columns.get(feature_idx) {
        Some(ColumnTransform::Numeric {
            fill_rule: FillRule::LeftMissing,
            ..
        }) => "not imputed: the model routes missing values itself".to_owned(),
        _ => format!("imputed with {filled_with}"),
    };
    match (feature.allow_missing, feature.zero_is_missing) {
        (true, true) => format!("`null` or `0` means not measured; {handled}"),
        (true, false) => format!("`null` means not measured; {handled}"),
        (false, true) => "required; `0` means not measured and is refused like `null`".to_owned(),
        (false, false) => "required; may not be missing".to_owned(),
    }
}

/// A training range as published: widened to a coarse grid (half a power of ten of its width),
/// strictly beyond the observed minimum and maximum, which are single records' values and must
/// not leave the server.
pub fn published_range(range: Option<(f64, f64)>) -> Option<(f64, f64)> {
    let (min, max) = range?;
    let width = (max - min)
        .abs()
        .max(min.abs().max(max.abs()) * 1e-3)
        .max(1e-9);
    let step = 10f64.powf(width.log10().floor()) / 2.0;
    let below = (min / step).floor() * step;
    let above = (max / step).ceil() * step;
    // Round to the step's own precision so that no binary fraction noise is published.
    let tidy = |value: f64| {
        let decimals = (-step.log10().floor()).max(0.0) as i32 + 1;
        let factor = 10f64.powi(decimals);
        (value * factor).round() / factor
    };
    let lower = if below < min { below } else { below - step };
    // A quantity never below zero is not published with a negative bound ("-5 pregnancies"):
    // zero hides nothing that is not known anyway.
    let lower = if min >= 0.0 { lower.max(0.0) } else { lower };
    Some((
        tidy(lower),
        tidy(if above > max { above } else { above + step }),
    ))
}

fn range_json(range: Option<(f64, f64)>) -> Value {
    range.map_or(Value::Null, |(min, max)| json!({"min": min, "max": max}))
}

fn task_name(task: Task) -> &'static str {
    match task {
        Task::Binary => "binary",
        Task::Multiclass => "multiclass",
    }
}

/// The model card served at `GET /model`.
pub fn model_card(artifact: &Artifact, model_version: &str) -> Value {
    let schema = &artifact.schema;
    let features: Vec<Value> = schema
        .features
        .iter()
        .enumerate()
        .map(|(feature_idx, feature)| {
            json!({
                "name": feature.name,
                "kind": feature.kind.as_str(),
                "description": feature.description,
                "unit": feature.unit,
                "training_range": range_json(published_range(feature.training_range)),
                "accepted_range": range_json(feature.valid_range),
                "categories": if feature.kind == FeatureKind::Categorical { json!(feature.categories) } else { Value::Null },
                "nullable": feature.allow_missing,
                "zero_means_missing": feature.zero_is_missing,
                "missing_values": missing_rule(artifact, feature_idx),
                "imputation": imputation(artifact, feature_idx),
            })
        })
        .collect();
    let decision = &artifact.decision;
    json!({
        "dataset": schema.dataset,
        "task": task_name(schema.task),
        "model": artifact.model_name,
        "model_version": model_version,
        "params": PairMap(&artifact.params),
        "features": features,
        "aliases": schema.aliases.iter().map(|alias| json!({
            "name": alias.name,
            "feature": alias.feature,
            "values": alias.values.iter().map(|(sent, category)| json!({"sent": sent, "means": category})).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "id_columns": schema.id_columns,
        "target": schema.target,
        "classes": schema.classes,
        "positive_class": schema.positive_class.map(|idx| schema.classes[idx].clone()),
        "decision": {
            "threshold": decision.threshold,
            "rule": decision.rule,
            "how_chosen": match decision.threshold {
                Some(_) => "chosen on out-of-fold cross-validation probabilities by the rule above",
                None => "the most probable class is the label",
            },
            "oof_sensitivity": decision.oof_sensitivity,
            "oof_specificity": decision.oof_specificity,
        },
        "calibration": artifact.pipeline.calibration_name(),
        "prediction_sets": artifact.conformal.as_ref().map(|sets| json!({
            "method": "class-conditional (Mondrian) split conformal on out-of-fold probabilities",
            "coverage": sets.coverage,
            "min_probability": schema.classes.iter().cloned().zip(sets.min_probability.iter().copied()).collect::<BTreeMap<_, _>>(),
            "cv_coverage": schema.classes.iter().cloned().zip(sets.cv_coverage.iter().map(|c| if c.is_finite() { json!(c) } else { Value::Null })).collect::<BTreeMap<_, _>>(),
            "cv_mean_set_size": sets.cv_mean_set_size,
        })),
        "subgroups": artifact.subgroups,
        "permutation_importance": artifact.importance,
        "explanations": explanation_card(artifact),
        "purpose": artifact.purpose,
        "evidence": artifact.evidence,
        "cv_metrics": MetricMap(artifact.chosen_metrics()),
        "leaderboard": artifact.leaderboard.iter().map(|entry| json!({
            "model": entry.model,
            "metrics": MetricMap(&entry.metrics),
            "params": PairMap(&entry.params),
        })).collect::<Vec<_>>(),
        "provenance": {
            "trainer_version": artifact.provenance.trainer_version,
            "seed": artifact.provenance.seed,
            "folds": artifact.provenance.folds,
            "repeats": artifact.provenance.repeats,
            "dataset_sha256": artifact.provenance.dataset_sha256,
            "training_rows": artifact.provenance.n_training_rows,
            "balance": artifact.provenance.balance,
        },
    })
}

/// How `?explain=true` explains this model, for the model card.
fn explanation_card(artifact: &Artifact) -> Value {
    let method = model::explain::Method::for_classifier(&artifact.pipeline.classifier);
    json!({
        "method": method,
        "description": method.describe(),
        "request": "POST /predict?explain=true (or /predict/batch?explain=true)",
        "background_points": artifact.explainer.background.as_ref().map(|background| background.weights.len()),
    })
}

/// The chosen model's cross-validated metrics worth a headline (whichever the task reports).
pub fn headline_metrics(artifact: &Artifact) -> impl Iterator<Item = &MetricSummary> {
    const HEADLINE: [Metric; 8] = [
        Metric::RocAuc,
        Metric::PrAuc,
        Metric::Accuracy,
        Metric::Recall,
        Metric::Specificity,
        Metric::Brier,
        Metric::MacroF1,
        Metric::RocAucOvr,
    ];
    // With a threshold, figures at the 0.5 cut-off would sit beside it and mislead: the
    // figures at the threshold come from the evidence instead (`at_threshold`).
    let has_threshold = artifact.decision.threshold.is_some();
    artifact.chosen_metrics().iter().filter(move |summary| {
        HEADLINE.contains(&summary.metric)
            && !(has_threshold
                && matches!(
                    summary.metric,
                    Metric::Accuracy | Metric::Recall | Metric::Specificity
                ))
    })
}

/// Sensitivity and specificity at the shipped threshold with their intervals, for binary
/// models: `{"sensitivity": {"value", "lower", "upper"}, ...}`.
pub fn at_threshold(artifact: &Artifact) -> Value {
    if artifact.decision.threshold.is_none() {
        return Value::Null;
    }
    let evidence = &artifact.evidence;
    json!({
        "sensitivity": evidence.figure("sensitivity"),
        "specificity": evidence.figure("specificity"),
    })
}

/// Service information served at `GET /`.
pub fn service_info(artifact: &Artifact, model_version: &str) -> Value {
    let schema = &artifact.schema;
    let headline: Map<String, Value> = headline_metrics(artifact)
        .map(|summary| (summary.metric.name().to_owned(), json!(summary.mean)))
        .collect();
    json!({
        "name": "vigil",
        "version": env!("CARGO_PKG_VERSION"),
        "dataset": schema.dataset,
        "task": task_name(schema.task),
        "model": artifact.model_name,
        "model_version": model_version,
        "classes": schema.classes,
        "positive_class": schema.positive_class.map(|idx| schema.classes[idx].clone()),
        "threshold": artifact.decision.threshold,
        "metrics": headline,
        "at_threshold": at_threshold(artifact),
        "links": {
            "predict": "/predict",
            "predict_batch": "/predict/batch",
            "explain_batch": "/explain/batch",
            "model": "/model",
            "docs": "/docs/",
            "openapi": "/openapi.json",
            "health": "/health",
            "ready": "/ready",
            "metrics": "/metrics",
            "drift": "/drift",
            "ui": "/ui",
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_ranges_hide_the_extremes() {
        for (range, expected) in [
            ((44.0, 199.0), (0.0, 200.0)),
            ((21.0, 81.0), (20.0, 85.0)),
            ((20.0, 80.0), (15.0, 85.0)),
            ((0.078, 2.42), (0.0, 2.5)),
            ((18.2, 67.1), (15.0, 70.0)),
            ((3.0, 3.0), (2.9995, 3.0005)),
        ] {
            let published = published_range(Some(range)).unwrap();
            assert_eq!(published, expected, "{range:?}");
            assert!(published.0 < range.0 && published.1 > range.1, "{range:?}");
        }
        // A non-negative quantity whose minimum is zero keeps zero as its lower bound.
        assert_eq!(published_range(Some((0.0, 17.0))), Some((0.0, 20.0)));
        assert_eq!(published_range(None), None);
    }
}
