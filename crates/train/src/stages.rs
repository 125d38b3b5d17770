//! The stages of a training run as plain functions with typed inputs and outputs. Apart from
//! [`load`] reading the data file (the run's one input), none does file or terminal I/O: what
//! they produce is returned, and progress goes to the [`RunSink`] they are given.
//! [`crate::run`] calls them in order.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use ndarray::Array2;
use rayon::prelude::*;

use data::{Dataset, Labels, LoadOptions};
use model::{
    Artifact, ConformalSets, Decision, Ecdf, FeatureReference, LeaderboardEntry, Metric, Pipeline,
    Provenance, Reference, Task,
};

use crate::learners::{ModelKind, ModelParams};
use crate::report::{self, ReportInput};
use crate::seeds::FamilySeeds;
use crate::sink::{RunEvent, RunSink};
use crate::trainer::Trainer;
use crate::{ModelResult, TrainError, TrainOptions, TrainOutcome, tuning};

/// The loaded dataset with its labels as class indices.
pub struct Loaded {
    /// The validated dataset, with its labels (required for training).
    pub dataset: Dataset,
    /// Number of classes.
    pub n_classes: usize,
    /// Positive class (binary tasks; 0 otherwise).
    pub positive_class: usize,
    /// The rows held out by `--holdout`, kept out of everything the run fits or chooses.
    pub held_out: Option<Dataset>,
    /// Every row, before the split (only with `--holdout`), for `--holdout-refit all`.
    pub unsplit: Option<Dataset>,
}

impl Loaded {
    /// Class index per row: the dataset's own labels, not a copy (8 MB at a million rows).
    pub fn y(&self) -> &[usize] {
        self.dataset.target.as_deref().unwrap_or_default()
    }

    /// A trainer over these rows with the run's preprocessing and balancing.
    pub fn trainer(&self, options: &TrainOptions) -> Trainer<'_> {
        Trainer {
            dataset: &self.dataset,
            y: self.y(),
            n_classes: self.n_classes,
            positive_class: self.positive_class,
            preprocess: options.preprocess,
            balance: options.balance,
        }
    }

    /// Whether each row belongs to the positive class.
    pub fn is_positive(&self) -> Vec<bool> {
        self.y()
            .iter()
            .map(|class_idx| *class_idx == self.positive_class)
            .collect()
    }
}

/// Reads and validates the labelled data file.
pub fn load(options: &TrainOptions) -> Result<Loaded, TrainError> {
    let config = &options.config;
    let dataset = data::load(
        config,
        &options.data_path,
        LoadOptions {
            labels: Labels::Required,
            show_values: options.show_values,
        },
    )?;
    let n_classes = config.classes.len();
    // The held-out rows are split off first, after duplicates were dropped, so no copy of a
    // test row is among the training rows.
    let unsplit = (options.holdout > 0.0).then(|| dataset.clone());
    let (dataset, held_out) = if options.holdout > 0.0 {
        let y = dataset.target.clone().unwrap_or_default();
        let seed = crate::seeds::derive_seed(options.seed, &[crate::seeds::HOLDOUT]);
        let mask = preprocess::stratified_holdout(&y, n_classes, options.holdout, seed);
        let (train, test) = dataset.split(&mask);
        (train, Some(test))
    } else {
        (dataset, None)
    };
    Ok(Loaded {
        dataset,
        n_classes,
        positive_class: config.positive_class_idx().unwrap_or(0),
        held_out,
        unsplit,
    })
}

/// Findings about the data worth a warning: the loader's, and classes too small for the folds.
pub fn profile(options: &TrainOptions, loaded: &Loaded) -> Vec<String> {
    let mut warnings = loaded.dataset.warnings.clone();
    let counts = loaded.dataset.class_counts(loaded.n_classes);
    for (class, count) in options.config.classes.iter().zip(&counts) {
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
    warnings
}

/// Encoded bytes of fitted fold pipelines a run keeps for permutation importance, over all
/// its models (first come, first kept). Small models (every shipped dataset's, and boosting or
/// linear models at a million rows) are all kept; what does not fit, such as the forests of
/// a large table, is refitted rather than held, so keeping adds at most this to a run.
pub const KEPT_FOLD_BYTES: u64 = 256 << 20;

/// What is left of [`KEPT_FOLD_BYTES`] while cross-validation runs.
struct FoldKeeper {
    remaining: AtomicU64,
}

impl FoldKeeper {
    /// Takes `bytes` from the budget if they fit.
    fn reserve(&self, bytes: u64) -> bool {
        self.remaining
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |remaining| {
                remaining.checked_sub(bytes)
            })
            .is_ok()
    }
}

