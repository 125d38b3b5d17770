//! Fitting a whole pipeline (preprocessing, balancing, model) on a subset of rows, and scoring
//! rows through the pipeline exactly as the server does. Cross-validation, tuning and the final
//! fit all go through [`Trainer`], so every model they produce is made the same way.

use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

use data::Dataset;
use model::{Pipeline, Task};
use preprocess::{Balance, ValidPreprocessParams};

use crate::learners::{FitData, FitError, ModelKind, ModelParams};
use crate::metrics;
use crate::seeds::derive_seed;

/// Shared state for fitting pipelines on row subsets.
pub struct Trainer<'a> {
    /// The dataset.
    pub dataset: &'a Dataset,
    /// Class index per row.
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
    /// The task, from the number of classes.
    pub fn task(&self) -> Task {
        if self.n_classes == 2 {
            Task::Binary
        } else {
            Task::Multiclass
        }
    }

    /// Fits preprocessing, balancing and the model on `rows`; returns the pipeline.
    pub fn fit_pipeline(
        &self,
        params: &ModelParams,
        rows: &[usize],
        seed: u64,
    ) -> Result<Pipeline, FitError> {
        let kind = params.kind();
        let raw = self.dataset.raw.view();
        let preprocess = if kind.info().native_missing {
            self.preprocess.leaving_missing()
        } else {
            self.preprocess
        };
        // Fitted and transformed in place: a fold never copies its raw rows out, which at a
        // million rows was a second fold-sized matrix per fold in flight.
        let preprocessor = preprocess
            .fit_rows(&self.dataset.features, raw, rows)
            .map_err(|error| FitError::Library {
                model: kind.name(),
                reason: error.to_string(),
            })?;
        let x = preprocess::transform_rows(&preprocessor, raw, rows);
        let y: Vec<usize> = rows.iter().map(|row| self.y[*row]).collect();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(derive_seed(seed, &[1]));
        let (x, y, weights) = match self.effective_balance(kind) {
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
        let classifier = kind.fit(params, &data, derive_seed(seed, &[2]))?;
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

    /// Probabilities of `rows` through the pipeline, as the server computes them (many rows
    /// at once: the same values as one at a time, faster for tree ensembles).
    pub fn predict_rows(&self, pipeline: &Pipeline, rows: &[usize]) -> Vec<Vec<f64>> {
        let raw = self.dataset.raw.view();
        let mut raws = Vec::with_capacity(rows.len() * raw.ncols());
        for row in rows {
            raws.extend(raw.row(*row).iter().copied());
        }
        self.predict_raws(pipeline, &raws, rows.len())
    }

    /// Probabilities of `rows` with feature `feature_idx` of each row taken from the row at the
    /// same position in `donors` (a shuffle of `rows`, for permutation importance).
    pub fn predict_rows_with(
        &self,
        pipeline: &Pipeline,
        rows: &[usize],
        feature_idx: usize,
        donors: &[usize],
    ) -> Vec<Vec<f64>> {
        let raw = self.dataset.raw.view();
        let n_features = raw.ncols();
        let mut raws = Vec::with_capacity(rows.len() * n_features);
        for (row, donor) in rows.iter().zip(donors) {
            let start = raws.len();
            raws.extend(raw.row(*row).iter().copied());
            raws[start + feature_idx] = raw[[*donor, feature_idx]];
        }
        self.predict_raws(pipeline, &raws, rows.len())
    }

    /// Probabilities of `n_rows` raw rows laid out one after another, one vector per row.
    fn predict_raws(&self, pipeline: &Pipeline, raws: &[f64], n_rows: usize) -> Vec<Vec<f64>> {
        let mut probabilities = vec![0.0; n_rows * self.n_classes];
        pipeline.predict_raw_rows(raws, self.dataset.raw.ncols(), &mut probabilities);
        probabilities
            .chunks(self.n_classes.max(1))
            .map(<[f64]>::to_vec)
            .collect()
    }

    /// Metric values of validation predictions, aligned with `Metric::for_task`.
    pub fn score(&self, probabilities: &[Vec<f64>], rows: &[usize]) -> Vec<f64> {
        let y: Vec<usize> = rows.iter().map(|row| self.y[*row]).collect();
        match self.task() {
            Task::Binary => {
                let scores: Vec<f64> = probabilities
                    .iter()
                    .map(|p| p[self.positive_class])
                    .collect();
                let positive: Vec<bool> = y
                    .iter()
                    .map(|class_idx| *class_idx == self.positive_class)
                    .collect();
                metrics::binary_metrics(&scores, &positive)
            }
            Task::Multiclass => metrics::multiclass_metrics(probabilities, &y, self.n_classes),
        }
    }
}
