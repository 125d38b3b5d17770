//! Leaderboard files, `model.json`, the terminal table and the evaluation plots.

use std::fmt::Write as _;
use std::path::PathBuf;

use data::Dataset;
use data::plot;
use model::{Artifact, Task};
use serde_json::{Map, Value, json};

use crate::{ModelResult, TrainError, TrainOptions};

fn write_file(path: PathBuf, contents: &str) -> Result<PathBuf, TrainError> {
    model::write_atomically(&path, contents.as_bytes()).map_err(|error| TrainError::Write {
        path: path.clone(),
        source: std::io::Error::other(error.to_string()),
    })?;
    Ok(path)
}

/// The leaderboard as the documented JSON array.
pub fn leaderboard_json(results: &[ModelResult], names: &[&str]) -> Value {
    Value::Array(
        results
            .iter()
            .map(|result| {
                let mut metrics = Map::new();
                for summary in result.summaries(names) {
                    metrics.insert(
                        summary.name.clone(),
                        json!({"mean": finite(summary.mean), "std": finite(summary.std)}),
                    );
                }
                let mut params = Map::new();
                for (name, value) in result.params.pairs() {
                    params.insert(name, Value::String(value));
                }
                params.insert("balance".into(), Value::String(result.balance_note.clone()));
                json!({"model": result.kind.name(), "metrics": metrics, "params": params})
            })
            .collect(),
    )
}

fn finite(value: f64) -> Value {
    if value.is_finite() {
        json!(value)
    } else {
        Value::Null
    }
}

/// The terminal table: one row per model, best first, main metrics as mean ± std.
pub fn leaderboard_table(results: &[ModelResult], names: &[&str], selection: &str) -> String {
    let shown: Vec<&str> = names.to_vec();
    let mut out = String::new();
    let _ = write!(out, "{:<22}", "model");
    for name in &shown {
        let header = if *name == selection {
            format!("*{name}")
        } else {
            (*name).to_owned()
        };
        let _ = write!(out, " {header:>17}");
    }
    out.push('\n');
    for result in results {
        let _ = write!(out, "{:<22}", result.kind.name());
        for summary in result.summaries(names) {
            let cell = if summary.name == "fit_time_ms" {
                format!("{:.1} ± {:.1}", summary.mean, summary.std)
            } else {
                format!("{:.3} ± {:.3}", summary.mean, summary.std)
            };
            let _ = write!(out, " {cell:>17}");
        }
        out.push('\n');
    }
    out
}

