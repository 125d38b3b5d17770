//! Decision-threshold rules and probability calibration, fitted on out-of-fold predictions.

use model::Calibration;
use model::evaluation::fit_logistic_on_logits;

/// How the binary decision threshold is chosen from out-of-fold probabilities.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ThresholdRule {
    /// The highest threshold whose sensitivity (recall) reaches the target.
    MinSensitivity(f64),
    /// The highest threshold whose bootstrap lower 95% bound of sensitivity reaches the
    /// target: a margin, so that on new patients sensitivity stays above the target rather
    /// than landing on either side of it by chance.
    MinSensitivityLower95(f64),
    /// Maximise F1.
    MaxF1,
    /// Maximise Youden's J (sensitivity + specificity - 1).
    Youden,
    /// A fixed value.
    Fixed(f64),
}

impl std::str::FromStr for ThresholdRule {
    type Err = String;

    /// Parses `sensitivity>=0.80`, `sensitivity>=0.80@lower95`, `max_f1`, `youden` or
    /// `fixed:0.5`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let probability = |value: &str| -> Result<f64, String> {
            match value.trim().parse::<f64>() {
                Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
                _ => Err(format!("`{value}` is not a probability between 0 and 1")),
            }
        };
        if let Some(value) = text
            .strip_prefix("sensitivity>=")
            .and_then(|rest| rest.strip_suffix("@lower95"))
        {
            Ok(ThresholdRule::MinSensitivityLower95(probability(value)?))
        } else if let Some(value) = text.strip_prefix("sensitivity>=") {
            Ok(ThresholdRule::MinSensitivity(probability(value)?))
        } else if let Some(value) = text.strip_prefix("fixed:") {
            Ok(ThresholdRule::Fixed(probability(value)?))
        } else if text == "max_f1" {
            Ok(ThresholdRule::MaxF1)
        } else if text == "youden" {
            Ok(ThresholdRule::Youden)
        } else {
            Err(format!(
                "unknown threshold rule `{text}`, expected `sensitivity>=X`, `sensitivity>=X@lower95`, `max_f1`, `youden` or `fixed:X`"
            ))
        }
    }
}

impl ThresholdRule {
    /// The canonical spelling.
    pub fn describe(&self) -> String {
        match self {
            ThresholdRule::MinSensitivity(target) => format!("sensitivity>={target:.2}"),
            ThresholdRule::MinSensitivityLower95(target) => {
                format!("sensitivity>={target:.2}@lower95")
            }
            ThresholdRule::MaxF1 => "max_f1".into(),
            ThresholdRule::Youden => "youden".into(),
            ThresholdRule::Fixed(value) => format!("fixed:{value}"),
        }
    }

    /// Chooses a threshold; returns it with the sensitivity and specificity it gives.
    /// `bootstrap` is the model card evidence's resampling, which a margin rule replays.
    ///
    /// Every distinct score is a candidate, tried from the highest down; one sorted sweep gives
    /// each candidate's confusion counts, so the choice costs O(n log n) rather than a pass over
    /// all rows per candidate. The margin rule adds one replay of the bootstrap per block of
    /// candidates it examines (usually one).
    pub fn choose(
        &self,
        scores: &[f64],
        positive: &[bool],
        bootstrap: Bootstrap,
    ) -> (f64, f64, f64) {
        let n_positive = positive.iter().filter(|is_positive| **is_positive).count() as f64;
        let n_negative = positive.len() as f64 - n_positive;
        let rates = |tp: f64, fp: f64| {
            let sensitivity = if n_positive > 0.0 {
                tp / n_positive
            } else {
                0.0
            };
            let specificity = if n_negative > 0.0 {
                (n_negative - fp) / n_negative
            } else {
                0.0
            };
            (sensitivity, specificity)
        };
        let candidates = sweep(scores, positive);
        let threshold = match self {
            ThresholdRule::Fixed(value) => *value,
            ThresholdRule::MinSensitivity(target) => candidates
                .iter()
                .find(|candidate| rates(candidate.tp, candidate.fp).0 >= *target - 1e-12)
                .map_or(0.0, |candidate| candidate.threshold),
            ThresholdRule::MinSensitivityLower95(target) => {
                margin_threshold(&candidates, *target, scores, positive, bootstrap, |c| {
                    rates(c.tp, c.fp).0
                })
            }
            ThresholdRule::MaxF1 | ThresholdRule::Youden => {
                let mut best = (f64::NEG_INFINITY, 0.5);
                for candidate in &candidates {
                    let (sensitivity, specificity) = rates(candidate.tp, candidate.fp);
                    let value = match self {
                        ThresholdRule::MaxF1 => {
                            let flagged = candidate.tp + candidate.fp;
                            let precision = if flagged > 0.0 {
                                candidate.tp / flagged
                            } else {
                                0.0
                            };
                            if precision + sensitivity > 0.0 {
                                2.0 * precision * sensitivity / (precision + sensitivity)
                            } else {
                                0.0
                            }
                        }
                        _ => sensitivity + specificity - 1.0,
                    };
                    if value > best.0 {
                        best = (value, candidate.threshold);
                    }
                }
                best.1
            }
        };
        let (tp, fp, tn, fn_) = crate::metrics::confusion_at(scores, positive, threshold);
        let sensitivity = if tp + fn_ > 0.0 { tp / (tp + fn_) } else { 0.0 };
        let specificity = if tn + fp > 0.0 { tn / (tn + fp) } else { 0.0 };
        (threshold, sensitivity, specificity)
    }
}

