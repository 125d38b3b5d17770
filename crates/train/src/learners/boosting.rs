//! Gradient boosting: second-order regression trees (our binned CART in `cart.rs`) on the
//! log-odds (binary) or one tree per class on softmax logits (multiclass).

use model::Classifier;
use model::classifier::{Boosting, FlatTree, sigmoid, softmax_in_place};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use super::cart::{Binned, Growth, Splitter, Target, grow};
use super::space::{ParamValue, Space};
use super::{FamilyInfo, FitData, FitError, Learner};

/// Gradient-boosted trees.
pub struct GradientBoosting;

/// Hyperparameters of [`GradientBoosting`].
#[derive(Debug, Clone, PartialEq)]
pub struct BoostingParams {
    /// Boosting rounds.
    pub n_rounds: usize,
    /// Shrinkage applied to every tree.
    pub learning_rate: f64,
    /// Depth of each tree.
    pub max_depth: usize,
    /// Minimum rows per leaf.
    pub min_samples_leaf: usize,
    /// L2 penalty on leaf values.
    pub lambda: f64,
    /// Row fraction per round (stochastic boosting).
    pub subsample: f64,
}

impl Learner for GradientBoosting {
    type Params = BoostingParams;

    fn info(&self) -> FamilyInfo {
        FamilyInfo {
            short: "gbm",
            name: "gradient_boosting",
            description: "gradient boosting (second-order trees on log-odds or softmax logits)",
            supports_weights: true,
            in_default_run: true,
            native_missing: false,
            combines_others: false,
        }
    }

    fn default_params(&self) -> BoostingParams {
        BoostingParams {
            n_rounds: 100,
            learning_rate: 0.1,
            max_depth: 3,
            min_samples_leaf: 1,
            lambda: 1.0,
            subsample: 1.0,
        }
    }

    fn search_space(&self) -> Space<BoostingParams> {
        Space::<BoostingParams>::new()
            .choice("n_rounds", &[50, 100, 200, 300], |p| &mut p.n_rounds)
            .log_uniform("learning_rate", 0.01, 0.3, |p| &mut p.learning_rate)
            .int_range("max_depth", 2, 5, |p| &mut p.max_depth)
            .choice("min_samples_leaf", &[1, 5, 10, 20], |p| &mut p.min_samples_leaf)
            .log_uniform("lambda", 0.1, 10.0, |p| &mut p.lambda)
            .choice("subsample", &[0.6, 0.8, 1.0], |p| &mut p.subsample)
    }

    fn check(&self, params: &BoostingParams) -> Result<(), String> {
        check_boosting(params.n_rounds, params.learning_rate, params.lambda)?;
        if params.max_depth == 0 || params.min_samples_leaf == 0 {
            return Err("`max_depth` and `min_samples_leaf` must be at least 1".into());
        }
        check_fraction("subsample", params.subsample)
    }

    fn describe(&self, params: &BoostingParams) -> Vec<(&'static str, String)> {
        vec![
            ("n_rounds", params.n_rounds.show()),
            ("learning_rate", params.learning_rate.show()),
            ("max_depth", params.max_depth.show()),
            ("min_samples_leaf", params.min_samples_leaf.show()),
            ("lambda", params.lambda.show()),
            ("subsample", params.subsample.show()),
        ]
    }

    fn fit(
        &self,
        params: &BoostingParams,
        data: &FitData<'_>,
        seed: u64,
    ) -> Result<Classifier, FitError> {
        Ok(Classifier::GradientBoosting(boost(params, data, seed)))
    }
}

/// The checks every boosting family shares: rounds, shrinkage and the L2 penalty.
pub(super) fn check_boosting(n_rounds: usize, learning_rate: f64, lambda: f64) -> Result<(), String> {
    if n_rounds == 0 {
        return Err("`n_rounds` must be at least 1".into());
    }
    if !(learning_rate > 0.0 && learning_rate.is_finite()) {
        return Err(format!(
            "`learning_rate` must be a positive number, found {learning_rate}"
        ));
    }
    if !(lambda >= 0.0 && lambda.is_finite()) {
        return Err(format!(
            "`lambda` must be a finite number >= 0, found {lambda}"
        ));
    }
    Ok(())
}

