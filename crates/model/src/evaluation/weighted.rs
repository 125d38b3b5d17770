//! The figures of scored records under weights, in linear time. A bootstrap resample is its
//! records' multiplicities, so every resample reuses the orders sorted once here instead of
//! sorting (and allocating) again: ROC-AUC and average precision walk the records by score,
//! tied scores taken together, which is what a resample's repeated records are. At 85,000
//! records and 2,000 resamples this is the difference between a minute and a few seconds.

use super::Scored;
use super::logistic::fit_weighted;
use crate::schema::Task;

/// Clamp of probabilities before logits in the recalibration fit.
const RECALIBRATION_CLAMP: f64 = 1e-12;

/// Records prepared once for figures under many weightings. Each value has its own vector, so
/// that a pass reads only the values it needs: at a million records a resample's figures are
/// passes bound by memory, and a record's values together were 40 bytes where a step of the
/// recalibration fit reads 9 (and the weight).
pub(super) struct Prepared {
    /// The records prepared, in the order weights are given.
    pub(super) rows: Vec<usize>,
    task: Task,
    n_classes: usize,
    /// Each record's true class.
    truth: Vec<u32>,
    /// The class decided for it.
    decided: Vec<u32>,
    /// Negative log-likelihood of the true class.
    log_loss: Vec<f64>,
    /// Binary only (empty otherwise): whether the record is positive.
    positive: Vec<bool>,
    /// Binary only: the positive-class probability.
    score: Vec<f64>,
    /// Binary only: its logit, clamped.
    logit: Vec<f64>,
    /// Per class (binary: only the positive class), the records by that class's probability.
    orders: Vec<Order>,
}

/// Records sorted by one class's probability, ascending, and where ties begin and end.
struct Order {
    class_idx: usize,
    /// The records' positions in that order; empty when it is their own order (binary
    /// records are prepared in order of their score).
    records: Vec<usize>,
    /// The positions `start..end` in that order share one probability, for each `(start, end)`.
    ties: Vec<(usize, usize)>,
}

impl Order {
    /// The records `distinct` by class `class_idx`'s probability; `in_order` when they already
    /// are (binary records, prepared in order of their score).
    fn new(scored: &Scored<'_>, distinct: &[usize], class_idx: usize, in_order: bool) -> Order {
        let probability = |local: usize| scored.probabilities[distinct[local]][class_idx];
        let mut records = Vec::new();
        if !in_order {
            records = (0..distinct.len()).collect();
            records.sort_by(|a, b| probability(*a).total_cmp(&probability(*b)));
        }
        let at = |position: usize| records.get(position).copied().unwrap_or(position);
        let mut ties = Vec::new();
        let mut start = 0;
        while start < distinct.len() {
            let mut end = start + 1;
            while end < distinct.len() && probability(at(end)) == probability(at(start)) {
                end += 1;
            }
            ties.push((start, end));
            start = end;
        }
        Order {
            class_idx,
            records,
            ties,
        }
    }
}

impl Prepared {
    /// Prepares `scored`'s records `distinct` (each once). Binary records are kept in order
    /// of their score, so that every pass over them reads memory in order; weights are then
    /// given in the order of [`Prepared::rows`].
    /// `distinct` is taken, not copied: at a million records each copy is 8 MB.
    pub(super) fn new(scored: &Scored<'_>, mut distinct: Vec<usize>) -> Self {
        let positive_class = scored.positive_class.unwrap_or(1);
        let binary = scored.task == Task::Binary;
        if binary {
            let score = |row: usize| scored.probabilities[row][positive_class];
            distinct.sort_by(|a, b| score(*a).total_cmp(&score(*b)));
        }
        let truth: Vec<u32> = distinct
            .iter()
            .map(|row| scored.truth[*row] as u32)
            .collect();
        let decided: Vec<u32> = distinct
            .iter()
            .map(|row| scored.decided[*row] as u32)
            .collect();
        let log_loss: Vec<f64> = distinct
            .iter()
            .map(|row| {
                -scored.probabilities[*row][scored.truth[*row]]
                    .clamp(1e-15, 1.0)
                    .ln()
            })
            .collect();
        let (mut positive, mut score, mut logit) = (Vec::new(), Vec::new(), Vec::new());
        if binary {
            positive = distinct
                .iter()
                .map(|row| scored.truth[*row] == positive_class)
                .collect();
            score = distinct
                .iter()
                .map(|row| {
                    let probabilities = &scored.probabilities[*row];
                    probabilities
                        .get(positive_class)
                        .copied()
                        .unwrap_or(f64::NAN)
                })
                .collect();
            logit = score
                .iter()
                .map(|score| {
                    let clamped = score.clamp(RECALIBRATION_CLAMP, 1.0 - RECALIBRATION_CLAMP);
                    (clamped / (1.0 - clamped)).ln()
                })
                .collect();
        }
        let classes: Vec<usize> = match scored.task {
            Task::Binary => vec![positive_class],
            Task::Multiclass => (0..scored.n_classes).collect(),
        };
        let orders = classes
            .into_iter()
            .map(|class_idx| Order::new(scored, &distinct, class_idx, binary))
            .collect();
        Prepared {
            rows: distinct,
            task: scored.task,
            n_classes: scored.n_classes,
            truth,
            decided,
            log_loss,
            positive,
            score,
            logit,
            orders,
        }
    }