/// Candidates a margin rule examines per replay of the bootstrap.
const MARGIN_BLOCK: usize = 256;

/// The margin rule: among candidates (highest first) whose out-of-fold sensitivity reaches
/// `target`, the first whose bootstrap lower 95% bound reaches it too; 0 when none does. The
/// bound only grows as the threshold falls (each resample's sensitivity does), and it sits a
/// little below the point sensitivity, so the answer is usually among the first candidates
/// past the plain rule's: they are examined in blocks, one replay of the bootstrap each.
fn margin_threshold(
    candidates: &[Candidate],
    target: f64,
    scores: &[f64],
    positive: &[bool],
    bootstrap: Bootstrap,
    sensitivity: impl Fn(&Candidate) -> f64,
) -> f64 {
    let reaching = candidates.partition_point(|c| sensitivity(c) < target - 1e-12);
    for block in candidates[reaching..].chunks(MARGIN_BLOCK) {
        let thresholds: Vec<f64> = block.iter().map(|c| c.threshold).collect();
        let bounds = model::evaluation::sensitivity_lower_bounds(
            scores,
            positive,
            &thresholds,
            bootstrap.resamples,
            bootstrap.seed,
        );
        if let Some(idx) = bounds.iter().position(|bound| *bound >= target - 1e-12) {
            return thresholds[idx];
        }
    }
    0.0
}

/// The resampling behind a margin rule's bound: the model card evidence's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bootstrap {
    /// Resamples.
    pub resamples: usize,
    /// Their seed.
    pub seed: u64,
}

/// A candidate threshold and the rows it flags (`score >= threshold`).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Candidate {
    threshold: f64,
    /// Positive rows flagged.
    tp: f64,
    /// Negative rows flagged.
    fp: f64,
}

/// Every distinct score, highest first, with the counts it flags. A NaN score is never
/// flagged and, as a candidate, flags nothing (`x >= NaN` is false).
fn sweep(scores: &[f64], positive: &[bool]) -> Vec<Candidate> {
    let mut rows: Vec<(f64, bool)> = scores
        .iter()
        .copied()
        .zip(positive.iter().copied())
        .collect();
    rows.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut candidates = Vec::new();
    let (mut tp, mut fp) = (0.0, 0.0);
    let mut row_idx = 0;
    while row_idx < rows.len() {
        let threshold = rows[row_idx].0;
        if threshold.is_nan() {
            candidates.push(Candidate {
                threshold,
                tp: 0.0,
                fp: 0.0,
            });
            row_idx += 1;
            continue;
        }
        // Equal scores (including 0.0 and -0.0) are one candidate and flagged together.
        while row_idx < rows.len() && rows[row_idx].0 == threshold {
            if rows[row_idx].1 {
                tp += 1.0;
            } else {
                fp += 1.0;
            }
            row_idx += 1;
        }
        candidates.push(Candidate { threshold, tp, fp });
    }
    candidates
}

