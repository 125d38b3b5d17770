//! Class-conditional (Mondrian) split-conformal prediction sets: for each class, the smallest
//! probability that still puts it in a record's set, calibrated on out-of-fold probabilities
//! so that, for new records of that class, the set contains the true class with at least the
//! target coverage (90% by default). A set of one class is a confident answer; a set of
//! several says "uncertain"; an empty set says the record is unlike the training data of every
//! class. Per-class calibration keeps the guarantee for a rare class, which a single pooled
//! threshold would give mostly to the common one.

use serde::{Deserialize, Serialize};

/// Folds of the cross-conformal check of coverage.
const CHECK_FOLDS: usize = 5;

/// The calibrated sets, as the artifact stores them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConformalSets {
    /// Target coverage per class, e.g. 0.9.
    pub coverage: f64,
    /// Per class: a class is in a record's set when its probability is at least this.
    pub min_probability: Vec<f64>,
    /// Per class: the share of that class's records whose set held it, measured by 5-fold
    /// cross-conformal on the out-of-fold probabilities (thresholds calibrated on four folds,
    /// checked on the fifth).
    pub cv_coverage: Vec<f64>,
    /// Mean set size in that check.
    pub cv_mean_set_size: f64,
}

/// The per-class thresholds from `probabilities` (rows of class probabilities) and the true
/// class of each row, over the rows `members`.
fn thresholds(
    probabilities: &[Vec<f64>],
    truth: &[usize],
    members: &[usize],
    n_classes: usize,
    coverage: f64,
) -> Vec<f64> {
    (0..n_classes)
        .map(|class_idx| {
            // Nonconformity of a record of this class: one minus its class probability.
            let mut scores: Vec<f64> = members
                .iter()
                .filter(|row| truth[**row] == class_idx)
                .map(|row| 1.0 - probabilities[*row][class_idx])
                .collect();
            scores.sort_by(f64::total_cmp);
            let n = scores.len();
            // The ceil((n + 1) · coverage)-th smallest score; beyond n, every record of the
            // class must be covered, so the class is always in the set.
            let rank = ((n as f64 + 1.0) * coverage).ceil() as usize;
            if n == 0 || rank > n {
                0.0
            } else {
                1.0 - scores[rank.max(1) - 1]
            }
        })
        .collect()
}

impl ConformalSets {
    /// Calibrates sets for `coverage` from out-of-fold probabilities and true classes, and
    /// measures per-class coverage by cross-conformal.
    pub fn calibrate(
        probabilities: &[Vec<f64>],
        truth: &[usize],
        n_classes: usize,
        coverage: f64,
    ) -> Self {
        let all: Vec<usize> = (0..truth.len()).collect();
        let min_probability = thresholds(probabilities, truth, &all, n_classes, coverage);
        // Folds interleaved within each class, so each holds a fifth of every class.
        let mut fold_of = vec![0usize; truth.len()];
        let mut seen = vec![0usize; n_classes];
        for (row, class_idx) in truth.iter().enumerate() {
            fold_of[row] = seen[*class_idx] % CHECK_FOLDS;
            seen[*class_idx] += 1;
        }
        let (mut covered, mut total, mut set_sizes) =
            (vec![0usize; n_classes], vec![0usize; n_classes], 0usize);
        for fold in 0..CHECK_FOLDS {
            let calibration: Vec<usize> = all
                .iter()
                .copied()
                .filter(|row| fold_of[*row] != fold)
                .collect();
            let fold_sets = ConformalSets {
                coverage,
                min_probability: thresholds(
                    probabilities,
                    truth,
                    &calibration,
                    n_classes,
                    coverage,
                ),
                cv_coverage: Vec::new(),
                cv_mean_set_size: f64::NAN,
            };
            for row in all.iter().filter(|row| fold_of[**row] == fold) {
                let set = fold_sets.set(&probabilities[*row]);
                total[truth[*row]] += 1;
                covered[truth[*row]] += usize::from(set.contains(&truth[*row]));
                set_sizes += set.len();
            }
        }
        ConformalSets {
            coverage,
            min_probability,
            cv_coverage: covered
                .iter()
                .zip(&total)
                .map(|(hits, n)| {
                    if *n == 0 {
                        f64::NAN
                    } else {
                        *hits as f64 / *n as f64
                    }
                })
                .collect(),
            cv_mean_set_size: set_sizes as f64 / truth.len().max(1) as f64,
        }
    }

    /// The classes in a record's set, in class order.
    pub fn set(&self, probabilities: &[f64]) -> Vec<usize> {
        probabilities
            .iter()
            .zip(&self.min_probability)
            .enumerate()
            .filter(|(_, (probability, minimum))| *probability >= *minimum)
            .map(|(class_idx, _)| class_idx)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic generator, so the test needs no random-number crate.
    struct SplitMix(u64);

    impl SplitMix {
        fn next(&mut self) -> f64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    /// Records whose true class is drawn from the probabilities the model reports: a model
    /// calibrated by construction, with an imbalanced first class (about 20%).
    fn draw(generator: &mut SplitMix, n: usize) -> (Vec<Vec<f64>>, Vec<usize>) {
        (0..n)
            .map(|_| {
                let p = 0.2 * generator.next() + 0.3 * generator.next() * generator.next();
                let truth = usize::from(generator.next() >= p);
                (vec![p, 1.0 - p], truth)
            })
            .unzip()
    }

    #[test]
    fn new_records_of_every_class_are_covered_at_the_target_rate() {
        let mut generator = SplitMix(11);
        let (calibration, truth) = draw(&mut generator, 3_000);
        let sets = ConformalSets::calibrate(&calibration, &truth, 2, 0.9);
        let (test, test_truth) = draw(&mut generator, 40_000);
        for class_idx in 0..2 {
            let members: Vec<usize> = (0..test.len())
                .filter(|row| test_truth[*row] == class_idx)
                .collect();
            let covered = members
                .iter()
                .filter(|row| sets.set(&test[**row]).contains(&class_idx))
                .count() as f64
                / members.len() as f64;
            // Split conformal guarantees at least 90% on average over calibration sets, and
            // at most 90% + 1/(n_c + 1); three standard errors of the test estimate either side.
            let standard_error = (0.09 / members.len() as f64).sqrt();
            assert!(
                covered > 0.9 - 0.02 - 3.0 * standard_error,
                "class {class_idx}: {covered}"
            );
            assert!(
                covered < 0.9 + 0.02 + 3.0 * standard_error,
                "class {class_idx}: {covered}"
            );
            // The cross-conformal estimate stored for the card agrees.
            assert!(
                (sets.cv_coverage[class_idx] - 0.9).abs() < 0.03,
                "{:?}",
                sets.cv_coverage
            );
        }
        assert!(sets.cv_mean_set_size > 1.0 && sets.cv_mean_set_size < 2.0);
    }

    #[test]
    fn a_class_too_small_for_the_coverage_is_always_in_the_set() {
        // Three records of class 0: ceil(4 · 0.9) = 4 > 3, so no threshold can promise 90%.
        let probabilities = vec![
            vec![0.1, 0.9],
            vec![0.2, 0.8],
            vec![0.3, 0.7],
            vec![0.05, 0.95],
        ];
        let sets = ConformalSets::calibrate(&probabilities, &[0, 0, 0, 1], 2, 0.9);
        assert_eq!(sets.min_probability[0], 0.0);
        assert_eq!(sets.set(&[0.0, 1.0]), vec![0, 1]);
    }
}
