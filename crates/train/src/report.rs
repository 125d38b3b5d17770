//! The run's reports, rendered in memory: leaderboard files, `model.json`, the evaluation
//! plots, and the terminal table. Nothing here touches the file system; a sink writes them.

use std::fmt::Write as _;
use std::path::PathBuf;

use ::report::plot;
use ndarray::Array2;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use data::Dataset;
use model::evaluation::calibration_points;
use model::{Artifact, Metric, MetricMap, PairMap, Task};

use crate::{ModelResult, TrainOptions};

/// One rendered report file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportFile {
    /// Path relative to the output folder.
    pub path: PathBuf,
    /// The file's text.
    pub contents: String,
}

/// Everything the reports describe.
pub struct ReportInput<'a> {
    /// The run's options.
    pub options: &'a TrainOptions,
    /// The training data.
    pub dataset: &'a Dataset,
    /// Class index per row.
    pub y: &'a [usize],
    /// Results per model, best first.
    pub results: &'a [ModelResult],
    /// The artifact.
    pub artifact: &'a Artifact,
    /// Its encoded bytes.
    pub artifact_bytes: &'a [u8],
    /// The chosen model's out-of-fold probabilities as its pipeline returns them.
    pub chosen_oof: &'a Array2<f64>,
    /// Which candidate shipped, and why.
    pub selection: &'a crate::selection::Selection,
    /// Which calibration was fitted, and for `auto` why.
    pub calibration: &'a crate::threshold::CalibrationChoice,
}

impl ReportInput<'_> {
    fn metrics(&self) -> &'static [Metric] {
        Metric::for_task(self.options.config.task)
    }
}

/// Renders every report file.
pub fn render(input: &ReportInput<'_>) -> Vec<ReportFile> {
    let file = |path: &str, contents: String| ReportFile {
        path: PathBuf::from(path),
        contents,
    };
    let json_text = |value: &Value| serde_json::to_string_pretty(value).unwrap_or_default() + "\n";
    let (roc, calibration) = match input.options.config.task {
        Task::Binary => (binary_roc_plot(input), binary_calibration_plot(input)),
        Task::Multiclass => (
            multiclass_roc_plot(input),
            multiclass_calibration_plot(input),
        ),
    };
    let mut files = vec![
        file(
            "leaderboard.json",
            json_text(&leaderboard_json(
                input.results,
                input.metrics(),
                input.options,
            )),
        ),
        file("leaderboard.csv", leaderboard_csv(input)),
        file("leaderboard.md", leaderboard_markdown(input)),
        file("out_of_fold.csv", out_of_fold_csv(input)),
        file("model.json", json_text(&model_json(input))),
        file(crate::tripod::FILE_NAME, crate::tripod::render(input)),
        file("plots/confusion_matrix.svg", confusion_plot(input)),
        file("plots/roc_curves.svg", roc),
        file("plots/calibration.svg", calibration),
    ];
    if !input.artifact.evidence.precision_recall.is_empty() {
        files.push(file(
            "plots/precision_recall.svg",
            plot::line_chart(
                &format!(
                    "{}: precision-recall (out-of-fold)",
                    input.artifact.model_name
                ),
                "recall (sensitivity)",
                "precision (positive predictive value)",
                &[(
                    input.artifact.model_name.clone(),
                    input.artifact.evidence.precision_recall.clone(),
                )],
                false,
            ),
        ));
    }
    if let Some(importance) = &input.artifact.importance {
        files.push(file("plots/importance.svg", importance_plot(importance)));
    }
    if input.options.config.task == Task::Binary {
        let (scores, positive) = chosen_scores(input);
        let prevalence =
            positive.iter().filter(|p| **p).count() as f64 / positive.len().max(1) as f64;
        files.push(file(
            "plots/decision_curve.svg",
            crate::evaluate::decision_curve_plot(
                &format!(
                    "{}: decision curve (out-of-fold)",
                    input.artifact.model_name
                ),
                &crate::evaluate::decision_curve(&scores, &positive),
                prevalence,
            ),
        ));
    }
    files
}

