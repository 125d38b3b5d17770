//! A shipped artifact evaluated on new labelled data: every record scored through the
//! artifact's own pipeline and decision rule (as the server scores it), then the figures a
//! clinical reviewer asks for, each with a seeded bootstrap 95% interval: discrimination,
//! the operating point at the shipped threshold, and calibration (logistic recalibration slope
//! and intercept, expected calibration error), with ROC, precision-recall, calibration and
//! confusion-matrix plots. Rendering happens in memory; the caller publishes the files.

use std::fmt::Write as _;
use std::path::PathBuf;

use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::Serialize;

use ::report::{html, plot};
use data::Dataset;
use model::{Artifact, GroupResult, Schema, SubgroupFamily, SubgroupSpec, Task};

use crate::TrainError;
use crate::report::{ReportFile, calibration_points};

/// How to evaluate.
#[derive(Debug, Clone, Copy)]
pub struct EvaluateOptions {
    /// Bootstrap resamples for the intervals (0: no intervals).
    pub resamples: usize,
    /// Seed of the resampling.
    pub seed: u64,
}

pub use model::Estimate;

/// The figures, by name, in report order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Figure {
    /// Area under the ROC curve (one-vs-rest mean for multiclass).
    RocAuc,
    /// Average precision (binary).
    PrAuc,
    /// True positive rate at the shipped threshold.
    Sensitivity,
    /// True negative rate at the shipped threshold.
    Specificity,
    /// Positive predictive value at the shipped threshold.
    Ppv,
    /// Negative predictive value at the shipped threshold.
    Npv,
    /// Share of correct decisions.
    Accuracy,
    /// Mean per-class recall.
    BalancedAccuracy,
    /// Unweighted mean of per-class F1 (multiclass).
    MacroF1,
    /// Mean squared error of the positive-class probability (binary).
    Brier,
    /// Mean negative log-likelihood of the true class.
    LogLoss,
    /// Slope of the logistic recalibration of the outcome on the logit of the probability (1
    /// is ideal; below 1: predictions too extreme).
    CalibrationSlope,
    /// Its intercept (0 is ideal; positive: risks underestimated).
    CalibrationIntercept,
    /// Expected calibration error over 10 equal-width bins.
    Ece,
}

impl Figure {
    /// The figures a task reports.
    pub fn for_task(task: Task) -> &'static [Figure] {
        match task {
            Task::Binary => &[
                Figure::RocAuc,
                Figure::PrAuc,
                Figure::Sensitivity,
                Figure::Specificity,
                Figure::Ppv,
                Figure::Npv,
                Figure::Accuracy,
                Figure::BalancedAccuracy,
                Figure::Brier,
                Figure::LogLoss,
                Figure::CalibrationSlope,
                Figure::CalibrationIntercept,
                Figure::Ece,
            ],
            Task::Multiclass => &[
                Figure::Accuracy,
                Figure::BalancedAccuracy,
                Figure::MacroF1,
                Figure::RocAuc,
                Figure::LogLoss,
            ],
        }
    }

    /// The name in files and tables.
    pub fn name(self) -> &'static str {
        match self {
            Figure::RocAuc => "roc_auc",
            Figure::PrAuc => "pr_auc",
            Figure::Sensitivity => "sensitivity",
            Figure::Specificity => "specificity",
            Figure::Ppv => "ppv",
            Figure::Npv => "npv",
            Figure::Accuracy => "accuracy",
            Figure::BalancedAccuracy => "balanced_accuracy",
            Figure::MacroF1 => "macro_f1",
            Figure::Brier => "brier",
            Figure::LogLoss => "log_loss",
            Figure::CalibrationSlope => "calibration_slope",
            Figure::CalibrationIntercept => "calibration_intercept",
            Figure::Ece => "ece",
        }
    }
}

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
    pub confusion: Vec<Vec<usize>>,
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
    let scored = Scored {
        task: schema.task,
        positive_class: schema.positive_class,
        n_classes,
        probabilities: &probabilities,
        decided: &decided,
        truth: &truth,
    };
    let all: Vec<usize> = (0..truth.len()).collect();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(options.seed);
    let figures = Figure::for_task(schema.task)
        .iter()
        .copied()
        .zip(scored.estimates(&all, options.resamples, &mut rng))
        .collect();
    let subgroups = scored.subgroups(
        schema,
        &artifact.subgroup_specs(),
        &dataset.raw,
        options.resamples,
        &mut rng,
    );
    let mut confusion = vec![vec![0usize; n_classes]; n_classes];
    for (true_class, decided_class) in truth.iter().zip(&decided) {
        confusion[*true_class][*decided_class] += 1;
    }
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