/// The ranked results with only the chosen model (first) still holding its fold pipelines.
pub fn release_unchosen(mut results: Vec<ModelResult>) -> Vec<ModelResult> {
    for result in results.iter_mut().skip(1) {
        result.fold_pipelines.clear();
    }
    results
}

/// Cross-validates every requested model on the same stratified folds, then the ensembles of
/// the best of them (soft voting and stacking, `--ensemble-size` members) on the same folds.
pub fn cross_validate(
    trainer: &Trainer<'_>,
    options: &TrainOptions,
    sink: &dyn RunSink,
) -> Result<Vec<ModelResult>, TrainError> {
    let folds = preprocess::stratified_folds(
        trainer.y,
        trainer.n_classes,
        options.folds,
        options.repeats,
        options.seed,
    )?;
    let ensembles: Vec<ModelKind> = if options.ensemble_size >= 2 && options.models.len() >= 2 {
        ModelKind::all()
            .filter(|kind| kind.info().combines_others)
            .collect()
    } else {
        Vec::new()
    };
    let planned: Vec<ModelKind> = options.models.iter().chain(&ensembles).copied().collect();
    let keeper = FoldKeeper {
        remaining: AtomicU64::new(KEPT_FOLD_BYTES),
    };
    sink.event(&RunEvent::Planned {
        models: &planned,
        fits: planned.len() * folds.len(),
    });
    let mut results = options
        .models
        .iter()
        .map(|kind| {
            let seeds = FamilySeeds::new(options.seed, *kind);
            let candidates = tuning::candidates(*kind, options.tune.max(1), seeds.candidates());
            let result = evaluate(trainer, &folds, *kind, &candidates, options, sink, &keeper)?;
            sink.event(&RunEvent::ModelFinished(&result));
            Ok(result)
        })
        .collect::<Result<Vec<_>, TrainError>>()?;
    let members = ensemble_members(&results, options);
    if members.len() >= 2 {
        for kind in ensembles {
            let params = crate::learners::voting::ensemble_params(kind, members.clone());
            let result = evaluate(trainer, &folds, kind, &[params], options, sink, &keeper)?;
            sink.event(&RunEvent::ModelFinished(&result));
            results.push(result);
        }
    }
    Ok(results)
}

/// The best `ensemble_size` single families by the ranking metric (ties: registry order), each
/// with the parameters it would ship with.
fn ensemble_members(results: &[ModelResult], options: &TrainOptions) -> Vec<ModelParams> {
    let metrics = Metric::for_task(options.config.task);
    let Some(metric_idx) = metrics.iter().position(|metric| *metric == options.metric) else {
        return Vec::new();
    };
    let mut ranked: Vec<(f64, &ModelResult)> = results
        .iter()
        .filter_map(|result| {
            let mean = result.summaries(metrics).get(metric_idx)?.mean;
            mean.is_finite().then_some((mean, result))
        })
        .collect();
    ranked.sort_by(|a, b| {
        options
            .metric
            .best_first(a.0, b.0)
            .then(a.1.kind.cmp(&b.1.kind))
    });
    ranked
        .into_iter()
        .take(options.ensemble_size)
        .map(|(_, result)| result.params.clone())
        .collect()
}

/// What one outer fold of one model produced.
struct FoldOutput {
    /// Metric values, aligned with `Metric::for_task`.
    scores: Vec<f64>,
    /// Wall-clock seconds of the fit.
    seconds: f64,
    /// Probabilities of the validation rows, in their order.
    probabilities: Vec<Vec<f64>>,
    /// Bytes the fitted pipeline takes in an artifact.
    model_bytes: u64,
    /// Microseconds per validation row to predict it.
    predict_us: f64,
    /// The fitted pipeline, when kept for permutation importance.
    pipeline: Option<Arc<Pipeline>>,
}

