//! Training: a cross-validated leaderboard of model families, model selection, calibration and
//! threshold choice, and the reproducible artifact.
//!
//! A run is a sequence of plain stages (`stages.rs`: load → profile → cross-validate → select →
//! final fit → decide → package) with typed inputs and outputs and no file or terminal I/O;
//! what it produces leaves through a [`sink::RunSink`]. Every fold refits the whole pipeline
//! (imputation, scaling, encoding, balancing, model) on its training rows only, and scores its
//! validation rows through `model::Pipeline`, the same code the server runs.

pub mod background;
pub mod cores;
pub mod evaluate;
pub mod evidence;
pub mod importance;
pub mod learners;
pub mod lifecycle;
pub mod metrics;
pub mod options;
pub mod publish;
pub mod report;
pub mod retrain;
pub mod seeds;
pub mod selection;
pub mod sink;
pub mod stages;
pub mod threshold;
pub mod trainer;
pub mod tripod;
pub mod tuning;

use std::path::{Path, PathBuf};

use ndarray::Array2;

use data::{DataError, DatasetConfig};
use model::{Artifact, ArtifactError, Metric, MetricSummary};
use preprocess::{Balance, PreprocessError};

use learners::{FitError, ModelKind, ModelParams};
use report::ReportFile;
use sink::{RunSink, Stage};

