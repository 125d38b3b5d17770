//! The model card as a web page: `GET /model` for a client that asks for HTML (a browser),
//! rendered once per model from the artifact alone, with its plots inline as SVG so that it
//! works offline and under the page's content security policy.

use std::fmt::Write as _;

use model::{Artifact, Task};
use report::{escape, plot};

/// Renders the card.
pub fn render(artifact: &Artifact, model_version: &str) -> String {
    let schema = &artifact.schema;
    let mut body = String::new();
    purpose(artifact, &mut body);
    decision(artifact, &mut body);
    figures(artifact, &mut body);
    plots(artifact, &mut body);
    leaderboard(artifact, &mut body);
    subgroups_and_importance(artifact, &mut body);
    features(artifact, &mut body);
    limitations(artifact, &mut body);
    format!(
        r##"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Model card · {dataset}</title>
<link rel="stylesheet" href="/ui.css">
</head><body class="card">
<h1>Model card: {dataset}</h1>
<p class="muted">Model <code>{model}</code> (<code>{version}</code>), trained by vigil {trainer} on {rows} records (seed {seed}). <a href="/ui">Make a prediction</a> · <a href="/docs/">API docs</a> · the same card as JSON: <code>GET /model</code> with <code>Accept: application/json</code>.</p>
{body}</body></html>
"##,
        dataset = escape(&schema.dataset),
        model = escape(&artifact.model_name),
        version = escape(model_version),
        trainer = escape(&artifact.provenance.trainer_version),
        rows = artifact.provenance.n_training_rows,
        seed = artifact.provenance.seed,
    )
}

fn purpose(artifact: &Artifact, out: &mut String) {
    out.push_str("<h2>Intended use</h2>\n");
    let text = &artifact.purpose.intended_use;
    if text.is_empty() {
        out.push_str("<p>Not stated in the dataset config (<code>intended_use</code>).</p>\n");
    } else {
        let _ = writeln!(out, "<p>{}</p>", escape(text));
    }
}

/// An estimate as `0.803 (95% CI 0.745–0.858)`.
fn estimate_text(estimate: &model::Estimate) -> String {
    if estimate.lower.is_finite() && estimate.upper.is_finite() {
        format!(
            "{:.3} (95% CI {:.3}–{:.3})",
            estimate.value, estimate.lower, estimate.upper
        )
    } else {
        format!("{:.3}", estimate.value)
    }
}

fn decision(artifact: &Artifact, out: &mut String) {
    let schema = &artifact.schema;
    out.push_str("<h2>Decision</h2>\n");
    let Some((threshold, positive)) = artifact.decision.threshold.zip(schema.positive_class) else {
        out.push_str("<p>The label is the most probable class.</p>\n");
        return;
    };
    let evidence = &artifact.evidence;
    let expected = match (
        evidence.figure("sensitivity"),
        evidence.figure("specificity"),
    ) {
        (Some(sensitivity), Some(specificity)) => format!(
            " Expected at this threshold, from pooled out-of-fold predictions: sensitivity {}, specificity {}.",
            estimate_text(sensitivity),
            estimate_text(specificity)
        ),
        _ => String::new(),
    };
    let _ = writeln!(
        out,
        "<p>A record is labelled <strong>{}</strong> when its probability is at least <strong>{:.1}%</strong>. The threshold was chosen on out-of-fold cross-validation probabilities by the rule <code>{}</code>.{expected}</p>",
        escape(&schema.classes[positive]),
        threshold * 100.0,
        escape(&artifact.decision.rule)
    );
}

fn figures(artifact: &Artifact, out: &mut String) {
    let evidence = &artifact.evidence;
    let _ = writeln!(
        out,
        "<h2>Performance</h2>\n<p>Pooled out-of-fold predictions of {}-fold cross-validation at the shipped decision rule, with 95% bootstrap intervals ({} resamples).</p>",
        artifact.provenance.folds, evidence.resamples
    );
    figures_table(evidence, "Figures at the decision rule", out);
}

/// Each figure of `evidence` with its interval, as a table.
fn figures_table(evidence: &model::Evidence, caption: &str, out: &mut String) {
    let _ = writeln!(
        out,
        "<table><caption>{}</caption><tr><th scope=\"col\">figure</th><th scope=\"col\">value</th><th scope=\"col\">95% interval</th></tr>",
        escape(caption)
    );
    for (name, estimate) in &evidence.figures {
        let value = if estimate.value.is_finite() {
            format!("{:.3}", estimate.value)
        } else {
            "undefined".into()
        };
        let interval = if estimate.lower.is_finite() && estimate.upper.is_finite() {
            format!("{:.3} – {:.3}", estimate.lower, estimate.upper)
        } else {
            "—".into()
        };
        let _ = writeln!(
            out,
            "<tr data-figure=\"{0}\"><th scope=\"row\">{0}</th><td>{value}</td><td>{interval}</td></tr>",
            escape(name),
        );
    }
    out.push_str("</table>\n");
}

