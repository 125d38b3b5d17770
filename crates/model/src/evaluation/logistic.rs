//! A logistic regression of an outcome on the logit of a probability: Platt scaling when
//! training calibrates, the calibration slope and intercept when a model is evaluated.

use crate::classifier::sigmoid;

/// A logistic regression of the outcome on the logit of a probability.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogisticFit {
    /// Coefficient of `logit(p)` (the calibration slope).
    pub slope: f64,
    /// The intercept.
    pub intercept: f64,
    /// Whether Newton's method converged (it does not for one class or perfect separation).
    pub converged: bool,
}

/// Fits `P(y) = σ(slope · logit(p) + intercept)` by Newton's method on the log-loss, with
/// probabilities clamped to `[clamp, 1 - clamp]` and `ridge` added to the Hessian's diagonal.
/// Both Platt scaling and the evaluation's calibration slope are this fit.
pub fn fit_logistic_on_logits(
    scores: &[f64],
    positive: &[bool],
    clamp: f64,
    ridge: f64,
) -> LogisticFit {
    let logits: Vec<f64> = scores
        .iter()
        .map(|p| {
            let p = p.clamp(clamp, 1.0 - clamp);
            (p / (1.0 - p)).ln()
        })
        .collect();
    let weights = vec![1.0; logits.len()];
    fit_weighted_on_logits(&logits, positive, &weights, ridge, (1.0, 0.0))
}

/// [`fit_logistic_on_logits`] on logits already taken, each record counted `weights[i]` times
/// (a bootstrap resample's multiplicities), Newton's method starting from `(slope,
/// intercept)` = `start` (a resample's fit starts from the full sample's, a few steps away).
pub fn fit_weighted_on_logits(
    logits: &[f64],
    positive: &[bool],
    weights: &[f64],
    ridge: f64,
    start: (f64, f64),
) -> LogisticFit {
    let points = || {
        logits
            .iter()
            .zip(positive)
            .zip(weights)
            .map(|((logit, positive), weight)| (*logit, *positive, *weight))
    };
    fit_weighted(points, ridge, start)
}

/// [`fit_weighted_on_logits`] on the records `points()` yields as `(logit, positive,
/// weight)`, the same records in the same order at every call (one call per Newton step), so
/// that a resample is fitted without first copying its records out.
pub(super) fn fit_weighted<I: Iterator<Item = (f64, bool, f64)>>(
    points: impl Fn() -> I,
    ridge: f64,
    start: (f64, f64),
) -> LogisticFit {
    let (mut a, mut b) = start;
    for _ in 0..100 {
        let (mut g_a, mut g_b, mut h_aa, mut h_ab, mut h_bb) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for (z, y, w) in points() {
            let p = sigmoid(a * z + b);
            let residual = w * (p - f64::from(u8::from(y)));
            let weight = w * (p * (1.0 - p)).max(1e-12);
            g_a += residual * z;
            g_b += residual;
            h_aa += weight * z * z;
            h_ab += weight * z;
            h_bb += weight;
        }
        h_aa += ridge;
        h_bb += ridge;
        let determinant = h_aa * h_bb - h_ab * h_ab;
        if determinant.abs() < 1e-18 {
            break;
        }
        let step_a = (h_bb * g_a - h_ab * g_b) / determinant;
        let step_b = (h_aa * g_b - h_ab * g_a) / determinant;
        a -= step_a;
        b -= step_b;
        if step_a.abs() < 1e-10 && step_b.abs() < 1e-10 {
            return LogisticFit {
                slope: a,
                intercept: b,
                converged: true,
            };
        }
        if !(a.is_finite() && b.is_finite()) {
            break;
        }
    }
    LogisticFit {
        slope: a,
        intercept: b,
        converged: false,
    }
}

/// Logistic recalibration: `P(y) = σ(a + b·logit(p))` (the Platt fit without its ridge) and
/// returns `(b, a)`, the calibration slope and intercept; NaN when no finite fit exists: one
/// class only, or classes the probabilities separate perfectly (Newton's method then either
/// diverges or stops once the fitted probabilities round to exactly 0 and 1, with
/// coefficients in the thousands that mean nothing).
pub fn recalibration(scores: &[f64], positive: &[bool]) -> (f64, f64) {
    let both_classes = positive.iter().any(|p| *p) && positive.iter().any(|p| !*p);
    let fit = fit_logistic_on_logits(scores, positive, 1e-12, 0.0);
    if both_classes && fit.converged && fit.slope.abs() < 1e3 && fit.intercept.abs() < 1e3 {
        (fit.slope, fit.intercept)
    } else {
        (f64::NAN, f64::NAN)
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};

    use super::*;
    use crate::evaluation::expected_calibration_error;

    #[test]
    fn recalibration_recovers_a_known_slope_and_intercept() {
        // Outcomes drawn from σ(0.5 + 2·logit(p)): the fit must find about (2, 0.5).
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(3);
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
}
