//! Permutation importance on out-of-fold predictions: for the chosen model, each outer fold's
//! pipeline (kept from cross-validation, or refitted exactly as it was fitted there) scores
//! its validation rows with one feature's values shuffled among them; the importance of a
//! feature is how much the ranking metric worsens, averaged over folds, as mean ± standard
//! deviation over seeded repeats. Scored on rows the pipeline never saw, so it measures what the model relies on
//! for new patients, not what it memorised. A large fold is scored on a seeded sample of at
//! most [`MAX_SCORED_ROWS`] of its validation rows (scikit-learn's `max_samples`): the
//! estimate needs thousands of rows, not hundreds of thousands, and every shuffle of every
//! feature re-predicts them all.

use std::sync::Arc;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;

use model::{FeatureImportance, Metric, PermutationImportance, Pipeline};

use crate::seeds::{FamilySeeds, derive_seed};
use crate::trainer::Trainer;
use crate::{ModelResult, TrainError, TrainOptions};

/// Shuffles of each feature per fold.
pub const REPEATS: usize = 5;

/// Stream label of the shuffles.
const SHUFFLES: u64 = 9;
/// Stream label of the sample of validation rows scored in a large fold.
const SCORED_SAMPLE: u64 = 10;
/// Most validation rows per fold that the shuffles are scored on.
pub const MAX_SCORED_ROWS: usize = 5_000;

/// Permutation importance of every feature for the chosen model `best`, most important first.
pub fn permutation_importance(
    trainer: &Trainer<'_>,
    best: &ModelResult,
    options: &TrainOptions,
) -> Result<PermutationImportance, TrainError> {
    let folds =
        preprocess::stratified_folds(trainer.y, trainer.n_classes, options.folds, 1, options.seed)?;
    let metrics = Metric::for_task(options.config.task);
    let metric_idx = metrics
        .iter()
        .position(|metric| *metric == options.metric)
        .unwrap_or(0);
    let sign = if options.metric.lower_is_better() {
        -1.0
    } else {
        1.0
    };
    let seeds = FamilySeeds::new(options.seed, best.kind);
    let n_features = trainer.dataset.raw.ncols();
    // losses[fold][feature][repeat]: how much the metric worsened.
    let losses: Vec<Vec<Vec<f64>>> = folds
        .par_iter()
        .map(|fold| {
            let fold_seed = seeds.fold(fold.repeat, fold.fold);
            let pipeline = match best.fold_pipelines.get(fold.fold) {
                Some(Some(kept)) => Arc::clone(kept),
                _ => Arc::new(refit(trainer, best, options, fold, fold_seed)?),
            };
            let scored = scored_rows(&fold.validation, derive_seed(fold_seed, &[SCORED_SAMPLE]));
            let baseline =
                trainer.score(&trainer.predict_rows(&pipeline, &scored), &scored)[metric_idx];
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(derive_seed(fold_seed, &[SHUFFLES]));
            Ok((0..n_features)
                .map(|feature_idx| {
                    (0..REPEATS)
                        .map(|_| {
                            let mut order = scored.clone();
                            order.shuffle(&mut rng);
                            let probabilities =
                                trainer.predict_rows_with(&pipeline, &scored, feature_idx, &order);
                            let permuted = trainer.score(&probabilities, &scored)[metric_idx];
                            sign * (baseline - permuted)
                        })
                        .collect()
                })
                .collect())
        })
        .collect::<Result<_, TrainError>>()?;
    let mut importances: Vec<FeatureImportance> = trainer
        .dataset
        .features
        .iter()
        .enumerate()
        .map(|(feature_idx, feature)| {
            // Each repeat's loss averaged over folds, then mean and spread over repeats.
            let per_repeat: Vec<f64> = (0..REPEATS)
                .map(|repeat| {
                    let values: Vec<f64> = losses
                        .iter()
                        .map(|fold| fold[feature_idx][repeat])
                        .filter(|loss| loss.is_finite())
                        .collect();
                    values.iter().sum::<f64>() / values.len().max(1) as f64
                })
                .collect();
            let mean = per_repeat.iter().sum::<f64>() / REPEATS as f64;
            let variance = per_repeat
                .iter()
                .map(|v| (v - mean) * (v - mean))
                .sum::<f64>()
                / REPEATS as f64;
            FeatureImportance {
                feature: feature.name.clone(),
                mean,
                std: variance.sqrt(),
            }
        })
        .collect();
    importances.sort_by(|a, b| b.mean.total_cmp(&a.mean));
    Ok(PermutationImportance {
        metric: options.metric,
        repeats: REPEATS,
        features: importances,
    })
}

/// Fold `fold`'s pipeline fitted again exactly as cross-validation fitted it (the same
/// candidate choice, rows and seed), for a fold whose pipeline was not kept.
fn refit(
    trainer: &Trainer<'_>,
    best: &ModelResult,
    options: &TrainOptions,
    fold: &preprocess::Fold,
    fold_seed: u64,
) -> Result<Pipeline, TrainError> {
    let train = fold.train();
    let params = trainer.select_params(&best.candidates, &train, options.metric, fold_seed);
    trainer
        .fit_pipeline(&params, &train, fold_seed)
        .map_err(|source| TrainError::Fit {
            model: best.kind.name(),
            stage: format!("importance, fold {}", fold.fold + 1),
            source,
        })
}

/// The validation rows a fold's shuffles are scored on: all of them, or a seeded sample of
/// [`MAX_SCORED_ROWS`] in their original order.
fn scored_rows(validation: &[usize], seed: u64) -> Vec<usize> {
    if validation.len() <= MAX_SCORED_ROWS {
        return validation.to_vec();
    }
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut picked =
        rand::seq::index::sample(&mut rng, validation.len(), MAX_SCORED_ROWS).into_vec();
    picked.sort_unstable();
    picked.into_iter().map(|idx| validation[idx]).collect()
}
