//! Hyperparameter tuning: random candidates from a family's declared search space, compared by
//! inner cross-validation on training rows only (nested inside the outer folds).

use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;

use model::Metric;

use crate::learners::{ModelKind, ModelParams};
use crate::trainer::Trainer;

/// Inner folds of the nested cross-validation.
const INNER_FOLDS: usize = 3;

/// The candidates of a tuning run: the defaults first, then `tune - 1` random draws.
pub fn candidates(kind: ModelKind, tune: usize, seed: u64) -> Vec<ModelParams> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    std::iter::once(kind.default_params())
        .chain((1..tune).map(|_| kind.sample_params(&mut rng)))
        .collect()
}

impl Trainer<'_> {
    /// Scores of `params` on the given inner folds of `rows` (NaN where a fit failed).
    fn inner_fold_scores(
        &self,
        params: &ModelParams,
        rows: &[usize],
        folds: &[preprocess::Fold],
        metric_idx: usize,
        seed: u64,
    ) -> Vec<f64> {
        folds
            .iter()
            .map(|fold| {
                let train: Vec<usize> = fold.train().iter().map(|idx| rows[*idx]).collect();
                let validation: Vec<usize> = fold.validation.iter().map(|idx| rows[*idx]).collect();
                let fold_seed = crate::seeds::derive_seed(seed, &[fold.fold as u64]);
                match self.fit_pipeline(params, &train, fold_seed) {
                    Ok(pipeline) => {
                        let probabilities = self.predict_rows(&pipeline, &validation);
                        self.score(&probabilities, &validation)[metric_idx]
                    }
                    Err(_) => f64::NAN,
                }
            })
            .collect()
    }

    /// Picks the best of `candidates` by inner 3-fold CV on `rows`, with successive halving
    /// (as scikit-learn's `HalvingRandomSearchCV`, with folds as the resource): every
    /// candidate is scored on the first inner fold, and only the best third goes on to the
    /// other two; the winner has the best 3-fold mean. Ties keep the earlier candidate. A
    /// single candidate is returned as it is, without inner cross-validation.
    pub fn select_params(
        &self,
        candidates: &[ModelParams],
        rows: &[usize],
        metric: Metric,
        seed: u64,
    ) -> ModelParams {
        if let [only] = candidates {
            return only.clone();
        }
        let metric_idx = Metric::for_task(self.task())
            .iter()
            .position(|reported| *reported == metric)
            .unwrap_or(0);
        let y: Vec<usize> = rows.iter().map(|row| self.y[*row]).collect();
        let Ok(folds) = preprocess::stratified_folds(&y, self.n_classes, INNER_FOLDS, 1, seed)
        else {
            return candidates[0].clone();
        };
        // Better first, earlier first on ties; NaN (a failed fit) last.
        let rank = |scores: &[f64]| -> Vec<usize> {
            let mut order: Vec<usize> = (0..scores.len()).collect();
            order.sort_by(|a, b| metric.best_first(scores[*a], scores[*b]).then(a.cmp(b)));
            order
        };
        let first: Vec<f64> = candidates
            .par_iter()
            .map(|params| self.inner_fold_scores(params, rows, &folds[..1], metric_idx, seed)[0])
            .collect();
        let survivors: Vec<usize> = rank(&first)
            .into_iter()
            .take(candidates.len().div_ceil(3))
            .collect();
        let means: Vec<f64> = survivors
            .par_iter()
            .map(|idx| {
                let rest =
                    self.inner_fold_scores(&candidates[*idx], rows, &folds[1..], metric_idx, seed);
                let scores: Vec<f64> = std::iter::once(first[*idx])
                    .chain(rest)
                    .filter(|s| !s.is_nan())
                    .collect();
                if scores.is_empty() {
                    f64::NAN
                } else {
                    scores.iter().sum::<f64>() / scores.len() as f64
                }
            })
            .collect();
        // `survivors` is in rank order, so ties in the mean keep the better first-fold score.
        candidates[survivors[rank(&means)[0]]].clone()
    }
}
