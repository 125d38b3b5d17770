//! Tree ensembles that average class frequencies over many randomised CART trees: random
//! forest and extra trees differ only in their defaults and in how split points are chosen,
//! so both families are an [`Ensemble`] declared in their own file.

use model::Classifier;
use model::classifier::FlatTree;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;

use super::cart::{Binned, Growth, Splitter, Target, grow};
use super::space::{ParamValue, Space};
use super::{FamilyInfo, FitData, FitError, Learner};

/// Features examined per split in a forest.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MaxFeatures {
    /// The rounded square root of the number of model inputs.
    Sqrt,
    /// A fraction of the model inputs, rounded up.
    Fraction(f64),
}

impl MaxFeatures {
    /// How many of `n_features` inputs to examine (at least one).
    pub fn resolve(self, n_features: usize) -> usize {
        match self {
            MaxFeatures::Sqrt => (n_features as f64).sqrt().round() as usize,
            MaxFeatures::Fraction(fraction) => (n_features as f64 * fraction).ceil() as usize,
        }
        .clamp(1, n_features.max(1))
    }
}

impl ParamValue for MaxFeatures {
    fn show(&self) -> String {
        match self {
            MaxFeatures::Sqrt => "sqrt".into(),
            MaxFeatures::Fraction(fraction) => fraction.show(),
        }
    }
}

/// Hyperparameters of the tree ensembles (random forest, extra trees).
#[derive(Debug, Clone, PartialEq)]
pub struct ForestParams {
    /// Trees.
    pub n_trees: usize,
    /// Maximum depth per tree.
    pub max_depth: Option<usize>,
    /// Minimum rows per leaf.
    pub min_samples_leaf: usize,
    /// The minimum leaf also grows with the training rows: at least this share of them
    /// (rounded up). With the default 1/5000 a 599-row table keeps one-row leaves, while
    /// 100,000 rows get 20 and a million 200, so trees, artifacts and prediction time stop
    /// growing with the data where the extra leaves only fit noise.
    pub min_leaf_fraction: f64,
    /// Features examined per split.
    pub max_features: MaxFeatures,
    /// Grow each tree on a bootstrap sample (otherwise on all rows).
    pub bootstrap: bool,
}

impl ForestParams {
    /// The search space both ensembles tune over.
    pub fn search_space() -> Space<ForestParams> {
        Space::<ForestParams>::new()
            .choice("n_trees", &[100, 200, 300], |p| &mut p.n_trees)
            .choice(
                "max_depth",
                &[Some(4), Some(6), Some(8), Some(12), None],
                |p| &mut p.max_depth,
            )
            .choice("min_samples_leaf", &[1, 2, 4, 8], |p| {
                &mut p.min_samples_leaf
            })
            .choice(
                "max_features",
                &[
                    MaxFeatures::Sqrt,
                    MaxFeatures::Fraction(0.3),
                    MaxFeatures::Fraction(0.5),
                    MaxFeatures::Fraction(0.8),
                ],
                |p| &mut p.max_features,
            )
    }

    /// Checks ranges; the message names the parameter.
    pub fn check(&self) -> Result<(), String> {
        if self.n_trees == 0 {
            return Err("`n_trees` must be at least 1".into());
        }
        if self.max_depth == Some(0) {
            return Err("`max_depth` must be at least 1 (or none)".into());
        }
        if self.min_samples_leaf == 0 {
            return Err("`min_samples_leaf` must be at least 1".into());
        }
        if !(0.0..0.5).contains(&self.min_leaf_fraction) {
            return Err(format!(
                "`min_leaf_fraction` must be at least 0 and below 0.5, found {}",
                self.min_leaf_fraction
            ));
        }
        if let MaxFeatures::Fraction(fraction) = self.max_features
            && !(fraction > 0.0 && fraction <= 1.0)
        {
            return Err(format!(
                "`max_features` must be `sqrt` or a fraction in (0, 1], found {fraction}"
            ));
        }
        Ok(())
    }

