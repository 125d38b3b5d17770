//! The seven classifiers: hyperparameters, search spaces, and fitting into `model::Classifier`.
//!
//! Each learner fits with linfa (logistic regression, decision tree, SVM, naive Bayes) or the
//! project's own trees (random forest, gradient boosting), then converts the fitted state into
//! `model`'s plain types, so prediction needs no learning library.

pub mod cart;

use linfa::composing::platt_scaling::{PlattParams, platt_newton_method};
use linfa::prelude::*;
use model::Classifier;
use model::classifier::{
    Boosting, FlatTree, GaussianNb, Knn, Linear, SvmBinary, TreeNode, softmax_in_place,
};
use ndarray::{Array1, Array2, ArrayView2, Axis};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;

use cart::{Binned, Growth, Target, grow};

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
}

/// The seven model families.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ModelKind {
    /// Logistic regression (linfa-logistic).
    Logistic,
    /// Decision tree (linfa-trees).
    DecisionTree,
    /// Random forest (own CART, bagging + per-split feature sampling).
    RandomForest,
    /// Gradient boosting (own second-order regression trees).
    GradientBoosting,
    /// k-nearest neighbours.
    Knn,
    /// RBF support vector machine (linfa-svm) with Platt scaling.
    Svm,
    /// Gaussian naive Bayes (linfa-bayes).
    NaiveBayes,
}

impl ModelKind {
    /// All kinds, in leaderboard order before sorting.
    pub const ALL: [ModelKind; 7] = [
        ModelKind::Logistic,
        ModelKind::DecisionTree,
        ModelKind::RandomForest,
        ModelKind::GradientBoosting,
        ModelKind::Knn,
        ModelKind::Svm,
        ModelKind::NaiveBayes,
    ];

