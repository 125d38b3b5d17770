//! Per-record explanations: how much each feature moved one prediction away from the model's
//! average, in the model's own output scale.
//!
//! Three methods, chosen by the classifier (one place: [`Method::for_classifier`]):
//!
//! - **Exact linear** (logistic regression): a feature's contribution is its coefficient times
//!   the distance of its model input from the training mean, on the log-odds (or, for several
//!   classes, the class logit); the base value is the logit of the training mean.
//! - **TreeSHAP** (decision tree, forests, gradient boosting): the path-dependent algorithm of
//!   Lundberg, Erion and Lee (2018), which weighs each unvisited branch by the training rows
//!   that reached it (each node's *cover*, stored in the tree). Forests and trees explain the
//!   class probability, boosting the log-odds (or class logit).
//! - **Sampled Shapley** (k-nearest neighbours, SVM, naive Bayes): permutation sampling against
//!   a stored background summary (weighted centroids of the training inputs), with antithetic
//!   permutations and a fixed seed, so the same record always gets the same answer. Each
//!   contribution carries its standard error.
//!
//! All three are additive: the base value plus the contributions equals the explained output
//! (to rounding for the exact methods and, because every sampled permutation telescopes from a
//! background point to the record, for the sampled one too). One-hot inputs and missing-value
//! indicators are summed into the feature they came from. A calibration, if the pipeline has
//! one, is applied after the explained output and is not part of it.

use serde::{Deserialize, Serialize};

use crate::classifier::{Boosting, Classifier, FlatTree, Linear, TreeNode};
use crate::pipeline::Pipeline;

/// How contributions are computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Coefficient times centred input (logistic regression).
    ExactLinear,
    /// Path-dependent TreeSHAP over node covers (trees, forests, boosting).
    TreeShap,
    /// Permutation-sampled Shapley values against a background summary.
    SampledShapley,
}

/// The scale of the explained output, and so of the base value and every contribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scale {
    /// Log-odds of the positive class (binary models with one output).
    LogOdds,
    /// The class's softmax logit (multiclass linear and boosted models).
    Logit,
    /// The class probability (trees, forests and the sampled methods).
    Probability,
}

impl Method {
    /// The method that explains this classifier.
    pub fn for_classifier(classifier: &Classifier) -> Method {
        match classifier {
            Classifier::Logistic(_) => Method::ExactLinear,
            Classifier::DecisionTree(_)
            | Classifier::Forest(_)
            | Classifier::GradientBoosting(_) => Method::TreeShap,
            Classifier::Knn(_)
            | Classifier::Svm(_)
            | Classifier::NaiveBayes(_)
            | Classifier::SoftVote(_)
            | Classifier::Stacked(_) => Method::SampledShapley,
        }
    }

    /// Words for model cards and the API documentation.
    pub fn describe(self) -> &'static str {
        match self {
            Method::ExactLinear => "exact: coefficient × (input − training mean)",
            Method::TreeShap => "exact: path-dependent TreeSHAP (Lundberg et al. 2018)",
            Method::SampledShapley => {
                "sampled Shapley values against a background summary of the training rows"
            }
        }
    }
}

/// What the artifact keeps so that any record can be explained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Explainer {
    /// Mean of each model input over the final fit's training rows (the linear base point).
    pub input_means: Vec<f64>,
    /// Weighted centroids of the training inputs, for the sampled method (absent otherwise).
    pub background: Option<Background>,
    /// Seed of the sampled method's permutations.
    pub seed: u64,
    /// Antithetic permutation pairs per background point.
    pub pairs_per_point: usize,
}

/// A small weighted summary of the training inputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Background {
    /// Centroids, row-major, `n_inputs` per centroid.
    pub points: Vec<f64>,
    /// Share of training rows nearest each centroid; sums to one.
    pub weights: Vec<f64>,
    /// Model inputs per centroid.
    pub n_inputs: usize,
}

/// One record's explanation.
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    /// How it was computed.
    pub method: Method,
    /// The scale of `base_value`, `contributions` and `output_value`.
    pub scale: Scale,
    /// The class whose output is explained (the positive class, or the decided class).
    pub class_idx: usize,
    /// The model's average output (over the covers, the training mean or the background).
    pub base_value: f64,
    /// One contribution per schema feature, in schema order.
    pub contributions: Vec<f64>,
    /// Standard error of each contribution (sampled method only).
    pub standard_errors: Option<Vec<f64>>,
    /// The explained output for this record, computed directly from the model (not summed).
    pub output_value: f64,
}