    /// The minimum rows per leaf for `n_rows` training rows.
    pub fn min_leaf(&self, n_rows: usize) -> usize {
        let scaled = (self.min_leaf_fraction * n_rows as f64).ceil() as usize;
        self.min_samples_leaf.max(scaled).max(1)
    }

    /// Name/value pairs for the leaderboard.
    pub fn describe(&self) -> Vec<(&'static str, String)> {
        vec![
            ("n_trees", self.n_trees.show()),
            ("max_depth", self.max_depth.show()),
            ("min_samples_leaf", self.min_samples_leaf.show()),
            ("min_leaf_fraction", self.min_leaf_fraction.show()),
            ("max_features", self.max_features.show()),
            ("bootstrap", self.bootstrap.show()),
        ]
    }
}

/// A tree-ensemble family: its names, defaults and splitter.
pub struct Ensemble {
    /// Names and capabilities.
    pub info: FamilyInfo,
    /// Default hyperparameters.
    pub defaults: ForestParams,
    /// How split points are chosen.
    pub splitter: Splitter,
    /// Whether `--tune` also tries bootstrapping on and off.
    pub tune_bootstrap: bool,
}

impl Learner for Ensemble {
    type Params = ForestParams;

    fn info(&self) -> FamilyInfo {
        self.info
    }

    fn default_params(&self) -> ForestParams {
        self.defaults.clone()
    }

    fn search_space(&self) -> Space<ForestParams> {
        let space = ForestParams::search_space();
        if self.tune_bootstrap {
            space.choice("bootstrap", &[false, true], |p| &mut p.bootstrap)
        } else {
            space
        }
    }

    fn check(&self, params: &ForestParams) -> Result<(), String> {
        params.check()
    }

    fn describe(&self, params: &ForestParams) -> Vec<(&'static str, String)> {
        params.describe()
    }

    fn fit(
        &self,
        params: &ForestParams,
        data: &FitData<'_>,
        seed: u64,
    ) -> Result<Classifier, FitError> {
        Ok(Classifier::Forest(grow_forest(
            params,
            self.splitter,
            data,
            seed,
        )))
    }
}

/// Grows a forest of classification trees whose leaves hold class frequencies.
///
/// Each tree's generator derives from `seed` and the tree's index, so the forest is identical
/// whatever order rayon runs the trees in.
pub fn grow_forest(
    params: &ForestParams,
    splitter: Splitter,
    data: &FitData<'_>,
    seed: u64,
) -> Vec<FlatTree> {
    let growth = Growth {
        max_depth: params.max_depth,
        min_samples_split: 2,
        min_samples_leaf: params.min_leaf(data.y.len()),
        max_features: Some(params.max_features.resolve(data.x().ncols())),
        splitter,
    };
    let binned = Binned::new(data.x());
    let n_rows = data.y.len();
    (0..params.n_trees)
        .into_par_iter()
        .map(|tree_idx| {
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(
                seed ^ (tree_idx as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
            );
            let weights = if params.bootstrap {
                bootstrap_weights(n_rows, data.weights, &mut rng)
            } else {
                data.weights
                    .map_or_else(|| vec![1.0; n_rows], <[f64]>::to_vec)
            };
            let rows: Vec<usize> = (0..n_rows).filter(|row| weights[*row] > 0.0).collect();
            grow(
                &binned,
                rows,
                Target::Classes {
                    y: data.y,
                    n_classes: data.n_classes,
                    weights: &weights,
                },
                growth,
                &mut rng,
            )
        })
        .collect()
}

/// Row multiplicities of a bootstrap sample, times the rows' own weights.
fn bootstrap_weights<R: Rng>(n_rows: usize, base: Option<&[f64]>, rng: &mut R) -> Vec<f64> {
    let mut counts = vec![0.0; n_rows];
    for _ in 0..n_rows {
        counts[rng.gen_range(0..n_rows)] += 1.0;
    }
    if let Some(base) = base {
        counts
            .iter_mut()
            .zip(base)
            .for_each(|(count, weight)| *count *= weight);
    }
    counts
}