/// Which calibration to fit on out-of-fold probabilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CalibrationKind {
    /// Whichever of none, Platt and isotonic has the lowest cross-fitted Brier score on the
    /// out-of-fold probabilities ([`CalibrationKind::resolve`]).
    Auto,
    /// Keep the model's probabilities.
    None,
    /// Logistic regression on the logit of the probability.
    Platt,
    /// Isotonic regression (pool adjacent violators).
    Isotonic,
}

impl std::str::FromStr for CalibrationKind {
    type Err = String;

    /// Parses `auto`, `none`, `platt` or `isotonic`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim() {
            "auto" => Ok(CalibrationKind::Auto),
            "none" => Ok(CalibrationKind::None),
            "platt" => Ok(CalibrationKind::Platt),
            "isotonic" => Ok(CalibrationKind::Isotonic),
            other => Err(format!(
                "unknown calibration `{other}`, expected `auto`, `none`, `platt` or `isotonic`"
            )),
        }
    }
}

impl CalibrationKind {
    /// The command-line spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            CalibrationKind::Auto => "auto",
            CalibrationKind::None => "none",
            CalibrationKind::Platt => "platt",
            CalibrationKind::Isotonic => "isotonic",
        }
    }

    /// The concrete method for out-of-fold `scores`: itself, or for [`CalibrationKind::Auto`]
    /// the method with the lowest Brier score when each is fitted on four fifths of the
    /// records and scored on the fifth left out (stratified folds seeded by `seed`), so no
    /// record judges a map fitted on itself. Ties go to the simpler method.
    pub fn resolve(self, scores: &[f64], positive: &[bool], seed: u64) -> CalibrationChoice {
        if self != CalibrationKind::Auto {
            return CalibrationChoice {
                chosen: self,
                cross_fitted_brier: Vec::new(),
                applies: true,
            };
        }
        let labels: Vec<usize> = positive.iter().map(|p| usize::from(*p)).collect();
        let folds = preprocess::split::stratified_folds(&labels, 2, CALIBRATION_FOLDS, 1, seed)
            .unwrap_or_default();
        let cross_fitted_brier: Vec<(CalibrationKind, f64)> = [
            CalibrationKind::None,
            CalibrationKind::Platt,
            CalibrationKind::Isotonic,
        ]
        .into_iter()
        .map(|kind| (kind, cross_fitted_brier(kind, scores, positive, &folds)))
        .collect();
        let chosen = cross_fitted_brier
            .iter()
            .fold(
                None::<(CalibrationKind, f64)>,
                |best, (kind, brier)| match best {
                    Some((_, best_brier)) if best_brier <= *brier || brier.is_nan() => best,
                    _ => Some((*kind, *brier)),
                },
            )
            .map_or(CalibrationKind::None, |(kind, _)| kind);
        CalibrationChoice {
            chosen,
            cross_fitted_brier,
            applies: true,
        }
    }

    /// Fits the calibration map (none for `none` and for an unresolved `auto`).
    pub fn fit(&self, scores: &[f64], positive: &[bool]) -> Option<Calibration> {
        match self {
            CalibrationKind::Auto | CalibrationKind::None => None,
            CalibrationKind::Platt => Some(fit_platt(scores, positive)),
            CalibrationKind::Isotonic => Some(fit_isotonic(scores, positive)),
        }
    }
}

/// Folds of the out-of-fold probabilities behind `--calibration auto`.
const CALIBRATION_FOLDS: usize = 5;

/// Which calibration a run used, and for `auto` why.
#[derive(Debug, Clone, PartialEq)]
pub struct CalibrationChoice {
    /// The method fitted (never `auto`).
    pub chosen: CalibrationKind,
    /// For `auto`: each method's cross-fitted Brier score, in the order tried.
    pub cross_fitted_brier: Vec<(CalibrationKind, f64)>,
    /// Whether calibration applies (binary tasks only).
    pub applies: bool,
}

impl CalibrationChoice {
    /// No calibration, because the task is not binary.
    pub fn not_applicable() -> Self {
        CalibrationChoice {
            chosen: CalibrationKind::None,
            cross_fitted_brier: Vec::new(),
            applies: false,
        }
    }

