//! The model families, one file each behind the [`Learner`] trait, listed once in `registry!`.
//!
//! A family declares its names, default hyperparameters, search space and parameter checks,
//! and fits on a fold's preprocessed rows, converting the result into `model`'s lean inference
//! types (so prediction needs no learning library). Cross-validation, tuning, reports and the
//! command line all work through [`ModelKind`], so adding a family is one new file plus one
//! line in `registry!` below.

pub mod cart;
pub mod ensemble;
pub mod newton;
pub mod space;

use std::any::Any;
use std::fmt;
use std::sync::{Arc, OnceLock};

use model::Classifier;
use model::preprocessing::FittedPreprocessor;
use ndarray::{Array1, Array2, ArrayView2, Axis};
use rand_xoshiro::Xoshiro256PlusPlus;

use space::Space;

/// Declares the family modules and the registry, in leaderboard order before sorting.
macro_rules! registry {
    ($($module:ident :: $family:ident),+ $(,)?) => {
        $(pub mod $module;)+

        /// Every family, in the order the leaderboard lists them before sorting.
        static REGISTRY: &[&dyn Family] = &[$(&$module::$family),+];
    };
}

registry! {
    logistic::Logistic,
    decision_tree::DecisionTree,
    random_forest::RANDOM_FOREST,
    boosting::GradientBoosting,
    knn::KNearestNeighbours,
    svm::Svm,
    naive_bayes::NaiveBayes,
    extra_trees::EXTRA_TREES,
    hist_boosting::HistGradientBoosting,
    voting::SoftVoting,
    stacking::Stacking,
}

/// Errors from fitting a model.
#[derive(Debug, thiserror::Error)]
pub enum FitError {
    /// The learning library refused the data or parameters.
    #[error("{model}: {reason}")]
    Library {
        /// Model name.
        model: &'static str,
        /// The library's message.
        reason: String,
    },
    /// The training rows hold fewer than two classes.
    #[error("{model}: training rows hold only {n_present} class(es)")]
    TooFewClasses {
        /// Model name.
        model: &'static str,
        /// Classes present.
        n_present: usize,
    },
    /// The hyperparameters are out of range or inconsistent.
    #[error("{model}: invalid hyperparameters: {reason}")]
    InvalidParams {
        /// Model name.
        model: &'static str,
        /// Which parameter and what was expected.
        reason: String,
    },
}

/// Training data for one fit: preprocessed inputs, labels and optional per-row weights.
///
/// The inputs are either a matrix or a fold's rows of the raw table with their fitted
/// preprocessing. The second are turned into a matrix only when a learner asks for one
/// ([`FitData::x`]); a learner that reads its rows block by block ([`FitData::for_each_block`])
/// never needs the fold's whole matrix, which at a million rows is 150 MB per fold in flight.
pub struct FitData<'a> {
    inputs: Inputs<'a>,
    /// The raw rows' matrix, made at the first [`FitData::x`].
    dense: OnceLock<Array2<f64>>,
    /// Class index per row.
    pub y: &'a [usize],
    /// Per-row weights (class weighting), if any.
    pub weights: Option<&'a [f64]>,
    /// Number of classes in the task.
    pub n_classes: usize,
    /// Positive class for binary tasks.
    pub positive_class: usize,
}

/// Where a fit's model inputs come from.
enum Inputs<'a> {
    /// A matrix of model inputs, one row per sample.
    Matrix(ArrayView2<'a, f64>),
    /// Rows of the raw table, turned into model inputs by a fitted preprocessing.
    Rows {
        raw: ArrayView2<'a, f64>,
        rows: &'a [usize],
        preprocessor: &'a FittedPreprocessor,
    },
}

/// Rows per block of [`FitData::for_each_block`].
pub const BLOCK_ROWS: usize = 4096;

impl<'a> FitData<'a> {
    /// Data whose model inputs are the matrix `x`.
    pub fn new(
        x: ArrayView2<'a, f64>,
        y: &'a [usize],
        weights: Option<&'a [f64]>,
        n_classes: usize,
        positive_class: usize,
    ) -> Self {
        let inputs = Inputs::Matrix(x);
        FitData::with_inputs(inputs, y, weights, n_classes, positive_class)
    }

    /// Data whose model inputs are `rows` of `raw` through `preprocessor`.
    pub fn from_rows(
        raw: ArrayView2<'a, f64>,
        rows: &'a [usize],
        preprocessor: &'a FittedPreprocessor,
        y: &'a [usize],
        weights: Option<&'a [f64]>,
        n_classes: usize,
        positive_class: usize,
    ) -> Self {
        let inputs = Inputs::Rows {
            raw,
            rows,
            preprocessor,
        };
        FitData::with_inputs(inputs, y, weights, n_classes, positive_class)
    }