/// An inline SVG plot inside a labelled figure.
fn figure(out: &mut String, caption: &str, svg: &str) {
    let _ = writeln!(
        out,
        "<figure role=\"img\" aria-label=\"{0}\">{svg}<figcaption>{0}</figcaption></figure>",
        escape(caption)
    );
}

fn plots(artifact: &Artifact, out: &mut String) {
    evidence_plots(
        artifact,
        &artifact.evidence,
        ["out-of-fold", "the out-of-fold predictions", "pooled AUC"],
        out,
    );
}

/// The plots of `evidence`: ROC with the operating point, precision-recall and calibration
/// (binary), and the confusion matrix. `short` names the predictions in titles
/// ("out-of-fold"), `long` in captions ("the out-of-fold predictions"), `auc_name` the AUC
/// in the legend ("pooled AUC" for out-of-fold predictions, whose folds are pooled).
fn evidence_plots(
    artifact: &Artifact,
    evidence: &model::Evidence,
    [short, long, auc_name]: [&str; 3],
    out: &mut String,
) {
    let schema = &artifact.schema;
    if schema.task == Task::Binary && !evidence.roc.is_empty() {
        // Legends are short (the plot's legend column is narrow); captions say the rest.
        let auc = evidence
            .figure("roc_auc")
            .map_or(String::new(), |estimate| format!(" {:.3}", estimate.value));
        let mut series = vec![(format!("{auc_name}{auc}"), evidence.roc.clone())];
        if let Some(point) = evidence.operating_point {
            series.push(("operating point".into(), vec![point]));
        }
        figure(
            out,
            &format!("ROC curve of {long}, with the shipped threshold's operating point"),
            &plot::line_chart(
                &format!("ROC curve ({short})"),
                "false positive rate (1 - specificity)",
                "true positive rate (sensitivity)",
                &series,
                true,
            ),
        );
        figure(
            out,
            &format!("Precision against recall of {long}"),
            &plot::line_chart(
                &format!("Precision-recall ({short})"),
                "recall (sensitivity)",
                "precision (positive predictive value)",
                &[(
                    artifact.model_name.clone(),
                    evidence.precision_recall.clone(),
                )],
                false,
            ),
        );
        figure(
            out,
            &format!(
                "Calibration of {long}: observed share of positives against the mean predicted probability, in ten bins"
            ),
            &plot::line_chart(
                &format!("Calibration ({short})"),
                "mean predicted probability",
                "observed share positive",
                &[(artifact.model_name.clone(), evidence.calibration.clone())],
                true,
            ),
        );
    }
    let counts: Vec<Vec<f64>> = evidence
        .confusion
        .iter()
        .map(|row| row.iter().map(|count| *count as f64).collect())
        .collect();
    figure(
        out,
        &format!("Confusion matrix of {long} at the decision rule"),
        &plot::heatmap(
            &format!("Confusion matrix ({})", artifact.decision.rule),
            "true class",
            "predicted class",
            &schema.classes,
            &schema.classes,
            &counts,
            false,
        ),
    );
}

/// The evaluation of a labelled file as a page section (the page's upload shows it): what was
/// evaluated, the figures with intervals and the same plots as the model card.
pub fn evaluation_section(
    artifact: &Artifact,
    file_name: &str,
    evaluation: &crate::evaluate::FileEvaluation,
) -> String {
    let schema = &artifact.schema;
    let counts = schema
        .classes
        .iter()
        .zip(&evaluation.class_counts)
        .map(|(class, n)| format!("{} {n}", escape(class)))
        .collect::<Vec<_>>()
        .join(", ");
    let rule = match artifact.decision.threshold {
        Some(threshold) => format!(
            "the shipped threshold {:.1}% (<code>{}</code>)",
            threshold * 100.0,
            escape(&artifact.decision.rule)
        ),
        None => "the most probable class".into(),
    };
    let mut out = format!(
        "<section id=\"evaluation\" aria-labelledby=\"evaluation-title\"><h3 id=\"evaluation-title\">Evaluation on {file}</h3>\n<p>{n} labelled records ({counts}), decided at {rule}. 95% bootstrap intervals from {resamples} resamples (seed {seed}); <code>train evaluate --resamples {resamples} --seed {seed}</code> on the same file gives the same figures.</p>\n",
        file = escape(file_name),
        n = evaluation.n_records,
        resamples = evaluation.evidence.resamples,
        seed = evaluation.seed,
    );
    figures_table(
        &evaluation.evidence,
        &format!("Figures on {file_name}"),
        &mut out,
    );
    evidence_plots(
        artifact,
        &evaluation.evidence,
        [file_name, &format!("the predictions on {file_name}"), "AUC"],
        &mut out,
    );
    out.push_str("</section>\n");
    out
}