    /// One sentence for reports: the method, and for `auto` the comparison behind it.
    pub fn describe(&self) -> String {
        if !self.applies {
            return "no calibration (it applies to binary tasks)".into();
        }
        if self.cross_fitted_brier.is_empty() {
            return format!("calibration `{}` (as asked)", self.chosen.as_str());
        }
        let compared: Vec<String> = self
            .cross_fitted_brier
            .iter()
            .map(|(kind, brier)| format!("{} {brier:.4}", kind.as_str()))
            .collect();
        format!(
            "calibration `{}`, chosen by `auto` for the lowest Brier score fitted on four fifths of the out-of-fold probabilities and scored on the fifth left out ({})",
            self.chosen.as_str(),
            compared.join(", ")
        )
    }
}

/// Pooled Brier score of `kind` fitted on each fold's training part of the out-of-fold
/// probabilities and applied to its held-out part; NaN without folds.
fn cross_fitted_brier(
    kind: CalibrationKind,
    scores: &[f64],
    positive: &[bool],
    folds: &[preprocess::split::Fold],
) -> f64 {
    let (mut squared_error, mut n) = (0.0, 0usize);
    for fold in folds {
        let pick = |rows: &[usize]| -> (Vec<f64>, Vec<bool>) {
            rows.iter()
                .map(|row| (scores[*row], positive[*row]))
                .unzip()
        };
        let (train_scores, train_positive) = pick(&fold.train());
        let calibration = kind.fit(&train_scores, &train_positive);
        for row in &fold.validation {
            let probability = calibration
                .as_ref()
                .map_or(scores[*row], |map| map.apply(scores[*row]).clamp(0.0, 1.0));
            squared_error += (probability - f64::from(u8::from(positive[*row]))).powi(2);
            n += 1;
        }
    }
    if n == 0 {
        f64::NAN
    } else {
        squared_error / n as f64
    }
}

/// Platt scaling: the logistic recalibration below, fitted with a tiny ridge so that it
/// always gives a map, even for scores that do not separate or that separate perfectly.
fn fit_platt(scores: &[f64], positive: &[bool]) -> Calibration {
    let fit = fit_logistic_on_logits(scores, positive, 1e-6, 1e-9);
    Calibration::Platt {
        a: fit.slope,
        b: fit.intercept,
    }
}