/// Records scored by a model: probabilities, decided classes and true classes, for figures on
/// any subset of them (bootstrap resamples, subgroups).
pub struct Scored<'a> {
    /// Binary or multiclass.
    pub task: Task,
    /// The positive class (binary).
    pub positive_class: Option<usize>,
    /// Number of classes.
    pub n_classes: usize,
    /// Class probabilities per record.
    pub probabilities: &'a [Vec<f64>],
    /// Decided class per record.
    pub decided: &'a [usize],
    /// True class per record.
    pub truth: &'a [usize],
}

/// Records of each class a group needs for intervals worth reporting.
const MIN_PER_CLASS_FOR_INTERVAL: usize = 10;

impl Scored<'_> {
    /// [`Figure::for_task`]'s figures on `rows`.
    fn point(&self, rows: &[usize]) -> Vec<f64> {
        figures(
            self.task,
            self.positive_class,
            self.n_classes,
            self.probabilities,
            self.decided,
            self.truth,
            rows,
        )
    }

    /// Every figure of the task on `rows`, with percentile intervals from `resamples`
    /// bootstrap resamples of those rows.
    pub fn estimates(
        &self,
        rows: &[usize],
        resamples: usize,
        rng: &mut Xoshiro256PlusPlus,
    ) -> Vec<Estimate> {
        let point = self.point(rows);
        let mut samples: Vec<Vec<f64>> = vec![Vec::with_capacity(resamples); point.len()];
        for _ in 0..resamples {
            let resample: Vec<usize> = (0..rows.len())
                .map(|_| rows[rng.gen_range(0..rows.len())])
                .collect();
            for (figure_idx, value) in self.point(&resample).into_iter().enumerate() {
                if value.is_finite() {
                    samples[figure_idx].push(value);
                }
            }
        }
        point
            .into_iter()
            .zip(samples.iter_mut())
            .map(|(value, sample)| {
                sample.sort_by(f64::total_cmp);
                let interval = |q: f64| {
                    if sample.len() < 2 {
                        f64::NAN
                    } else {
                        model::stats::quantile(sample, q)
                    }
                };
                Estimate {
                    value,
                    lower: interval(0.025),
                    upper: interval(0.975),
                }
            })
            .collect()
    }

    /// Figures per group of each spec (binary: prevalence, ROC-AUC, sensitivity and
    /// specificity at the shipped decision; multiclass: accuracy, balanced accuracy,
    /// macro-F1), with intervals where each class has enough records in the group.
    pub fn subgroups(
        &self,
        schema: &Schema,
        specs: &[SubgroupSpec],
        raw: &ndarray::Array2<f64>,
        resamples: usize,
        rng: &mut Xoshiro256PlusPlus,
    ) -> Vec<SubgroupFamily> {
        let shown: &[Figure] = match self.task {
            Task::Binary => &[Figure::RocAuc, Figure::Sensitivity, Figure::Specificity],
            Task::Multiclass => &[Figure::Accuracy, Figure::BalancedAccuracy, Figure::MacroF1],
        };
        let all_figures = Figure::for_task(self.task);
        specs
            .iter()
            .filter_map(|spec| {
                let feature_idx = schema.features.iter().position(|f| f.name == spec.feature)?;
                let feature = &schema.features[feature_idx];
                let labels = spec.labels(feature);
                let mut members: Vec<Vec<usize>> = vec![Vec::new(); labels.len()];
                for (row, value) in raw.column(feature_idx).iter().enumerate() {
                    members[spec.group_of(feature, *value)].push(row);
                }
                let groups = labels
                    .into_iter()
                    .zip(members)
                    .filter(|(_, rows)| !rows.is_empty())
                    .map(|(label, rows)| {
                        let per_class: Vec<usize> = (0..self.n_classes)
                            .map(|class_idx| rows.iter().filter(|row| self.truth[**row] == class_idx).count())
                            .collect();
                        // Intervals need a few records of each class (binary), or of the group
                        // (multiclass, where rare grades are absent from most groups).
                        let enough = match self.task {
                            Task::Binary => per_class.iter().all(|count| *count >= MIN_PER_CLASS_FOR_INTERVAL),
                            Task::Multiclass => rows.len() >= 3 * MIN_PER_CLASS_FOR_INTERVAL,
                        };
                        let estimates = self.estimates(&rows, if enough { resamples } else { 0 }, rng);
                        let figures = shown
                            .iter()
                            .filter_map(|figure| {
                                let idx = all_figures.iter().position(|f| f == figure)?;
                                Some((figure.name().to_owned(), estimates[idx]))
                            })
                            .collect();
                        GroupResult {
                            label,
                            n: rows.len(),
                            prevalence: self.positive_class.filter(|_| self.task == Task::Binary).map(|positive| per_class[positive] as f64 / rows.len() as f64),
                            figures,
                            note: (!enough).then(|| match self.task {
                                Task::Binary => format!("too small for an interval: fewer than {MIN_PER_CLASS_FOR_INTERVAL} records of a class"),
                                Task::Multiclass => format!("too small for an interval: fewer than {} records", 3 * MIN_PER_CLASS_FOR_INTERVAL),
                            }),
                        }
                    })
                    .collect();
                Some(SubgroupFamily { spec: spec.clone(), groups })
            })
            .collect()
    }
}