/// Why a record cannot be explained.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ExplainError {
    /// A tree lacks the node covers TreeSHAP weighs branches by.
    #[error("tree {tree_idx} has no node covers (the artifact predates explanations): retrain")]
    MissingCovers {
        /// Which tree.
        tree_idx: usize,
    },
    /// The sampled method needs a background summary and the artifact has none.
    #[error("the artifact has no background summary for sampled explanations: retrain")]
    MissingBackground,
    /// The class is not one of the model's outputs.
    #[error("class index {class_idx} is not an output of this model")]
    UnknownClass {
        /// The class index asked for.
        class_idx: usize,
    },
}

/// The class an explanation is about: the positive class of a binary task, otherwise the
/// decided class.
pub fn target_class(pipeline: &Pipeline, label_idx: usize) -> usize {
    if pipeline.n_classes == 2 {
        pipeline.positive_class
    } else {
        label_idx
    }
}

impl Explainer {
    /// Explains the classifier's output for class `class_idx` on a raw row.
    pub fn explain(
        &self,
        pipeline: &Pipeline,
        raw: &[f64],
        class_idx: usize,
    ) -> Result<Explanation, ExplainError> {
        if class_idx >= pipeline.n_classes {
            return Err(ExplainError::UnknownClass { class_idx });
        }
        let mut inputs = Vec::new();
        pipeline.preprocessor.transform_into(raw, &mut inputs);
        let sources = pipeline.preprocessor.input_sources();
        let n_features = pipeline.preprocessor.columns.len();
        let output = Output::new(pipeline, class_idx);
        let method = Method::for_classifier(&pipeline.classifier);
        let (base_value, input_contributions, standard_errors) = match &pipeline.classifier {
            Classifier::Logistic(linear) => {
                let (base, contributions) = self.linear(linear, &inputs, output.row);
                (base, contributions, None)
            }
            Classifier::DecisionTree(tree) => {
                let (base, contributions) =
                    tree_contributions(std::slice::from_ref(tree), &inputs, class_idx, 1.0)?;
                (base, contributions, None)
            }
            Classifier::Forest(trees) => {
                let share = 1.0 / trees.len().max(1) as f64;
                let (base, contributions) = tree_contributions(trees, &inputs, class_idx, share)?;
                (base, contributions, None)
            }
            Classifier::GradientBoosting(boosting) => {
                let (base, contributions) = boosting_contributions(boosting, &inputs, output.row)?;
                (base, contributions, None)
            }
            Classifier::Knn(_)
            | Classifier::Svm(_)
            | Classifier::NaiveBayes(_)
            | Classifier::SoftVote(_)
            | Classifier::Stacked(_) => {
                let background = self
                    .background
                    .as_ref()
                    .ok_or(ExplainError::MissingBackground)?;
                let sampled = self.sampled(&output, background, &inputs, &sources, n_features);
                return Ok(Explanation {
                    method,
                    scale: output.scale,
                    class_idx,
                    base_value: sampled.base_value,
                    contributions: sampled.contributions,
                    standard_errors: Some(sampled.standard_errors),
                    output_value: output.value(&inputs),
                });
            }
        };
        let mut contributions = vec![0.0; n_features];
        for (input_idx, contribution) in input_contributions.iter().enumerate() {
            if let Some(slot) = sources
                .get(input_idx)
                .and_then(|f| contributions.get_mut(*f))
            {
                *slot += contribution;
            }
        }
        Ok(Explanation {
            method,
            scale: output.scale,
            class_idx,
            base_value,
            contributions,
            standard_errors,
            output_value: output.value(&inputs),
        })
    }

    /// Coefficient × (input − training mean); the base is the logit at the training mean.
    fn linear(&self, linear: &Linear, inputs: &[f64], row: usize) -> (f64, Vec<f64>) {
        let weights = linear
            .weights
            .get(row * linear.n_inputs..(row + 1) * linear.n_inputs)
            .unwrap_or(&[]);
        let mut base = linear.intercepts.get(row).copied().unwrap_or(0.0);
        let mut contributions = vec![0.0; inputs.len()];
        for (input_idx, weight) in weights.iter().enumerate() {
            let mean = self.input_means.get(input_idx).copied().unwrap_or(0.0);
            let input = inputs.get(input_idx).copied().unwrap_or(0.0);
            base += weight * mean;
            contributions[input_idx] = weight * (input - mean);
        }
        (base, contributions)
    }