/// Pool-adjacent-violators isotonic regression of the labels on the scores.
fn fit_isotonic(scores: &[f64], positive: &[bool]) -> Calibration {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|a, b| scores[*a].total_cmp(&scores[*b]));
    // Blocks of (sum of labels, count, mean score).
    let mut blocks: Vec<(f64, f64, f64)> = Vec::new();
    for idx in order {
        blocks.push((f64::from(u8::from(positive[idx])), 1.0, scores[idx]));
        while blocks.len() >= 2 {
            let last = blocks[blocks.len() - 1];
            let previous = blocks[blocks.len() - 2];
            if previous.0 / previous.1 <= last.0 / last.1 {
                break;
            }
            blocks.pop();
            let merged = blocks.last_mut().expect("two blocks were present");
            merged.2 = (merged.2 * merged.1 + last.2 * last.1) / (merged.1 + last.1);
            merged.0 += last.0;
            merged.1 += last.1;
        }
    }
    Calibration::Isotonic {
        inputs: blocks.iter().map(|block| block.2).collect(),
        outputs: blocks.iter().map(|block| block.0 / block.1).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NO_BOOTSTRAP: Bootstrap = Bootstrap {
        resamples: 0,
        seed: 0,
    };

    #[test]
    fn sensitivity_rule_picks_the_highest_threshold_reaching_the_target() {
        let scores = [0.9, 0.8, 0.7, 0.4, 0.3, 0.2];
        let positive = [true, false, true, true, false, true];
        let (threshold, sensitivity, specificity) =
            ThresholdRule::MinSensitivity(0.75).choose(&scores, &positive, NO_BOOTSTRAP);
        assert_eq!(threshold, 0.4);
        assert_eq!(sensitivity, 0.75);
        assert_eq!(specificity, 0.5);
        assert_eq!(
            ThresholdRule::Fixed(0.5)
                .choose(&scores, &positive, NO_BOOTSTRAP)
                .0,
            0.5
        );
    }

    /// The rule as first written: every candidate checked by a full pass over the rows.
    fn choose_by_brute_force(rule: ThresholdRule, scores: &[f64], positive: &[bool]) -> f64 {
        let rates = |threshold: f64| {
            let (tp, fp, tn, fn_) = crate::metrics::confusion_at(scores, positive, threshold);
            let sensitivity = if tp + fn_ > 0.0 { tp / (tp + fn_) } else { 0.0 };
            let specificity = if tn + fp > 0.0 { tn / (tn + fp) } else { 0.0 };
            let precision = if tp + fp > 0.0 { tp / (tp + fp) } else { 0.0 };
            (sensitivity, specificity, precision)
        };
        let mut candidates: Vec<f64> = scores.to_vec();
        candidates.sort_by(|a, b| b.total_cmp(a));
        candidates.dedup();
        match rule {
            ThresholdRule::Fixed(value) => value,
            ThresholdRule::MinSensitivity(target) => candidates
                .into_iter()
                .find(|threshold| rates(*threshold).0 >= target - 1e-12)
                .unwrap_or(0.0),
            ThresholdRule::MinSensitivityLower95(_) => unreachable!("checked on its own"),
            ThresholdRule::MaxF1 | ThresholdRule::Youden => {
                let mut best = (f64::NEG_INFINITY, 0.5);
                for threshold in candidates {
                    let (sensitivity, specificity, precision) = rates(threshold);
                    let value = if rule == ThresholdRule::MaxF1 {
                        if precision + sensitivity > 0.0 {
                            2.0 * precision * sensitivity / (precision + sensitivity)
                        } else {
                            0.0
                        }
                    } else {
                        sensitivity + specificity - 1.0
                    };
                    if value > best.0 {
                        best = (value, threshold);
                    }
                }
                best.1
            }
        }
    }

    #[test]
    fn the_sweep_chooses_what_a_pass_per_candidate_chooses() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(7);
        for case in 0..300 {
            let n_rows = rng.gen_range(0..60);
            // Few distinct levels, so ties are common; now and then a NaN or a negative zero.
            let scores: Vec<f64> = (0..n_rows)
                .map(|_| match rng.gen_range(0..40) {
                    0 => f64::NAN,
                    1 => -0.0,
                    _ => f64::from(rng.gen_range(0..12u8)) / 11.0,
                })
                .collect();
            let positive: Vec<bool> = (0..n_rows).map(|_| rng.gen_bool(0.4)).collect();
            for rule in [
                ThresholdRule::MinSensitivity(0.8),
                ThresholdRule::MinSensitivity(0.0),
                ThresholdRule::MaxF1,
                ThresholdRule::Youden,
            ] {
                let expected = choose_by_brute_force(rule, &scores, &positive);
                let chosen = rule.choose(&scores, &positive, NO_BOOTSTRAP).0;
                assert!(
                    chosen.to_bits() == expected.to_bits()
                        || (chosen.is_nan() && expected.is_nan()),
                    "case {case}, {rule:?}: {chosen} vs {expected}"
                );
            }
        }
    }

    #[test]
    fn the_margin_rule_picks_the_highest_threshold_whose_bound_reaches_the_target() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(5);
        let positive: Vec<bool> = (0..300).map(|_| rng.gen_bool(0.35)).collect();
        let scores: Vec<f64> = positive
            .iter()
            .map(|is_positive| {
                let shift = if *is_positive { 0.25 } else { 0.0 };
                ((rng.gen_range(0.0..0.75_f64) + shift) * 50.0).round() / 50.0
            })
            .collect();
        let bootstrap = Bootstrap {
            resamples: 200,
            seed: 3,
        };
        let rule = ThresholdRule::MinSensitivityLower95(0.8);
        let (threshold, sensitivity, _) = rule.choose(&scores, &positive, bootstrap);
        let bound = |threshold: f64| {
            model::evaluation::sensitivity_lower_bounds(&scores, &positive, &[threshold], 200, 3)[0]
        };
        // Every candidate checked one by one: the chosen one reaches the target, every higher
        // one does not.
        let mut candidates: Vec<f64> = scores.clone();
        candidates.sort_by(|a, b| b.total_cmp(a));
        candidates.dedup();
        let n_positive = positive.iter().filter(|p| **p).count() as f64;
        let expected = candidates
            .iter()
            .copied()
            .filter(|candidate| {
                let (tp, _, _, _) = crate::metrics::confusion_at(&scores, &positive, *candidate);
                tp / n_positive >= 0.8 - 1e-12
            })
            .find(|candidate| bound(*candidate) >= 0.8 - 1e-12)
            .unwrap();
        assert_eq!(threshold, expected);
        // A margin: lower than the plain rule's threshold, with a higher point sensitivity.
        let (plain, plain_sensitivity, _) =
            ThresholdRule::MinSensitivity(0.8).choose(&scores, &positive, bootstrap);
        assert!(threshold < plain, "{threshold} vs {plain}");
        assert!(sensitivity > plain_sensitivity);
        assert_eq!(
            "sensitivity>=0.80@lower95".parse(),
            Ok(ThresholdRule::MinSensitivityLower95(0.8))
        );
        assert_eq!(rule.describe(), "sensitivity>=0.80@lower95");
    }

    #[test]
    fn auto_calibration_picks_the_lowest_cross_fitted_brier() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(8);
        // Scores squeezed towards one half: a recalibration helps; well-calibrated scores:
        // none is best (or the tie goes to it).
        let truth: Vec<f64> = (0..2000).map(|_| rng.gen_range(0.05..0.95)).collect();
        let positive: Vec<bool> = truth.iter().map(|p| rng.gen_bool(*p)).collect();
        let squeezed: Vec<f64> = truth.iter().map(|p| 0.5 + (p - 0.5) * 0.3).collect();
        let choice = CalibrationKind::Auto.resolve(&squeezed, &positive, 1);
        assert_ne!(choice.chosen, CalibrationKind::None, "{choice:?}");
        let brier = |kind| {
            choice
                .cross_fitted_brier
                .iter()
                .find(|(k, _)| *k == kind)
                .unwrap()
                .1
        };
        assert!(brier(choice.chosen) < brier(CalibrationKind::None));
        assert!(choice.describe().contains("chosen by `auto`"));
        let calibrated = CalibrationKind::Auto.resolve(&truth, &positive, 1);
        assert_eq!(calibrated.cross_fitted_brier.len(), 3);
        let best = calibrated
            .cross_fitted_brier
            .iter()
            .map(|(_, brier)| *brier)
            .fold(f64::INFINITY, f64::min);
        assert_eq!(
            calibrated
                .cross_fitted_brier
                .iter()
                .find(|(kind, _)| *kind == calibrated.chosen)
                .unwrap()
                .1,
            best
        );
        // An explicit method is used as asked.
        let asked = CalibrationKind::Isotonic.resolve(&truth, &positive, 1);
        assert_eq!(asked.chosen, CalibrationKind::Isotonic);
        assert!(asked.cross_fitted_brier.is_empty());
    }

    #[test]
    fn rules_parse_and_reject_nonsense() {
        assert_eq!(
            "sensitivity>=0.8".parse(),
            Ok(ThresholdRule::MinSensitivity(0.8))
        );
        assert_eq!("youden".parse(), Ok(ThresholdRule::Youden));
        assert!("fixed:1.5".parse::<ThresholdRule>().is_err());
        assert!("best".parse::<ThresholdRule>().is_err());
        assert_eq!("platt".parse(), Ok(CalibrationKind::Platt));
        assert!(
            "sigmoid"
                .parse::<CalibrationKind>()
                .unwrap_err()
                .contains("`sigmoid`")
        );
    }

    #[test]
    fn isotonic_is_monotone_and_platt_is_near_identity_on_calibrated_scores() {
        let scores = [0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9];
        let positive = [false, true, false, false, true, false, true, true];
        let Some(Calibration::Isotonic { outputs, .. }) =
            CalibrationKind::Isotonic.fit(&scores, &positive)
        else {
            panic!("isotonic expected")
        };
        assert!(outputs.windows(2).all(|pair| pair[0] <= pair[1]));
        let many: Vec<f64> = (0..1000).map(|i| (i as f64 + 0.5) / 1000.0).collect();
        let labels: Vec<bool> = many
            .iter()
            .enumerate()
            .map(|(i, p)| ((i * 7919) % 1000) as f64 / 1000.0 < *p)
            .collect();
        let Some(Calibration::Platt { a, b }) = CalibrationKind::Platt.fit(&many, &labels) else {
            panic!()
        };
        assert!((a - 1.0).abs() < 0.3 && b.abs() < 0.3, "a={a} b={b}");
    }
}