    /// Command-line abbreviation.
    pub fn short(self) -> &'static str {
        match self {
            ModelKind::Logistic => "lr",
            ModelKind::DecisionTree => "dt",
            ModelKind::RandomForest => "rf",
            ModelKind::GradientBoosting => "gbm",
            ModelKind::Knn => "knn",
            ModelKind::Svm => "svm",
            ModelKind::NaiveBayes => "nb",
        }
    }

    /// Leaderboard name.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Logistic => "logistic_regression",
            ModelKind::DecisionTree => "decision_tree",
            ModelKind::RandomForest => "random_forest",
            ModelKind::GradientBoosting => "gradient_boosting",
            ModelKind::Knn => "k_nearest_neighbours",
            ModelKind::Svm => "svm",
            ModelKind::NaiveBayes => "gaussian_naive_bayes",
        }
    }

    /// Parses an abbreviation or full name.
    pub fn parse(text: &str) -> Option<Self> {
        ModelKind::ALL
            .into_iter()
            .find(|kind| kind.short() == text || kind.name() == text)
    }

    /// Whether the learner uses per-row weights (for `--balance class-weight`).
    pub fn supports_weights(self) -> bool {
        matches!(
            self,
            ModelKind::DecisionTree
                | ModelKind::RandomForest
                | ModelKind::GradientBoosting
                | ModelKind::Svm
        )
    }

    /// Default hyperparameters.
    pub fn default_params(self) -> ModelParams {
        match self {
            ModelKind::Logistic => ModelParams::Logistic { alpha: 1.0 },
            // A fully grown tree gives 0/1 leaf "probabilities"; modest limits give usable ones.
            ModelKind::DecisionTree => ModelParams::DecisionTree {
                max_depth: Some(5),
                min_weight_leaf: 5.0,
            },
            ModelKind::RandomForest => ModelParams::RandomForest {
                n_trees: 200,
                max_depth: None,
                min_samples_leaf: 1,
                max_features_fraction: 0.0,
            },
            ModelKind::GradientBoosting => ModelParams::GradientBoosting {
                n_rounds: 100,
                learning_rate: 0.1,
                max_depth: 3,
                min_samples_leaf: 1,
                lambda: 1.0,
                subsample: 1.0,
            },
            ModelKind::Knn => ModelParams::Knn {
                k: 15,
                distance_weighted: true,
            },
            ModelKind::Svm => ModelParams::Svm {
                c: 1.0,
                gamma_scale: 1.0,
            },
            ModelKind::NaiveBayes => ModelParams::NaiveBayes {
                var_smoothing: 1e-9,
            },
        }
    }

    /// Draws a random candidate from this model's search space.
    pub fn sample_params<R: Rng>(self, rng: &mut R) -> ModelParams {
        let log_uniform =
            |rng: &mut R, low: f64, high: f64| (rng.gen_range(low.ln()..high.ln())).exp();
        match self {
            ModelKind::Logistic => ModelParams::Logistic {
                alpha: log_uniform(rng, 1e-3, 1e2),
            },
            ModelKind::DecisionTree => ModelParams::DecisionTree {
                max_depth: [
                    Some(2),
                    Some(3),
                    Some(4),
                    Some(5),
                    Some(6),
                    Some(8),
                    Some(10),
                    None,
                ][rng.gen_range(0..8)],
                min_weight_leaf: [1.0, 2.0, 5.0, 10.0, 20.0][rng.gen_range(0..5)],
            },
            ModelKind::RandomForest => ModelParams::RandomForest {
                n_trees: [100, 200, 300][rng.gen_range(0..3)],
                max_depth: [Some(4), Some(6), Some(8), Some(12), None][rng.gen_range(0..5)],
                min_samples_leaf: [1, 2, 4, 8][rng.gen_range(0..4)],
                max_features_fraction: [0.0, 0.3, 0.5, 0.8][rng.gen_range(0..4)],
            },
            ModelKind::GradientBoosting => ModelParams::GradientBoosting {
                n_rounds: [50, 100, 200, 300][rng.gen_range(0..4)],
                learning_rate: log_uniform(rng, 0.01, 0.3),
                max_depth: rng.gen_range(2..=5),
                min_samples_leaf: [1, 5, 10, 20][rng.gen_range(0..4)],
                lambda: log_uniform(rng, 0.1, 10.0),
                subsample: [0.6, 0.8, 1.0][rng.gen_range(0..3)],
            },
            ModelKind::Knn => ModelParams::Knn {
                k: rng.gen_range(3..=50),
                distance_weighted: rng.gen_bool(0.5),
            },
            ModelKind::Svm => ModelParams::Svm {
                c: log_uniform(rng, 0.1, 10.0),
                gamma_scale: log_uniform(rng, 0.2, 5.0),
            },
            ModelKind::NaiveBayes => ModelParams::NaiveBayes {
                var_smoothing: log_uniform(rng, 1e-10, 1e-2),
            },
        }
    }
}

/// Hyperparameters of one model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ModelParams {
    /// L2 penalty `alpha` (linfa-logistic; larger = stronger).
    Logistic {
        /// L2 penalty.
        alpha: f64,
    },
    /// Depth and leaf-weight limits.
    DecisionTree {
        /// Maximum depth.
        max_depth: Option<usize>,
        /// Minimum total weight in a leaf.
        min_weight_leaf: f32,
    },
    /// Forest size and tree limits.
    RandomForest {
        /// Trees.
        n_trees: usize,
        /// Maximum depth per tree.
        max_depth: Option<usize>,
        /// Minimum rows per leaf.
        min_samples_leaf: usize,
        /// Fraction of features per split; 0 means `sqrt(n_features)`.
        max_features_fraction: f64,
    },
    /// Boosting schedule and tree limits.
    GradientBoosting {
        /// Boosting rounds.
        n_rounds: usize,
        /// Shrinkage.
        learning_rate: f64,
        /// Depth of each tree.
        max_depth: usize,
        /// Minimum rows per leaf.
        min_samples_leaf: usize,
        /// L2 penalty on leaf values.
        lambda: f64,
        /// Row fraction per round (stochastic boosting).
        subsample: f64,
    },
    /// Neighbourhood.
    Knn {
        /// Neighbours.
        k: usize,
        /// Inverse-distance weighting.
        distance_weighted: bool,
    },
    /// RBF SVM; `gamma = gamma_scale / n_inputs` (scikit-learn's `scale` on standardised data).
    Svm {
        /// Box constraint.
        c: f64,
        /// Multiplier on the default kernel width.
        gamma_scale: f64,
    },
    /// Variance smoothing, as a fraction of the largest feature variance.
    NaiveBayes {
        /// Smoothing.
        var_smoothing: f64,
    },
}

