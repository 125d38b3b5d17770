//! Figures of a model on scored, labelled records, one home for every place that reports
//! them: the training run's evidence (pooled out-of-fold predictions), `train evaluate` on a
//! new labelled file, and the server's evaluation of an uploaded labelled file. Each figure
//! comes with a seeded bootstrap 95% percentile interval, so the same records, seed and number
//! of resamples give the same intervals wherever they are computed.

pub mod curves;
pub mod logistic;
mod weighted;

use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::card::Evidence;
use crate::schema::{Schema, Task};
use crate::subgroups::{Estimate, GroupResult, SubgroupFamily, SubgroupSpec};

pub use curves::{
    average_precision, calibration_points, expected_calibration_error, precision_recall, roc_auc,
    roc_curve, thin,
};
pub use logistic::{LogisticFit, fit_logistic_on_logits, recalibration};

/// Bootstrap resamples behind an evaluation's intervals unless asked otherwise.
pub const DEFAULT_RESAMPLES: usize = 2000;
/// Seed of an evaluation's resampling unless asked otherwise.
pub const DEFAULT_SEED: u64 = 42;

/// The generator behind every bootstrap: small, fast, and its stream is fixed by its crate
/// version, so intervals are byte-reproducible for a seed.
pub type BootstrapRng = rand_xoshiro::Xoshiro256PlusPlus;

/// A bootstrap generator seeded with `seed`.
pub fn bootstrap_rng(seed: u64) -> BootstrapRng {
    BootstrapRng::seed_from_u64(seed)
}

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

/// Class probabilities of records, one row of `n_classes` per record, in one flat slice: a
/// million records take 16 MB as two classes' values, where a vector per record took 40 MB.
/// `rows[record]` is that record's probabilities.
#[derive(Debug, Clone, Copy)]
pub struct ProbabilityRows<'a> {
    values: &'a [f64],
    n_classes: usize,
}

impl<'a> ProbabilityRows<'a> {
    /// Records of `n_classes` probabilities each, row after row in `values` (a trailing
    /// partial row is not a record).
    pub fn new(values: &'a [f64], n_classes: usize) -> Self {
        ProbabilityRows { values, n_classes }
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.values.len().checked_div(self.n_classes).unwrap_or(0)
    }

    /// Whether there are no records.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Each record's probabilities, in order.
    pub fn iter(&self) -> impl Iterator<Item = &'a [f64]> + 'a {
        // `take`: with no classes there are no records, whatever the values.
        self.values
            .chunks_exact(self.n_classes.max(1))
            .take(self.len())
    }
}

impl std::ops::Index<usize> for ProbabilityRows<'_> {
    type Output = [f64];

    fn index(&self, record: usize) -> &[f64] {
        &self.values[record * self.n_classes..(record + 1) * self.n_classes]
    }
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
    pub probabilities: ProbabilityRows<'a>,
    /// Decided class per record.
    pub decided: &'a [usize],
    /// True class per record.
    pub truth: &'a [usize],
}

/// Records of each class a group needs for intervals worth reporting.
const MIN_PER_CLASS_FOR_INTERVAL: usize = 10;