    fn with_inputs(
        inputs: Inputs<'a>,
        y: &'a [usize],
        weights: Option<&'a [f64]>,
        n_classes: usize,
        positive_class: usize,
    ) -> Self {
        FitData {
            inputs,
            dense: OnceLock::new(),
            y,
            weights,
            n_classes,
            positive_class,
        }
    }

    /// The model inputs as a matrix, one row per sample.
    pub fn x(&self) -> ArrayView2<'_, f64> {
        match &self.inputs {
            Inputs::Matrix(x) => x.view(),
            Inputs::Rows {
                raw,
                rows,
                preprocessor,
            } => self
                .dense
                .get_or_init(|| preprocess::transform_rows(preprocessor, raw.view(), rows))
                .view(),
        }
    }

    /// The model inputs of `rows` (indices into these rows), as a matrix in that order.
    pub fn rows_matrix(&self, rows: &[usize]) -> Array2<f64> {
        match &self.inputs {
            Inputs::Matrix(x) => x.select(Axis(0), rows),
            Inputs::Rows {
                raw,
                rows: table_rows,
                preprocessor,
            } => {
                let picked: Vec<usize> = rows.iter().map(|row| table_rows[*row]).collect();
                preprocess::transform_rows(preprocessor, raw.view(), &picked)
            }
        }
    }

    /// Number of rows.
    pub fn n_rows(&self) -> usize {
        match &self.inputs {
            Inputs::Matrix(x) => x.nrows(),
            Inputs::Rows { rows, .. } => rows.len(),
        }
    }

    /// Number of model inputs per row.
    pub fn n_inputs(&self) -> usize {
        match &self.inputs {
            Inputs::Matrix(x) => x.ncols(),
            Inputs::Rows { preprocessor, .. } => preprocessor.n_outputs(),
        }
    }

    /// Calls `visit(first row, block)` for consecutive blocks of [`BLOCK_ROWS`] rows (the last
    /// may be shorter), in row order. Rows of the raw table are preprocessed a block at a time,
    /// into the values [`FitData::x`] would hold.
    pub fn for_each_block(&self, visit: &mut dyn FnMut(usize, ArrayView2<'_, f64>)) {
        match &self.inputs {
            Inputs::Matrix(x) => {
                for (block_idx, block) in x.axis_chunks_iter(Axis(0), BLOCK_ROWS).enumerate() {
                    visit(block_idx * BLOCK_ROWS, block);
                }
            }
            Inputs::Rows {
                raw,
                rows,
                preprocessor,
            } => {
                for (block_idx, block_rows) in rows.chunks(BLOCK_ROWS).enumerate() {
                    let block = preprocess::transform_rows(preprocessor, raw.view(), block_rows);
                    visit(block_idx * BLOCK_ROWS, block.view());
                }
            }
        }
    }
}

impl FitData<'_> {
    /// The classes present in the rows, in index order.
    pub fn present_classes(&self) -> Vec<usize> {
        let mut present = vec![false; self.n_classes];
        for class_idx in self.y {
            if let Some(slot) = present.get_mut(*class_idx) {
                *slot = true;
            }
        }
        (0..self.n_classes)
            .filter(|class_idx| present[*class_idx])
            .collect()
    }

    /// The present classes, or an error for `model` when fewer than two are present.
    pub fn require_two_classes(&self, model: &'static str) -> Result<Vec<usize>, FitError> {
        let present = self.present_classes();
        if present.len() < 2 {
            return Err(FitError::TooFewClasses {
                model,
                n_present: present.len(),
            });
        }
        Ok(present)
    }

    /// The rows as a linfa dataset (inputs and class indices).
    pub fn linfa_dataset(&self) -> linfa::Dataset<f64, usize, ndarray::Ix1> {
        linfa::Dataset::new(self.x().to_owned(), Array1::from(self.y.to_vec()))
    }

    /// The rows as a linfa dataset borrowing the inputs, for the learners that take one: no
    /// copy of a fold's matrix.
    pub fn linfa_view(&self) -> linfa::DatasetBase<ArrayView2<'_, f64>, Array1<usize>> {
        linfa::DatasetBase::new(self.x(), Array1::from(self.y.to_vec()))
    }
}

/// A closure turning a library's message into a [`FitError`] for `model`.
pub fn library(model: &'static str) -> impl Fn(String) -> FitError {
    move |reason| FitError::Library { model, reason }
}