/// Permutation importance as bars, most important first.
fn importance_plot(importance: &model::PermutationImportance) -> String {
    let features: Vec<String> = importance
        .features
        .iter()
        .map(|f| f.feature.clone())
        .collect();
    plot::bar_chart(
        &format!(
            "Permutation importance (loss of out-of-fold {})",
            importance.metric
        ),
        "feature",
        &format!("{} lost when the feature is shuffled", importance.metric),
        &features,
        &[(
            "mean over repeats".into(),
            importance
                .features
                .iter()
                .map(|f| f.mean.max(0.0))
                .collect(),
        )],
    )
}

/// The `leaderboard.md` section on permutation importance.
pub fn importance_markdown(importance: &model::PermutationImportance) -> String {
    let mut out = format!(
        "\n## Permutation importance\n\nHow much out-of-fold {} worsens when one feature's values are shuffled among the validation rows of each fold (the chosen model refitted per fold as in cross-validation; mean ± std over {} shuffles):\n\n| feature | loss |\n|---|---|\n",
        importance.metric, importance.repeats
    );
    for feature in &importance.features {
        let _ = writeln!(
            out,
            "| {} | {:.4} ± {:.4} |",
            feature.feature, feature.mean, feature.std
        );
    }
    out.push_str("\n![Permutation importance](plots/importance.svg)\n");
    out
}

/// The chosen model's out-of-fold positive-class probabilities (as shipped: calibrated) and
/// whether each row is positive.
fn chosen_scores(input: &ReportInput<'_>) -> (Vec<f64>, Vec<bool>) {
    let positive_class = input.artifact.schema.positive_class.unwrap_or(1);
    (
        input.chosen_oof.column(positive_class).to_vec(),
        is_class(input.y, positive_class),
    )
}

/// Calibration of the chosen model's out-of-fold probabilities: slope and intercept of the
/// logistic recalibration, and the expected calibration error (binary tasks).
pub fn oof_calibration(input: &ReportInput<'_>) -> Option<Value> {
    if input.options.config.task != Task::Binary {
        return None;
    }
    let (scores, positive) = chosen_scores(input);
    let (slope, intercept) = model::evaluation::recalibration(&scores, &positive);
    let finite = |value: f64| value.is_finite().then_some(value);
    Some(json!({
        "slope": finite(slope),
        "intercept": finite(intercept),
        "expected_calibration_error": model::evaluation::expected_calibration_error(&scores, &positive, 10),
    }))
}

/// The leaderboard as the documented JSON array: model, metrics (mean and std over folds),
/// fit time, and parameters.
pub fn leaderboard_json(
    results: &[ModelResult],
    metrics: &[Metric],
    options: &TrainOptions,
) -> Value {
    Value::Array(
        results
            .iter()
            .map(|result| {
                let (fit_mean, fit_std) = result.fit_time_ms();
                json!({
                    "model": result.kind.name(),
                    "metrics": MetricMap(&result.summaries(metrics)),
                    "fit_time_ms": {"mean": fit_mean, "std": fit_std},
                    "model_kb": result.model_kb(),
                    "predict_us_per_record": result.predict_us(),
                    "params": PairMap(&result.params_with_balance(options.balance)),
                })
            })
            .collect(),
    )
}

fn params_text(result: &ModelResult, options: &TrainOptions, separator: &str) -> String {
    result
        .params_with_balance(options.balance)
        .into_iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join(separator)
}