/// A sampling fraction `name` must lie in (0, 1].
pub(super) fn check_fraction(name: &str, value: f64) -> Result<(), String> {
    if value > 0.0 && value <= 1.0 {
        Ok(())
    } else {
        Err(format!("`{name}` must be in (0, 1], found {value}"))
    }
}

/// Row weights (class weights, or ones).
fn row_weights(data: &FitData<'_>) -> Vec<f64> {
    data.weights
        .map_or_else(|| vec![1.0; data.y.len()], <[f64]>::to_vec)
}

/// Starting scores: the log prior odds (binary) or log priors (multiclass). Absent classes get a
/// very negative score rather than -inf, so that arithmetic stays finite.
pub(super) fn base_scores(
    y: &[usize],
    weights: &[f64],
    n_classes: usize,
    positive_class: usize,
) -> Vec<f64> {
    let total_weight: f64 = weights.iter().sum();
    let mut class_weight = vec![0.0; n_classes];
    for (class_idx, weight) in y.iter().zip(weights) {
        class_weight[*class_idx] += weight;
    }
    if n_classes == 2 {
        let p = (class_weight[positive_class] / total_weight).clamp(1e-6, 1.0 - 1e-6);
        vec![(p / (1.0 - p)).ln()]
    } else {
        class_weight
            .iter()
            .map(|weight| (weight / total_weight).max(1e-6).ln())
            .collect()
    }
}

fn boost(params: &BoostingParams, data: &FitData<'_>, seed: u64) -> Boosting {
    let n_rows = data.y.len();
    let binary = data.n_classes == 2;
    let n_outputs = if binary { 1 } else { data.n_classes };
    let weights = row_weights(data);
    let base_scores = base_scores(data.y, &weights, data.n_classes, data.positive_class);
    let mut scores: Vec<Vec<f64>> = vec![base_scores.clone(); n_rows];
    let growth = Growth {
        max_depth: Some(params.max_depth),
        min_samples_split: 2,
        min_samples_leaf: params.min_samples_leaf,
        max_features: None,
        splitter: Splitter::Best,
    };
    let binned = Binned::new(data.x());
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut rounds = Vec::with_capacity(params.n_rounds);
    let mut gradients = vec![0.0; n_rows];
    let mut hessians = vec![0.0; n_rows];
    for _ in 0..params.n_rounds {
        let rows: Vec<usize> = if params.subsample < 1.0 {
            (0..n_rows)
                .filter(|_| rng.gen_bool(params.subsample.clamp(0.05, 1.0)))
                .collect()
        } else {
            (0..n_rows).collect()
        };
        // Multiclass: every class's tree in a round uses the same probabilities.
        let snapshot: Vec<Vec<f64>> = if binary {
            Vec::new()
        } else {
            scores
                .iter()
                .map(|row_scores| {
                    let mut p = row_scores.clone();
                    softmax_in_place(&mut p);
                    p
                })
                .collect()
        };
        let mut round = Vec::with_capacity(n_outputs);
        for output in 0..n_outputs {
            for row in 0..n_rows {
                let (p, target) = if binary {
                    (sigmoid(scores[row][0]), data.y[row] == data.positive_class)
                } else {
                    (snapshot[row][output], data.y[row] == output)
                };
                gradients[row] = weights[row] * (p - f64::from(u8::from(target)));
                hessians[row] = weights[row] * (p * (1.0 - p)).max(1e-6);
            }
            let tree = grow(
                &binned,
                rows.clone(),
                Target::Gradient {
                    gradients: &gradients,
                    hessians: &hessians,
                    lambda: params.lambda,
                },
                growth,
                &mut rng,
            );
            add_tree_output(&tree, data, params.learning_rate, output, &mut scores);
            round.push(tree);
        }
        rounds.push(round);
    }
    Boosting {
        base_scores,
        learning_rate: params.learning_rate,
        trees: rounds,
    }
}

/// Adds a new tree's shrunken output to every row's score for `output`.
fn add_tree_output(
    tree: &FlatTree,
    data: &FitData<'_>,
    learning_rate: f64,
    output: usize,
    scores: &mut [Vec<f64>],
) {
    for (row, input) in data.x().rows().into_iter().enumerate() {
        let value = match input.as_slice() {
            Some(slice) => tree.leaf(slice).first().copied(),
            None => tree.leaf(&input.to_vec()).first().copied(),
        };
        scores[row][output] += learning_rate * value.unwrap_or(0.0);
    }
}