/// What a family says about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FamilyInfo {
    /// Command-line abbreviation (`lr`, `rf`, ...).
    pub short: &'static str,
    /// Leaderboard and artifact name (`logistic_regression`, ...).
    pub name: &'static str,
    /// One line for `train models`.
    pub description: &'static str,
    /// Whether fitting uses per-row weights (`--balance class-weight`).
    pub supports_weights: bool,
    /// Whether a run without `--models` trains it.
    pub in_default_run: bool,
    /// Whether it routes missing inputs itself, so preprocessing leaves them missing (NaN)
    /// instead of imputing them.
    pub native_missing: bool,
    /// Whether it is an ensemble of other families, built from a run's best ones rather than
    /// listed in `--models`.
    pub combines_others: bool,
}

/// One model family, with its own typed hyperparameters.
pub trait Learner: Send + Sync + 'static {
    /// The family's hyperparameters.
    type Params: Clone + fmt::Debug + PartialEq + Send + Sync + 'static;

    /// Names and capabilities.
    fn info(&self) -> FamilyInfo;

    /// The defaults, also the first candidate of every tuning run.
    fn default_params(&self) -> Self::Params;

    /// What `--tune` may draw (fields outside it keep their defaults).
    fn search_space(&self) -> Space<Self::Params>;

    /// Checks the parameters before fitting; the message names the parameter.
    fn check(&self, params: &Self::Params) -> Result<(), String>;

    /// Name/value pairs for the leaderboard and model card, in a fixed order.
    fn describe(&self, params: &Self::Params) -> Vec<(&'static str, String)>;

    /// Fits on preprocessed rows; `seed` drives every random choice.
    fn fit(
        &self,
        params: &Self::Params,
        data: &FitData<'_>,
        seed: u64,
    ) -> Result<Classifier, FitError>;
}

/// The object-safe face of [`Learner`], with parameters type-erased into [`ModelParams`].
trait Family: Send + Sync {
    fn info(&self) -> FamilyInfo;
    fn default_params(&self) -> Arc<dyn Any + Send + Sync>;
    fn sample_params(&self, rng: &mut Xoshiro256PlusPlus) -> Arc<dyn Any + Send + Sync>;
    fn in_search_space(&self, params: &dyn Any) -> bool;
    fn search_space(&self) -> Vec<(&'static str, String)>;
    fn describe(&self, params: &dyn Any) -> Vec<(&'static str, String)>;
    fn equal(&self, a: &dyn Any, b: &dyn Any) -> bool;
    fn debug(&self, params: &dyn Any) -> String;
    fn fit(&self, params: &dyn Any, data: &FitData<'_>, seed: u64) -> Result<Classifier, FitError>;
}

impl<L: Learner> Family for L {
    fn info(&self) -> FamilyInfo {
        Learner::info(self)
    }

    fn default_params(&self) -> Arc<dyn Any + Send + Sync> {
        Arc::new(Learner::default_params(self))
    }

    fn sample_params(&self, rng: &mut Xoshiro256PlusPlus) -> Arc<dyn Any + Send + Sync> {
        Arc::new(
            self.search_space()
                .sample(&Learner::default_params(self), rng),
        )
    }

    fn in_search_space(&self, params: &dyn Any) -> bool {
        params
            .downcast_ref::<L::Params>()
            .is_some_and(|params| Learner::search_space(self).contains(params))
    }

    fn search_space(&self) -> Vec<(&'static str, String)> {
        Learner::search_space(self).describe()
    }

    fn describe(&self, params: &dyn Any) -> Vec<(&'static str, String)> {
        params
            .downcast_ref::<L::Params>()
            .map(|params| Learner::describe(self, params))
            .unwrap_or_default()
    }

    fn equal(&self, a: &dyn Any, b: &dyn Any) -> bool {
        a.downcast_ref::<L::Params>() == b.downcast_ref::<L::Params>()
    }

    fn debug(&self, params: &dyn Any) -> String {
        format!("{:?}", params.downcast_ref::<L::Params>())
    }

    fn fit(&self, params: &dyn Any, data: &FitData<'_>, seed: u64) -> Result<Classifier, FitError> {
        let model = Learner::info(self).name;
        let params = params
            .downcast_ref::<L::Params>()
            .ok_or_else(|| FitError::InvalidParams {
                model,
                reason: "the parameters belong to another family".into(),
            })?;
        Learner::check(self, params).map_err(|reason| FitError::InvalidParams { model, reason })?;
        Learner::fit(self, params, data, seed)
    }
}

/// A model family from the registry. Ordered by registry position, which breaks leaderboard
/// ties deterministically.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ModelKind(usize);

impl ModelKind {
    /// Every registered family, in registry order.
    pub fn all() -> impl Iterator<Item = ModelKind> {
        (0..REGISTRY.len()).map(ModelKind)
    }

    /// The families that fit on their own: every family but the ensembles of others.
    pub fn singles() -> impl Iterator<Item = ModelKind> {
        ModelKind::all().filter(|kind| !kind.info().combines_others)
    }

    /// The families a run trains when `--models` is not given.
    pub fn default_run() -> Vec<ModelKind> {
        ModelKind::all()
            .filter(|kind| kind.info().in_default_run)
            .collect()
    }

    fn family(self) -> &'static dyn Family {
        REGISTRY[self.0]
    }

    /// Names and capabilities.
    pub fn info(self) -> FamilyInfo {
        self.family().info()
    }

    /// Command-line abbreviation.
    pub fn short(self) -> &'static str {
        self.info().short
    }

    /// Leaderboard name.
    pub fn name(self) -> &'static str {
        self.info().name
    }