/// The shipped model's out-of-fold probabilities, one line per training row (in the order the
/// dataset was loaded) with its validation fold in the first repetition and its label: what
/// scikit-learn's `cross_val_predict` gives, and the folds another tool needs to be compared
/// on exactly the same splits.
fn out_of_fold_csv(input: &ReportInput<'_>) -> String {
    let classes = &input.options.config.classes;
    let mut fold_of_row = vec![0usize; input.y.len()];
    if let Ok(folds) = preprocess::stratified_folds(
        input.y,
        classes.len(),
        input.options.folds,
        1,
        input.options.seed,
    ) {
        for fold in &folds {
            for row in &fold.validation {
                fold_of_row[*row] = fold.fold;
            }
        }
    }
    let mut csv = String::from("row,fold,label");
    for class in classes {
        let _ = write!(csv, ",probability_{}", csv_field(class));
    }
    csv.push('\n');
    for (row, probabilities) in input.chosen_oof.rows().into_iter().enumerate() {
        let label = input
            .y
            .get(row)
            .and_then(|class_idx| classes.get(*class_idx))
            .map_or_else(String::new, |class| csv_field(class));
        let _ = write!(csv, "{row},{},{label}", fold_of_row[row]);
        for probability in probabilities {
            let _ = write!(csv, ",{probability}");
        }
        csv.push('\n');
    }
    csv
}

/// A CSV field, quoted when it holds a comma, a quote or a line break.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

fn leaderboard_csv(input: &ReportInput<'_>) -> String {
    let mut csv = String::from("model");
    for metric in input.metrics() {
        let _ = write!(csv, ",{metric}_mean,{metric}_std");
    }
    csv.push_str(",fit_time_ms_mean,fit_time_ms_std,model_kb,predict_us_per_record,params\n");
    for result in input.results {
        let _ = write!(csv, "{}", result.kind.name());
        for summary in result.summaries(input.metrics()) {
            let _ = write!(csv, ",{:.6},{:.6}", summary.mean, summary.std);
        }
        let (fit_mean, fit_std) = result.fit_time_ms();
        let _ = writeln!(
            csv,
            ",{fit_mean:.3},{fit_std:.3},{:.1},{:.2},\"{}\"",
            result.model_kb(),
            result.predict_us(),
            params_text(result, input.options, " ")
        );
    }
    csv
}

fn leaderboard_markdown(input: &ReportInput<'_>) -> String {
    let options = input.options;
    let mut markdown = format!(
        "# Leaderboard: {}\n\n{}, seed {}, ranked by `{}`, the shipped model first. Threshold-dependent metrics use 0.5. Model KB: a fold's fitted pipeline in an artifact; µs/record: its prediction time per validation record, the fold's rows predicted together as batch scoring does (fold means; `cargo bench -p serve` times one record at a time).\n\n| model |",
        options.config.name,
        options.cv_scheme(),
        options.seed,
        options.metric
    );
    for metric in input.metrics() {
        let _ = write!(markdown, " {metric} |");
    }
    markdown.push_str(" fit ms | model KB | µs/record | params |\n|---|");
    for _ in input.metrics() {
        markdown.push_str("---|");
    }
    markdown.push_str("---|---|---|---|\n");
    for result in input.results {
        let _ = write!(markdown, "| {} |", result.kind.name());
        for summary in result.summaries(input.metrics()) {
            let _ = write!(markdown, " {:.3} ± {:.3} |", summary.mean, summary.std);
        }
        let (fit_mean, _) = result.fit_time_ms();
        let _ = writeln!(
            markdown,
            " {fit_mean:.1} | {:.1} | {:.2} | {} |",
            result.model_kb(),
            result.predict_us(),
            params_text(result, options, ", ")
        );
    }
    let artifact = input.artifact;
    let _ = write!(
        markdown,
        "\nSelection: {}.\n\nChosen model: **{}**, refitted on all {} rows; {}. Decision: {}",
        input.selection.describe(),
        artifact.model_name,
        artifact.provenance.n_training_rows,
        input.calibration.describe(),
        decision_summary(&artifact.decision)
    );
    if let Some(sets) = &artifact.conformal {
        let coverage: Vec<String> = artifact
            .schema
            .classes
            .iter()
            .zip(&sets.cv_coverage)
            .map(|(class, covered)| format!("{class} {covered:.3}"))
            .collect();
        let _ = write!(
            markdown,
            ". Prediction sets: class-conditional conformal at {:.0}% coverage; cross-validated coverage {}, mean set size {:.2}",
            sets.coverage * 100.0,
            coverage.join(", "),
            sets.cv_mean_set_size
        );
    }
    if let Some(calibration) = oof_calibration(input) {
        let number = |key: &str| {
            calibration[key]
                .as_f64()
                .map(|value| format!("{value:.3}"))
                .unwrap_or_else(|| "undefined".into())
        };
        let _ = write!(
            markdown,
            ". Out-of-fold calibration: slope {}, intercept {}, expected calibration error {}",
            number("slope"),
            number("intercept"),
            number("expected_calibration_error")
        );
    }
    markdown.push_str(".\n\n![ROC curves](plots/roc_curves.svg)\n\n![Confusion matrix](plots/confusion_matrix.svg)\n\n![Calibration](plots/calibration.svg)\n");
    if input.options.config.task == Task::Binary {
        markdown.push_str("\n![Precision-recall](plots/precision_recall.svg)\n\n![Decision curve](plots/decision_curve.svg)\n");
    }
    if let Some(importance) = &artifact.importance {
        markdown.push_str(&importance_markdown(importance));
    }
    if !artifact.subgroups.is_empty() {
        // The subgroups take as many resamples as the card's evidence (one rule for both).
        markdown.push_str(&format!(
            "\n## Subgroups\n\nThe chosen model's out-of-fold predictions at the shipped decision rule, per group, with 95% bootstrap intervals ({} resamples):\n\n",
            artifact.evidence.resamples
        ));
        markdown.push_str(&crate::evaluate::subgroup_markdown(&artifact.subgroups));
    }
    markdown
}