    /// Permutation sampling: for every background point, `pairs_per_point` seeded permutations
    /// and their reverses switch feature groups from the point's values to the record's one at
    /// a time; each switch's change in output is that feature's marginal contribution.
    fn sampled(
        &self,
        output: &Output<'_>,
        background: &Background,
        inputs: &[f64],
        sources: &[usize],
        n_features: usize,
    ) -> Sampled {
        let n_inputs = background.n_inputs;
        let pairs = self.pairs_per_point.max(2);
        let mut rng = SplitMix64(self.seed);
        let mut contributions = vec![0.0; n_features];
        let mut variances = vec![0.0; n_features];
        let mut base_value = 0.0;
        let mut order: Vec<usize> = (0..n_features).collect();
        let mut point_sum = vec![0.0; n_features];
        let mut point_sum_sq = vec![0.0; n_features];
        let mut pair_delta = vec![0.0; n_features];
        let mut probe = vec![0.0; n_inputs];
        for (point, weight) in background
            .points
            .chunks_exact(n_inputs.max(1))
            .zip(&background.weights)
        {
            base_value += weight * output.value(point);
            point_sum.iter_mut().for_each(|value| *value = 0.0);
            point_sum_sq.iter_mut().for_each(|value| *value = 0.0);
            for _ in 0..pairs {
                rng.shuffle(&mut order);
                pair_delta.iter_mut().for_each(|value| *value = 0.0);
                for reverse in [false, true] {
                    probe.copy_from_slice(point);
                    let mut previous = output.value(&probe);
                    for step in 0..n_features {
                        let feature_idx = if reverse {
                            order[n_features - 1 - step]
                        } else {
                            order[step]
                        };
                        for (input_idx, source) in sources.iter().enumerate() {
                            if *source == feature_idx {
                                probe[input_idx] = inputs[input_idx];
                            }
                        }
                        let current = output.value(&probe);
                        pair_delta[feature_idx] += 0.5 * (current - previous);
                        previous = current;
                    }
                }
                for feature_idx in 0..n_features {
                    point_sum[feature_idx] += pair_delta[feature_idx];
                    point_sum_sq[feature_idx] += pair_delta[feature_idx] * pair_delta[feature_idx];
                }
            }
            let n = pairs as f64;
            for feature_idx in 0..n_features {
                let mean = point_sum[feature_idx] / n;
                let variance = ((point_sum_sq[feature_idx] - n * mean * mean) / (n - 1.0)).max(0.0);
                contributions[feature_idx] += weight * mean;
                variances[feature_idx] += weight * weight * variance / n;
            }
        }
        Sampled {
            base_value,
            contributions,
            standard_errors: variances.into_iter().map(f64::sqrt).collect(),
        }
    }
}

struct Sampled {
    base_value: f64,
    contributions: Vec<f64>,
    standard_errors: Vec<f64>,
}

/// The explained output of a classifier for one class, on model inputs.
struct Output<'a> {
    pipeline: &'a Pipeline,
    class_idx: usize,
    /// The weight row (linear) or output (boosting) that scores the class.
    row: usize,
    scale: Scale,
}

impl<'a> Output<'a> {
    fn new(pipeline: &'a Pipeline, class_idx: usize) -> Self {
        let single_output = |n_outputs: usize| pipeline.n_classes == 2 && n_outputs == 1;
        let (row, scale) = match &pipeline.classifier {
            Classifier::Logistic(linear) if single_output(linear.intercepts.len()) => {
                (0, Scale::LogOdds)
            }
            Classifier::GradientBoosting(boosting) if single_output(boosting.base_scores.len()) => {
                (0, Scale::LogOdds)
            }
            Classifier::Logistic(_) | Classifier::GradientBoosting(_) => (class_idx, Scale::Logit),
            _ => (class_idx, Scale::Probability),
        };
        Output {
            pipeline,
            class_idx,
            row,
            scale,
        }
    }

