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

/// Rows gathered and predicted at a time when scoring a subset of the rows.
const PREDICT_BLOCK_ROWS: usize = 8192;

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
        let y: Vec<usize> = rows.iter().map(|row| self.y[*row]).collect();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(derive_seed(seed, &[1]));
        // Resampling makes new rows, so it needs the fold's matrix; otherwise the learner reads
        // the fold's raw rows through the fitted preprocessing, as a matrix only if it asks
        // for one (see `FitData`).
        let balance = self.effective_balance(kind);
        let resampled = match balance {
            Balance::None | Balance::ClassWeight => None,
            Balance::Oversample => {
                let x = preprocess::transform_rows(&preprocessor, raw, rows);
                Some(preprocess::oversample(
                    x.view(),
                    &y,
                    self.n_classes,
                    &mut rng,
                ))
            }
            Balance::Smote { k } => {
                let x = preprocess::transform_rows(&preprocessor, raw, rows);
                Some(preprocess::smote(x.view(), &y, self.n_classes, k, &mut rng))
            }
        };
        let weights: Option<Vec<f64>> = (balance == Balance::ClassWeight).then(|| {
            let class_weights = preprocess::class_weights(&y, self.n_classes);
            y.iter()
                .map(|class_idx| class_weights[*class_idx])
                .collect()
        });
        let data = match &resampled {
            Some((x, y)) => FitData::new(x.view(), y, None, self.n_classes, self.positive_class),
            None => FitData::from_rows(
                raw,
                rows,
                &preprocessor,
                &y,
                weights.as_deref(),
                self.n_classes,
                self.positive_class,
            ),
        };
        let classifier = kind.fit(params, &data, derive_seed(seed, &[2]))?;
        // It borrows the preprocessor, which the pipeline takes.
        drop(data);
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
        self.predict_gathered(pipeline, rows, |_, _| {})
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
        self.predict_gathered(pipeline, rows, |position, gathered| {
            gathered[feature_idx] = raw[[donors[position], feature_idx]];
        })
    }

    /// Probabilities of `rows`, each gathered from the raw matrix and then passed to
    /// `edit(position in rows, raw row)`. Rows are gathered and predicted
    /// [`PREDICT_BLOCK_ROWS`] at a time: at a million rows a fold's validation rows copied out
    /// at once, with their model inputs, were a hundred megabytes per fold in flight.
    fn predict_gathered(
        &self,
        pipeline: &Pipeline,
        rows: &[usize],
        mut edit: impl FnMut(usize, &mut [f64]),
    ) -> Vec<Vec<f64>> {
        let _core = crate::cores::Occupied::take();
        let raw = self.dataset.raw.view();
        let n_features = raw.ncols();
        let mut probabilities = Vec::with_capacity(rows.len());
        let mut raws = Vec::with_capacity(PREDICT_BLOCK_ROWS.min(rows.len()) * n_features);
        for (block_idx, block) in rows.chunks(PREDICT_BLOCK_ROWS).enumerate() {
            raws.clear();
            for (offset, row) in block.iter().enumerate() {
                let start = raws.len();
                raws.extend(raw.row(*row).iter().copied());
                edit(block_idx * PREDICT_BLOCK_ROWS + offset, &mut raws[start..]);
            }
            probabilities.extend(self.predict_raws(pipeline, &raws, block.len()));
        }
        probabilities
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