    /// Number of records prepared.
    pub(super) fn len(&self) -> usize {
        self.truth.len()
    }

    /// [`super::Figure::for_task`]'s figures with record `j` counted `weights[j]` times;
    /// `start` is where the recalibration fit starts (the full sample's fit for a resample).
    /// Counts are whole numbers, kept as `u32` (half an `f64`'s memory: at a million records
    /// the bootstrap holds four resamples) and read as the `f64` they equal exactly.
    pub(super) fn figures(&self, weights: &[u32], start: Option<(f64, f64)>) -> Vec<f64> {
        let mut support = vec![0.0; self.n_classes];
        let mut called = vec![0.0; self.n_classes];
        let mut hits = vec![0.0; self.n_classes];
        let (mut n, mut log_loss) = (0.0, 0.0);
        let records = self.truth.iter().zip(&self.decided).zip(&self.log_loss);
        for (((truth, decided), record_log_loss), weight) in records.zip(weights) {
            if *weight == 0 {
                continue;
            }
            let weight = f64::from(*weight);
            let (truth, decided) = (*truth as usize, *decided as usize);
            n += weight;
            log_loss += weight * record_log_loss;
            support[truth] += weight;
            called[decided] += weight;
            if truth == decided {
                hits[truth] += weight;
            }
        }
        let accuracy = hits.iter().sum::<f64>() / n;
        let present: Vec<usize> = (0..self.n_classes)
            .filter(|class_idx| support[*class_idx] > 0.0)
            .collect();
        let mean_over_present = |value: &dyn Fn(usize) -> f64| {
            present
                .iter()
                .map(|class_idx| value(*class_idx))
                .sum::<f64>()
                / present.len().max(1) as f64
        };
        let balanced = mean_over_present(&|class_idx| ratio(hits[class_idx], support[class_idx]));
        log_loss /= n;
        match self.task {
            Task::Binary => self.binary_figures(weights, start, [n, accuracy, balanced, log_loss]),
            Task::Multiclass => {
                let macro_f1 = mean_over_present(&|class_idx| {
                    ratio(
                        2.0 * hits[class_idx],
                        called[class_idx] + support[class_idx],
                    )
                });
                let aucs: Vec<f64> = self
                    .orders
                    .iter()
                    .filter(|order| present.contains(&order.class_idx))
                    .map(|order| {
                        let is_class = |local: usize| self.truth[local] as usize == order.class_idx;
                        self.auc(order, weights, is_class)
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

    fn binary_figures(
        &self,
        weights: &[u32],
        start: Option<(f64, f64)>,
        [n, accuracy, balanced, log_loss]: [f64; 4],
    ) -> Vec<f64> {
        let Some(order) = self.orders.first() else {
            return Vec::new();
        };
        let positive_class = order.class_idx;
        let is_positive = |local: usize| self.positive[local];
        let (mut tp, mut fp, mut tn, mut fn_, mut brier) = (0.0, 0.0, 0.0, 0.0, 0.0);
        // One pass for the counts, the Brier score and the reliability bins: at a million
        // records a resample's figures are a few passes over all of them.
        let mut bins = CalibrationBins::new(CALIBRATION_BINS);
        let records = self.positive.iter().zip(&self.decided).zip(&self.score);
        for (((positive, decided), score), weight) in records.zip(weights) {
            if *weight == 0 {
                continue;
            }
            let (positive, weight) = (*positive, f64::from(*weight));
            bins.add(*score, positive, weight);
            match (*decided as usize == positive_class, positive) {
                (true, true) => tp += weight,
                (true, false) => fp += weight,
                (false, false) => tn += weight,
                (false, true) => fn_ += weight,
            }
            brier += weight * (score - f64::from(u8::from(positive))).powi(2);
        }
        let (slope, intercept) = {
            let both_classes = tp + fn_ > 0.0 && fp + tn > 0.0;
            // The resample's records in order, those drawn at least once.
            let points = || {
                self.logit
                    .iter()
                    .zip(&self.positive)
                    .zip(weights)
                    .filter(|(_, weight)| **weight != 0)
                    .map(|((logit, positive), weight)| (*logit, *positive, f64::from(*weight)))
            };
            let fit = fit_weighted(points, 0.0, start.unwrap_or((1.0, 0.0)));
            if both_classes && fit.converged && fit.slope.abs() < 1e3 && fit.intercept.abs() < 1e3 {
                (fit.slope, fit.intercept)
            } else {
                (f64::NAN, f64::NAN)
            }
        };
        vec![
            self.auc(order, weights, is_positive),
            self.average_precision(order, weights, tp + fn_, is_positive),
            ratio(tp, tp + fn_),
            ratio(tn, tn + fp),
            ratio(tp, tp + fp),
            ratio(tn, tn + fn_),
            accuracy,
            balanced,
            brier / n,
            log_loss,
            slope,
            intercept,
            bins.error(n),
        ]
    }

    /// Groups of tied scores in `order` (ascending), each as its weighted positives and
    /// negatives.
    fn tie_groups<'a>(
        &'a self,
        order: &'a Order,
        weights: &'a [u32],
        is_positive: impl Fn(usize) -> bool + 'a,
    ) -> impl DoubleEndedIterator<Item = (f64, f64)> + 'a {
        let add = move |(positives, negatives): (f64, f64), local: usize| {
            let weight = f64::from(weights[local]);
            if is_positive(local) {
                (positives + weight, negatives)
            } else {
                (positives, negatives + weight)
            }
        };
        order.ties.iter().map(move |(start, end)| {
            if order.records.is_empty() {
                (*start..*end).fold((0.0, 0.0), &add)
            } else {
                order.records[*start..*end]
                    .iter()
                    .fold((0.0, 0.0), |sums, local| add(sums, *local))
            }
        })
    }

    /// ROC-AUC as the share of (positive, negative) pairs ordered right, ties counted half:
    /// the rank-sum formula of [`super::roc_auc`] under weights.
    fn auc(&self, order: &Order, weights: &[u32], is_positive: impl Fn(usize) -> bool) -> f64 {
        let (mut negatives_below, mut pairs, mut n_positive) = (0.0, 0.0, 0.0);
        for (positives, negatives) in self.tie_groups(order, weights, is_positive) {
            pairs += positives * (negatives_below + negatives / 2.0);
            negatives_below += negatives;
            n_positive += positives;
        }
        if n_positive == 0.0 || negatives_below == 0.0 {
            return f64::NAN;
        }
        pairs / (n_positive * negatives_below)
    }

    /// Average precision ([`super::average_precision`]) under weights, with `n_positive` the
    /// positives' total weight: thresholds from the highest score down, one per group of tied
    /// scores.
    fn average_precision(
        &self,
        order: &Order,
        weights: &[u32],
        n_positive: f64,
        is_positive: impl Fn(usize) -> bool + Copy,
    ) -> f64 {
        if n_positive == 0.0 {
            return f64::NAN;
        }
        let (mut true_positives, mut false_positives) = (0.0, 0.0);
        let (mut previous_recall, mut ap) = (0.0, 0.0);
        for (positives, negatives) in self.tie_groups(order, weights, is_positive).rev() {
            if positives + negatives == 0.0 {
                continue;
            }
            true_positives += positives;
            false_positives += negatives;
            let recall = true_positives / n_positive;
            ap += (recall - previous_recall) * true_positives / (true_positives + false_positives);
            previous_recall = recall;
        }
        ap
    }
}

/// Reliability bins of the expected calibration error.
const CALIBRATION_BINS: usize = 10;

/// Expected calibration error ([`super::expected_calibration_error`]) under weights, summed
/// record by record: per bin of scores, the weighted scores, positives and records.
struct CalibrationBins {
    sums: Vec<(f64, f64, f64)>,
}

impl CalibrationBins {
    fn new(n_bins: usize) -> Self {
        CalibrationBins {
            sums: vec![(0.0, 0.0, 0.0); n_bins.max(1)],
        }
    }

    fn add(&mut self, score: f64, positive: bool, weight: f64) {
        let n_bins = self.sums.len();
        let bin = ((score * n_bins as f64) as usize).min(n_bins - 1);
        self.sums[bin].0 += weight * score;
        self.sums[bin].1 += weight * f64::from(u8::from(positive));
        self.sums[bin].2 += weight;
    }

    /// The error over records of total weight `n`.
    fn error(&self, n: f64) -> f64 {
        self.sums
            .iter()
            .filter(|(_, _, count)| *count > 0.0)
            .map(|(score_sum, positive_sum, count)| {
                count / n * (score_sum / count - positive_sum / count).abs()
            })
            .sum()
    }
}

/// A share; NaN when nothing to share.
pub(super) fn ratio(numerator: f64, denominator: f64) -> f64 {
    if denominator > 0.0 {
        numerator / denominator
    } else {
        f64::NAN
    }
}