/// One model's cross-validation: per fold, (nested) parameter choice, fit, and scores.
fn evaluate(
    trainer: &Trainer<'_>,
    folds: &[preprocess::Fold],
    kind: ModelKind,
    candidates: &[ModelParams],
    options: &TrainOptions,
    sink: &dyn RunSink,
    keeper: &FoldKeeper,
) -> Result<ModelResult, TrainError> {
    let seeds = FamilySeeds::new(options.seed, kind);
    let choose =
        |rows: &[usize], seed: u64| trainer.select_params(candidates, rows, options.metric, seed);
    let fold_outputs: Vec<Result<FoldOutput, TrainError>> = folds
        .par_iter()
        .map(|fold| {
            let fold_seed = seeds.fold(fold.repeat, fold.fold);
            // Nested CV: the candidate is chosen on the outer training rows only.
            let train = fold.train();
            let params = choose(&train, fold_seed);
            let started = Instant::now();
            let pipeline = trainer
                .fit_pipeline(&params, &train, fold_seed)
                .map_err(|source| TrainError::Fit {
                    model: kind.name(),
                    stage: format!("repeat {} fold {}", fold.repeat + 1, fold.fold + 1),
                    source,
                })?;
            let seconds = started.elapsed().as_secs_f64();
            drop(train);
            let predicting = Instant::now();
            let probabilities = trainer.predict_rows(&pipeline, &fold.validation);
            let predict_us =
                predicting.elapsed().as_secs_f64() * 1e6 / fold.validation.len().max(1) as f64;
            let scores = trainer.score(&probabilities, &fold.validation);
            sink.event(&RunEvent::FoldFinished {
                kind,
                repeat: fold.repeat,
                fold: fold.fold,
            });
            let model_bytes = model::artifact::encoded_len(&pipeline);
            let kept = fold.repeat == 0 && keeper.reserve(model_bytes);
            Ok(FoldOutput {
                scores,
                seconds,
                probabilities,
                model_bytes,
                predict_us,
                pipeline: kept.then(|| Arc::new(pipeline)),
            })
        })
        .collect();
    let mut fold_metrics = Vec::with_capacity(folds.len());
    let mut fold_seconds = Vec::with_capacity(folds.len());
    let mut fold_model_bytes = Vec::with_capacity(folds.len());
    let mut fold_predict_us = Vec::with_capacity(folds.len());
    let mut oof = Array2::from_elem((trainer.y.len(), trainer.n_classes), f64::NAN);
    let mut fold_pipelines = Vec::new();
    for (fold, output) in folds.iter().zip(fold_outputs) {
        let output = output?;
        if fold.repeat == 0 {
            for (row, probability) in fold.validation.iter().zip(&output.probabilities) {
                oof.row_mut(*row).assign(&ndarray::aview1(probability));
            }
            fold_pipelines.push(output.pipeline);
        }
        fold_metrics.push(output.scores);
        fold_seconds.push(output.seconds);
        fold_model_bytes.push(output.model_bytes);
        fold_predict_us.push(output.predict_us);
    }
    let all_rows: Vec<usize> = (0..trainer.y.len()).collect();
    Ok(ModelResult {
        kind,
        params: choose(&all_rows, seeds.final_selection()),
        candidates: candidates.to_vec(),
        fold_metrics,
        fold_seconds,
        fold_model_bytes,
        fold_predict_us,
        oof,
        fold_pipelines,
        balance: trainer.effective_balance(kind),
    })
}

/// Refits the chosen model on all rows with its final parameters.
pub fn final_fit(
    trainer: &Trainer<'_>,
    best: &ModelResult,
    options: &TrainOptions,
) -> Result<Pipeline, TrainError> {
    let all_rows: Vec<usize> = (0..trainer.y.len()).collect();
    let seed = FamilySeeds::new(options.seed, best.kind).final_fit();
    trainer
        .fit_pipeline(&best.params, &all_rows, seed)
        .map_err(|source| TrainError::Fit {
            model: best.kind.name(),
            stage: "final fit on all rows".into(),
            source,
        })
}