pub use options::{DEFAULT_SEED, TrainOptions};

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
    /// Encoding the artifact failed.
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
    /// Writing a file failed.
    #[error("cannot write `{path}`")]
    Write {
        /// The file.
        path: PathBuf,
        /// The operating-system error.
        #[source]
        source: std::io::Error,
    },
    /// Reading an input file failed.
    #[error("cannot read `{path}`")]
    Read {
        /// The file.
        path: PathBuf,
        /// The operating-system error.
        #[source]
        source: std::io::Error,
    },
    /// An option is invalid for this dataset.
    #[error("{0}")]
    Options(String),
    /// The run store failed.
    #[error(transparent)]
    Tracking(#[from] tracking::StoreError),
    /// The registry failed or refused.
    #[error(transparent)]
    Registry(#[from] registry::RegistryError),
}

/// One model's cross-validation results.
#[derive(Debug, Clone)]
pub struct ModelResult {
    /// Which model.
    pub kind: ModelKind,
    /// Parameters used for the final fit (defaults, or the tuned choice).
    pub params: ModelParams,
    /// The candidates each fold chose among (one when not tuning), so that refits of the
    /// folds (permutation importance) choose exactly as cross-validation did.
    pub candidates: Vec<ModelParams>,
    /// Per-fold metric values, `fold_metrics[fold][metric]`, aligned with `Metric::for_task`.
    pub fold_metrics: Vec<Vec<f64>>,
    /// Wall-clock seconds of each fold's fit (timing, not a quality metric).
    pub fold_seconds: Vec<f64>,
    /// Bytes each fold's fitted pipeline takes in an artifact.
    pub fold_model_bytes: Vec<u64>,
    /// Microseconds per record each fold's pipeline took to predict its validation rows
    /// (timing, while other folds may be fitting on the other core).
    pub fold_predict_us: Vec<f64>,
    /// Out-of-fold probabilities of the first repeat, one row per dataset row.
    pub oof: Array2<f64>,
    /// The first repeat's fitted fold pipelines, by fold, where cross-validation kept them
    /// (within [`stages::KEPT_FOLD_BYTES`] for the whole run): permutation importance reuses
    /// them instead of refitting. A missing one is refitted, identically, so what is kept
    /// changes the run's speed, never its results.
    pub fold_pipelines: Vec<Option<std::sync::Arc<model::Pipeline>>>,
    /// The balancing actually applied (class weights fall back for some families).
    pub balance: Balance,
}

impl ModelResult {
    /// Mean and (population) standard deviation of each metric over folds, NaN folds skipped.
    pub fn summaries(&self, metrics: &[Metric]) -> Vec<MetricSummary> {
        metrics
            .iter()
            .enumerate()
            .map(|(metric_idx, metric)| {
                let values: Vec<f64> = self
                    .fold_metrics
                    .iter()
                    .filter_map(|fold| fold.get(metric_idx).copied())
                    .filter(|value| !value.is_nan())
                    .collect();
                let (mean, std) = mean_std(&values);
                MetricSummary {
                    metric: *metric,
                    mean,
                    std,
                }
            })
            .collect()
    }

    /// Mean size of a fitted pipeline in an artifact, in kilobytes (1,000 bytes).
    pub fn model_kb(&self) -> f64 {
        let kilobytes: Vec<f64> = self
            .fold_model_bytes
            .iter()
            .map(|bytes| *bytes as f64 / 1000.0)
            .collect();
        mean_std(&kilobytes).0
    }

    /// Mean prediction time per record over the folds, in microseconds.
    pub fn predict_us(&self) -> f64 {
        mean_std(&self.fold_predict_us).0
    }

    /// Mean and standard deviation of the fold fit times, in milliseconds.
    pub fn fit_time_ms(&self) -> (f64, f64) {
        let milliseconds: Vec<f64> = self.fold_seconds.iter().map(|s| s * 1000.0).collect();
        mean_std(&milliseconds)
    }

    /// How the training folds were balanced, noting a fallback from `requested`.
    pub fn balance_note(&self, requested: Balance) -> String {
        if self.balance != requested {
            format!("{} (class weights unsupported)", self.balance.as_str())
        } else {
            self.balance.as_str().to_owned()
        }
    }

    /// The hyperparameters followed by the balancing, as leaderboards and artifacts list them.
    pub fn params_with_balance(&self, requested: Balance) -> Vec<(String, String)> {
        let mut pairs = self.params.pairs();
        pairs.push(("balance".into(), self.balance_note(requested)));
        pairs
    }
}

/// Mean and population standard deviation; NaN for no values.
fn mean_std(values: &[f64]) -> (f64, f64) {
    if values.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let std = (values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n).sqrt();
    (mean, std)
}

/// Everything a finished run produced, in memory.
#[derive(Debug)]
pub struct TrainOutcome {
    /// The artifact.
    pub artifact: Artifact,
    /// Its encoded bytes, as `model.bin` holds them.
    pub artifact_bytes: Vec<u8>,
    /// Results per model, best first.
    pub results: Vec<ModelResult>,
    /// The metrics reported, in leaderboard order.
    pub metrics: &'static [Metric],
    /// Out-of-fold probabilities of the chosen model as its pipeline returns them (calibrated).
    pub chosen_oof: Array2<f64>,
    /// Warnings worth showing (small classes, fallbacks, data findings).
    pub warnings: Vec<String>,
    /// Rendered reports (leaderboard files, `model.json`, plots), by relative path.
    pub reports: Vec<ReportFile>,
    /// The shipped model on the rows `--holdout` kept out of everything.
    pub holdout: Option<evaluate::Evaluation>,
    /// Which candidate shipped, and why.
    pub selection: selection::Selection,
    /// Which calibration was fitted, and for `auto` why.
    pub calibration: threshold::CalibrationChoice,
}

impl TrainOutcome {
    /// The run's files by relative path: `model.bin` and every report, as an output folder or
    /// a registry version holds them.
    pub fn files(&self) -> Vec<(PathBuf, &[u8])> {
        let mut files: Vec<(PathBuf, &[u8])> =
            vec![(PathBuf::from("model.bin"), self.artifact_bytes.as_slice())];
        files.extend(
            self.reports
                .iter()
                .map(|report| (report.path.clone(), report.contents.as_bytes())),
        );
        files
    }
}

/// Runs the whole training job, sending events and the outcome to `sink`.
pub fn run(options: &TrainOptions, sink: &dyn RunSink) -> Result<TrainOutcome, TrainError> {
    options.validate()?;
    sink.event(&sink::RunEvent::Stage(Stage::Load));
    let loaded = stages::load(options)?;
    sink.event(&sink::RunEvent::Stage(Stage::Profile));
    let warnings = stages::profile(options, &loaded);
    for warning in &warnings {
        sink.event(&sink::RunEvent::Warning(warning));
    }
    let trainer = loaded.trainer(options);
    sink.event(&sink::RunEvent::Stage(Stage::CrossValidate));
    let results = stages::cross_validate(&trainer, options, sink)?;
    sink.event(&sink::RunEvent::Stage(Stage::Select));
    let (results, selection) = selection::select(
        results,
        options.config.task,
        options.metric,
        options.selection,
        options.folds * options.repeats,
    );
    let results = stages::release_unchosen(results);
    sink.event(&sink::RunEvent::Stage(Stage::FinalFit));
    // The final fit is one model on one core; the folds' importance fills the other.
    let (pipeline, importance) = rayon::join(
        || stages::final_fit(&trainer, &results[0], options),
        || importance::permutation_importance(&trainer, &results[0], options),
    );
    let (pipeline, importance) = (pipeline?, importance?);
    sink.event(&sink::RunEvent::Stage(Stage::Decide));
    let decided = stages::decide(pipeline, &results[0], &loaded, options);
    sink.event(&sink::RunEvent::Stage(Stage::Package));
    // With `--holdout-refit all`, the test figures are measured on the training-only fit, and
    // the shipped model is then refitted on every row with everything else as chosen
    // without the test rows.
    let mut evaluation = None;
    let (decided, shipped_rows) = match (&loaded.held_out, &loaded.unsplit) {
        (Some(test), Some(all_rows)) if options.holdout_refit == options::HoldoutRefit::All => {
            let train_only = stages::package(
                options,
                &loaded,
                results.clone(),
                decided.clone(),
                Some(importance.clone()),
                warnings.clone(),
                &loaded.dataset,
                &selection,
            )?;
            evaluation = Some(evaluate::evaluate_holdout(&train_only, test, options)?);
            let refitted = stages::refit_on_all(decided, &results[0], all_rows, options)?;
            (refitted, all_rows)
        }
        _ => (decided, &loaded.dataset),
    };
    let mut outcome = stages::package(
        options,
        &loaded,
        results,
        decided,
        Some(importance),
        warnings,
        shipped_rows,
        &selection,
    )?;
    if let (None, Some(test)) = (&evaluation, &loaded.held_out) {
        evaluation = Some(evaluate::evaluate_holdout(&outcome, test, options)?);
    }
    if let Some(evaluation) = evaluation {
        evaluate::attach_holdout(&mut outcome, evaluation, options);
    }
    sink.finished(&outcome)?;
    Ok(outcome)
}

/// The default output folder for a dataset: `artifacts/<name>/`.
pub fn default_out_dir(config: &DatasetConfig) -> PathBuf {
    Path::new("artifacts").join(&config.name)
}