fn ratio(numerator: f64, denominator: f64) -> f64 {
    if denominator > 0.0 {
        numerator / denominator
    } else {
        f64::NAN
    }
}

/// The figures of [`Figure::for_task`] on the records `rows` (indices, repeats allowed).
fn figures(
    task: Task,
    positive_class: Option<usize>,
    n_classes: usize,
    probabilities: &[Vec<f64>],
    decided: &[usize],
    truth: &[usize],
    rows: &[usize],
) -> Vec<f64> {
    let n = rows.len() as f64;
    let log_loss = rows
        .iter()
        .map(|row| -probabilities[*row][truth[*row]].clamp(1e-15, 1.0).ln())
        .sum::<f64>()
        / n;
    let recall_of = |class_idx: usize| {
        let members: Vec<&usize> = rows
            .iter()
            .filter(|row| truth[**row] == class_idx)
            .collect();
        ratio(
            members
                .iter()
                .filter(|row| decided[***row] == class_idx)
                .count() as f64,
            members.len() as f64,
        )
    };
    let accuracy = rows
        .iter()
        .filter(|row| decided[**row] == truth[**row])
        .count() as f64
        / n;
    let present: Vec<usize> = (0..n_classes)
        .filter(|class_idx| rows.iter().any(|row| truth[*row] == *class_idx))
        .collect();
    let balanced = present
        .iter()
        .map(|class_idx| recall_of(*class_idx))
        .sum::<f64>()
        / present.len().max(1) as f64;
    match task {
        Task::Binary => {
            let positive_class = positive_class.unwrap_or(1);
            let scores: Vec<f64> = rows
                .iter()
                .map(|row| probabilities[*row][positive_class])
                .collect();
            let positive: Vec<bool> = rows
                .iter()
                .map(|row| truth[*row] == positive_class)
                .collect();
            let called: Vec<bool> = rows
                .iter()
                .map(|row| decided[*row] == positive_class)
                .collect();
            let count = |call: bool, is: bool| {
                called
                    .iter()
                    .zip(&positive)
                    .filter(|(c, p)| **c == call && **p == is)
                    .count() as f64
            };
            let (tp, fp, tn, fn_) = (
                count(true, true),
                count(true, false),
                count(false, false),
                count(false, true),
            );
            let brier = scores
                .iter()
                .zip(&positive)
                .map(|(s, p)| (s - f64::from(u8::from(*p))).powi(2))
                .sum::<f64>()
                / n;
            let (slope, intercept) = recalibration(&scores, &positive);
            vec![
                crate::metrics::roc_auc(&scores, &positive),
                crate::metrics::average_precision(&scores, &positive),
                ratio(tp, tp + fn_),
                ratio(tn, tn + fp),
                ratio(tp, tp + fp),
                ratio(tn, tn + fn_),
                accuracy,
                balanced,
                brier,
                log_loss,
                slope,
                intercept,
                expected_calibration_error(&scores, &positive, 10),
            ]
        }
        Task::Multiclass => {
            let f1_of = |class_idx: usize| {
                let tp = rows
                    .iter()
                    .filter(|row| truth[**row] == class_idx && decided[**row] == class_idx)
                    .count() as f64;
                let called = rows
                    .iter()
                    .filter(|row| decided[**row] == class_idx)
                    .count() as f64;
                let actual = rows.iter().filter(|row| truth[**row] == class_idx).count() as f64;
                ratio(2.0 * tp, called + actual)
            };
            let macro_f1 = present
                .iter()
                .map(|class_idx| f1_of(*class_idx))
                .sum::<f64>()
                / present.len().max(1) as f64;
            let aucs: Vec<f64> = present
                .iter()
                .map(|class_idx| {
                    let scores: Vec<f64> = rows
                        .iter()
                        .map(|row| probabilities[*row][*class_idx])
                        .collect();
                    let positive: Vec<bool> =
                        rows.iter().map(|row| truth[*row] == *class_idx).collect();
                    crate::metrics::roc_auc(&scores, &positive)
                })
                .filter(|auc| auc.is_finite())
                .collect();
            let auc = if aucs.is_empty() {
                f64::NAN
            } else {
                aucs.iter().sum::<f64>() / aucs.len() as f64
            };
            vec![accuracy, balanced, macro_f1, auc, log_loss]
        }
    }
}