/// The chosen model refitted on `all_rows` (the training rows and the test split), keeping
/// what was chosen without the test rows: hyperparameters, calibration, threshold, prediction
/// sets. The refit draws the same seed as the training-only final fit.
pub fn refit_on_all(
    decided: Decided,
    best: &ModelResult,
    all_rows: &Dataset,
    options: &TrainOptions,
) -> Result<Decided, TrainError> {
    let y = all_rows.target.clone().unwrap_or_default();
    let trainer = Trainer {
        dataset: all_rows,
        y: &y,
        n_classes: decided.pipeline.n_classes,
        positive_class: decided.pipeline.positive_class,
        preprocess: options.preprocess,
        balance: options.balance,
    };
    let mut pipeline = final_fit(&trainer, best, options)?;
    pipeline.calibration = decided.pipeline.calibration.clone();
    Ok(Decided {
        pipeline,
        ..decided
    })
}

/// The final pipeline with its calibration, the decision rule, and the chosen model's
/// out-of-fold probabilities as that pipeline returns them.
#[derive(Clone)]
pub struct Decided {
    /// The pipeline to ship.
    pub pipeline: Pipeline,
    /// Threshold (binary) or most-probable-class rule.
    pub decision: Decision,
    /// Calibrated out-of-fold probabilities of the chosen model.
    pub chosen_oof: Array2<f64>,
    /// Conformal prediction sets calibrated on them.
    pub conformal: Option<ConformalSets>,
    /// Which calibration was fitted, and for `auto` why.
    pub calibration: crate::threshold::CalibrationChoice,
}

