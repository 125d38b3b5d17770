//! Training: cross-validated leaderboard of seven classifiers, model selection, threshold
//! choice, calibration, and the reproducible artifact.
//!
//! Every fold refits the whole pipeline (imputation, scaling, encoding, balancing, model) on
//! its training rows only, and scores its validation rows through `model::Pipeline`, the same
//! code the server runs.

pub mod learners;
pub mod metrics;
pub mod report;
pub mod threshold;

use std::path::{Path, PathBuf};
use std::time::Instant;

use ndarray::{Array2, Axis};
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;

use data::{DataError, Dataset, DatasetConfig, Labels};
use model::{
    Artifact, ArtifactError, Decision, LeaderboardEntry, MetricSummary, Pipeline, Provenance, Task,
};
use preprocess::{Balance, PreprocessError, ValidPreprocessParams};

use learners::{FitData, FitError, ModelKind, ModelParams};
use threshold::{CalibrationKind, ThresholdRule};

/// Errors from a training run.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// Reading the config or data failed.
    #[error(transparent)]
    Data(#[from] DataError),
    /// Preprocessing or splitting failed.
    #[error(transparent)]
    Preprocess(#[from] PreprocessError),
    /// A model could not be fitted.
    #[error("fitting `{model}` ({stage})")]
    Fit {
        /// Model name.
        model: &'static str,
        /// Which fold or the final fit.
        stage: String,
        /// The cause.
        #[source]
        source: FitError,
    },
    /// Writing the artifact failed.
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
    /// Writing a report failed.
    #[error("cannot write `{path}`")]
    Write {
        /// The file.
        path: PathBuf,
        /// The operating-system error.
        #[source]
        source: std::io::Error,
    },
    /// An option is invalid for this dataset.
    #[error("{0}")]
    Options(String),
}

/// Everything a training run needs.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    /// The dataset config.
    pub config: DatasetConfig,
    /// The config's own path (recorded for provenance).
    pub config_path: PathBuf,
    /// CSV to train on.
    pub data_path: PathBuf,
    /// Output folder.
    pub out_dir: PathBuf,
    /// Random seed for splits, resampling and models.
    pub seed: u64,
    /// Cross-validation folds.
    pub folds: usize,
    /// Cross-validation repeats.
    pub repeats: usize,
    /// Selection metric.
    pub metric: String,
    /// Class balancing of training folds.
    pub balance: Balance,
    /// Models to train.
    pub models: Vec<ModelKind>,
    /// Random-search candidates per model (0 = defaults only).
    pub tune: usize,
    /// Threshold rule (binary tasks).
    pub threshold: ThresholdRule,
    /// Calibration of the chosen model.
    pub calibration: CalibrationKind,
    /// Preprocessing parameters.
    pub preprocess: ValidPreprocessParams,
}

/// One model's cross-validation results.
#[derive(Debug, Clone)]
pub struct ModelResult {
    /// Which model.
    pub kind: ModelKind,
    /// Parameters used for the final fit (defaults, or the tuned choice).
    pub params: ModelParams,
    /// Per-fold metric values, `folds[fold][metric]`, in the task's metric order.
    pub fold_metrics: Vec<Vec<f64>>,
    /// Out-of-fold probabilities of the first repeat, one row per dataset row.
    pub oof: Array2<f64>,
    /// What balancing actually did for this model.
    pub balance_note: String,
}

impl ModelResult {
    /// Mean and (population) standard deviation of each metric.
    pub fn summaries(&self, names: &[&str]) -> Vec<MetricSummary> {
        names
            .iter()
            .enumerate()
            .map(|(metric_idx, name)| {
                let values: Vec<f64> = self
                    .fold_metrics
                    .iter()
                    .map(|fold| fold[metric_idx])
                    .filter(|value| !value.is_nan())
                    .collect();
                let n = values.len().max(1) as f64;
                let mean = values.iter().sum::<f64>() / n;
                let std = (values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n).sqrt();
                MetricSummary {
                    name: (*name).to_owned(),
                    mean,
                    std,
                }
            })
            .collect()
    }
}