    /// Whether the learner uses per-row weights (for `--balance class-weight`).
    pub fn supports_weights(self) -> bool {
        self.info().supports_weights
    }

    /// A number that identifies the family in seed derivation. It comes from the family's
    /// name, not its position, so a family trains the same whatever else `--models` lists.
    pub fn seed_stream(self) -> u64 {
        // FNV-1a: stable across builds and platforms, unlike `std`'s hashers.
        self.name()
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
                (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
            })
    }

    /// Default hyperparameters.
    pub fn default_params(self) -> ModelParams {
        ModelParams {
            kind: self,
            value: self.family().default_params(),
        }
    }

    /// A random candidate from the family's search space.
    pub fn sample_params(self, rng: &mut Xoshiro256PlusPlus) -> ModelParams {
        ModelParams {
            kind: self,
            value: self.family().sample_params(rng),
        }
    }

    /// The search space, as (parameter, range) descriptions.
    pub fn search_space(self) -> Vec<(&'static str, String)> {
        self.family().search_space()
    }

    /// Fits one model with `params`, which must belong to this family.
    pub fn fit(
        self,
        params: &ModelParams,
        data: &FitData<'_>,
        seed: u64,
    ) -> Result<Classifier, FitError> {
        if params.kind != self {
            return Err(FitError::InvalidParams {
                model: self.name(),
                reason: format!("given the parameters of `{}`", params.kind.name()),
            });
        }
        let _core = crate::cores::Occupied::take();
        self.family().fit(params.value.as_ref(), data, seed)
    }
}

impl fmt::Debug for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for ModelKind {
    type Err = String;

    /// Parses an abbreviation (`rf`) or a full name (`random_forest`).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        ModelKind::all()
            .find(|kind| kind.short() == text || kind.name() == text)
            .ok_or_else(|| {
                let known: Vec<String> = ModelKind::all()
                    .map(|kind| format!("`{}`", kind.short()))
                    .collect();
                format!(
                    "unknown model `{text}`, expected some of {}",
                    known.join(", ")
                )
            })
    }
}

/// A family's hyperparameters, with the family they belong to.
#[derive(Clone)]
pub struct ModelParams {
    kind: ModelKind,
    value: Arc<dyn Any + Send + Sync>,
}

impl ModelParams {
    /// Wraps typed parameters of a family (for tests and callers that set parameters).
    pub fn new<L: Learner>(kind: ModelKind, params: L::Params) -> Self {
        ModelParams {
            kind,
            value: Arc::new(params),
        }
    }

    /// The family.
    pub fn kind(&self) -> ModelKind {
        self.kind
    }

    /// The typed parameters, when they are of type `P`.
    pub fn get<P: 'static>(&self) -> Option<&P> {
        self.value.downcast_ref::<P>()
    }

    /// Whether every searched parameter lies inside the family's declared search space.
    pub fn in_search_space(&self) -> bool {
        self.kind.family().in_search_space(self.value.as_ref())
    }

    /// Name/value pairs for the leaderboard, in a fixed order.
    pub fn pairs(&self) -> Vec<(String, String)> {
        self.kind
            .family()
            .describe(self.value.as_ref())
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .collect()
    }
}

impl PartialEq for ModelParams {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind
            && self
                .kind
                .family()
                .equal(self.value.as_ref(), other.value.as_ref())
    }
}

impl fmt::Debug for ModelParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}{}",
            self.kind.name(),
            self.kind.family().debug(self.value.as_ref())
        )
    }
}

/// Probabilities of many inputs from a fitted classifier (used by tests and tuning).
pub fn predict_inputs(
    classifier: &Classifier,
    x: ArrayView2<'_, f64>,
    n_classes: usize,
    positive_class: usize,
) -> Array2<f64> {
    let mut out = Array2::zeros((x.nrows(), n_classes));
    let mut probabilities = vec![0.0; n_classes];
    for (row_idx, row) in x.axis_iter(Axis(0)).enumerate() {
        classifier.predict_proba(&row.to_vec(), n_classes, positive_class, &mut probabilities);
        out.row_mut(row_idx)
            .assign(&ndarray::aview1(&probabilities));
    }
    out
}
