//! A shipped artifact evaluated on new labelled data: every record scored through the
//! artifact's own pipeline and decision rule (as the server scores it), then the figures a
//! clinical reviewer asks for, each with a seeded bootstrap 95% interval: discrimination,
//! the operating point at the shipped threshold, and calibration (logistic recalibration slope
//! and intercept, expected calibration error), with ROC, precision-recall, calibration and
//! confusion-matrix plots. Rendering happens in memory; the caller publishes the files.

use std::fmt::Write as _;
use std::path::PathBuf;

use serde::Serialize;

use ::report::{html, plot};
use data::Dataset;
use model::{Artifact, SubgroupFamily, Task};

use crate::TrainError;
use crate::report::ReportFile;
use model::evaluation::calibration_points;

/// How to evaluate.
#[derive(Debug, Clone, Copy)]
pub struct EvaluateOptions {
    /// Bootstrap resamples for the intervals (0: no intervals).
    pub resamples: usize,
    /// Seed of the resampling.
    pub seed: u64,
}

pub use model::Estimate;
pub use model::evaluation::Figure;
use model::evaluation::{Scored, precision_recall};

/// How the artifact's conformal prediction sets did on the file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SetCoverage {
    /// The coverage the sets were calibrated for.
    pub target: f64,
    /// Per class: records of that class, and the share whose set held their true class.
    pub per_class: Vec<(String, usize, f64)>,
    /// Mean number of classes in a set.
    pub mean_set_size: f64,
    /// Share of records with more than one class in their set ("uncertain").
    pub uncertain_share: f64,
    /// Share of records with an empty set.
    pub empty_share: f64,
}