/// What a finished run produced.
#[derive(Debug)]
pub struct TrainOutcome {
    /// The artifact as written.
    pub artifact: Artifact,
    /// Results per model, best first.
    pub results: Vec<ModelResult>,
    /// Metric names in order.
    pub metric_names: Vec<&'static str>,
    /// Warnings worth showing (small classes, fallbacks).
    pub warnings: Vec<String>,
    /// Files written.
    pub files: Vec<PathBuf>,
}

/// The metric names for a task.
pub fn metric_names(task: Task) -> Vec<&'static str> {
    match task {
        Task::Binary => metrics::BINARY_METRICS.to_vec(),
        Task::Multiclass => metrics::MULTICLASS_METRICS.to_vec(),
    }
}

/// A seed for one (purpose, model, fold) triple, mixed so nearby inputs give unrelated streams.
pub fn derive_seed(seed: u64, parts: &[u64]) -> u64 {
    let mut state = seed ^ 0x5851_F42D_4C95_7F2D;
    for part in parts {
        state = state.wrapping_add(part.wrapping_add(0x9E37_79B9_7F4A_7C15));
        state = (state ^ (state >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        state = (state ^ (state >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        state ^= state >> 31;
    }
    state
}

/// Shared state for fitting pipelines on row subsets.
pub struct Trainer<'a> {
    /// The dataset.
    pub dataset: &'a Dataset,
    /// Labels.
    pub y: &'a [usize],
    /// Number of classes.
    pub n_classes: usize,
    /// Positive class (binary) or 0.
    pub positive_class: usize,
    /// Preprocessing parameters.
    pub preprocess: ValidPreprocessParams,
    /// Balancing.
    pub balance: Balance,
}

impl Trainer<'_> {
    /// Fits preprocessing, balancing and the model on `rows`; returns the pipeline.
    pub fn fit_pipeline(
        &self,
        kind: ModelKind,
        params: &ModelParams,
        rows: &[usize],
        seed: u64,
    ) -> Result<Pipeline, FitError> {
        let raw = self.dataset.raw.select(Axis(0), rows);
        let preprocessor = self
            .preprocess
            .fit(&self.dataset.features, raw.view())
            .map_err(|error| FitError::Library {
                model: kind.name(),
                reason: error.to_string(),
            })?;
        let x = preprocess::transform(&preprocessor, raw.view());
        let y: Vec<usize> = rows.iter().map(|row| self.y[*row]).collect();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(derive_seed(seed, &[1]));
        let balance = self.effective_balance(kind);
        let (x, y, weights) = match balance {
            Balance::None => (x, y, None),
            Balance::Oversample => {
                let (x, y) = preprocess::oversample(x.view(), &y, self.n_classes, &mut rng);
                (x, y, None)
            }
            Balance::Smote { k } => {
                let (x, y) = preprocess::smote(x.view(), &y, self.n_classes, k, &mut rng);
                (x, y, None)
            }
            Balance::ClassWeight => {
                let class_weights = preprocess::class_weights(&y, self.n_classes);
                let weights: Vec<f64> = y
                    .iter()
                    .map(|class_idx| class_weights[*class_idx])
                    .collect();
                (x, y, Some(weights))
            }
        };
        let data = FitData {
            x: x.view(),
            y: &y,
            weights: weights.as_deref(),
            n_classes: self.n_classes,
            positive_class: self.positive_class,
        };
        let classifier = learners::fit(params, &data, derive_seed(seed, &[2]))?;
        Ok(Pipeline {
            preprocessor,
            classifier,
            calibration: None,
            n_classes: self.n_classes,
            positive_class: self.positive_class,
        })
    }

    /// Class weights need model support; the others fall back to random oversampling.
    pub fn effective_balance(&self, kind: ModelKind) -> Balance {
        match self.balance {
            Balance::ClassWeight if !kind.supports_weights() => Balance::Oversample,
            other => other,
        }
    }

    /// Probabilities of `rows` through the pipeline, row by row, as the server computes them.
    pub fn predict_rows(&self, pipeline: &Pipeline, rows: &[usize]) -> Vec<Vec<f64>> {
        let raw = self.dataset.raw.view();
        let mut inputs = Vec::new();
        let mut row_values = Vec::with_capacity(raw.ncols());
        rows.iter()
            .map(|row| {
                row_values.clear();
                row_values.extend(raw.row(*row).iter().copied());
                let mut probabilities = vec![0.0; self.n_classes];
                pipeline.predict_raw_into(&row_values, &mut inputs, &mut probabilities);
                probabilities
            })
            .collect()
    }

    /// Metrics of validation predictions (without fit time).
    pub fn score(&self, probabilities: &[Vec<f64>], rows: &[usize]) -> Vec<f64> {
        let y: Vec<usize> = rows.iter().map(|row| self.y[*row]).collect();
        if self.n_classes == 2 {
            let scores: Vec<f64> = probabilities
                .iter()
                .map(|p| p[self.positive_class])
                .collect();
            let positive: Vec<bool> = y
                .iter()
                .map(|class_idx| *class_idx == self.positive_class)
                .collect();
            metrics::binary_metrics(&scores, &positive)
        } else {
            metrics::multiclass_metrics(probabilities, &y, self.n_classes)
        }
    }

    /// Scores of `params` on the given inner folds of `rows` (NaN where a fit failed).
    fn inner_fold_scores(
        &self,
        kind: ModelKind,
        params: &ModelParams,
        rows: &[usize],
        folds: &[preprocess::Fold],
        metric_idx: usize,
        seed: u64,
    ) -> Vec<f64> {
        folds
            .iter()
            .map(|fold| {
                let train: Vec<usize> = fold.train.iter().map(|idx| rows[*idx]).collect();
                let validation: Vec<usize> = fold.validation.iter().map(|idx| rows[*idx]).collect();
                match self.fit_pipeline(
                    kind,
                    params,
                    &train,
                    derive_seed(seed, &[fold.fold as u64]),
                ) {
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
    /// other two; the winner has the best 3-fold mean. Ties keep the earlier candidate.
    pub fn select_params(
        &self,
        kind: ModelKind,
        candidates: &[ModelParams],
        rows: &[usize],
        metric: &str,
        metric_idx: usize,
        seed: u64,
    ) -> ModelParams {
        const INNER_FOLDS: usize = 3;
        let y: Vec<usize> = rows.iter().map(|row| self.y[*row]).collect();
        let Ok(folds) = preprocess::stratified_folds(&y, self.n_classes, INNER_FOLDS, 1, seed)
        else {
            return candidates[0];
        };
        let lower = metrics::lower_is_better(metric);
        // NaN (a failed fit) ranks last; otherwise better first, earlier first on ties.
        let rank = |scores: &[f64]| -> Vec<usize> {
            let mut order: Vec<usize> = (0..scores.len()).collect();
            order.sort_by(|a, b| {
                let (x, y) = (scores[*a], scores[*b]);
                match (x.is_nan(), y.is_nan()) {
                    (true, true) => a.cmp(b),
                    (true, false) => std::cmp::Ordering::Greater,
                    (false, true) => std::cmp::Ordering::Less,
                    (false, false) => {
                        let ordering = if lower {
                            x.total_cmp(&y)
                        } else {
                            y.total_cmp(&x)
                        };
                        ordering.then(a.cmp(b))
                    }
                }
            });
            order
        };
        let first: Vec<f64> = candidates
            .par_iter()
            .map(|params| {
                self.inner_fold_scores(kind, params, rows, &folds[..1], metric_idx, seed)[0]
            })
            .collect();
        let survivors: Vec<usize> = rank(&first)
            .into_iter()
            .take(candidates.len().div_ceil(3))
            .collect();
        let means: Vec<f64> = survivors
            .par_iter()
            .map(|idx| {
                let rest = self.inner_fold_scores(
                    kind,
                    &candidates[*idx],
                    rows,
                    &folds[1..],
                    metric_idx,
                    seed,
                );
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
        candidates[survivors[rank(&means)[0]]]
    }
}

/// One fold's metric values (fit time last) and its validation rows' probabilities.
type FoldOutput = (Vec<f64>, Vec<Vec<f64>>);

/// Runs the whole training job and writes the artifact and reports into `options.out_dir`.
pub fn run(options: &TrainOptions, progress: &dyn Fn(&str)) -> Result<TrainOutcome, TrainError> {
    let config = &options.config;
    let dataset = data::load(config, &options.data_path, Labels::Required)?;
    let y: Vec<usize> = dataset.target.clone().unwrap_or_default();
    let n_classes = config.classes.len();
    let positive_class = config.positive_class_idx().unwrap_or(0);
    let names = metric_names(config.task);
    let metric_idx = names
        .iter()
        .position(|name| *name == options.metric && *name != "fit_time_ms")
        .ok_or_else(|| {
            TrainError::Options(format!(
                "unknown metric `{}` for a {} task, expected one of {}",
                options.metric,
                match config.task {
                    Task::Binary => "binary",
                    Task::Multiclass => "multiclass",
                },
                names
                    .iter()
                    .filter(|n| **n != "fit_time_ms")
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
    if options.models.is_empty() {
        return Err(TrainError::Options("no models selected".into()));
    }
    let mut warnings = dataset.warnings.clone();
    let counts = dataset.class_counts(n_classes);
    for (class, count) in config.classes.iter().zip(&counts) {
        if *count == 0 {
            warnings.push(format!(
                "class `{class}` has no rows: models can never predict it"
            ));
        } else if *count < options.folds {
            warnings.push(format!(
                "class `{class}` has {count} rows, fewer than {} folds: it is absent from some validation folds, whose per-class metrics skip it",
                options.folds
            ));
        }
    }
    let folds =
        preprocess::stratified_folds(&y, n_classes, options.folds, options.repeats, options.seed)?;
    let trainer = Trainer {
        dataset: &dataset,
        y: &y,
        n_classes,
        positive_class,
        preprocess: options.preprocess,
        balance: options.balance,
    };
    let all_rows: Vec<usize> = (0..dataset.n_rows()).collect();

    let mut results = Vec::new();
    for (model_idx, kind) in options.models.iter().copied().enumerate() {
        progress(kind.name());
        let model_seed = derive_seed(options.seed, &[100 + model_idx as u64]);
        let candidates: Vec<ModelParams> = if options.tune > 0 {
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(derive_seed(model_seed, &[7]));
            std::iter::once(kind.default_params())
                .chain((1..options.tune).map(|_| kind.sample_params(&mut rng)))
                .collect()
        } else {
            vec![kind.default_params()]
        };
        let fold_outputs: Vec<Result<FoldOutput, TrainError>> = folds
            .par_iter()
            .map(|fold| {
                let fold_seed = derive_seed(model_seed, &[fold.repeat as u64, fold.fold as u64]);
                // Nested CV: the candidate is chosen on the outer training rows only.
                let params = if candidates.len() > 1 {
                    trainer.select_params(
                        kind,
                        &candidates,
                        &fold.train,
                        &options.metric,
                        metric_idx,
                        fold_seed,
                    )
                } else {
                    candidates[0]
                };
                let started = Instant::now();
                let pipeline = trainer
                    .fit_pipeline(kind, &params, &fold.train, fold_seed)
                    .map_err(|source| TrainError::Fit {
                        model: kind.name(),
                        stage: format!("repeat {} fold {}", fold.repeat + 1, fold.fold + 1),
                        source,
                    })?;
                let fit_ms = started.elapsed().as_secs_f64() * 1000.0;
                let probabilities = trainer.predict_rows(&pipeline, &fold.validation);
                let mut scores = trainer.score(&probabilities, &fold.validation);
                scores.push(fit_ms);
                Ok((scores, probabilities))
            })
            .collect();
        let mut fold_metrics = Vec::new();
        let mut oof = Array2::from_elem((dataset.n_rows(), n_classes), f64::NAN);
        for (fold, output) in folds.iter().zip(fold_outputs) {
            let (scores, probabilities) = output?;
            if fold.repeat == 0 {
                for (row, probability) in fold.validation.iter().zip(probabilities) {
                    oof.row_mut(*row)
                        .assign(&ndarray::Array1::from(probability));
                }
            }
            fold_metrics.push(scores);
        }
        let params = if candidates.len() > 1 {
            trainer.select_params(
                kind,
                &candidates,
                &all_rows,
                &options.metric,
                metric_idx,
                derive_seed(model_seed, &[9]),
            )
        } else {
            candidates[0]
        };
        let effective = trainer.effective_balance(kind);
        let balance_note = if effective != options.balance {
            format!("{} (class weights unsupported)", effective.as_str())
        } else {
            effective.as_str().to_owned()
        };
        results.push(ModelResult {
            kind,
            params,
            fold_metrics,
            oof,
            balance_note,
        });
    }

    // Best first by the selection metric; ties broken by model order for determinism.
    let lower = metrics::lower_is_better(&options.metric);
    let selection: Vec<f64> = results
        .iter()
        .map(|result| result.summaries(&names)[metric_idx].mean)
        .collect();
    let mut order: Vec<usize> = (0..results.len()).collect();
    order.sort_by(|a, b| {
        let (a_value, b_value) = (selection[*a], selection[*b]);
        let ordering = if lower {
            a_value.total_cmp(&b_value)
        } else {
            b_value.total_cmp(&a_value)
        };
        ordering.then(results[*a].kind.cmp(&results[*b].kind))
    });
    let mut slots: Vec<Option<ModelResult>> = results.into_iter().map(Some).collect();
    let results: Vec<ModelResult> = order.iter().filter_map(|idx| slots[*idx].take()).collect();
    let best = &results[0];
    progress("final fit");
    let final_seed = derive_seed(options.seed, &[999]);
    let mut pipeline = trainer
        .fit_pipeline(best.kind, &best.params, &all_rows, final_seed)
        .map_err(|source| TrainError::Fit {
            model: best.kind.name(),
            stage: "final fit on all rows".into(),
            source,
        })?;

    let decision = if config.task == Task::Binary {
        let mut scores: Vec<f64> = best.oof.column(positive_class).to_vec();
        let positive: Vec<bool> = y
            .iter()
            .map(|class_idx| *class_idx == positive_class)
            .collect();
        pipeline.calibration = options.calibration.fit(&scores, &positive);
        if let Some(calibration) = &pipeline.calibration {
            scores
                .iter_mut()
                .for_each(|score| *score = calibration.apply(*score));
        }
        let (threshold, sensitivity, specificity) = options.threshold.choose(&scores, &positive);
        Decision {
            threshold: Some(threshold),
            rule: options.threshold.describe(),
            oof_sensitivity: Some(sensitivity),
            oof_specificity: Some(specificity),
        }
    } else {
        Decision {
            threshold: None,
            rule: "most probable class".into(),
            oof_sensitivity: None,
            oof_specificity: None,
        }
    };

    // Fit times vary from run to run, so they stay out of the artifact to keep it byte-stable.
    let leaderboard: Vec<LeaderboardEntry> = results
        .iter()
        .map(|result| LeaderboardEntry {
            model: result.kind.name().to_owned(),
            metrics: result
                .summaries(&names)
                .into_iter()
                .filter(|m| m.name != "fit_time_ms")
                .collect(),
            params: with_balance(result),
        })
        .collect();
    let artifact = Artifact {
        schema: dataset.schema(config),
        pipeline,
        model_name: best.kind.name().to_owned(),
        params: with_balance(best),
        decision,
        leaderboard,
        provenance: Provenance {
            trainer_version: env!("CARGO_PKG_VERSION").to_owned(),
            seed: options.seed,
            folds: options.folds,
            repeats: options.repeats,
            dataset_sha256: dataset.sha256.clone(),
            n_training_rows: dataset.n_rows(),
            balance: options.balance.as_str().to_owned(),
        },
    };
    std::fs::create_dir_all(&options.out_dir).map_err(|source| TrainError::Write {
        path: options.out_dir.clone(),
        source,
    })?;
    let mut files = report::write_reports(options, &dataset, &y, &results, &names, &artifact)?;
    let model_path = options.out_dir.join("model.bin");
    artifact.save(&model_path)?;
    files.push(model_path);
    Ok(TrainOutcome {
        artifact,
        results,
        metric_names: names,
        warnings,
        files,
    })
}

fn with_balance(result: &ModelResult) -> Vec<(String, String)> {
    let mut params = result.params.pairs();
    params.push(("balance".into(), result.balance_note.clone()));
    params
}

/// The default output folder for a dataset: `artifacts/<name>/`.
pub fn default_out_dir(config: &DatasetConfig) -> PathBuf {
    Path::new("artifacts").join(&config.name)
}