    /// The output for these model inputs, computed the way prediction computes it.
    fn value(&self, inputs: &[f64]) -> f64 {
        match &self.pipeline.classifier {
            Classifier::Logistic(linear) => {
                let weights = linear
                    .weights
                    .get(self.row * linear.n_inputs..(self.row + 1) * linear.n_inputs)
                    .unwrap_or(&[]);
                let dot: f64 = weights.iter().zip(inputs).map(|(w, x)| w * x).sum();
                dot + linear.intercepts.get(self.row).copied().unwrap_or(0.0)
            }
            Classifier::GradientBoosting(boosting) => boosting.score(inputs, self.row),
            classifier => {
                let mut probabilities = vec![0.0; self.pipeline.n_classes];
                classifier.predict_proba(
                    inputs,
                    self.pipeline.n_classes,
                    self.pipeline.positive_class,
                    &mut probabilities,
                );
                probabilities
                    .get(self.class_idx)
                    .copied()
                    .unwrap_or(f64::NAN)
            }
        }
    }
}

impl Boosting {
    /// The raw score of one output: base score plus the shrunken leaf values of its trees.
    pub fn score(&self, inputs: &[f64], output: usize) -> f64 {
        let mut score = self.base_scores.get(output).copied().unwrap_or(0.0);
        for round in &self.trees {
            if let Some(tree) = round.get(output) {
                score += self.learning_rate * tree.leaf(inputs).first().unwrap_or(&0.0);
            }
        }
        score
    }
}

/// TreeSHAP summed over trees, each scaled by `share`; returns (base value, per-input values).
fn tree_contributions(
    trees: &[FlatTree],
    inputs: &[f64],
    value_idx: usize,
    share: f64,
) -> Result<(f64, Vec<f64>), ExplainError> {
    let mut contributions = vec![0.0; inputs.len()];
    let mut base = 0.0;
    let mut shap = TreeShap::default();
    for (tree_idx, tree) in trees.iter().enumerate() {
        if tree.covers.len() != tree.nodes.len() {
            return Err(ExplainError::MissingCovers { tree_idx });
        }
        base += share * shap.explain(tree, inputs, value_idx, share, &mut contributions);
    }
    Ok((base, contributions))
}

fn boosting_contributions(
    boosting: &Boosting,
    inputs: &[f64],
    output: usize,
) -> Result<(f64, Vec<f64>), ExplainError> {
    let mut contributions = vec![0.0; inputs.len()];
    let mut base = boosting.base_scores.get(output).copied().unwrap_or(0.0);
    let mut shap = TreeShap::default();
    for (round_idx, round) in boosting.trees.iter().enumerate() {
        let Some(tree) = round.get(output) else {
            continue;
        };
        if tree.covers.len() != tree.nodes.len() {
            return Err(ExplainError::MissingCovers {
                tree_idx: round_idx,
            });
        }
        let rate = boosting.learning_rate;
        base += rate * shap.explain(tree, inputs, 0, rate, &mut contributions);
    }
    Ok((base, contributions))
}

/// One element of TreeSHAP's feature path.
#[derive(Debug, Clone, Copy, Default)]
struct PathElement {
    /// Model input split on (`usize::MAX` for the root's placeholder).
    feature: usize,
    /// Share of the cover that flows this way when the feature is unknown.
    zero_fraction: f64,
    /// 1 if the record goes this way, 0 otherwise.
    one_fraction: f64,
    /// Permutation weight of subsets of this size.
    weight: f64,
}

/// Scratch space for TreeSHAP, reused across the trees of one explanation.
#[derive(Default)]
struct TreeShap {
    /// The path of every recursion level, each level after its parent's.
    path: Vec<PathElement>,
}

/// What one recursion step carries in from its parent.
#[derive(Clone, Copy)]
struct Incoming {
    zero_fraction: f64,
    one_fraction: f64,
    feature: usize,
}

impl TreeShap {
    /// Adds `scale` × this tree's SHAP values for leaf value `value_idx` to `contributions`;
    /// returns the tree's expected value over its covers.
    fn explain(
        &mut self,
        tree: &FlatTree,
        inputs: &[f64],
        value_idx: usize,
        scale: f64,
        contributions: &mut [f64],
    ) -> f64 {
        let depth = tree.max_depth();
        let needed = (depth + 3) * (depth + 4) / 2;
        if self.path.len() < needed {
            self.path.resize(needed, PathElement::default());
        }
        let walk = Walk {
            tree,
            inputs,
            value_idx,
            scale,
        };
        let root = Incoming {
            zero_fraction: 1.0,
            one_fraction: 1.0,
            feature: usize::MAX,
        };
        walk.recurse(0, &mut self.path, 0, 0, root, contributions, 0);
        walk.expected_value(0, 0)
    }
}

/// One tree's TreeSHAP walk.
struct Walk<'a> {
    tree: &'a FlatTree,
    inputs: &'a [f64],
    value_idx: usize,
    scale: f64,
}