impl SetCoverage {
    /// Coverage per class, as `Negative 0.949 (n=78), Positive 0.857 (n=42)`.
    pub fn coverage_text(&self) -> String {
        self.per_class
            .iter()
            .map(|(name, n, covered)| format!("{name} {covered:.3} (n={n})"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn set_coverage(
    artifact: &Artifact,
    probabilities: &[Vec<f64>],
    truth: &[usize],
) -> Option<SetCoverage> {
    let sets = artifact.conformal.as_ref()?;
    let members: Vec<Vec<usize>> = probabilities.iter().map(|p| sets.set(p)).collect();
    let n = truth.len().max(1) as f64;
    let share = |keep: &dyn Fn(&Vec<usize>) -> bool| {
        members.iter().filter(|set| keep(set)).count() as f64 / n
    };
    Some(SetCoverage {
        target: sets.coverage,
        per_class: artifact
            .schema
            .classes
            .iter()
            .enumerate()
            .map(|(class_idx, name)| {
                let rows: Vec<usize> = (0..truth.len())
                    .filter(|row| truth[*row] == class_idx)
                    .collect();
                let covered = rows
                    .iter()
                    .filter(|row| members[**row].contains(&class_idx))
                    .count();
                (
                    name.clone(),
                    rows.len(),
                    ratio(covered as f64, rows.len() as f64),
                )
            })
            .collect(),
        mean_set_size: members.iter().map(Vec::len).sum::<usize>() as f64 / n,
        uncertain_share: share(&|set| set.len() > 1),
        empty_share: share(&|set| set.is_empty()),
    })
}

/// Everything an evaluation found.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    /// The dataset.
    pub dataset: String,
    /// The chosen model's name.
    pub model: String,
    /// SHA-256 of the artifact evaluated.
    pub artifact_sha256: String,
    /// The labelled file.
    pub input: PathBuf,
    /// Its SHA-256.
    pub input_sha256: String,
    /// Records scored.
    pub n_records: usize,
    /// Records per class, in class order.
    pub class_counts: Vec<(String, usize)>,
    /// The shipped decision threshold on the positive class (binary).
    pub threshold: Option<f64>,
    /// Index of the positive class (binary).
    #[serde(skip)]
    positive_class: Option<usize>,
    /// Each figure with its interval.
    pub figures: Vec<(Figure, Estimate)>,
    /// `confusion[true class][decided class]`.
    pub confusion: Vec<Vec<u64>>,
    /// The conformal prediction sets' coverage, when the model has sets.
    pub prediction_sets: Option<SetCoverage>,
    /// Figures per subgroup of the model's `[[subgroups]]`.
    pub subgroups: Vec<SubgroupFamily>,
    /// Bootstrap resamples behind the intervals.
    pub resamples: usize,
    /// Their seed.
    pub seed: u64,
    /// The probabilities, one row per record (for plots; not serialised).
    #[serde(skip)]
    probabilities: Vec<Vec<f64>>,
    /// The true class per record.
    #[serde(skip)]
    truth: Vec<usize>,
}

impl Evaluation {
    /// Records per class, as `Negative 391, Positive 208`.
    pub fn counts_text(&self) -> String {
        self.class_counts
            .iter()
            .map(|(name, count)| format!("{name} {count}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// A figure's estimate, if the task reports it.
    pub fn figure(&self, figure: Figure) -> Option<Estimate> {
        self.figures
            .iter()
            .find(|(name, _)| *name == figure)
            .map(|(_, estimate)| *estimate)
    }
}

/// Scores a labelled dataset through `artifact` and computes every figure with intervals.
pub fn evaluate(
    artifact: &Artifact,
    artifact_bytes: &[u8],
    dataset: &Dataset,
    options: EvaluateOptions,
) -> Result<Evaluation, TrainError> {
    let schema = &artifact.schema;
    let expected: Vec<&str> = schema.features.iter().map(|f| f.name.as_str()).collect();
    let found: Vec<&str> = dataset.features.iter().map(|f| f.name.as_str()).collect();
    if expected != found {
        return Err(TrainError::Options(format!(
            "the config's features {found:?} are not the model's {expected:?}: evaluate with the config the model was trained with"
        )));
    }
    let truth = dataset.target.clone().ok_or_else(|| {
        TrainError::Options(format!(
            "`{}` has no `{}` column: evaluation needs labelled records",
            dataset.path.display(),
            schema.target
        ))
    })?;
    let recode = category_codes(artifact, dataset);
    let (mut probabilities, mut decided) = (Vec::new(), Vec::new());
    for (row_idx, row) in dataset.raw.rows().into_iter().enumerate() {
        let mut raw: Vec<f64> = row.to_vec();
        for (feature_idx, codes) in recode.iter().enumerate() {
            let (Some(codes), value) = (codes, raw[feature_idx]) else {
                continue;
            };
            if value.is_nan() {
                continue;
            }
            raw[feature_idx] = codes.get(value as usize).copied().flatten().ok_or_else(|| {
                let feature = &schema.features[feature_idx];
                TrainError::Options(format!(
                    "`{}` line {}: `{}` has a category the model was not trained on (it knows {})",
                    dataset.path.display(),
                    dataset.lines.get(row_idx).copied().unwrap_or(row_idx + 2),
                    feature.name,
                    feature.categories.join(", ")
                ))
            })?;
        }
        let prediction = artifact.predict_raw(&raw);
        decided.push(prediction.label_idx);
        probabilities.push(prediction.probabilities);
    }
    let n_classes = schema.classes.len();
    let flat_probabilities = probabilities.concat();
    let scored = Scored {
        task: schema.task,
        positive_class: schema.positive_class,
        n_classes,
        probabilities: model::evaluation::ProbabilityRows::new(&flat_probabilities, n_classes),
        decided: &decided,
        truth: &truth,
    };
    let all: Vec<usize> = (0..truth.len()).collect();
    let mut rng = model::evaluation::bootstrap_rng(options.seed);
    let figures = Figure::for_task(schema.task)
        .iter()
        .copied()
        .zip(scored.estimates(&all, options.resamples, &mut rng))
        .collect();
    let subgroups = scored.subgroups(
        schema,
        &artifact.subgroup_specs(),
        &|row, feature_idx| dataset.raw[[row, feature_idx]],
        options.resamples,
        &mut rng,
    );
    let confusion = model::evaluation::confusion(&truth, &decided, n_classes);
    let prediction_sets = set_coverage(artifact, &probabilities, &truth);
    Ok(Evaluation {
        prediction_sets,
        subgroups,
        dataset: schema.dataset.clone(),
        model: artifact.model_name.clone(),
        artifact_sha256: tracking::sha256_hex(artifact_bytes),
        input: dataset.path.clone(),
        input_sha256: dataset.sha256.clone(),
        n_records: truth.len(),
        class_counts: schema
            .classes
            .iter()
            .enumerate()
            .map(|(class_idx, name)| {
                (
                    name.clone(),
                    truth.iter().filter(|t| **t == class_idx).count(),
                )
            })
            .collect(),
        threshold: artifact.decision.threshold,
        positive_class: match schema.task {
            Task::Binary => Some(schema.positive_class.unwrap_or(1)),
            Task::Multiclass => None,
        },
        figures,
        confusion,
        resamples: options.resamples,
        seed: options.seed,
        probabilities,
        truth,
    })
}

/// For each categorical feature, the artifact's code of each of the file's category codes: a
/// category list discovered from a file (rather than fixed by the config) depends on which
/// categories that file holds, so the evaluation file's codes need not be the training file's.
fn category_codes(artifact: &Artifact, dataset: &Dataset) -> Vec<Option<Vec<Option<f64>>>> {
    artifact
        .schema
        .features
        .iter()
        .zip(&dataset.features)
        .map(|(trained, found)| {
            (trained.kind == model::FeatureKind::Categorical).then(|| {
                found
                    .categories
                    .iter()
                    .map(|category| {
                        trained
                            .categories
                            .iter()
                            .position(|known| known == category)
                            .map(|code| code as f64)
                    })
                    .collect()
            })
        })
        .collect()
}

fn ratio(numerator: f64, denominator: f64) -> f64 {
    if denominator > 0.0 {
        numerator / denominator
    } else {
        f64::NAN
    }
}

/// One point of a decision curve (Vickers & Elkin 2006): at a threshold probability `t`,
/// treating the records at or above it, the net benefit is `TP/n − FP/n · t/(1 − t)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct NetBenefit {
    /// Threshold probability.
    pub threshold: f64,
    /// Net benefit of acting on the model.
    pub model: f64,
    /// Net benefit of treating everyone.
    pub treat_all: f64,
}

/// The decision curve at thresholds 0.01, 0.02 … 0.99 (treating no one has net benefit 0).
pub fn decision_curve(scores: &[f64], positive: &[bool]) -> Vec<NetBenefit> {
    let n = scores.len().max(1) as f64;
    let prevalence = positive.iter().filter(|p| **p).count() as f64 / n;
    (1..100)
        .map(|step| {
            let threshold = step as f64 / 100.0;
            let odds = threshold / (1.0 - threshold);
            let (tp, fp) = scores.iter().zip(positive).fold(
                (0.0, 0.0),
                |(tp, fp), (score, is_positive)| match (*score >= threshold, *is_positive) {
                    (true, true) => (tp + 1.0, fp),
                    (true, false) => (tp, fp + 1.0),
                    _ => (tp, fp),
                },
            );
            NetBenefit {
                threshold,
                model: tp / n - fp / n * odds,
                treat_all: prevalence - (1.0 - prevalence) * odds,
            }
        })
        .collect()
}

/// The decision curve as a chart of standardised net benefit (net benefit divided by the
/// prevalence, so 1 is perfect) for the model and for treating everyone; treating no one is
/// the zero line, and values below it are not drawn.
pub fn decision_curve_plot(title: &str, curve: &[NetBenefit], prevalence: f64) -> String {
    let standardised = |pick: fn(&NetBenefit) -> f64| -> Vec<(f64, f64)> {
        curve
            .iter()
            .map(|point| (point.threshold, pick(point) / prevalence.max(1e-12)))
            .filter(|(_, value)| *value >= 0.0)
            .collect()
    };
    plot::line_chart(
        title,
        "threshold probability",
        "standardised net benefit (net benefit / prevalence)",
        &[
            ("model".into(), standardised(|point| point.model)),
            ("treat all".into(), standardised(|point| point.treat_all)),
        ],
        false,
    )
}

/// The cross-validated counterpart of a figure, where the leaderboard has one: the chosen
/// model's fold mean, or the out-of-fold figure at the shipped threshold.
fn cv_counterpart(figure: Figure, artifact: &Artifact) -> Option<f64> {
    use model::Metric;
    let metric = match figure {
        Figure::RocAuc if artifact.schema.task == Task::Binary => Metric::RocAuc,
        Figure::RocAuc => Metric::RocAucOvr,
        Figure::PrAuc => Metric::PrAuc,
        Figure::Accuracy if artifact.schema.task == Task::Multiclass => Metric::Accuracy,
        Figure::BalancedAccuracy if artifact.schema.task == Task::Multiclass => {
            Metric::BalancedAccuracy
        }
        Figure::MacroF1 => Metric::MacroF1,
        Figure::Brier => Metric::Brier,
        Figure::LogLoss => Metric::LogLoss,
        Figure::Sensitivity => return artifact.decision.oof_sensitivity,
        Figure::Specificity => return artifact.decision.oof_specificity,
        _ => return None,
    };
    artifact
        .chosen_metrics()
        .iter()
        .find(|summary| summary.metric == metric)
        .map(|summary| summary.mean)
}

/// Evaluates a run's artifact on the rows `--holdout` kept out of everything.
pub fn evaluate_holdout(
    outcome: &crate::TrainOutcome,
    test: &Dataset,
    options: &crate::TrainOptions,
) -> Result<Evaluation, TrainError> {
    evaluate(
        &outcome.artifact,
        &outcome.artifact_bytes,
        test,
        EvaluateOptions {
            resamples: 1000,
            seed: crate::seeds::derive_seed(options.seed, &[crate::seeds::HOLDOUT_BOOTSTRAP]),
        },
    )
}

/// Adds a held-out evaluation to a run's outcome: a section in `leaderboard.md` and
/// `model_report.md`, and the evaluation's own files under `holdout/`.
pub fn attach_holdout(
    outcome: &mut crate::TrainOutcome,
    evaluation: Evaluation,
    options: &crate::TrainOptions,
) {
    let section = holdout_section(&evaluation, &outcome.artifact, options);
    // Both documents a reader may open end with the held-out figures.
    for report in outcome.reports.iter_mut().filter(|report| {
        report.path == std::path::Path::new("leaderboard.md")
            || report.path == std::path::Path::new(crate::tripod::FILE_NAME)
    }) {
        report.contents.push_str(&section);
    }
    outcome
        .reports
        .extend(render(&evaluation).into_iter().map(|file| ReportFile {
            path: PathBuf::from("holdout").join(file.path),
            contents: file.contents,
        }));
    outcome.holdout = Some(evaluation);
}

/// The held-out section of `leaderboard.md` and `model_report.md`.
fn holdout_section(
    evaluation: &Evaluation,
    artifact: &Artifact,
    options: &crate::TrainOptions,
) -> String {
    let n_rows = artifact.provenance.n_training_rows;
    let refit = match options.holdout_refit {
        crate::options::HoldoutRefit::Train => format!(
            "The shipped model was refitted on the {n_rows} training rows only, so the test figures describe it exactly."
        ),
        crate::options::HoldoutRefit::All => format!(
            "The test figures describe the model refitted on the {} training rows; the shipped model was then refitted on all {n_rows} rows (test split included) with the same hyperparameters, threshold, calibration and prediction sets, so they estimate it (it learned from more rows).",
            n_rows.saturating_sub(evaluation.n_records)
        ),
    };
    let mut out = format!(
        "\n## Held-out test split\n\n{:.0}% of the rows ({} records: {}), stratified and seeded, were kept out of everything: tuning, model choice, threshold, calibration and prediction sets. {refit} Intervals: 95% bootstrap ({} resamples).\n\n| figure | test [95% interval] | cross-validated |\n|---|---|---|\n",
        options.holdout * 100.0,
        evaluation.n_records,
        evaluation.counts_text(),
        evaluation.resamples
    );
    for (figure, estimate) in &evaluation.figures {
        let cv = cv_counterpart(*figure, artifact)
            .map(|value| format!("{value:.3}"))
            .unwrap_or_else(|| "-".into());
        let _ = writeln!(
            out,
            "| {} | {} | {cv} |",
            figure.name(),
            format_estimate(estimate)
        );
    }
    if let Some(sets) = &evaluation.prediction_sets {
        let headline = set_summary(sets);
        let headline = headline.lines().next().unwrap_or_default();
        let _ = writeln!(out, "\n{headline}; coverage: {}.", sets.coverage_text());
    }
    if !evaluation.subgroups.is_empty() {
        let _ = write!(
            out,
            "\nSubgroups of the held-out split:\n\n{}",
            subgroup_markdown(&evaluation.subgroups)
        );
    }
    out
}

/// One row per group: label, n, prevalence, then each figure with its interval (or the
/// group's note).
fn subgroup_rows(families: &[SubgroupFamily]) -> (Vec<String>, Vec<Vec<String>>) {
    let figure_names: Vec<String> = families
        .iter()
        .flat_map(|family| family.groups.iter())
        .flat_map(|group| group.figures.iter().map(|(name, _)| name.clone()))
        .fold(Vec::new(), |mut names, name| {
            if !names.contains(&name) {
                names.push(name);
            }
            names
        });
    let with_prevalence = families
        .iter()
        .flat_map(|family| family.groups.iter())
        .any(|group| group.prevalence.is_some());
    let mut header = vec!["group".to_owned(), "n".to_owned()];
    if with_prevalence {
        header.push("prevalence".into());
    }
    header.extend(figure_names.iter().cloned());
    let rows = families
        .iter()
        .flat_map(|family| family.groups.iter())
        .map(|group| {
            let mut row = vec![group.label.clone(), group.n.to_string()];
            if with_prevalence {
                row.push(
                    group
                        .prevalence
                        .map(|p| format!("{p:.3}"))
                        .unwrap_or_default(),
                );
            }
            for name in &figure_names {
                let estimate = group
                    .figures
                    .iter()
                    .find(|(figure, _)| figure == name)
                    .map(|(_, e)| e);
                row.push(estimate.map(format_estimate).unwrap_or_default());
            }
            row
        })
        .collect();
    (header, rows)
}

/// A Markdown table of subgroup figures, with each group's note below it.
pub fn subgroup_markdown(families: &[SubgroupFamily]) -> String {
    if families.is_empty() {
        return String::new();
    }
    let (header, rows) = subgroup_rows(families);
    let mut out = format!(
        "| {} |\n|{}\n",
        header.join(" | "),
        "---|".repeat(header.len())
    );
    for row in rows {
        let _ = writeln!(out, "| {} |", row.join(" | "));
    }
    for group in families.iter().flat_map(|family| family.groups.iter()) {
        if let Some(note) = &group.note {
            let _ = writeln!(out, "\n{}: {note}.", group.label);
        }
    }
    out
}

fn subgroup_html(families: &[SubgroupFamily]) -> String {
    if families.is_empty() {
        return String::new();
    }
    let (header, rows) = subgroup_rows(families);
    let cells = |row: &[String], tag: &str| {
        row.iter()
            .map(|cell| format!("<{tag}>{}</{tag}>", html::escape(cell)))
            .collect::<String>()
    };
    let body: String = rows
        .iter()
        .map(|row| format!("<tr>{}</tr>\n", cells(row, "td")))
        .collect();
    format!(
        "<h2>Subgroups</h2>\n<table><thead><tr>{}</tr></thead><tbody>\n{body}</tbody></table>\n",
        cells(&header, "th")
    )
}

/// The terminal lines on the held-out split: the headline figures beside their CV values.
pub fn holdout_summary(evaluation: &Evaluation, artifact: &Artifact) -> String {
    let mut out = format!(
        "held-out test split ({} records, used for nothing else), figure [95% interval] (CV):\n",
        evaluation.n_records
    );
    for figure in [
        Figure::RocAuc,
        Figure::Sensitivity,
        Figure::Specificity,
        Figure::Accuracy,
        Figure::Brier,
        Figure::CalibrationSlope,
    ] {
        let Some(estimate) = evaluation.figure(figure) else {
            continue;
        };
        let cv = cv_counterpart(figure, artifact)
            .map(|value| format!(" (CV {value:.3})"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {:<22} {}{cv}",
            figure.name(),
            format_estimate(&estimate)
        );
    }
    out
}

fn format_estimate(estimate: &Estimate) -> String {
    if !estimate.value.is_finite() {
        return "undefined".into();
    }
    if estimate.lower.is_finite() && estimate.upper.is_finite() {
        format!(
            "{:.3} [{:.3}, {:.3}]",
            estimate.value, estimate.lower, estimate.upper
        )
    } else {
        format!("{:.3} (no interval)", estimate.value)
    }
}

/// The terminal summary: one line per figure, under 100 columns.
pub fn summary(evaluation: &Evaluation) -> String {
    let mut out = format!(
        "{}: {} on {} labelled records ({})\n95% bootstrap intervals from {} resamples\n",
        evaluation.dataset,
        evaluation.model,
        evaluation.n_records,
        evaluation.counts_text(),
        evaluation.resamples
    );
    if let Some(threshold) = evaluation.threshold {
        let _ = writeln!(out, "at the shipped threshold {threshold:.4}:");
    }
    for (figure, estimate) in &evaluation.figures {
        let _ = writeln!(out, "  {:<22} {}", figure.name(), format_estimate(estimate));
    }
    if let Some(sets) = &evaluation.prediction_sets {
        let _ = writeln!(out, "{}", set_summary(sets));
    }
    for group in evaluation
        .subgroups
        .iter()
        .flat_map(|family| family.groups.iter())
    {
        let figures: Vec<String> = group
            .figures
            .iter()
            .map(|(name, estimate)| format!("{name} {:.3}", estimate.value))
            .collect();
        let _ = writeln!(
            out,
            "  {:<24} n={:<5} {}",
            group.label,
            group.n,
            figures.join(", ")
        );
    }
    out
}

fn set_summary(sets: &SetCoverage) -> String {
    let mut out = format!(
        "prediction sets ({:.0}% target coverage): mean size {:.2}, uncertain {:.1}%, empty {:.1}%",
        sets.target * 100.0,
        sets.mean_set_size,
        sets.uncertain_share * 100.0,
        sets.empty_share * 100.0
    );
    for (name, n, covered) in &sets.per_class {
        let _ = write!(out, "\n  coverage of {name:<14} {covered:.3} (n={n})");
    }
    out
}

/// `evaluation.json`, `evaluation.html` and the plots, by relative path.
pub fn render(evaluation: &Evaluation) -> Vec<ReportFile> {
    let mut files = Vec::new();
    let mut plots = Vec::new();
    let classes: Vec<String> = evaluation
        .class_counts
        .iter()
        .map(|(name, _)| name.clone())
        .collect();
    if let Some(positive_class) = evaluation.positive_class {
        let scores: Vec<f64> = evaluation
            .probabilities
            .iter()
            .map(|p| p[positive_class])
            .collect();
        let positive: Vec<bool> = evaluation
            .truth
            .iter()
            .map(|t| *t == positive_class)
            .collect();
        let auc = evaluation
            .figure(Figure::RocAuc)
            .map_or(f64::NAN, |e| e.value);
        let mut roc = vec![(
            format!("ROC (AUC {auc:.3})"),
            model::evaluation::roc_curve(&scores, &positive),
        )];
        if let (Some(sensitivity), Some(specificity)) = (
            evaluation.figure(Figure::Sensitivity),
            evaluation.figure(Figure::Specificity),
        ) {
            roc.push((
                "shipped threshold".into(),
                vec![(1.0 - specificity.value, sensitivity.value); 2],
            ));
        }
        plots.push((
            "roc.svg",
            plot::line_chart(
                "ROC on the evaluation file",
                "false positive rate (1 - specificity)",
                "true positive rate (sensitivity)",
                &roc,
                true,
            ),
        ));
        plots.push((
            "pr.svg",
            plot::line_chart(
                "Precision-recall on the evaluation file",
                "recall (sensitivity)",
                "precision (PPV)",
                &[("precision".into(), precision_recall(&scores, &positive))],
                false,
            ),
        ));
        plots.push((
            "calibration.svg",
            plot::line_chart(
                "Calibration on the evaluation file",
                "mean predicted probability (decile bins)",
                "observed positive rate",
                &[(
                    evaluation.model.clone(),
                    calibration_points(&scores, &positive, 10),
                )],
                true,
            ),
        ));
        let prevalence =
            positive.iter().filter(|p| **p).count() as f64 / positive.len().max(1) as f64;
        plots.push((
            "decision_curve.svg",
            decision_curve_plot(
                "Decision curve on the evaluation file",
                &decision_curve(&scores, &positive),
                prevalence,
            ),
        ));
    }
    let matrix: Vec<Vec<f64>> = evaluation
        .confusion
        .iter()
        .map(|row| row.iter().map(|c| *c as f64).collect())
        .collect();
    plots.push((
        "confusion.svg",
        plot::heatmap(
            "Confusion matrix at the shipped decision rule",
            "true class",
            "decided class",
            &classes,
            &classes,
            &matrix,
            false,
        ),
    ));
    let json = serde_json::to_string_pretty(&serde_json::json!({
        "format": 1,
        "dataset": evaluation.dataset,
        "model": evaluation.model,
        "artifact_sha256": evaluation.artifact_sha256,
        "input": evaluation.input.display().to_string(),
        "input_sha256": evaluation.input_sha256,
        "n_records": evaluation.n_records,
        "class_counts": evaluation.class_counts.iter().map(|(name, count)| (name.clone(), serde_json::json!(count))).collect::<serde_json::Map<_, _>>(),
        "threshold": evaluation.threshold,
        "figures": evaluation.figures.iter().map(|(figure, estimate)| (figure.name().to_owned(), serde_json::json!(estimate))).collect::<serde_json::Map<_, _>>(),
        "confusion": {"rows": "true class", "columns": "decided class", "classes": classes, "counts": evaluation.confusion},
        "prediction_sets": evaluation.prediction_sets.as_ref().map(|sets| serde_json::json!({
            "target_coverage": sets.target,
            "coverage": sets.per_class.iter().map(|(name, n, covered)| (name.clone(), serde_json::json!({"n": n, "covered": covered}))).collect::<serde_json::Map<_, _>>(),
            "mean_set_size": sets.mean_set_size,
            "uncertain_share": sets.uncertain_share,
            "empty_share": sets.empty_share,
        })),
        "subgroups": evaluation.subgroups,
        "decision_curve": evaluation.positive_class.map(|positive_class| {
            let scores: Vec<f64> = evaluation.probabilities.iter().map(|p| p[positive_class]).collect();
            let positive: Vec<bool> = evaluation.truth.iter().map(|t| *t == positive_class).collect();
            decision_curve(&scores, &positive)
        }),
        "bootstrap": {"resamples": evaluation.resamples, "seed": evaluation.seed, "interval": "percentile 2.5–97.5"},
    }))
    .unwrap_or_default()
        + "\n";
    files.push(ReportFile {
        path: PathBuf::from("evaluation.json"),
        contents: json,
    });
    files.push(ReportFile {
        path: PathBuf::from("evaluation.html"),
        contents: html_page(evaluation, &plots),
    });
    files.extend(plots.into_iter().map(|(name, svg)| ReportFile {
        path: PathBuf::from("plots").join(name),
        contents: svg,
    }));
    files
}

fn html_page(evaluation: &Evaluation, plots: &[(&str, String)]) -> String {
    let rows: String = evaluation
        .figures
        .iter()
        .map(|(figure, estimate)| {
            format!(
                "<tr><th scope=\"row\">{}</th><td>{}</td></tr>\n",
                html::escape(figure.name()),
                html::escape(&format_estimate(estimate))
            )
        })
        .collect();
    let images: String = plots
        .iter()
        .map(|(name, _)| {
            format!(
                "<figure><img src=\"plots/{name}\" alt=\"{}\"></figure>\n",
                html::escape(name.trim_end_matches(".svg"))
            )
        })
        .collect();
    let threshold = evaluation
        .threshold
        .map(|t| format!(" at the shipped threshold {t:.4}"))
        .unwrap_or_default();
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Evaluation: {dataset}</title>\n<style>body{{font-family:sans-serif;max-width:60rem;margin:2rem auto;color:#1a1a1a}}td,th{{padding:.2rem .8rem;text-align:left}}img{{max-width:100%}}</style></head><body>\n<h1>Evaluation of the {dataset} model on new labelled data</h1>\n<p>Model <code>{model}</code> (artifact SHA-256 <code>{artifact}</code>) on <code>{input}</code> (SHA-256 <code>{input_sha}</code>): {n} records ({counts}). Figures{threshold}, with 95% bootstrap percentile intervals from {resamples} resamples (seed {seed}).</p>\n<table><thead><tr><th>figure</th><th>value [95% interval]</th></tr></thead><tbody>\n{rows}</tbody></table>\n<p>{sets}</p>\n{subgroups}{images}</body></html>\n",
        subgroups = subgroup_html(&evaluation.subgroups),
        sets = evaluation
            .prediction_sets
            .as_ref()
            .map(|sets| html::escape(&set_summary(sets)))
            .unwrap_or_default(),
        dataset = html::escape(&evaluation.dataset),
        model = html::escape(&evaluation.model),
        artifact = &evaluation.artifact_sha256[..16.min(evaluation.artifact_sha256.len())],
        input = html::escape(&evaluation.input.display().to_string()),
        input_sha = &evaluation.input_sha256[..16.min(evaluation.input_sha256.len())],
        n = evaluation.n_records,
        counts = html::escape(&evaluation.counts_text()),
        resamples = evaluation.resamples,
        seed = evaluation.seed,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn net_benefit_follows_vickers_and_elkin() {
        let curve = decision_curve(&[0.9, 0.8, 0.3, 0.1], &[true, false, true, false]);
        let at = |threshold: f64| {
            *curve
                .iter()
                .find(|p| (p.threshold - threshold).abs() < 1e-9)
                .unwrap()
        };
        // t = 0.2: three treated (two true positives, one false), odds 1/4.
        assert!((at(0.2).model - (2.0 / 4.0 - 1.0 / 4.0 * 0.25)).abs() < 1e-12);
        assert!((at(0.2).treat_all - (0.5 - 0.5 * 0.25)).abs() < 1e-12);
        // t = 0.5: one true and one false positive at odds 1: no benefit, as treating all.
        assert!(at(0.5).model.abs() < 1e-12 && at(0.5).treat_all.abs() < 1e-12);
        assert_eq!(curve.len(), 99);
    }
}