fn leaderboard(artifact: &Artifact, out: &mut String) {
    let metrics: Vec<model::Metric> = artifact
        .leaderboard
        .first()
        .map(|entry| entry.metrics.iter().map(|summary| summary.metric).collect())
        .unwrap_or_default();
    out.push_str("<h2>Leaderboard</h2>\n<p>Every family trained, cross-validated the same way (fold mean ± standard deviation; threshold-dependent metrics at 0.5).</p>\n<div class=\"scroll\" tabindex=\"0\" role=\"region\" aria-label=\"Leaderboard table\"><table><caption>Cross-validated metrics per model family</caption><tr><th scope=\"col\">model</th>");
    for metric in &metrics {
        let _ = write!(out, "<th scope=\"col\">{metric}</th>");
    }
    out.push_str("</tr>\n");
    for entry in &artifact.leaderboard {
        let _ = write!(out, "<tr><th scope=\"row\">{}</th>", escape(&entry.model));
        for summary in &entry.metrics {
            let _ = write!(out, "<td>{:.3} ± {:.3}</td>", summary.mean, summary.std);
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table></div>\n");
}

fn subgroups_and_importance(artifact: &Artifact, out: &mut String) {
    if !artifact.subgroups.is_empty() {
        out.push_str("<h2>Subgroups</h2>\n");
        for family in &artifact.subgroups {
            let names: Vec<&str> = family
                .groups
                .first()
                .map(|group| {
                    group
                        .figures
                        .iter()
                        .map(|(name, _)| name.as_str())
                        .collect()
                })
                .unwrap_or_default();
            let _ = write!(
                out,
                "<table><caption>By {}</caption><tr><th scope=\"col\">group</th><th scope=\"col\">n</th><th scope=\"col\">prevalence</th>",
                escape(&family.spec.feature)
            );
            for name in &names {
                let _ = write!(out, "<th scope=\"col\">{}</th>", escape(name));
            }
            out.push_str("</tr>\n");
            for group in &family.groups {
                let prevalence = group
                    .prevalence
                    .map_or("—".into(), |share| format!("{share:.3}"));
                let _ = write!(
                    out,
                    "<tr><th scope=\"row\">{}</th><td>{}</td><td>{prevalence}</td>",
                    escape(&group.label),
                    group.n
                );
                for (_, estimate) in &group.figures {
                    let _ = write!(out, "<td>{}</td>", estimate_text(estimate));
                }
                out.push_str("</tr>\n");
                if let Some(note) = &group.note {
                    let _ = writeln!(
                        out,
                        "<tr><td colspan=\"{}\" class=\"muted\">{}</td></tr>",
                        3 + names.len(),
                        escape(note)
                    );
                }
            }
            out.push_str("</table>\n");
        }
    }
    if let Some(importance) = &artifact.importance {
        let names: Vec<String> = importance
            .features
            .iter()
            .map(|feature| feature.feature.clone())
            .collect();
        let means: Vec<f64> = importance
            .features
            .iter()
            .map(|feature| feature.mean.max(0.0))
            .collect();
        out.push_str("<h2>What the model relies on</h2>\n");
        figure(
            out,
            &format!(
                "Permutation importance: the loss of out-of-fold {} when one feature is shuffled (mean of {} repeats)",
                importance.metric, importance.repeats
            ),
            &plot::bar_chart(
                "Permutation importance (out-of-fold)",
                "feature",
                &format!("{} lost", importance.metric),
                &names,
                &[("mean loss".into(), means)],
            ),
        );
    }
}

fn features(artifact: &Artifact, out: &mut String) {
    out.push_str("<h2>Inputs</h2>\n<table><caption>Features the model takes</caption><tr><th scope=\"col\">feature</th><th scope=\"col\">description</th><th scope=\"col\">unit</th><th scope=\"col\">training range</th><th scope=\"col\">when missing</th></tr>\n");
    for (feature_idx, feature) in artifact.schema.features.iter().enumerate() {
        let range = match crate::api::published_range(feature.training_range) {
            Some((min, max)) => format!("{min} – {max}"),
            None => feature.categories.join(", "),
        };
        let _ = writeln!(
            out,
            "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&feature.name),
            escape(&feature.description),
            escape(feature.unit.as_deref().unwrap_or("")),
            escape(&range),
            escape(&crate::api::missing_rule(artifact, feature_idx))
        );
    }
    out.push_str("</table>\n");
}

fn limitations(artifact: &Artifact, out: &mut String) {
    out.push_str("<h2>Limitations</h2>\n<ul>\n");
    for limitation in &artifact.purpose.limitations {
        let _ = writeln!(out, "<li>{}</li>", escape(limitation));
    }
    let _ = writeln!(
        out,
        "<li>Validated internally only ({}-fold cross-validation on {} records): how it performs on another hospital, period or population is unknown until measured (<code>train evaluate</code>).</li>\n<li>Values outside the training ranges above are extrapolations; predictions flag them, and flag records with more than {:.0}% of their features missing as low-information.</li>\n</ul>",
        artifact.provenance.folds,
        artifact.provenance.n_training_rows,
        artifact.purpose.low_information_share * 100.0
    );
}