fn model_json(input: &ReportInput<'_>) -> Value {
    let (options, dataset, artifact) = (input.options, input.dataset, input.artifact);
    let decision = &artifact.decision;
    let schema = &artifact.schema;
    let sha256: String = Sha256::digest(input.artifact_bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    json!({
        "model": artifact.model_name,
        "artifact_sha256": sha256,
        "params": PairMap(&artifact.params),
        "metrics": MetricMap(artifact.chosen_metrics()),
        "decision": {
            "threshold": decision.threshold,
            "rule": decision.rule,
            "oof_sensitivity": decision.oof_sensitivity,
            "oof_specificity": decision.oof_specificity,
        },
        "calibration": artifact.pipeline.calibration_name(),
        "oof_calibration": oof_calibration(input),
        "selection": input.selection.describe(),
        "calibration_choice": input.calibration.describe(),
        "decision_curve": (options.config.task == Task::Binary).then(|| {
            let (scores, positive) = chosen_scores(input);
            crate::evaluate::decision_curve(&scores, &positive)
        }),
        "prediction_sets": artifact.conformal.as_ref().map(|sets| json!({
            "coverage": sets.coverage,
            "min_probability": sets.min_probability,
            "cv_coverage": sets.cv_coverage.iter().map(|c| if c.is_finite() { json!(c) } else { Value::Null }).collect::<Vec<_>>(),
            "cv_mean_set_size": sets.cv_mean_set_size,
        })),
        "subgroups": artifact.subgroups,
        "permutation_importance": artifact.importance,
        "evidence": artifact.evidence,
        "purpose": artifact.purpose,
        "classes": schema.classes,
        "positive_class": schema.positive_class.and_then(|idx| schema.classes.get(idx)),
        "features": schema.features.iter().map(|f| f.name.clone()).collect::<Vec<_>>(),
        "model_inputs": artifact.pipeline.preprocessor.output_names,
        "dataset": {
            "name": options.config.name,
            "file": dataset.path.display().to_string(),
            "sha256": dataset.sha256,
            "rows_read": dataset.n_rows_read,
            "rows_used": dataset.n_rows(),
            "duplicates_dropped": if dataset.duplicates_dropped { dataset.n_duplicates } else { 0 },
        },
        "config": serde_json::to_value(&options.config).unwrap_or(Value::Null),
        "seed": options.seed,
        "folds": options.folds,
        "repeats": options.repeats,
        "tune": options.tune,
        "balance": options.balance.as_str(),
        "trainer_version": env!("CARGO_PKG_VERSION"),
        "artifact_format_version": model::artifact::FORMAT_VERSION,
    })
}

/// The deployed decision on out-of-fold rows: calibrated probabilities and the chosen
/// threshold (binary) or the most probable class (multiclass).
fn confusion_plot(input: &ReportInput<'_>) -> String {
    let artifact = input.artifact;
    let classes = &input.options.config.classes;
    let mut confusion = vec![vec![0.0; classes.len()]; classes.len()];
    for (truth, probabilities) in input.y.iter().zip(input.chosen_oof.rows()) {
        let predicted = model::decide(
            &probabilities.to_vec(),
            artifact.schema.positive_class,
            artifact.decision.threshold,
        );
        confusion[*truth][predicted] += 1.0;
    }
    plot::heatmap(
        &format!(
            "{}: out-of-fold confusion matrix ({})",
            artifact.model_name, artifact.decision.rule
        ),
        "true class",
        "predicted class",
        classes,
        classes,
        &confusion,
        false,
    )
}

fn is_class(y: &[usize], class_idx: usize) -> Vec<bool> {
    y.iter().map(|truth| *truth == class_idx).collect()
}

fn binary_roc_plot(input: &ReportInput<'_>) -> String {
    let positive_class = input.artifact.schema.positive_class.unwrap_or(1);
    let positive = is_class(input.y, positive_class);
    let curves: Vec<(String, Vec<(f64, f64)>)> = input
        .results
        .iter()
        .map(|result| {
            let scores = result.oof.column(positive_class).to_vec();
            let auc = model::evaluation::roc_auc(&scores, &positive);
            (
                format!("{} (pooled AUC {auc:.3})", result.kind.short()),
                model::evaluation::roc_curve(&scores, &positive),
            )
        })
        .collect();
    let mut curves = curves;
    if let Some(point) = input.artifact.evidence.operating_point {
        curves.push((
            format!("{} at the threshold", input.artifact.model_name),
            vec![point],
        ));
    }
    plot::line_chart(
        "Out-of-fold ROC curves (pooled; the leaderboard gives fold means)",
        "false positive rate (1 - specificity)",
        "true positive rate (sensitivity)",
        &curves,
        true,
    )
}

fn binary_calibration_plot(input: &ReportInput<'_>) -> String {
    let positive_class = input.artifact.schema.positive_class.unwrap_or(1);
    let positive = is_class(input.y, positive_class);
    let scores = input.chosen_oof.column(positive_class).to_vec();
    let name = &input.artifact.model_name;
    plot::line_chart(
        &format!("{name}: calibration (out-of-fold)"),
        "mean predicted probability (decile bins)",
        "observed positive rate",
        &[(name.clone(), calibration_points(&scores, &positive, 10))],
        true,
    )
}

/// One-vs-rest ROC of the chosen model, one curve per class present.
fn multiclass_roc_plot(input: &ReportInput<'_>) -> String {
    let classes = &input.options.config.classes;
    let curves: Vec<(String, Vec<(f64, f64)>)> = (0..classes.len())
        .filter_map(|class_idx| {
            let positive = is_class(input.y, class_idx);
            if !positive.iter().any(|p| *p) {
                return None;
            }
            let scores = input.chosen_oof.column(class_idx).to_vec();
            let auc = model::evaluation::roc_auc(&scores, &positive);
            Some((
                format!("{} ({auc:.3})", classes[class_idx]),
                model::evaluation::roc_curve(&scores, &positive),
            ))
        })
        .collect();
    plot::line_chart(
        &format!(
            "{}: one-vs-rest ROC per class (AUC)",
            input.artifact.model_name
        ),
        "false positive rate",
        "true positive rate",
        &curves,
        true,
    )
}

/// Reliability of the top-class probability: is "70% sure" right 70% of the time?
fn multiclass_calibration_plot(input: &ReportInput<'_>) -> String {
    let (top, correct): (Vec<f64>, Vec<bool>) = input
        .chosen_oof
        .rows()
        .into_iter()
        .zip(input.y)
        .map(|(probabilities, truth)| {
            let probabilities = probabilities.to_vec();
            let predicted = model::argmax(&probabilities);
            (probabilities[predicted], predicted == *truth)
        })
        .unzip();
    let name = &input.artifact.model_name;
    plot::line_chart(
        &format!("{name}: top-class calibration (out-of-fold)"),
        "predicted probability of the chosen class",
        "observed accuracy",
        &[(name.clone(), calibration_points(&top, &correct, 10))],
        true,
    )
}

/// The decision rule and, for a threshold, what it achieved out of fold: `sensitivity>=0.80:
/// threshold 0.2966, out-of-fold sensitivity 0.803, specificity 0.714`.
pub fn decision_summary(decision: &model::Decision) -> String {
    match (
        decision.threshold,
        decision.oof_sensitivity,
        decision.oof_specificity,
    ) {
        (Some(threshold), Some(sensitivity), Some(specificity)) => format!(
            "{}: threshold {threshold:.4}, out-of-fold sensitivity {sensitivity:.3}, specificity {specificity:.3}",
            decision.rule
        ),
        _ => decision.rule.clone(),
    }
}

/// Hyperparameters as `name=value, ...`.
pub fn params_summary(params: &[(String, String)]) -> String {
    params
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Widest line of the terminal table: it fits a 100-column terminal; every metric is in the
/// leaderboard files.
pub const TERMINAL_WIDTH: usize = 100;

/// The terminal table: one row per model, best first; the ranking metric as mean ± std, then
/// the means of a few others that matter for the task, then fit time.
pub fn leaderboard_table(results: &[ModelResult], metrics: &[Metric], selection: Metric) -> String {
    const PREFERRED: [Metric; 8] = [
        Metric::RocAuc,
        Metric::PrAuc,
        Metric::Brier,
        Metric::BalancedAccuracy,
        Metric::Accuracy,
        Metric::MacroF1,
        Metric::LogLoss,
        Metric::RocAucOvr,
    ];
    let others: Vec<Metric> = PREFERRED
        .iter()
        .copied()
        .filter(|metric| *metric != selection && metrics.contains(metric))
        .take(4)
        .collect();
    let mut out = String::new();
    let _ = write!(out, "{:<22} {:>15}", "model", format!("*{selection}"));
    for metric in &others {
        let _ = write!(out, " {:>10}", abbreviate(metric.name()));
    }
    let _ = writeln!(out, " {:>9}", "fit ms");
    for result in results {
        let _ = write!(out, "{:<22}", result.kind.name());
        // `summaries` is positional over the task's metrics; pick from the whole list.
        let summaries = result.summaries(metrics);
        let find = |metric: Metric| summaries.iter().find(|summary| summary.metric == metric);
        let cell = find(selection).map_or_else(String::new, |summary| {
            format!("{:.3} ± {:.3}", summary.mean, summary.std)
        });
        let _ = write!(out, " {cell:>15}");
        for metric in &others {
            let mean = find(*metric).map_or(f64::NAN, |summary| summary.mean);
            let _ = write!(out, " {mean:>10.3}");
        }
        let (fit_mean, _) = result.fit_time_ms();
        let _ = writeln!(out, " {fit_mean:>9.1}");
    }
    out.push_str("(fold means; every metric with its std: leaderboard.md)\n");
    out
}

/// A metric name cut to a table column (`balanced_accuracy` → `bal_acc`).
fn abbreviate(name: &str) -> &str {
    match name {
        "balanced_accuracy" => "bal_acc",
        "roc_auc_ovr" => "auc_ovr",
        other => other,
    }
}
