//! Stratified k-fold splits (optionally repeated) and a stratified held-out test split, seeded.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::PreprocessError;

/// One train/validation split of row indices.
///
/// A fold keeps only its validation rows; its training rows, every other row, are listed on
/// demand by [`Fold::train`]. At a million rows, five folds' training rows kept side by side
/// would be 32 MB that a run holds for the whole of cross-validation, when only the folds
/// being fitted need theirs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fold {
    /// Repeat number (0-based).
    pub repeat: usize,
    /// Fold number within the repeat (0-based).
    pub fold: usize,
    /// Rows to evaluate on, sorted.
    pub validation: Vec<usize>,
    /// Rows in the split, training and validation together.
    n_rows: usize,
}

impl Fold {
    /// Rows to fit on, sorted: every row of the split not in [`Fold::validation`].
    pub fn train(&self) -> Vec<usize> {
        let mut train = Vec::with_capacity(self.n_rows - self.validation.len());
        let mut held_out = self.validation.iter().copied().peekable();
        for row in 0..self.n_rows {
            if held_out.next_if_eq(&row).is_none() {
                train.push(row);
            }
        }
        train
    }
}

/// Marks about `fraction` of each class's rows as held out (true), chosen at random with
/// `seed`: the test split that `train --holdout` keeps out of everything else.
pub fn stratified_holdout(y: &[usize], n_classes: usize, fraction: f64, seed: u64) -> Vec<bool> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut held_out = vec![false; y.len()];
    for class_idx in 0..n_classes {
        let mut rows: Vec<usize> = (0..y.len()).filter(|row| y[*row] == class_idx).collect();
        rows.shuffle(&mut rng);
        let n_held = (rows.len() as f64 * fraction).round() as usize;
        for row in rows.into_iter().take(n_held) {
            held_out[row] = true;
        }
    }
    held_out
}

/// Splits rows into `k` folds per repeat, keeping class proportions in every fold.
///
/// Each class's rows are shuffled and dealt round-robin, continuing the deal across classes,
/// so fold sizes differ by at most one. A class with fewer rows than `k` is absent from some
/// validation folds (it still appears in their training rows); callers report that.
pub fn stratified_folds(
    y: &[usize],
    n_classes: usize,
    k: usize,
    repeats: usize,
    seed: u64,
) -> Result<Vec<Fold>, PreprocessError> {
    if k < 2 {
        return Err(PreprocessError::Split {
            folds: k,
            reason: "at least 2 folds are needed".into(),
        });
    }
    if k > y.len() {
        return Err(PreprocessError::Split {
            folds: k,
            reason: format!("only {} rows", y.len()),
        });
    }
    let mut folds = Vec::with_capacity(k * repeats.max(1));
    for repeat in 0..repeats.max(1) {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed.wrapping_add(repeat as u64));
        let mut assignment = vec![0usize; y.len()];
        let mut next_fold = 0usize;
        for class_idx in 0..n_classes {
            let mut rows: Vec<usize> = (0..y.len()).filter(|row| y[*row] == class_idx).collect();
            rows.shuffle(&mut rng);
            for row in rows {
                assignment[row] = next_fold;
                next_fold = (next_fold + 1) % k;
            }
        }
        // Each validation list is allocated at its final size: lists grown by pushing hold up
        // to twice the memory they use.
        let mut sizes = vec![0usize; k];
        for fold in &assignment {
            sizes[*fold] += 1;
        }
        let mut validations: Vec<Vec<usize>> = sizes.into_iter().map(Vec::with_capacity).collect();
        for (row, fold) in assignment.iter().enumerate() {
            validations[*fold].push(row);
        }
        for (fold, validation) in validations.into_iter().enumerate() {
            folds.push(Fold {
                repeat,
                fold,
                validation,
                n_rows: y.len(),
            });
        }
    }
    Ok(folds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_partition_rows_and_keep_proportions() {
        let y: Vec<usize> = (0..100).map(|row| usize::from(row % 4 == 0)).collect();
        let folds = stratified_folds(&y, 2, 5, 2, 42).unwrap();
        assert_eq!(folds.len(), 10);
        for repeat in 0..2 {
            let mut seen: Vec<usize> = folds
                .iter()
                .filter(|fold| fold.repeat == repeat)
                .flat_map(|fold| fold.validation.clone())
                .collect();
            seen.sort();
            assert_eq!(seen, (0..100).collect::<Vec<_>>());
        }
        for fold in &folds {
            assert_eq!(fold.validation.len(), 20);
            assert_eq!(
                fold.validation.iter().filter(|row| y[**row] == 1).count(),
                5
            );
            let train = fold.train();
            assert_eq!(train.len(), 80);
            assert!(train.windows(2).all(|pair| pair[0] < pair[1]));
            assert!(train.iter().all(|row| !fold.validation.contains(row)));
            assert_eq!(fold.validation.capacity(), fold.validation.len());
        }
        assert_ne!(
            folds[0].validation, folds[5].validation,
            "repeats reshuffle"
        );
        assert_eq!(folds, stratified_folds(&y, 2, 5, 2, 42).unwrap());
    }

    #[test]
    fn impossible_splits_are_errors() {
        assert!(stratified_folds(&[0, 1], 2, 1, 1, 0).is_err());
        assert!(stratified_folds(&[0, 1], 2, 3, 1, 0).is_err());
        // A class smaller than k is allowed: it is missing from some validation folds.
        let folds = stratified_folds(&[0, 0, 0, 0, 0, 1], 2, 5, 1, 0).unwrap();
        assert_eq!(
            folds.iter().filter(|f| f.validation.contains(&5)).count(),
            1
        );
    }
}

#[cfg(test)]
mod holdout_tests {
    use super::*;

    #[test]
    fn the_holdout_keeps_each_class_share_and_follows_the_seed() {
        let y: Vec<usize> = (0..1000).map(|row| usize::from(row % 4 == 0)).collect();
        let held = stratified_holdout(&y, 2, 0.2, 7);
        let held_in = |class_idx: usize| {
            (0..y.len())
                .filter(|row| y[*row] == class_idx && held[*row])
                .count()
        };
        assert_eq!((held_in(0), held_in(1)), (150, 50));
        assert_eq!(held, stratified_holdout(&y, 2, 0.2, 7));
        assert_ne!(held, stratified_holdout(&y, 2, 0.2, 8));
    }
}