fn fmt_float(value: f64) -> String {
    let text = format!("{value:.6}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

impl ModelParams {
    /// Name/value pairs for the leaderboard, in a fixed order.
    pub fn pairs(&self) -> Vec<(String, String)> {
        let depth = |depth: &Option<usize>| depth.map_or("none".into(), |d| d.to_string());
        let pairs: Vec<(&str, String)> = match self {
            ModelParams::Logistic { alpha } => vec![("alpha", fmt_float(*alpha))],
            ModelParams::DecisionTree {
                max_depth,
                min_weight_leaf,
            } => vec![
                ("max_depth", depth(max_depth)),
                ("min_weight_leaf", fmt_float(f64::from(*min_weight_leaf))),
            ],
            ModelParams::RandomForest {
                n_trees,
                max_depth,
                min_samples_leaf,
                max_features_fraction,
            } => vec![
                ("n_trees", n_trees.to_string()),
                ("max_depth", depth(max_depth)),
                ("min_samples_leaf", min_samples_leaf.to_string()),
                (
                    "max_features",
                    if *max_features_fraction <= 0.0 {
                        "sqrt".into()
                    } else {
                        fmt_float(*max_features_fraction)
                    },
                ),
            ],
            ModelParams::GradientBoosting {
                n_rounds,
                learning_rate,
                max_depth,
                min_samples_leaf,
                lambda,
                subsample,
            } => vec![
                ("n_rounds", n_rounds.to_string()),
                ("learning_rate", fmt_float(*learning_rate)),
                ("max_depth", max_depth.to_string()),
                ("min_samples_leaf", min_samples_leaf.to_string()),
                ("lambda", fmt_float(*lambda)),
                ("subsample", fmt_float(*subsample)),
            ],
            ModelParams::Knn {
                k,
                distance_weighted,
            } => vec![
                ("k", k.to_string()),
                (
                    "weights",
                    if *distance_weighted {
                        "distance".into()
                    } else {
                        "uniform".into()
                    },
                ),
            ],
            ModelParams::Svm { c, gamma_scale } => vec![
                ("c", fmt_float(*c)),
                ("gamma_scale", fmt_float(*gamma_scale)),
                ("kernel", "rbf".into()),
            ],
            ModelParams::NaiveBayes { var_smoothing } => {
                vec![("var_smoothing", format!("{var_smoothing:e}"))]
            }
        };
        pairs
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .collect()
    }
}

/// Training data for one fit: preprocessed inputs, labels and optional per-row weights.
pub struct FitData<'a> {
    /// Model inputs, one row per sample.
    pub x: ArrayView2<'a, f64>,
    /// Class index per row.
    pub y: &'a [usize],
    /// Per-row weights (class weighting), if any.
    pub weights: Option<&'a [f64]>,
    /// Number of classes in the task.
    pub n_classes: usize,
    /// Positive class for binary tasks.
    pub positive_class: usize,
}

/// Fits one model.
pub fn fit(params: &ModelParams, data: &FitData<'_>, seed: u64) -> Result<Classifier, FitError> {
    match params {
        ModelParams::Logistic { alpha } => fit_logistic(*alpha, data),
        ModelParams::DecisionTree {
            max_depth,
            min_weight_leaf,
        } => fit_decision_tree(*max_depth, *min_weight_leaf, data),
        ModelParams::RandomForest {
            n_trees,
            max_depth,
            min_samples_leaf,
            max_features_fraction,
        } => Ok(fit_random_forest(
            *n_trees,
            *max_depth,
            *min_samples_leaf,
            *max_features_fraction,
            data,
            seed,
        )),
        ModelParams::GradientBoosting {
            n_rounds,
            learning_rate,
            max_depth,
            min_samples_leaf,
            lambda,
            subsample,
        } => Ok(fit_boosting(
            *n_rounds,
            *learning_rate,
            *max_depth,
            *min_samples_leaf,
            *lambda,
            *subsample,
            data,
            seed,
        )),
        ModelParams::Knn {
            k,
            distance_weighted,
        } => Ok(Classifier::Knn(Knn {
            points: data.x.iter().copied().collect(),
            labels: data.y.iter().map(|class_idx| *class_idx as u32).collect(),
            n_inputs: data.x.ncols(),
            k: *k,
            distance_weighted: *distance_weighted,
        })),
        ModelParams::Svm { c, gamma_scale } => fit_svm(*c, *gamma_scale, data),
        ModelParams::NaiveBayes { var_smoothing } => fit_naive_bayes(*var_smoothing, data),
    }
}

fn present_classes(y: &[usize], n_classes: usize) -> Vec<usize> {
    let mut present = vec![false; n_classes];
    for class_idx in y {
        present[*class_idx] = true;
    }
    (0..n_classes)
        .filter(|class_idx| present[*class_idx])
        .collect()
}

fn library(model: &'static str) -> impl Fn(String) -> FitError {
    move |reason| FitError::Library { model, reason }
}

fn fit_logistic(alpha: f64, data: &FitData<'_>) -> Result<Classifier, FitError> {
    let present = present_classes(data.y, data.n_classes);
    if present.len() < 2 {
        return Err(FitError::TooFewClasses {
            model: "logistic_regression",
            n_present: present.len(),
        });
    }
    let n_inputs = data.x.ncols();
    let dataset = Dataset::new(data.x.to_owned(), Array1::from(data.y.to_vec()));
    if data.n_classes == 2 {
        let fitted = linfa_logistic::LogisticRegression::default()
            .alpha(alpha)
            .max_iterations(200)
            .fit(&dataset)
            .map_err(|error| library("logistic_regression")(error.to_string()))?;
        // linfa calls the majority class "positive"; map it onto ours explicitly.
        let sign = if fitted.labels().pos.class == data.positive_class {
            1.0
        } else {
            -1.0
        };
        Ok(Classifier::Logistic(Linear {
            weights: fitted.params().iter().map(|w| sign * w).collect(),
            intercepts: vec![sign * fitted.intercept()],
            n_inputs,
        }))
    } else {
        let fitted = linfa_logistic::MultiLogisticRegression::default()
            .alpha(alpha)
            .max_iterations(200)
            .fit(&dataset)
            .map_err(|error| library("logistic_regression")(error.to_string()))?;
        // Classes absent from the training rows get zero weights and a -inf intercept.
        let mut weights = vec![0.0; data.n_classes * n_inputs];
        let mut intercepts = vec![f64::NEG_INFINITY; data.n_classes];
        for (column, class_idx) in fitted.classes().iter().enumerate() {
            for input in 0..n_inputs {
                weights[class_idx * n_inputs + input] = fitted.params()[[input, column]];
            }
            intercepts[*class_idx] = fitted.intercept()[column];
        }
        Ok(Classifier::Logistic(Linear {
            weights,
            intercepts,
            n_inputs,
        }))
    }
}

fn fit_decision_tree(
    max_depth: Option<usize>,
    min_weight_leaf: f32,
    data: &FitData<'_>,
) -> Result<Classifier, FitError> {
    // linfa-trees picks a leaf's majority class by iterating a `HashMap`, whose order is random
    // per process, and prunes sibling leaves that agree on it; a tie (3 vs 3 rows) would make
    // the tree differ between runs. Scaling class c's weights by the exact binary fraction
    // (1 + c / 4096) makes equal weighted counts impossible below 4096 rows per class, so
    // ties cannot occur and the tree is reproducible, at a negligible cost to split scores.
    let weights: Array1<f32> = data
        .y
        .iter()
        .enumerate()
        .map(|(row_idx, class_idx)| {
            let base = data.weights.map_or(1.0, |weights| weights[row_idx] as f32);
            base * (1.0 + *class_idx as f32 / 4096.0)
        })
        .collect();
    let dataset =
        Dataset::new(data.x.to_owned(), Array1::from(data.y.to_vec())).with_weights(weights);
    let fitted = linfa_trees::DecisionTree::params()
        .max_depth(max_depth)
        .min_weight_leaf(min_weight_leaf)
        .min_weight_split(2.0 * min_weight_leaf)
        .fit(&dataset)
        .map_err(|error| library("decision_tree")(error.to_string()))?;
    // linfa's leaves only keep the majority class; probabilities need the class frequencies,
    // so the tree is copied into a flat tree and the training rows are routed to its leaves.
    let mut nodes = Vec::new();
    let mut n_leaves = 0;
    copy_linfa_node(
        fitted.root_node(),
        data.n_classes,
        &mut n_leaves,
        &mut nodes,
    );
    let mut tree = FlatTree {
        nodes,
        values: Vec::new(),
        n_values: data.n_classes,
    };
    let mut counts = vec![0.0; n_leaves * data.n_classes];
    for (row_idx, (row, class_idx)) in data.x.rows().into_iter().zip(data.y).enumerate() {
        if let Some(offset) = tree.leaf_offset(&row.to_vec()) {
            counts[offset + class_idx] += data.weights.map_or(1.0, |weights| weights[row_idx]);
        }
    }
    for leaf in counts.chunks_mut(data.n_classes) {
        let total: f64 = leaf.iter().sum();
        if total > 0.0 {
            leaf.iter_mut().for_each(|count| *count /= total);
        }
    }
    tree.values = counts;
    Ok(Classifier::DecisionTree(tree))
}

/// Copies a linfa tree depth-first; leaves get consecutive value offsets.
fn copy_linfa_node(
    node: &linfa_trees::TreeNode<f64, usize>,
    n_classes: usize,
    n_leaves: &mut usize,
    nodes: &mut Vec<TreeNode>,
) -> u32 {
    let node_idx = nodes.len() as u32;
    let children = node.children();
    if let (false, Some(left), Some(right)) = (node.is_leaf(), children[0], children[1]) {
        nodes.push(TreeNode::Leaf { offset: 0 });
        let (feature, threshold, _) = node.split();
        let left = copy_linfa_node(left, n_classes, n_leaves, nodes);
        let right = copy_linfa_node(right, n_classes, n_leaves, nodes);
        nodes[node_idx as usize] = TreeNode::Split {
            feature: feature as u32,
            threshold,
            left,
            right,
        };
    } else {
        nodes.push(TreeNode::Leaf {
            offset: (*n_leaves * n_classes) as u32,
        });
        *n_leaves += 1;
    }
    node_idx
}

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

fn fit_random_forest(
    n_trees: usize,
    max_depth: Option<usize>,
    min_samples_leaf: usize,
    max_features_fraction: f64,
    data: &FitData<'_>,
    seed: u64,
) -> Classifier {
    let n_features = data.x.ncols();
    let max_features = if max_features_fraction <= 0.0 {
        (n_features as f64).sqrt().round() as usize
    } else {
        (n_features as f64 * max_features_fraction).ceil() as usize
    }
    .clamp(1, n_features.max(1));
    let growth = Growth {
        max_depth,
        min_samples_split: 2,
        min_samples_leaf,
        max_features: Some(max_features),
    };
    let binned = Binned::new(data.x);
    // Each tree has its own generator derived from the seed and its index, so the forest is
    // identical whatever order rayon runs the trees in.
    let trees = (0..n_trees)
        .into_par_iter()
        .map(|tree_idx| {
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(
                seed ^ (tree_idx as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
            );
            let weights = bootstrap_weights(data.y.len(), data.weights, &mut rng);
            let rows: Vec<usize> = (0..data.y.len())
                .filter(|row| weights[*row] > 0.0)
                .collect();
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
        .collect();
    Classifier::RandomForest(trees)
}

fn fit_boosting(
    n_rounds: usize,
    learning_rate: f64,
    max_depth: usize,
    min_samples_leaf: usize,
    lambda: f64,
    subsample: f64,
    data: &FitData<'_>,
    seed: u64,
) -> Classifier {
    let n_rows = data.y.len();
    let binary = data.n_classes == 2;
    let n_outputs = if binary { 1 } else { data.n_classes };
    let weights: Vec<f64> = data
        .weights
        .map_or_else(|| vec![1.0; n_rows], <[f64]>::to_vec);
    let total_weight: f64 = weights.iter().sum();
    let mut class_weight = vec![0.0; data.n_classes];
    for (class_idx, weight) in data.y.iter().zip(&weights) {
        class_weight[*class_idx] += weight;
    }
    // Start from the log prior odds (binary) or log priors (multiclass); absent classes get a
    // very negative score rather than -inf so that arithmetic stays finite.
    let base_scores: Vec<f64> = if binary {
        let p = (class_weight[data.positive_class] / total_weight).clamp(1e-6, 1.0 - 1e-6);
        vec![(p / (1.0 - p)).ln()]
    } else {
        class_weight
            .iter()
            .map(|weight| (weight / total_weight).max(1e-6).ln())
            .collect()
    };
    let mut scores: Vec<Vec<f64>> = vec![base_scores.clone(); n_rows];
    let growth = Growth {
        max_depth: Some(max_depth),
        min_samples_split: 2,
        min_samples_leaf,
        max_features: None,
    };
    let binned = Binned::new(data.x);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut rounds = Vec::with_capacity(n_rounds);
    let mut gradients = vec![0.0; n_rows];
    let mut hessians = vec![0.0; n_rows];
    for _ in 0..n_rounds {
        let rows: Vec<usize> = if subsample < 1.0 {
            (0..n_rows)
                .filter(|_| rng.gen_bool(subsample.clamp(0.05, 1.0)))
                .collect()
        } else {
            (0..n_rows).collect()
        };
        let mut round = Vec::with_capacity(n_outputs);
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
        for output in 0..n_outputs {
            for row in 0..n_rows {
                let (p, target) = if binary {
                    (
                        model::classifier::sigmoid(scores[row][0]),
                        f64::from(u8::from(data.y[row] == data.positive_class)),
                    )
                } else {
                    (
                        snapshot[row][output],
                        f64::from(u8::from(data.y[row] == output)),
                    )
                };
                gradients[row] = weights[row] * (p - target);
                hessians[row] = weights[row] * (p * (1.0 - p)).max(1e-6);
            }
            let tree = grow(
                &binned,
                rows.clone(),
                Target::Gradient {
                    gradients: &gradients,
                    hessians: &hessians,
                    lambda,
                },
                growth,
                &mut rng,
            );
            for (row, input) in data.x.rows().into_iter().enumerate() {
                let value = match input.as_slice() {
                    Some(slice) => tree.leaf(slice).first().copied(),
                    None => tree.leaf(&input.to_vec()).first().copied(),
                };
                scores[row][output] += learning_rate * value.unwrap_or(0.0);
            }
            round.push(tree);
        }
        rounds.push(round);
    }
    Classifier::GradientBoosting(Boosting {
        base_scores,
        learning_rate,
        trees: rounds,
    })
}

/// One binary RBF machine: fitted by linfa-svm, Platt-scaled by linfa's Newton method, and
/// copied into `SvmBinary` (support vectors are the training rows with non-zero dual weight).
fn fit_svm_binary(
    x: ArrayView2<'_, f64>,
    positive: &[bool],
    c_pos: f64,
    c_neg: f64,
    kernel_eps: f64,
) -> Result<SvmBinary, FitError> {
    let dataset = Dataset::new(x.to_owned(), Array1::from(positive.to_vec()));
    let fitted = linfa_svm::Svm::<f64, bool>::params()
        .pos_neg_weights(c_pos, c_neg)
        .gaussian_kernel(kernel_eps)
        .fit(&dataset)
        .map_err(|error| library("svm")(error.to_string()))?;
    let cutoff = 100.0 * f64::EPSILON;
    let mut support_vectors = Vec::new();
    let mut coefficients = Vec::new();
    for (row, alpha) in x.rows().into_iter().zip(&fitted.alpha) {
        if alpha.abs() > cutoff {
            support_vectors.extend(row.iter().copied());
            coefficients.push(*alpha);
        }
    }
    let mut machine = SvmBinary {
        support_vectors,
        coefficients,
        rho: fitted.rho,
        kernel_eps,
        platt_a: 0.0,
        platt_b: 0.0,
        n_inputs: x.ncols(),
    };
    let decisions: Array1<f64> = x
        .rows()
        .into_iter()
        .map(|row| fitted.weighted_sum(&row) - fitted.rho)
        .collect();
    let targets = Array1::from(positive.to_vec());
    let platt = PlattParams::<f64, ()>::default()
        .check()
        .map_err(|error| library("svm")(error.to_string()))?;
    let (a, b) = platt_newton_method(decisions.view(), targets.view(), &platt)
        .map_err(|error| library("svm")(format!("Platt scaling: {error}")))?;
    machine.platt_a = a;
    machine.platt_b = b;
    Ok(machine)
}

fn fit_svm(c: f64, gamma_scale: f64, data: &FitData<'_>) -> Result<Classifier, FitError> {
    let present = present_classes(data.y, data.n_classes);
    if present.len() < 2 {
        return Err(FitError::TooFewClasses {
            model: "svm",
            n_present: present.len(),
        });
    }
    // linfa's kernel is exp(-d^2 / eps), so eps = 1 / gamma with gamma = gamma_scale / n_inputs.
    let kernel_eps = data.x.ncols().max(1) as f64 / gamma_scale;
    let class_weight = |class_idx: usize| -> f64 {
        data.weights.map_or(1.0, |weights| {
            let rows: Vec<f64> = data
                .y
                .iter()
                .zip(weights)
                .filter(|(y, _)| **y == class_idx)
                .map(|(_, w)| *w)
                .collect();
            if rows.is_empty() {
                1.0
            } else {
                rows.iter().sum::<f64>() / rows.len() as f64
            }
        })
    };
    if data.n_classes == 2 {
        let positive: Vec<bool> = data
            .y
            .iter()
            .map(|class_idx| *class_idx == data.positive_class)
            .collect();
        let negative_class = 1 - data.positive_class;
        let machine = fit_svm_binary(
            data.x,
            &positive,
            c * class_weight(data.positive_class),
            c * class_weight(negative_class),
            kernel_eps,
        )?;
        return Ok(Classifier::Svm(vec![machine]));
    }
    // One-vs-rest; a class absent from the training rows gets a machine that always says 0.
    let machines = (0..data.n_classes)
        .into_par_iter()
        .map(|class_idx| {
            if !present.contains(&class_idx) {
                return Ok(SvmBinary {
                    support_vectors: Vec::new(),
                    coefficients: Vec::new(),
                    rho: 0.0,
                    kernel_eps,
                    platt_a: 0.0,
                    platt_b: 50.0,
                    n_inputs: data.x.ncols(),
                });
            }
            let positive: Vec<bool> = data.y.iter().map(|y| *y == class_idx).collect();
            let rest_weight = {
                let others: Vec<usize> = present
                    .iter()
                    .copied()
                    .filter(|other| *other != class_idx)
                    .collect();
                others.iter().map(|other| class_weight(*other)).sum::<f64>()
                    / others.len().max(1) as f64
            };
            fit_svm_binary(
                data.x,
                &positive,
                c * class_weight(class_idx),
                c * rest_weight,
                kernel_eps,
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Classifier::Svm(machines))
}

fn fit_naive_bayes(var_smoothing: f64, data: &FitData<'_>) -> Result<Classifier, FitError> {
    let present = present_classes(data.y, data.n_classes);
    if present.len() < 2 {
        return Err(FitError::TooFewClasses {
            model: "gaussian_naive_bayes",
            n_present: present.len(),
        });
    }
    let dataset = Dataset::new(data.x.to_owned(), Array1::from(data.y.to_vec()));
    let fitted = linfa_bayes::GaussianNb::params()
        .var_smoothing(var_smoothing)
        .fit(&dataset)
        .map_err(|error| library("gaussian_naive_bayes")(error.to_string()))?;
    // linfa-bayes keeps its per-class parameters private; its serde form is the documented
    // way to read them. The conversion is checked against linfa's own predictions in tests.
    let value = serde_json::to_value(&fitted)
        .map_err(|error| library("gaussian_naive_bayes")(error.to_string()))?;
    let n_inputs = data.x.ncols();
    let mut means = vec![0.0; data.n_classes * n_inputs];
    let mut variances = vec![1.0; data.n_classes * n_inputs];
    let mut log_priors = vec![f64::NEG_INFINITY; data.n_classes];
    let class_info = value
        .get("class_info")
        .and_then(|info| info.as_object())
        .ok_or_else(|| {
            library("gaussian_naive_bayes")("unexpected serialised form: no `class_info`".into())
        })?;
    let array = |info: &serde_json::Value, key: &str| -> Option<Vec<f64>> {
        info.get(key)?
            .get("data")?
            .as_array()?
            .iter()
            .map(|v| v.as_f64())
            .collect()
    };
    for (class_key, info) in class_info {
        let parsed = class_key
            .parse::<usize>()
            .ok()
            .filter(|class_idx| *class_idx < data.n_classes);
        let (Some(class_idx), Some(theta), Some(sigma), Some(prior)) = (
            parsed,
            array(info, "theta"),
            array(info, "sigma"),
            info.get("prior").and_then(|prior| prior.as_f64()),
        ) else {
            return Err(library("gaussian_naive_bayes")(format!(
                "unexpected serialised class `{class_key}`"
            )));
        };
        if theta.len() != n_inputs || sigma.len() != n_inputs {
            return Err(library("gaussian_naive_bayes")(
                "parameter length mismatch".into(),
            ));
        }
        means[class_idx * n_inputs..(class_idx + 1) * n_inputs].copy_from_slice(&theta);
        variances[class_idx * n_inputs..(class_idx + 1) * n_inputs].copy_from_slice(&sigma);
        log_priors[class_idx] = prior.ln();
    }
    Ok(Classifier::NaiveBayes(GaussianNb {
        means,
        variances,
        log_priors,
        n_inputs,
    }))
}

/// Probabilities of many inputs from a fitted classifier (used by tests and tuning).
pub fn predict_inputs(
    classifier: &Classifier,
    x: ArrayView2<'_, f64>,
    n_classes: usize,
    positive_class: usize,
) -> Array2<f64> {
    let mut out = Array2::zeros((x.nrows(), n_classes));
    for (row, mut target) in x.axis_iter(Axis(0)).zip(out.axis_iter_mut(Axis(0))) {
        let mut probabilities = vec![0.0; n_classes];
        classifier.predict_proba(&row.to_vec(), n_classes, positive_class, &mut probabilities);
        target.assign(&Array1::from(probabilities));
    }
    out
}