/// Logistic recalibration: `P(y) = σ(a + b·logit(p))` (the Platt fit without its ridge) and
/// returns `(b, a)`, the calibration slope and intercept; NaN when no finite fit exists: one
/// class only, or classes the probabilities separate perfectly (Newton's method then either
/// diverges or stops once the fitted probabilities round to exactly 0 and 1, with
/// coefficients in the thousands that mean nothing).
pub fn recalibration(scores: &[f64], positive: &[bool]) -> (f64, f64) {
    let both_classes = positive.iter().any(|p| *p) && positive.iter().any(|p| !*p);
    let fit = crate::threshold::fit_logistic_on_logits(scores, positive, 1e-12, 0.0);
    if both_classes && fit.converged && fit.slope.abs() < 1e3 && fit.intercept.abs() < 1e3 {
        (fit.slope, fit.intercept)
    } else {
        (f64::NAN, f64::NAN)
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

/// Expected calibration error: over `n_bins` equal-width probability bins, the share of
/// records in each bin times the gap between its mean probability and its observed rate.
pub fn expected_calibration_error(scores: &[f64], positive: &[bool], n_bins: usize) -> f64 {
    let mut sums = vec![(0.0f64, 0.0f64, 0usize); n_bins];
    for (score, is_positive) in scores.iter().zip(positive) {
        let bin = ((score * n_bins as f64) as usize).min(n_bins - 1);
        sums[bin].0 += score;
        sums[bin].1 += f64::from(u8::from(*is_positive));
        sums[bin].2 += 1;
    }
    let n = scores.len().max(1) as f64;
    sums.iter()
        .filter(|(_, _, count)| *count > 0)
        .map(|(score_sum, positive_sum, count)| {
            let count = *count as f64;
            count / n * (score_sum / count - positive_sum / count).abs()
        })
        .sum()
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
            crate::metrics::roc_curve(&scores, &positive),
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

/// Precision at each recall reached, scores taken from the highest down.
pub fn precision_recall(scores: &[f64], positive: &[bool]) -> Vec<(f64, f64)> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|a, b| scores[*b].total_cmp(&scores[*a]));
    let n_positive = positive.iter().filter(|p| **p).count().max(1) as f64;
    let (mut tp, mut fp) = (0.0, 0.0);
    let mut points = Vec::new();
    for (rank, idx) in order.iter().enumerate() {
        if positive[*idx] {
            tp += 1.0
        } else {
            fp += 1.0
        }
        let last_of_tie = order
            .get(rank + 1)
            .is_none_or(|next| scores[*next] != scores[*idx]);
        if last_of_tie {
            points.push((tp / n_positive, tp / (tp + fp)));
        }
    }
    points
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
    fn recalibration_recovers_a_known_slope_and_intercept() {
        // Outcomes drawn from σ(0.5 + 2·logit(p)): the fit must find about (2, 0.5).
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
        let scores: Vec<f64> = (0..20_000).map(|_| rng.gen_range(0.02..0.98)).collect();
        let positive: Vec<bool> = scores
            .iter()
            .map(|p: &f64| {
                let logit = (p / (1.0 - p)).ln();
                rng.gen_bool(1.0 / (1.0 + (-(0.5 + 2.0 * logit)).exp()))
            })
            .collect();
        let (slope, intercept) = recalibration(&scores, &positive);
        assert!((slope - 2.0).abs() < 0.1, "{slope}");
        assert!((intercept - 0.5).abs() < 0.1, "{intercept}");
        // Perfectly calibrated probabilities: slope 1, intercept 0, small ECE.
        let positive: Vec<bool> = scores.iter().map(|p| rng.gen_bool(*p)).collect();
        let (slope, intercept) = recalibration(&scores, &positive);
        assert!(
            (slope - 1.0).abs() < 0.06 && intercept.abs() < 0.06,
            "{slope} {intercept}"
        );
        assert!(expected_calibration_error(&scores, &positive, 10) < 0.02);
        // One class only: undefined, not a number made up.
        assert!(recalibration(&[0.2, 0.3], &[true, true]).0.is_nan());
    }

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

    #[test]
    fn expected_calibration_error_weights_bins_by_their_share() {
        // Two bins: 0.05 (observed 0/2) and 0.95 (observed 2/2): gaps 0.05 each.
        let ece =
            expected_calibration_error(&[0.05, 0.05, 0.95, 0.95], &[false, false, true, true], 10);
        assert!((ece - 0.05).abs() < 1e-12, "{ece}");
    }
}