impl Walk<'_> {
    fn leaf_value(&self, offset: u32) -> f64 {
        self.tree
            .values
            .get(offset as usize + self.value_idx)
            .copied()
            .unwrap_or(0.0)
    }

    /// The tree's mean leaf value, each branch weighed by its share of its parent's cover.
    fn expected_value(&self, node_idx: usize, depth: usize) -> f64 {
        match self.tree.nodes.get(node_idx) {
            Some(TreeNode::Leaf { offset }) => self.leaf_value(*offset),
            Some(TreeNode::Split { left, right, .. }) if depth < self.tree.nodes.len() => {
                let (left_share, right_share) = self.shares(node_idx, *left, *right);
                left_share * self.expected_value(*left as usize, depth + 1)
                    + right_share * self.expected_value(*right as usize, depth + 1)
            }
            _ => 0.0,
        }
    }

    /// The children's shares of a node's cover (halves when the node has no cover).
    fn shares(&self, node_idx: usize, left: u32, right: u32) -> (f64, f64) {
        let cover = |idx: usize| self.tree.covers.get(idx).copied().unwrap_or(0.0);
        let parent = cover(node_idx);
        if parent > 0.0 {
            (
                cover(left as usize) / parent,
                cover(right as usize) / parent,
            )
        } else {
            (0.5, 0.5)
        }
    }

    /// Algorithm 2 of Lundberg et al. (2018), with the path of this level stored at
    /// `path[start..]` and its parent's at `path[parent_start..]`.
    #[allow(clippy::too_many_arguments)]
    fn recurse(
        &self,
        node_idx: usize,
        path: &mut [PathElement],
        parent_start: usize,
        mut unique_depth: usize,
        incoming: Incoming,
        contributions: &mut [f64],
        level: usize,
    ) {
        let start = parent_start + unique_depth + 1;
        if level > self.tree.nodes.len() || start + unique_depth + 2 > path.len() {
            return;
        }
        path.copy_within(parent_start..parent_start + unique_depth + 1, start);
        let here = &mut path[start..];
        extend(here, unique_depth, incoming);
        match self.tree.nodes.get(node_idx) {
            Some(TreeNode::Leaf { offset }) => {
                let value = self.leaf_value(*offset);
                for element_idx in 1..=unique_depth {
                    let weight = unwound_sum(here, unique_depth, element_idx);
                    let element = here[element_idx];
                    if let Some(slot) = contributions.get_mut(element.feature) {
                        *slot += self.scale
                            * weight
                            * (element.one_fraction - element.zero_fraction)
                            * value;
                    }
                }
            }
            Some(TreeNode::Split {
                feature,
                threshold,
                left,
                right,
            }) => {
                let feature = *feature as usize;
                let goes_left =
                    self.tree
                        .goes_left(node_idx, self.inputs, feature as u32, *threshold);
                let (hot, cold) = if goes_left {
                    (*left, *right)
                } else {
                    (*right, *left)
                };
                let (left_share, right_share) = self.shares(node_idx, *left, *right);
                let (hot_share, cold_share) = if goes_left {
                    (left_share, right_share)
                } else {
                    (right_share, left_share)
                };
                // A feature already on the path is taken off first: it splits once per path.
                let mut incoming_zero = 1.0;
                let mut incoming_one = 1.0;
                if let Some(found) = (1..=unique_depth).find(|idx| here[*idx].feature == feature) {
                    incoming_zero = here[found].zero_fraction;
                    incoming_one = here[found].one_fraction;
                    unwind(here, unique_depth, found);
                    unique_depth -= 1;
                }
                let step = |zero_fraction, one_fraction| Incoming {
                    zero_fraction,
                    one_fraction,
                    feature,
                };
                self.recurse(
                    hot as usize,
                    path,
                    start,
                    unique_depth + 1,
                    step(hot_share * incoming_zero, incoming_one),
                    contributions,
                    level + 1,
                );
                self.recurse(
                    cold as usize,
                    path,
                    start,
                    unique_depth + 1,
                    step(cold_share * incoming_zero, 0.0),
                    contributions,
                    level + 1,
                );
            }
            None => {}
        }
    }
}

