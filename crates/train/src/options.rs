//! What a training run is asked to do, typed. Every option is parsed once: the dataset config's
//! `[training]` defaults first ([`TrainOptions::from_config`]), then whatever the command line
//! overrides, then [`TrainOptions::validate`] checks the combination against the task.

use std::path::PathBuf;
use std::str::FromStr;

use data::DatasetConfig;
use model::Metric;
use preprocess::{Balance, PreprocessParams, ValidPreprocessParams};

use crate::TrainError;
use crate::learners::ModelKind;
use crate::threshold::{CalibrationKind, ThresholdRule};

/// The seed a run uses unless told otherwise.
pub const DEFAULT_SEED: u64 = 42;

/// Everything a training run needs.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    /// The dataset config.
    pub config: DatasetConfig,
    /// The config's own path (for messages and provenance).
    pub config_path: PathBuf,
    /// CSV to train on.
    pub data_path: PathBuf,
    /// Random seed for splits, resampling and models.
    pub seed: u64,
    /// Cross-validation folds.
    pub folds: usize,
    /// Cross-validation repeats.
    pub repeats: usize,
    /// Selection metric.
    pub metric: Metric,
    /// Class balancing of training folds.
    pub balance: Balance,
    /// Models to train, in leaderboard order before sorting.
    pub models: Vec<ModelKind>,
    /// Random-search candidates per model (0 = defaults only).
    pub tune: usize,
    /// Members of the soft-voting and stacking candidates: the best this many single families
    /// by `metric` (fewer than 2 builds no ensembles).
    pub ensemble_size: usize,
    /// Threshold rule (binary tasks).
    pub threshold: ThresholdRule,
    /// Calibration of the chosen model.
    pub calibration: CalibrationKind,
    /// How the shipped candidate is picked from the leaderboard.
    pub selection: crate::selection::SelectionRule,
    /// Target coverage of the conformal prediction sets (0 turns them off).
    pub coverage: f64,
    /// Share of rows kept out of everything as a stratified test split (0: none).
    pub holdout: f64,
    /// Which rows the shipped model is refitted on when there is a test split.
    pub holdout_refit: HoldoutRefit,
    /// Preprocessing parameters.
    pub preprocess: ValidPreprocessParams,
    /// Whether errors and warnings about the data may quote cell values (patient data).
    pub show_values: bool,
}

impl TrainOptions {
    /// The cross-validation scheme in words: `5-fold stratified cross-validation × 2 repeats`.
    pub fn cv_scheme(&self) -> String {
        let repeats = if self.repeats > 1 {
            format!(" × {} repeats", self.repeats)
        } else {
            String::new()
        };
        format!("{}-fold stratified cross-validation{repeats}", self.folds)
    }

    /// The config's `[training]` defaults, and vigil's own defaults for everything else.
    pub fn from_config(
        config: DatasetConfig,
        config_path: PathBuf,
        data_path: PathBuf,
    ) -> Result<Self, TrainError> {
        let training = &config.training;
        let metric = config_default(&config_path, "metric", training.metric.as_deref())?
            .unwrap_or(Metric::default_for(config.task));
        let balance = config_default(&config_path, "balance", training.balance.as_deref())?
            .unwrap_or(Balance::None);
        let threshold = config_default(&config_path, "threshold", training.threshold.as_deref())?
            .unwrap_or(ThresholdRule::Youden);
        Ok(TrainOptions {
            config,
            config_path,
            data_path,
            seed: DEFAULT_SEED,
            folds: 5,
            repeats: 1,
            metric,
            balance,
            models: ModelKind::default_run(),
            tune: 0,
            ensemble_size: 3,
            threshold,
            calibration: CalibrationKind::Auto,
            selection: crate::selection::SelectionRule::OneStandardError,
            coverage: 0.9,
            holdout: 0.0,
            holdout_refit: HoldoutRefit::Train,
            preprocess: PreprocessParams::default().check()?,
            show_values: false,
        })
    }

    /// Checks the options against each other and the task; the error names the option.
    pub fn validate(&self) -> Result<(), TrainError> {
        let task = self.config.task;
        let reported = Metric::for_task(task);
        if !reported.contains(&self.metric) {
            let names: Vec<String> = reported
                .iter()
                .map(|metric| metric.name().to_owned())
                .collect();
            return Err(TrainError::Options(format!(
                "metric `{}` is not reported for a {} task, expected one of {}",
                self.metric,
                match task {
                    model::Task::Binary => "binary",
                    model::Task::Multiclass => "multiclass",
                },
                model::record::quoted_list(&names)
            )));
        }
        if self.models.is_empty() {
            return Err(TrainError::Options("no models selected".into()));
        }
        if let Some(ensemble) = self.models.iter().find(|kind| kind.info().combines_others) {
            return Err(TrainError::Options(format!(
                "`{}` is built from the run's best families, not listed in `models`: set `ensemble_size` (the number of members, 0 for none)",
                ensemble.name()
            )));
        }
        if let crate::selection::SelectionRule::Model(kind) = self.selection {
            let ensembles_built = self.ensemble_size >= 2 && self.models.len() >= 2;
            let in_run =
                self.models.contains(&kind) || (kind.info().combines_others && ensembles_built);
            if !in_run {
                return Err(TrainError::Options(format!(
                    "`selection` asks for `{}`, which this run does not train",
                    kind.name()
                )));
            }
        }
        if self.repeats == 0 {
            return Err(TrainError::Options("`repeats` must be at least 1".into()));
        }
        if self.holdout_refit == HoldoutRefit::All && self.holdout == 0.0 {
            return Err(TrainError::Options(
                "`holdout_refit` is `all` but there is no test split: give `holdout` a share above 0"
                    .into(),
            ));
        }
        if !(0.0..0.5).contains(&self.holdout) {
            return Err(TrainError::Options(format!(
                "`holdout` must be at least 0 (none) and below 0.5, not {}",
                self.holdout
            )));
        }
        if !(0.0..1.0).contains(&self.coverage) {
            return Err(TrainError::Options(format!(
                "`coverage` must be at least 0 (off) and below 1, not {}",
                self.coverage
            )));
        }
        Ok(())
    }
}

/// Parses one `[training]` default of the config, naming the file and key on error.
fn config_default<T: FromStr<Err = String>>(
    config_path: &std::path::Path,
    key: &str,
    text: Option<&str>,
) -> Result<Option<T>, TrainError> {
    text.map(|text| {
        text.parse::<T>().map_err(|reason| {
            TrainError::Options(format!(
                "`{}`: `[training] {key}`: {reason}",
                config_path.display()
            ))
        })
    })
    .transpose()
}

/// Which rows the shipped model is refitted on when `--holdout` keeps a test split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HoldoutRefit {
    /// The training rows only: the test figures describe the shipped model exactly.
    #[default]
    Train,
    /// Every row, test split included, with the hyperparameters, threshold, calibration and
    /// prediction sets chosen without it: the test figures (measured on the training-only fit
    /// first) estimate the shipped model, which learned from more rows.
    All,
}

impl HoldoutRefit {
    /// The option's value as written.
    pub fn as_str(self) -> &'static str {
        match self {
            HoldoutRefit::Train => "train",
            HoldoutRefit::All => "all",
        }
    }
}

impl FromStr for HoldoutRefit {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "train" => Ok(HoldoutRefit::Train),
            "all" => Ok(HoldoutRefit::All),
            other => Err(format!("expected `train` or `all`, found `{other}`")),
        }
    }
}