/// Writes leaderboard files, `model.json` and plots; returns the paths written.
pub fn write_reports(
    options: &TrainOptions,
    dataset: &Dataset,
    y: &[usize],
    results: &[ModelResult],
    names: &[&str],
    artifact: &Artifact,
) -> Result<Vec<PathBuf>, TrainError> {
    let out = &options.out_dir;
    let mut files = Vec::new();
    let leaderboard = leaderboard_json(results, names);
    files.push(write_file(
        out.join("leaderboard.json"),
        &(serde_json::to_string_pretty(&leaderboard).unwrap_or_default() + "\n"),
    )?);

    let mut csv = String::from("model");
    for name in names {
        let _ = write!(csv, ",{name}_mean,{name}_std");
    }
    csv.push_str(",params\n");
    let mut markdown = format!(
        "# Leaderboard: {}\n\n{}-fold stratified cross-validation{}, seed {}, sorted by `{}`. Threshold-dependent metrics use 0.5.\n\n| model |",
        options.config.name,
        options.folds,
        if options.repeats > 1 {
            format!(" × {} repeats", options.repeats)
        } else {
            String::new()
        },
        options.seed,
        options.metric
    );
    for name in names {
        let _ = write!(markdown, " {name} |");
    }
    markdown.push_str(" params |\n|---|");
    for _ in names {
        markdown.push_str("---|");
    }
    markdown.push_str("---|\n");
    for result in results {
        let params: Vec<String> = result
            .params
            .pairs()
            .into_iter()
            .chain(std::iter::once((
                "balance".to_owned(),
                result.balance_note.clone(),
            )))
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        let _ = write!(csv, "{}", result.kind.name());
        let _ = write!(markdown, "| {} |", result.kind.name());
        for summary in result.summaries(names) {
            let _ = write!(csv, ",{:.6},{:.6}", summary.mean, summary.std);
            let _ = write!(markdown, " {:.3} ± {:.3} |", summary.mean, summary.std);
        }
        let _ = writeln!(csv, ",\"{}\"", params.join(" "));
        let _ = writeln!(markdown, " {} |", params.join(", "));
    }
    let decision = &artifact.decision;
    let _ = write!(
        markdown,
        "\nChosen model: **{}**, refitted on all {} rows. Decision: {}",
        artifact.model_name,
        dataset.n_rows(),
        decision.rule
    );
    if let (Some(threshold), Some(sensitivity), Some(specificity)) = (
        decision.threshold,
        decision.oof_sensitivity,
        decision.oof_specificity,
    ) {
        let _ = write!(
            markdown,
            " → threshold {threshold:.4} (out-of-fold sensitivity {sensitivity:.3}, specificity {specificity:.3})"
        );
    }
    markdown.push_str(".\n\n![ROC curves](plots/roc_curves.svg)\n\n![Confusion matrix](plots/confusion_matrix.svg)\n\n![Calibration](plots/calibration.svg)\n");
    files.push(write_file(out.join("leaderboard.csv"), &csv)?);
    files.push(write_file(out.join("leaderboard.md"), &markdown)?);

    let config_json = serde_json::to_value(&options.config).unwrap_or(Value::Null);
    let best = &results[0];
    let mut chosen_metrics = Map::new();
    for summary in best.summaries(names) {
        chosen_metrics.insert(
            summary.name.clone(),
            json!({"mean": finite(summary.mean), "std": finite(summary.std)}),
        );
    }
    let model_json = json!({
        "model": artifact.model_name,
        "params": artifact.params.iter().map(|(name, value)| (name.clone(), Value::String(value.clone()))).collect::<Map<String, Value>>(),
        "metrics": chosen_metrics,
        "decision": {
            "threshold": decision.threshold,
            "rule": decision.rule,
            "oof_sensitivity": decision.oof_sensitivity,
            "oof_specificity": decision.oof_specificity,
        },
        "calibration": match &artifact.pipeline.calibration {
            None => "none",
            Some(model::Calibration::Platt { .. }) => "platt",
            Some(model::Calibration::Isotonic { .. }) => "isotonic",
        },
        "classes": artifact.schema.classes,
        "positive_class": artifact.schema.positive_class.map(|idx| artifact.schema.classes[idx].clone()),
        "features": artifact.schema.features.iter().map(|f| f.name.clone()).collect::<Vec<_>>(),
        "model_inputs": artifact.pipeline.preprocessor.output_names,
        "dataset": {
            "name": options.config.name,
            "file": dataset.path.display().to_string(),
            "sha256": dataset.sha256,
            "rows_read": dataset.n_rows_read,
            "rows_used": dataset.n_rows(),
            "duplicates_dropped": if dataset.duplicates_dropped { dataset.n_duplicates } else { 0 },
        },
        "config": config_json,
        "seed": options.seed,
        "folds": options.folds,
        "repeats": options.repeats,
        "tune": options.tune,
        "balance": options.balance.as_str(),
        "trainer_version": env!("CARGO_PKG_VERSION"),
        "artifact_format_version": model::artifact::FORMAT_VERSION,
    });
    files.push(write_file(
        out.join("model.json"),
        &(serde_json::to_string_pretty(&model_json).unwrap_or_default() + "\n"),
    )?);

    let plots = out.join("plots");
    std::fs::create_dir_all(&plots).map_err(|source| TrainError::Write {
        path: plots.clone(),
        source,
    })?;
    let classes = &options.config.classes;
    let n_classes = classes.len();
    // The confusion matrix shows what the deployed pipeline decides: calibrated scores and
    // the chosen threshold (binary) or the most probable class (multiclass).
    let positive_class = artifact.schema.positive_class;
    let best_predictions: Vec<usize> = (0..dataset.n_rows())
        .map(|row| {
            let mut probabilities: Vec<f64> = best.oof.row(row).to_vec();
            if let (Some(calibration), Some(positive)) =
                (&artifact.pipeline.calibration, positive_class)
            {
                let p = calibration.apply(probabilities[positive]);
                probabilities[positive] = p;
                probabilities[1 - positive] = 1.0 - p;
            }
            model::decide(&probabilities, positive_class, artifact.decision.threshold)
        })
        .collect();
    let mut confusion = vec![vec![0.0; n_classes]; n_classes];
    for (truth, predicted) in y.iter().zip(&best_predictions) {
        confusion[*truth][*predicted] += 1.0;
    }
    let confusion_svg = plot::heatmap(
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
    );
    files.push(write_file(
        plots.join("confusion_matrix.svg"),
        &confusion_svg,
    )?);

    match options.config.task {
        Task::Binary => {
            let positive_class = artifact.schema.positive_class.unwrap_or(1);
            let positive: Vec<bool> = y
                .iter()
                .map(|class_idx| *class_idx == positive_class)
                .collect();
            let curves: Vec<(String, Vec<(f64, f64)>)> = results
                .iter()
                .map(|result| {
                    let scores = result.oof.column(positive_class).to_vec();
                    let auc = crate::metrics::roc_auc(&scores, &positive);
                    (
                        format!("{} ({auc:.3})", result.kind.short()),
                        crate::metrics::roc_curve(&scores, &positive),
                    )
                })
                .collect();
            files.push(write_file(
                plots.join("roc_curves.svg"),
                &plot::line_chart(
                    "Out-of-fold ROC curves (AUC)",
                    "false positive rate (1 - specificity)",
                    "true positive rate (sensitivity)",
                    &curves,
                    true,
                ),
            )?);
            let scores: Vec<f64> = best.oof.column(positive_class).to_vec();
            let calibrated: Vec<f64> = match &artifact.pipeline.calibration {
                Some(calibration) => scores.iter().map(|s| calibration.apply(*s)).collect(),
                None => scores,
            };
            let reliability = calibration_points(&calibrated, &positive, 10);
            files.push(write_file(
                plots.join("calibration.svg"),
                &plot::line_chart(
                    &format!("{}: calibration (out-of-fold)", artifact.model_name),
                    "mean predicted probability (decile bins)",
                    "observed positive rate",
                    &[(artifact.model_name.clone(), reliability)],
                    true,
                ),
            )?);
        }
        Task::Multiclass => {
            // One-vs-rest ROC of the chosen model, one curve per class present.
            let curves: Vec<(String, Vec<(f64, f64)>)> = (0..n_classes)
                .filter_map(|class_idx| {
                    let positive: Vec<bool> = y.iter().map(|c| *c == class_idx).collect();
                    if !positive.iter().any(|p| *p) {
                        return None;
                    }
                    let scores = best.oof.column(class_idx).to_vec();
                    let auc = crate::metrics::roc_auc(&scores, &positive);
                    Some((
                        format!("{} ({auc:.3})", classes[class_idx]),
                        crate::metrics::roc_curve(&scores, &positive),
                    ))
                })
                .collect();
            files.push(write_file(
                plots.join("roc_curves.svg"),
                &plot::line_chart(
                    &format!("{}: one-vs-rest ROC per class (AUC)", artifact.model_name),
                    "false positive rate",
                    "true positive rate",
                    &curves,
                    true,
                ),
            )?);
            // Reliability of the top-class probability: is "70% sure" right 70% of the time?
            let (top, correct): (Vec<f64>, Vec<bool>) = (0..dataset.n_rows())
                .map(|row| {
                    let probabilities = best.oof.row(row).to_vec();
                    let predicted = model::argmax(&probabilities);
                    (probabilities[predicted], predicted == y[row])
                })
                .unzip();
            files.push(write_file(
                plots.join("calibration.svg"),
                &plot::line_chart(
                    &format!(
                        "{}: top-class calibration (out-of-fold)",
                        artifact.model_name
                    ),
                    "predicted probability of the chosen class",
                    "observed accuracy",
                    &[(
                        artifact.model_name.clone(),
                        calibration_points(&top, &correct, 10),
                    )],
                    true,
                ),
            )?);
        }
    }
    Ok(files)
}

/// Mean prediction and observed rate in equal-count bins.
pub fn calibration_points(scores: &[f64], outcome: &[bool], n_bins: usize) -> Vec<(f64, f64)> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|a, b| scores[*a].total_cmp(&scores[*b]));
    let n_bins = n_bins.clamp(1, scores.len().max(1));
    (0..n_bins)
        .filter_map(|bin| {
            let start = bin * order.len() / n_bins;
            let end = (bin + 1) * order.len() / n_bins;
            let members = &order[start..end];
            if members.is_empty() {
                return None;
            }
            let mean = members.iter().map(|idx| scores[*idx]).sum::<f64>() / members.len() as f64;
            let rate =
                members.iter().filter(|idx| outcome[**idx]).count() as f64 / members.len() as f64;
            Some((mean, rate))
        })
        .collect()
}