impl Scored<'_> {
    /// Every figure of the task on `rows` (record indices; a repeated one counts again), with
    /// percentile intervals from `resamples` bootstrap resamples of those rows.
    pub fn estimates(&self, rows: &[usize], resamples: usize, rng: &mut impl Rng) -> Vec<Estimate> {
        // Each distinct record once, and every row as its position among them.
        let mut distinct: Vec<usize> = rows.to_vec();
        distinct.sort_unstable();
        distinct.dedup();
        let n_local = distinct.last().map_or(0, |last| last + 1);
        let prepared = weighted::Prepared::new(self, distinct);
        // Row-sized vectors are freed as soon as they have served: at a million records each
        // is 4 to 8 MB, and the resamples below hold four more. Positions and multiplicities
        // are `u32`: each is at most the number of rows, and a table of 2^32 rows is far past
        // what fits in memory here.
        let local_rows: Vec<u32> = {
            let mut local_of = vec![u32::MAX; n_local];
            for (local, row) in prepared.rows.iter().enumerate() {
                local_of[*row] = local as u32;
            }
            rows.iter().map(|row| local_of[*row]).collect()
        };
        let point = {
            let mut weights = vec![0u32; prepared.len()];
            for local in &local_rows {
                weights[*local as usize] += 1;
            }
            prepared.figures(&weights, None)
        };
        let start = recalibration_start(self.task, &point);
        let mut samples: Vec<Vec<f64>> = vec![Vec::with_capacity(resamples); point.len()];
        // Resamples are drawn in order on this thread, a batch at a time, while the previous
        // batch's figures are computed on every core; each batch's figures are kept in draw
        // order, so the intervals are the same whatever the number of cores.
        let n_threads = std::thread::available_parallelism().map_or(1, usize::from);
        // One resample per core in each of the two batches: at a million records every resample
        // held is 4 MB.
        let batch_len = n_threads.min(resamples.max(1));
        let mut drawn: Vec<Vec<u32>> = vec![vec![0; prepared.len()]; batch_len];
        let mut drawing: Vec<Vec<u32>> = vec![vec![0; prepared.len()]; batch_len];
        let mut remaining = resamples;
        let mut n_drawn = draw_resamples(&mut drawn, &local_rows, &mut remaining, rng);
        while n_drawn > 0 {
            let mut n_drawing = 0;
            let figures =
                figures_in_parallel(&prepared, &drawn[..n_drawn], start, n_threads, || {
                    n_drawing = draw_resamples(&mut drawing, &local_rows, &mut remaining, rng);
                });
            for resample_figures in figures {
                for (figure_idx, value) in resample_figures.into_iter().enumerate() {
                    if value.is_finite() {
                        samples[figure_idx].push(value);
                    }
                }
            }
            std::mem::swap(&mut drawn, &mut drawing);
            n_drawn = n_drawing;
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
                        crate::stats::quantile(sample, q)
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
    /// `value_of(row, feature_idx)` is a record's raw value of a feature.
    pub fn subgroups(
        &self,
        schema: &Schema,
        specs: &[SubgroupSpec],
        value_of: &dyn Fn(usize, usize) -> f64,
        resamples: usize,
        rng: &mut impl Rng,
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
                for row in 0..self.truth.len() {
                    members[spec.group_of(feature, value_of(row, feature_idx))].push(row);
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

/// The lower end of the 95% bootstrap interval of the sensitivity at each of `thresholds`
/// (records flagged when `score >= threshold`), from exactly the resamples [`evidence`] draws
/// with the same `resamples` and `seed` over the same records: the interval the model card
/// shows at a threshold chosen with it starts at this value. One replay of the draws serves
/// every threshold: `resamples × (records + thresholds)` steps, `resamples × thresholds`
/// values kept. NaN without positives.
pub fn sensitivity_lower_bounds(
    scores: &[f64],
    positive: &[bool],
    thresholds: &[f64],
    resamples: usize,
    seed: u64,
) -> Vec<f64> {
    let n_records = scores.len();
    if n_records == 0 {
        return vec![f64::NAN; thresholds.len()];
    }
    // The thresholds in descending order, and for each record the first of them that flags it
    // (it is flagged by that one and every lower one); `None`: flagged by none.
    let mut order: Vec<usize> = (0..thresholds.len()).collect();
    order.sort_by(|a, b| thresholds[*b].total_cmp(&thresholds[*a]));
    let descending: Vec<f64> = order.iter().map(|idx| thresholds[*idx]).collect();
    let first_flagging: Vec<Option<usize>> = scores
        .iter()
        .map(|score| {
            // A NaN score is flagged by none (`NaN >= t` is false).
            let first = descending.partition_point(|threshold| {
                score.partial_cmp(threshold).is_none_or(|o| o.is_lt())
            });
            (first < descending.len()).then_some(first)
        })
        .collect();
    let mut rng = bootstrap_rng(seed);
    let mut samples: Vec<Vec<f64>> = vec![Vec::with_capacity(resamples); thresholds.len()];
    let mut newly_flagged = vec![0.0; thresholds.len()];
    for _ in 0..resamples {
        newly_flagged.iter_mut().for_each(|count| *count = 0.0);
        let mut positives = 0.0;
        for _ in 0..n_records {
            let record = rng.gen_range(0..n_records);
            if positive[record] {
                positives += 1.0;
                if let Some(first) = first_flagging[record] {
                    newly_flagged[first] += 1.0;
                }
            }
        }
        let mut flagged = 0.0;
        for (rank, count) in newly_flagged.iter().enumerate() {
            flagged += count;
            let sensitivity = weighted::ratio(flagged, positives);
            if sensitivity.is_finite() {
                samples[order[rank]].push(sensitivity);
            }
        }
    }
    samples
        .iter_mut()
        .map(|sample| {
            sample.sort_by(f64::total_cmp);
            if sample.len() < 2 {
                f64::NAN
            } else {
                crate::stats::quantile(sample, 0.025)
            }
        })
        .collect()
}

/// Where a resample's recalibration fit starts: the full sample's slope and intercept, when
/// finite.
fn recalibration_start(task: Task, point: &[f64]) -> Option<(f64, f64)> {
    let position = |figure: Figure| Figure::for_task(task).iter().position(|f| *f == figure);
    let slope = point.get(position(Figure::CalibrationSlope)?)?;
    let intercept = point.get(position(Figure::CalibrationIntercept)?)?;
    (slope.is_finite() && intercept.is_finite()).then_some((*slope, *intercept))
}

/// Counts by true class (rows) and decided class (columns).
pub fn confusion(truth: &[usize], decided: &[usize], n_classes: usize) -> Vec<Vec<u64>> {
    let mut counts = vec![vec![0u64; n_classes]; n_classes];
    for (true_class, decided_class) in truth.iter().zip(decided) {
        if let Some(cell) = counts
            .get_mut(*true_class)
            .and_then(|row| row.get_mut(*decided_class))
        {
            *cell += 1;
        }
    }
    counts
}

/// Most points kept of each curve in [`Evidence`] (an artifact or an answer must not grow
/// with the data).
pub const MAX_CURVE_POINTS: usize = 200;

/// Draws the next resamples (at most `batch.len()`, at most `remaining`) into `batch`, each as
/// its records' multiplicities; returns how many were drawn.
fn draw_resamples(
    batch: &mut [Vec<u32>],
    local_rows: &[u32],
    remaining: &mut usize,
    rng: &mut impl Rng,
) -> usize {
    let n_drawn = (*remaining).min(batch.len());
    *remaining -= n_drawn;
    for weights in &mut batch[..n_drawn] {
        weights.iter_mut().for_each(|weight| *weight = 0);
        // The draws are those of the resample as a list of rows (one uniform index per row),
        // so a seed gives the same resamples however figures are computed.
        for _ in 0..local_rows.len() {
            weights[local_rows[rng.gen_range(0..local_rows.len())] as usize] += 1;
        }
    }
    n_drawn
}

/// Each resample's figures, in the order of `batch`, computed on up to `n_threads` threads
/// while `meanwhile` runs on this one.
fn figures_in_parallel(
    prepared: &weighted::Prepared,
    batch: &[Vec<u32>],
    start: Option<(f64, f64)>,
    n_threads: usize,
    meanwhile: impl FnOnce(),
) -> Vec<Vec<f64>> {
    if n_threads <= 1 || batch.len() <= 1 {
        let figures = batch
            .iter()
            .map(|weights| prepared.figures(weights, start))
            .collect();
        meanwhile();
        return figures;
    }
    let chunk_len = batch.len().div_ceil(n_threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = batch
            .chunks(chunk_len)
            .map(|chunk| {
                scope.spawn(move || {
                    chunk
                        .iter()
                        .map(|weights| prepared.figures(weights, start))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        meanwhile();
        handles
            .into_iter()
            .flat_map(|handle| match handle.join() {
                Ok(figures) => figures,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    })
}

/// Summarises scored records as [`Evidence`]: every figure of the task with a bootstrap
/// interval (`resamples` resamples seeded with `seed`), the confusion matrix at the decision
/// rule and, for a binary task, the ROC, precision-recall and reliability curves and the
/// operating point. `probabilities` are the model's per record, `threshold` its decision rule.
pub fn evidence(
    schema: &Schema,
    threshold: Option<f64>,
    probabilities: ProbabilityRows<'_>,
    truth: &[usize],
    resamples: usize,
    seed: u64,
) -> Evidence {
    let decided: Vec<usize> = probabilities
        .iter()
        .map(|row| crate::decide(row, schema.positive_class, threshold))
        .collect();
    let scored = Scored {
        task: schema.task,
        positive_class: schema.positive_class,
        n_classes: schema.classes.len(),
        probabilities,
        decided: &decided,
        truth,
    };
    let mut rng = bootstrap_rng(seed);
    let rows: Vec<usize> = (0..truth.len()).collect();
    let figures = Figure::for_task(schema.task)
        .iter()
        .zip(scored.estimates(&rows, resamples, &mut rng))
        .map(|(figure, estimate)| (figure.name().to_owned(), estimate))
        .collect();
    let mut evidence = Evidence {
        figures,
        resamples,
        roc: Vec::new(),
        operating_point: None,
        precision_recall: Vec::new(),
        calibration: Vec::new(),
        confusion: confusion(truth, &decided, schema.classes.len()),
    };
    if let (Task::Binary, Some(positive_class)) = (schema.task, schema.positive_class) {
        let scores: Vec<f64> = probabilities
            .iter()
            .map(|row| row[positive_class])
            .collect();
        let positive: Vec<bool> = truth.iter().map(|class| *class == positive_class).collect();
        evidence.roc = thin(roc_curve(&scores, &positive), MAX_CURVE_POINTS);
        evidence.precision_recall = thin(precision_recall(&scores, &positive), MAX_CURVE_POINTS);
        evidence.calibration = calibration_points(&scores, &positive, 10);
        evidence.operating_point = evidence
            .figure("sensitivity")
            .zip(evidence.figure("specificity"))
            .map(|(sensitivity, specificity)| (1.0 - specificity.value, sensitivity.value));
    }
    evidence
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    // The figures as first written: one record at a time, sorting for each set of rows. The
    // linear-time weighted figures must agree with it on any resample.
    fn ratio(numerator: f64, denominator: f64) -> f64 {
        if denominator > 0.0 {
            numerator / denominator
        } else {
            f64::NAN
        }
    }

    /// The figures of `Figure::for_task` on the records `rows` (indices, repeats allowed).
    fn figures(
        task: Task,
        positive_class: Option<usize>,
        n_classes: usize,
        probabilities: ProbabilityRows<'_>,
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
                    roc_auc(&scores, &positive),
                    average_precision(&scores, &positive),
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
                        roc_auc(&scores, &positive)
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

    /// Scored records: `n` of them, `n_classes` classes, scores with ties (rounded to `step`).
    fn records(n: usize, n_classes: usize, step: f64, seed: u64) -> (Vec<Vec<f64>>, Vec<usize>) {
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut probabilities = Vec::new();
        let mut truth = Vec::new();
        for _ in 0..n {
            let class_idx = rng.gen_range(0..n_classes);
            let mut row: Vec<f64> = (0..n_classes)
                .map(|idx| {
                    let signal = if idx == class_idx { 1.5 } else { 0.0 };
                    ((rng.gen_range(0.0..2.0) + signal) / step).round() * step + 0.01
                })
                .collect();
            let total: f64 = row.iter().sum();
            row.iter_mut().for_each(|p| *p /= total);
            probabilities.push(row);
            truth.push(class_idx);
        }
        (probabilities, truth)
    }

    /// A binary schema with no features (the figures never read them).
    fn binary_schema() -> Schema {
        Schema {
            dataset: "test".into(),
            task: Task::Binary,
            features: Vec::new(),
            id_columns: Vec::new(),
            target: "outcome".into(),
            classes: vec!["no".into(), "yes".into()],
            positive_class: Some(1),
            aliases: Vec::new(),
        }
    }

    fn check_against_oracle(task: Task, n_classes: usize, step: f64) {
        let (probabilities, truth) = records(300, n_classes, step, 7);
        let positive_class = (task == Task::Binary).then_some(1);
        let decided: Vec<usize> = probabilities
            .iter()
            .map(|row| crate::decide(row, positive_class, positive_class.map(|_| 0.4)))
            .collect();
        let values = probabilities.concat();
        let scored = Scored {
            task,
            positive_class,
            n_classes,
            probabilities: ProbabilityRows::new(&values, n_classes),
            decided: &decided,
            truth: &truth,
        };
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(11);
        // Subsets with repeats, as bootstrap resamples are, and one without a class.
        let mut subsets: Vec<Vec<usize>> = (0..40)
            .map(|_| (0..120).map(|_| rng.gen_range(0..300)).collect())
            .collect();
        subsets.push((0..300).filter(|row| truth[*row] != 0).collect());
        for rows in subsets {
            let mut distinct = rows.clone();
            distinct.sort_unstable();
            distinct.dedup();
            let n_distinct = distinct.len();
            let prepared = weighted::Prepared::new(&scored, distinct);
            let mut weights = vec![0u32; n_distinct];
            for row in &rows {
                let local = prepared.rows.iter().position(|r| r == row).unwrap();
                weights[local] += 1;
            }
            let fast = prepared.figures(&weights, None);
            let slow = figures(
                task,
                positive_class,
                n_classes,
                scored.probabilities,
                &decided,
                &truth,
                &rows,
            );
            assert_eq!(fast.len(), slow.len());
            for (idx, (a, b)) in fast.iter().zip(&slow).enumerate() {
                let same = (a.is_nan() && b.is_nan()) || (a - b).abs() <= 1e-9 * b.abs().max(1.0);
                assert!(same, "{task:?} figure {idx}: weighted {a}, one by one {b}");
            }
        }
    }

    #[test]
    fn weighted_figures_equal_the_one_by_one_figures_binary() {
        check_against_oracle(Task::Binary, 2, 0.05);
        check_against_oracle(Task::Binary, 2, 1e-9);
    }

    #[test]
    fn weighted_figures_equal_the_one_by_one_figures_multiclass() {
        check_against_oracle(Task::Multiclass, 4, 0.1);
    }

    #[test]
    fn probability_rows_are_records_of_n_classes_values() {
        let values = [0.1, 0.9, 0.4, 0.6, 0.7];
        let rows = ProbabilityRows::new(&values, 2);
        assert_eq!(rows.len(), 2, "the trailing partial row is not a record");
        assert_eq!(&rows[1], &[0.4, 0.6]);
        assert_eq!(
            rows.iter().collect::<Vec<_>>(),
            vec![&values[..2], &values[2..4]]
        );
        let none = ProbabilityRows::new(&values, 0);
        assert!(none.is_empty());
        assert_eq!(none.iter().count(), 0);
    }

    #[test]
    fn the_sensitivity_bound_is_the_lower_end_of_the_evidence_interval() {
        let (probabilities, truth) = records(150, 2, 0.02, 9);
        let values = probabilities.concat();
        let schema = binary_schema();
        let scores: Vec<f64> = probabilities.iter().map(|row| row[1]).collect();
        let positive: Vec<bool> = truth.iter().map(|class| *class == 1).collect();
        let thresholds = [0.45, 0.3, 0.6, 2.0];
        let bounds = sensitivity_lower_bounds(&scores, &positive, &thresholds, 300, 21);
        for (threshold, bound) in thresholds.into_iter().zip(bounds) {
            let evidence = evidence(
                &schema,
                Some(threshold),
                ProbabilityRows::new(&values, 2),
                &truth,
                300,
                21,
            );
            let interval = evidence.figure("sensitivity").unwrap();
            assert_eq!(bound.to_bits(), interval.lower.to_bits(), "{threshold}");
            assert!(bound <= interval.value);
        }
        let none = sensitivity_lower_bounds(&scores, &[false; 150], &[0.5], 50, 1);
        assert!(none[0].is_nan());
    }

    #[test]
    fn an_evaluation_is_the_same_for_the_same_seed_and_differs_for_another() {
        let (probabilities, truth) = records(200, 2, 0.01, 3);
        let values = probabilities.concat();
        let rows = ProbabilityRows::new(&values, 2);
        let schema = binary_schema();
        let first = evidence(&schema, Some(0.4), rows, &truth, 200, 5);
        let again = evidence(&schema, Some(0.4), rows, &truth, 200, 5);
        let other = evidence(&schema, Some(0.4), rows, &truth, 200, 6);
        assert_eq!(first, again);
        assert_ne!(first.figures, other.figures);
        let auc = first.figure("roc_auc").unwrap();
        assert!(auc.lower < auc.value && auc.value < auc.upper, "{auc:?}");
        let scores: Vec<f64> = probabilities.iter().map(|row| row[1]).collect();
        let positive: Vec<bool> = truth.iter().map(|class| *class == 1).collect();
        assert!((auc.value - roc_auc(&scores, &positive)).abs() < 1e-12);
        let total: u64 = first.confusion.iter().flatten().sum();
        assert_eq!(total, 200);
    }
}