/// Appends an element to the path and updates the subset-size weights.
fn extend(path: &mut [PathElement], unique_depth: usize, incoming: Incoming) {
    path[unique_depth] = PathElement {
        feature: incoming.feature,
        zero_fraction: incoming.zero_fraction,
        one_fraction: incoming.one_fraction,
        weight: if unique_depth == 0 { 1.0 } else { 0.0 },
    };
    let length = (unique_depth + 1) as f64;
    for idx in (0..unique_depth).rev() {
        path[idx + 1].weight +=
            incoming.one_fraction * path[idx].weight * (idx + 1) as f64 / length;
        path[idx].weight =
            incoming.zero_fraction * path[idx].weight * (unique_depth - idx) as f64 / length;
    }
}

/// Removes element `element_idx` from the path, undoing its [`extend`].
fn unwind(path: &mut [PathElement], unique_depth: usize, element_idx: usize) {
    let one_fraction = path[element_idx].one_fraction;
    let zero_fraction = path[element_idx].zero_fraction;
    let length = (unique_depth + 1) as f64;
    let mut next_one_portion = path[unique_depth].weight;
    for idx in (0..unique_depth).rev() {
        if one_fraction != 0.0 {
            let previous = path[idx].weight;
            path[idx].weight = next_one_portion * length / ((idx + 1) as f64 * one_fraction);
            next_one_portion =
                previous - path[idx].weight * zero_fraction * (unique_depth - idx) as f64 / length;
        } else {
            path[idx].weight =
                path[idx].weight * length / (zero_fraction * (unique_depth - idx) as f64);
        }
    }
    for idx in element_idx..unique_depth {
        path[idx].feature = path[idx + 1].feature;
        path[idx].zero_fraction = path[idx + 1].zero_fraction;
        path[idx].one_fraction = path[idx + 1].one_fraction;
    }
}

/// The total weight the path would have with element `element_idx` unwound, without changing it.
fn unwound_sum(path: &[PathElement], unique_depth: usize, element_idx: usize) -> f64 {
    let one_fraction = path[element_idx].one_fraction;
    let zero_fraction = path[element_idx].zero_fraction;
    let length = (unique_depth + 1) as f64;
    let mut next_one_portion = path[unique_depth].weight;
    let mut total = 0.0;
    for idx in (0..unique_depth).rev() {
        if one_fraction != 0.0 {
            let weight = next_one_portion * length / ((idx + 1) as f64 * one_fraction);
            total += weight;
            next_one_portion =
                path[idx].weight - weight * zero_fraction * (unique_depth - idx) as f64 / length;
        } else if zero_fraction != 0.0 {
            total += path[idx].weight * length / (zero_fraction * (unique_depth - idx) as f64);
        }
    }
    total
}

impl FlatTree {
    /// Depth of the deepest leaf (root = 0); a malformed tree's walk is cut at its node count.
    pub fn max_depth(&self) -> usize {
        let mut deepest = 0;
        let mut stack = vec![(0usize, 0usize)];
        while let Some((node_idx, depth)) = stack.pop() {
            if depth > self.nodes.len() {
                continue;
            }
            deepest = deepest.max(depth);
            if let Some(TreeNode::Split { left, right, .. }) = self.nodes.get(node_idx) {
                stack.push((*left as usize, depth + 1));
                stack.push((*right as usize, depth + 1));
            }
        }
        deepest
    }

    /// Adds `weight` to the cover of every node on `input`'s path (for trees built elsewhere,
    /// whose training rows are routed through them once after fitting).
    pub fn add_cover(&mut self, input: &[f64], weight: f64) {
        if self.covers.len() != self.nodes.len() {
            self.covers = vec![0.0; self.nodes.len()];
        }
        let mut node_idx = 0usize;
        for _ in 0..=self.nodes.len() {
            let Some(cover) = self.covers.get_mut(node_idx) else {
                return;
            };
            *cover += weight;
            match self.nodes[node_idx] {
                TreeNode::Split {
                    feature,
                    threshold,
                    left,
                    right,
                } => {
                    node_idx = if self.goes_left(node_idx, input, feature, threshold) {
                        left
                    } else {
                        right
                    } as usize;
                }
                TreeNode::Leaf { .. } => return,
            }
        }
    }
}

/// A tiny seeded generator (SplitMix64) for the sampled method's permutations: the inference
/// crate links no random-number library, and explanations only need well-mixed shuffles.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Fisher–Yates shuffle.
    fn shuffle(&mut self, values: &mut [usize]) {
        for idx in (1..values.len()).rev() {
            let other = (self.next() % (idx as u64 + 1)) as usize;
            values.swap(idx, other);
        }
    }
}