/// Fits the calibration and chooses the threshold, both on out-of-fold probabilities.
pub fn decide(
    mut pipeline: Pipeline,
    best: &ModelResult,
    loaded: &Loaded,
    options: &TrainOptions,
) -> Decided {
    let binary = options.config.task == Task::Binary;
    let is_positive = loaded.is_positive();
    let mut calibration = crate::threshold::CalibrationChoice::not_applicable();
    if binary {
        let scores = best.oof.column(loaded.positive_class).to_vec();
        let seed = crate::seeds::derive_seed(options.seed, &[crate::seeds::CALIBRATION]);
        calibration = options.calibration.resolve(&scores, &is_positive, seed);
        pipeline.calibration = calibration.chosen.fit(&scores, &is_positive);
    }
    // One calibration path: the pipeline's own, as in the server.
    let mut chosen_oof = best.oof.clone();
    for mut row in chosen_oof.rows_mut() {
        let mut probabilities = row.to_vec();
        pipeline.calibrate(&mut probabilities);
        row.assign(&ndarray::aview1(&probabilities));
    }
    let decision = if binary {
        let scores = chosen_oof.column(loaded.positive_class).to_vec();
        // A margin rule's bound is the model card's interval: the same resamples.
        let bootstrap = crate::threshold::Bootstrap {
            resamples: crate::evidence::resamples(scores.len()),
            seed: crate::evidence::bootstrap_seed(options.seed),
        };
        let (threshold, sensitivity, specificity) =
            options.threshold.choose(&scores, &is_positive, bootstrap);
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
    // Prediction sets from the same calibrated out-of-fold probabilities the server's answers
    // are made of, so their coverage holds for what clients see.
    let conformal = (options.coverage > 0.0).then(|| {
        let rows: Vec<Vec<f64>> = chosen_oof
            .rows()
            .into_iter()
            .map(|row| row.to_vec())
            .collect();
        ConformalSets::calibrate(&rows, loaded.y(), loaded.n_classes, options.coverage)
    });
    Decided {
        pipeline,
        decision,
        chosen_oof,
        conformal,
        calibration,
    }
}

/// The config's subgroups, each group's figures from the chosen model's out-of-fold
/// probabilities and the shipped decision rule, with seeded bootstrap intervals.
fn subgroups(
    schema: &model::Schema,
    loaded: &Loaded,
    decided: &Decided,
    options: &TrainOptions,
) -> Vec<model::SubgroupFamily> {
    crate::evidence::with_oof_rows(&decided.chosen_oof, |probabilities| {
        let labels: Vec<usize> = probabilities
            .iter()
            .map(|row| model::decide(row, schema.positive_class, decided.decision.threshold))
            .collect();
        let scored = model::evaluation::Scored {
            task: schema.task,
            positive_class: schema.positive_class,
            n_classes: loaded.n_classes,
            probabilities,
            decided: &labels,
            truth: loaded.y(),
        };
        let seed = crate::seeds::derive_seed(options.seed, &[crate::seeds::SUBGROUPS]);
        let mut rng = model::evaluation::bootstrap_rng(seed);
        scored.subgroups(
            schema,
            &options.config.subgroups,
            &|row, feature_idx| loaded.dataset.raw[[row, feature_idx]],
            crate::evidence::resamples(loaded.y().len()),
            &mut rng,
        )
    })
}

/// The training population and the chosen model's out-of-fold output on it, summarised for
/// drift monitoring.
fn reference(loaded: &Loaded, chosen_oof: &Array2<f64>, decision: &Decision) -> Reference {
    let positive_class = (loaded.n_classes == 2).then_some(loaded.positive_class);
    let features = loaded
        .dataset
        .features
        .iter()
        .enumerate()
        .map(|(feature_idx, spec)| {
            FeatureReference::from_column(spec, &loaded.dataset.raw.column(feature_idx).to_vec())
        })
        .collect();
    let mut labels = Vec::with_capacity(chosen_oof.nrows());
    let probabilities: Vec<f64> = chosen_oof
        .rows()
        .into_iter()
        .map(|row| {
            let row = row.to_vec();
            let label_idx = model::decide(&row, positive_class, decision.threshold);
            labels.push(label_idx as f64);
            model::reported_probability(&row, label_idx, positive_class)
        })
        .collect();
    Reference {
        n_rows: loaded.dataset.n_rows(),
        features,
        probability: Ecdf::from_values(probabilities),
        label_shares: model::reference::code_shares(&labels, loaded.n_classes),
    }
}

/// Builds the artifact, encodes it, and renders the reports.
pub fn package(
    options: &TrainOptions,
    loaded: &Loaded,
    results: Vec<ModelResult>,
    decided: Decided,
    importance: Option<model::PermutationImportance>,
    warnings: Vec<String>,
    shipped_rows: &Dataset,
    selection: &crate::selection::Selection,
) -> Result<TrainOutcome, TrainError> {
    let metrics = Metric::for_task(options.config.task);
    // Fit times vary from run to run, so they stay out of the artifact to keep it byte-stable.
    let leaderboard = results
        .iter()
        .map(|result| LeaderboardEntry {
            model: result.kind.name().to_owned(),
            metrics: result.summaries(metrics),
            params: result.params_with_balance(options.balance),
        })
        .collect();
    let best = &results[0];
    let reference = reference(loaded, &decided.chosen_oof, &decided.decision);
    // The schema publishes the training ranges of the rows the shipped model learned from.
    let schema = shipped_rows.schema(&options.config);
    let subgroups = subgroups(&schema, loaded, &decided, options);
    let explainer =
        crate::background::explainer(&decided.pipeline, loaded.dataset.raw.view(), options.seed);
    let config = &options.config;
    let purpose = model::Purpose {
        outcome: config.outcome.clone(),
        intended_use: config.intended_use.clone(),
        limitations: config.limitations.clone(),
        low_information_share: config.low_information_share,
    };
    let evidence = crate::evidence::evidence(
        &schema,
        &decided.decision,
        &decided.chosen_oof,
        loaded.y(),
        crate::evidence::bootstrap_seed(options.seed),
    );
    let artifact = Artifact {
        purpose,
        evidence,
        explainer,
        importance,
        subgroups,
        schema,
        pipeline: decided.pipeline,
        model_name: best.kind.name().to_owned(),
        params: best.params_with_balance(options.balance),
        decision: decided.decision,
        conformal: decided.conformal,
        leaderboard,
        provenance: Provenance {
            trainer_version: env!("CARGO_PKG_VERSION").to_owned(),
            seed: options.seed,
            folds: options.folds,
            repeats: options.repeats,
            dataset_sha256: loaded.dataset.sha256.clone(),
            n_training_rows: shipped_rows.n_rows(),
            balance: options.balance.as_str().to_owned(),
        },
        reference,
    };
    let artifact_bytes = artifact.to_bytes()?;
    let reports = report::render(&ReportInput {
        options,
        dataset: &loaded.dataset,
        y: loaded.y(),
        results: &results,
        artifact: &artifact,
        artifact_bytes: &artifact_bytes,
        chosen_oof: &decided.chosen_oof,
        selection,
        calibration: &decided.calibration,
    });
    Ok(TrainOutcome {
        selection: selection.clone(),
        calibration: decided.calibration.clone(),
        artifact,
        artifact_bytes,
        results,
        metrics,
        chosen_oof: decided.chosen_oof,
        warnings,
        reports,
        holdout: None,
    })
}
