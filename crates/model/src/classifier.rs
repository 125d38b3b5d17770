//! Fitted classifiers in a small, serialisable form that only needs arithmetic to predict.
//!
//! Training fits these with linfa (or our own tree code) and converts the result, so that the
//! server links no learning library and every model predicts through the same code path.

use serde::{Deserialize, Serialize};

use crate::compact::{WalkLayout, for_each_leaf_of_row, for_each_leaf_rows};

/// A binary tree stored as a flat node array; leaves hold a value vector.
///
/// Classification trees store class frequencies in their leaves (already normalised to sum to
/// one); regression trees used by gradient boosting store one value per leaf.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlatTree {
    /// Nodes; index 0 is the root.
    pub nodes: Vec<TreeNode>,
    /// Leaf values, `n_values` per leaf, addressed by `TreeNode::Leaf::offset`.
    pub values: Vec<f64>,
    /// Values per leaf.
    pub n_values: usize,
    /// Training weight that reached each node (same order as `nodes`): what TreeSHAP weighs
    /// unvisited branches by.
    pub covers: Vec<f64>,
    /// Per node, whether a missing (NaN) input goes left. Trees that never saw a missing
    /// input leave it empty: a NaN then goes right, as `NaN < threshold` is false. Histogram
    /// boosting learns the direction at every split from the training rows that were missing.
    pub missing_left: Vec<bool>,
    /// The layout prediction walks, built at the first prediction (not persisted).
    #[serde(skip)]
    pub layout: WalkLayout,
}

/// One node of a [`FlatTree`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum TreeNode {
    /// Go to `left` when `input[feature] < threshold`, else to `right`.
    Split {
        /// Model input index.
        feature: u32,
        /// Split point.
        threshold: f64,
        /// Node index taken below the threshold.
        left: u32,
        /// Node index taken at or above the threshold.
        right: u32,
    },
    /// A leaf whose values start at `offset` in `FlatTree::values`.
    Leaf {
        /// Start of this leaf's values.
        offset: u32,
    },
}

impl FlatTree {
    /// One step of a walk from node `node_idx`: the child `input` goes to, or the leaf's
    /// value offset, or `None` for a node index out of bounds (a malformed tree).
    fn step(&self, node_idx: usize, input: &[f64]) -> Option<Step> {
        match self.nodes.get(node_idx)? {
            TreeNode::Split {
                feature,
                threshold,
                left,
                right,
            } => Some(Step::Child(
                if self.goes_left(node_idx, input, *feature, *threshold) {
                    *left
                } else {
                    *right
                } as usize,
            )),
            TreeNode::Leaf { offset } => Some(Step::Leaf(*offset as usize)),
        }
    }

    /// The value offset of the leaf `input` reaches.
    ///
    /// Malformed trees (a child index out of bounds, a cycle) end the walk with `None` instead
    /// of panicking or looping: artifacts are checksummed, but the server must not hang.
    pub fn leaf_offset(&self, input: &[f64]) -> Option<usize> {
        let mut node_idx = 0usize;
        for _ in 0..=self.nodes.len() {
            match self.step(node_idx, input)? {
                Step::Child(child) => node_idx = child,
                Step::Leaf(offset) => return Some(offset),
            }
        }
        None
    }

    /// The leaf values at a value offset (empty if out of bounds).
    pub(crate) fn values_at(&self, offset: usize) -> &[f64] {
        self.values
            .get(offset..offset + self.n_values)
            .unwrap_or(&[])
    }

    /// The leaf values reached by `input` (empty for a malformed tree).
    pub fn leaf<'a>(&'a self, input: &[f64]) -> &'a [f64] {
        self.leaf_offset(input)
            .map_or(&[], |offset| self.values_at(offset))
    }

    /// Number of leaves.
    pub fn n_leaves(&self) -> usize {
        self.nodes
            .iter()
            .filter(|node| matches!(node, TreeNode::Leaf { .. }))
            .count()
    }
}

/// The routing rule of every split: below the threshold goes left. A missing input index reads
/// as 0, so a malformed tree cannot panic. Prediction, TreeSHAP and cover counting all use it.
impl FlatTree {
    /// Whether `input` goes left at split node `node_idx`: below the threshold, or missing
    /// when the node sends missing inputs left.
    #[inline]
    pub(crate) fn goes_left(
        &self,
        node_idx: usize,
        input: &[f64],
        feature: u32,
        threshold: f64,
    ) -> bool {
        let value = input.get(feature as usize).copied().unwrap_or(0.0);
        if value.is_nan() {
            self.missing_left.get(node_idx).copied().unwrap_or(false)
        } else {
            value < threshold
        }
    }
}

/// Where one step of a tree walk leads.
enum Step {
    /// Go on at this node.
    Child(usize),
    /// Stop at the leaf whose values start here.
    Leaf(usize),
}

/// Logistic regression: one weight row per output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Linear {
    /// `n_outputs` rows of `n_inputs` weights, row-major.
    pub weights: Vec<f64>,
    /// One intercept per output.
    pub intercepts: Vec<f64>,
    /// Number of model inputs.
    pub n_inputs: usize,
}

/// Gradient-boosted regression trees on the log-odds (binary) or softmax logits (multiclass).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Boosting {
    /// Starting score per output (log prior odds).
    pub base_scores: Vec<f64>,
    /// Shrinkage applied to every tree's output.
    pub learning_rate: f64,
    /// `trees[round][output]`.
    pub trees: Vec<Vec<FlatTree>>,
}

/// k-nearest neighbours over the stored (preprocessed) training rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Knn {
    /// Training inputs, row-major, `n_inputs` per row.
    pub points: Vec<f64>,
    /// Class index of each training row.
    pub labels: Vec<u32>,
    /// Number of model inputs.
    pub n_inputs: usize,
    /// Neighbours consulted.
    pub k: usize,
    /// Weight neighbours by inverse distance (otherwise uniformly).
    pub distance_weighted: bool,
}

/// A kernel support vector machine with Platt-scaled output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SvmBinary {
    /// Support vectors, row-major.
    pub support_vectors: Vec<f64>,
    /// Signed dual coefficient of each support vector.
    pub coefficients: Vec<f64>,
    /// Offset subtracted from the weighted kernel sum.
    pub rho: f64,
    /// Gaussian kernel width: `k(a, b) = exp(-|a - b|^2 / kernel_eps)`.
    pub kernel_eps: f64,
    /// Platt scaling: `p = 1 / (1 + exp(platt_a * f + platt_b))`.
    pub platt_a: f64,
    /// See `platt_a`.
    pub platt_b: f64,
    /// Number of model inputs.
    pub n_inputs: usize,
}

impl SvmBinary {
    /// Platt-scaled probability of the machine's positive side.
    pub fn probability(&self, input: &[f64]) -> f64 {
        let mut decision = -self.rho;
        if self.n_inputs > 0 {
            for (support, coefficient) in self
                .support_vectors
                .chunks_exact(self.n_inputs)
                .zip(&self.coefficients)
            {
                let squared: f64 = support
                    .iter()
                    .zip(input)
                    .map(|(a, b)| (a - b) * (a - b))
                    .sum();
                decision += coefficient * (-squared / self.kernel_eps).exp();
            }
        }
        let f_apb = self.platt_a * decision + self.platt_b;
        // The two branches avoid overflow in `exp` for large |f_apb|.
        if f_apb >= 0.0 {
            (-f_apb).exp() / (1.0 + (-f_apb).exp())
        } else {
            1.0 / (1.0 + f_apb.exp())
        }
    }
}

/// Gaussian naive Bayes: per-class means, variances and priors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GaussianNb {
    /// Per-class means, `n_classes` rows of `n_inputs`.
    pub means: Vec<f64>,
    /// Per-class variances (already smoothed), same layout.
    pub variances: Vec<f64>,
    /// Log prior of each class; `-inf` for a class absent from training.
    pub log_priors: Vec<f64>,
    /// Number of model inputs.
    pub n_inputs: usize,
}

/// Any of the seven supported classifiers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Classifier {
    /// Binary: one output (positive-class logit); multiclass: one per class (softmax).
    Logistic(Linear),
    /// A single classification tree.
    DecisionTree(FlatTree),
    /// Averaged class frequencies of many trees (random forest, extra trees).
    Forest(Vec<FlatTree>),
    /// Gradient-boosted trees.
    GradientBoosting(Boosting),
    /// k-nearest neighbours.
    Knn(Knn),
    /// Binary: one machine; multiclass: one-vs-rest machines, one per class.
    Svm(Vec<SvmBinary>),
    /// Gaussian naive Bayes.
    NaiveBayes(GaussianNb),
    /// Soft voting: the mean of the members' class probabilities.
    SoftVote(Vec<Classifier>),
    /// Stacking: a logistic regression over the members' probabilities.
    Stacked(Stacking),
}

/// A stacked ensemble: members fitted on the same inputs, and a logistic regression (the
/// meta-learner) fitted on their out-of-fold probabilities ([`stacking_inputs`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stacking {
    /// The base models.
    pub members: Vec<Classifier>,
    /// The meta-learner over the members' probabilities.
    pub meta: Linear,
}

/// What a stacking meta-learner reads for `n_rows` rows of `inputs` (row-major, `n_inputs` per
/// row): per row, each member's probability of the positive class (binary) or of every class
/// (multiclass), member after member. Row-major, `members.len()` values per row (binary) or
/// `members.len() × n_classes` (multiclass). Training builds the meta-learner's rows with it and
/// prediction feeds it the same way, so the two cannot disagree.
pub fn stacking_inputs(
    members: &[Classifier],
    inputs: &[f64],
    n_inputs: usize,
    n_rows: usize,
    n_classes: usize,
    positive_class: usize,
) -> Vec<f64> {
    let member_rows: Vec<Vec<f64>> = members
        .iter()
        .map(|member| {
            let mut rows = vec![0.0; n_rows * n_classes];
            member.predict_proba_rows(inputs, n_inputs, n_classes, positive_class, &mut rows);
            rows
        })
        .collect();
    let mut meta = Vec::new();
    for row_idx in 0..n_rows {
        for rows in &member_rows {
            let probabilities = row_slice(rows, n_classes, row_idx);
            push_stacking_input(probabilities, n_classes, positive_class, &mut meta);
        }
    }
    meta
}

/// Row `row_idx` of a row-major matrix `width` wide (empty when out of bounds or zero-wide).
fn row_slice(values: &[f64], width: usize, row_idx: usize) -> &[f64] {
    values
        .get(row_idx * width..(row_idx + 1) * width)
        .unwrap_or(&[])
}

/// What one member adds to a stacking meta-learner's inputs: its probability of the positive
/// class (binary) or of every class (multiclass).
fn push_stacking_input(
    probabilities: &[f64],
    n_classes: usize,
    positive_class: usize,
    out: &mut Vec<f64>,
) {
    if n_classes == 2 {
        out.push(
            probabilities
                .get(positive_class.min(1))
                .copied()
                .unwrap_or(0.0),
        );
    } else {
        out.extend_from_slice(probabilities);
    }
}

/// Logistic function, safe for large magnitudes.
pub fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// In-place softmax; an all-`-inf` input becomes uniform.
pub fn softmax_in_place(logits: &mut [f64]) {
    let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !max.is_finite() {
        let uniform = 1.0 / logits.len().max(1) as f64;
        logits.iter_mut().for_each(|value| *value = uniform);
        return;
    }
    let mut total = 0.0;
    for value in logits.iter_mut() {
        *value = (*value - max).exp();
        total += *value;
    }
    logits.iter_mut().for_each(|value| *value /= total);
}

impl Classifier {
    /// The inference type's name (several training families can share one: random forest and
    /// extra trees are both a `forest`).
    pub fn type_name(&self) -> &'static str {
        match self {
            Classifier::Logistic(_) => "linear",
            Classifier::DecisionTree(_) => "tree",
            Classifier::Forest(_) => "forest",
            Classifier::GradientBoosting(_) => "boosting",
            Classifier::Knn(_) => "knn",
            Classifier::Svm(_) => "svm",
            Classifier::NaiveBayes(_) => "naive_bayes",
            Classifier::SoftVote(_) => "soft_vote",
            Classifier::Stacked(_) => "stacking",
        }
    }

    /// How many model inputs the classifier says it takes, where it records that.
    pub fn stated_inputs(&self) -> Option<usize> {
        match self {
            Classifier::Logistic(linear) => Some(linear.n_inputs),
            Classifier::Knn(knn) => Some(knn.n_inputs),
            Classifier::NaiveBayes(naive_bayes) => Some(naive_bayes.n_inputs),
            Classifier::SoftVote(members) | Classifier::Stacked(Stacking { members, .. }) => {
                members.iter().find_map(Classifier::stated_inputs)
            }
            Classifier::Svm(machines) => machines.first().map(|machine| machine.n_inputs),
            Classifier::DecisionTree(_)
            | Classifier::Forest(_)
            | Classifier::GradientBoosting(_) => None,
        }
    }

    /// Writes one probability per class into `probabilities` (length `n_classes`).
    ///
    /// For binary tasks, models that produce a single score give it to `positive_class`.
    pub fn predict_proba(
        &self,
        input: &[f64],
        n_classes: usize,
        positive_class: usize,
        probabilities: &mut [f64],
    ) {
        let binary = n_classes == 2;
        match self {
            Classifier::Logistic(linear) => {
                linear.predict_proba(input, positive_class, probabilities)
            }
            Classifier::DecisionTree(tree) => copy_distribution(tree.leaf(input), probabilities),
            Classifier::Forest(trees) => {
                let trees = trees.iter().map(|tree| ((), tree));
                if let Ok(totals) = <&mut [f64; 2]>::try_from(&mut *probabilities) {
                    // Two classes: the running sums stay in registers rather than making
                    // each leaf's additions wait on the last ones' stores (the same
                    // additions, in the same order).
                    let mut sums = [0.0; 2];
                    for_each_leaf_of_row(trees, input, |(), leaf| {
                        for (sum, value) in sums.iter_mut().zip(leaf_values::<2>(leaf)) {
                            *sum += value;
                        }
                    });
                    *totals = sums;
                } else {
                    probabilities.iter_mut().for_each(|value| *value = 0.0);
                    for_each_leaf_of_row(trees, input, |(), leaf| add_leaf(probabilities, leaf));
                }
                normalise(probabilities);
            }
            Classifier::GradientBoosting(boosting) => {
                let learning_rate = boosting.learning_rate;
                // Round by round, each output's tree adds to that output's score.
                let n_outputs = boosting.base_scores.len();
                let trees = boosting
                    .trees
                    .iter()
                    .flat_map(|round| round.iter().take(n_outputs).enumerate());
                if let [base_score] = boosting.base_scores.as_slice() {
                    // One output (binary): its score is summed in a register.
                    let mut score = *base_score;
                    for_each_leaf_of_row(trees, input, |_, leaf| {
                        score += learning_rate * leaf.first().unwrap_or(&0.0);
                    });
                    boosting.finish(&[score], positive_class, probabilities);
                } else {
                    let mut scores = boosting.base_scores.clone();
                    for_each_leaf_of_row(trees, input, |output, leaf| {
                        if let Some(score) = scores.get_mut(output) {
                            *score += learning_rate * leaf.first().unwrap_or(&0.0);
                        }
                    });
                    boosting.finish(&scores, positive_class, probabilities);
                }
            }
            Classifier::Knn(knn) => knn.predict_proba(input, probabilities),
            Classifier::Svm(machines) => {
                if binary && machines.len() == 1 {
                    set_binary(
                        probabilities,
                        positive_class,
                        machines[0].probability(input),
                    );
                } else {
                    for (probability, machine) in probabilities.iter_mut().zip(machines) {
                        *probability = machine.probability(input);
                    }
                    normalise(probabilities);
                }
            }
            Classifier::NaiveBayes(naive_bayes) => naive_bayes.predict_proba(input, probabilities),
            // An ensemble of one row is the many-row rule applied to one row (its members then
            // predict that row one at a time): one home for how members are combined.
            Classifier::SoftVote(_) | Classifier::Stacked(_) => self.predict_proba_rows(
                input,
                input.len(),
                n_classes,
                positive_class,
                probabilities,
            ),
        }
    }

    /// Class probabilities of many rows (`inputs` row-major, `n_inputs` per row) into
    /// `probabilities` (`n_classes` per row, one row per input row): exactly the values
    /// [`Classifier::predict_proba`] gives row by row. Tree ensembles walk their trees a block
    /// of rows at a time ([`crate::compact`]), several times faster than row by row.
    pub fn predict_proba_rows(
        &self,
        inputs: &[f64],
        n_inputs: usize,
        n_classes: usize,
        positive_class: usize,
        probabilities: &mut [f64],
    ) {
        let n_rows = probabilities.len() / n_classes.max(1);
        // Rows without inputs are empty slices, as one-row prediction sees them.
        let rows = (0..n_rows).map(|row_idx| row_slice(inputs, n_inputs, row_idx));
        let batch = n_rows >= MIN_BATCH_ROWS && n_inputs > 0;
        match self {
            Classifier::Forest(trees) if batch => {
                probabilities.iter_mut().for_each(|value| *value = 0.0);
                let trees = trees.iter().map(|tree| ((), tree));
                for_each_leaf_rows(trees, inputs, n_inputs, |(), row_idx, leaf| {
                    let start = row_idx * n_classes;
                    if let Some(row) = probabilities.get_mut(start..start + n_classes) {
                        add_leaf(row, leaf);
                    }
                });
                probabilities
                    .chunks_mut(n_classes.max(1))
                    .for_each(normalise);
            }
            Classifier::GradientBoosting(boosting) if batch => {
                let n_outputs = boosting.base_scores.len();
                let mut scores = boosting.base_scores.repeat(n_rows);
                // Round by round, each output's tree adds to that output's score.
                let trees = boosting
                    .trees
                    .iter()
                    .flat_map(|round| round.iter().take(n_outputs).enumerate());
                for_each_leaf_rows(trees, inputs, n_inputs, |output, row_idx, leaf| {
                    if let Some(score) = scores.get_mut(row_idx * n_outputs + output) {
                        *score += boosting.learning_rate * leaf.first().unwrap_or(&0.0);
                    }
                });
                for (row_scores, row_probabilities) in scores
                    .chunks(n_outputs.max(1))
                    .zip(probabilities.chunks_mut(n_classes.max(1)))
                {
                    boosting.finish(row_scores, positive_class, row_probabilities);
                }
            }
            Classifier::SoftVote(members) => {
                let mut member_probabilities = vec![0.0; probabilities.len()];
                probabilities.iter_mut().for_each(|value| *value = 0.0);
                for member in members {
                    member.predict_proba_rows(
                        inputs,
                        n_inputs,
                        n_classes,
                        positive_class,
                        &mut member_probabilities,
                    );
                    for (row, member_row) in probabilities
                        .chunks_mut(n_classes.max(1))
                        .zip(member_probabilities.chunks(n_classes.max(1)))
                    {
                        add_leaf(row, member_row);
                    }
                }
                probabilities
                    .chunks_mut(n_classes.max(1))
                    .for_each(normalise);
            }
            Classifier::Stacked(stacking) => {
                let meta_inputs = stacking_inputs(
                    &stacking.members,
                    inputs,
                    n_inputs,
                    n_rows,
                    n_classes,
                    positive_class,
                );
                let width = meta_inputs.len() / n_rows.max(1);
                for (row_idx, row_probabilities) in
                    probabilities.chunks_mut(n_classes.max(1)).enumerate()
                {
                    let meta_row = row_slice(&meta_inputs, width, row_idx);
                    stacking
                        .meta
                        .predict_proba(meta_row, positive_class, row_probabilities);
                }
            }
            _ => {
                for (input, row_probabilities) in
                    rows.zip(probabilities.chunks_mut(n_classes.max(1)))
                {
                    self.predict_proba(input, n_classes, positive_class, row_probabilities);
                }
            }
        }
    }
}

/// Below this many rows a tree ensemble predicts row by row: laying its trees out for the
/// block walk costs about as much as walking a few dozen rows.
const MIN_BATCH_ROWS: usize = 32;

/// Sets a binary task's two probabilities from the positive class's (clamped to [0, 1]).
fn set_binary(probabilities: &mut [f64], positive_class: usize, p_positive: f64) {
    let p_positive = p_positive.clamp(0.0, 1.0);
    let positive = positive_class.min(1);
    if let [first, second] = probabilities {
        let (positive_slot, negative_slot) = if positive == 0 {
            (first, second)
        } else {
            (second, first)
        };
        *positive_slot = p_positive;
        *negative_slot = 1.0 - p_positive;
    }
}

/// A leaf's first `N` values, 0 for those it lacks: added to a sum that starts at +0, a 0 changes
/// no bit, so summing these is [`add_leaf`] to the bit.
fn leaf_values<const N: usize>(leaf: &[f64]) -> [f64; N] {
    std::array::from_fn(|value_idx| leaf.get(value_idx).copied().unwrap_or(0.0))
}

/// Adds a leaf's (or a member's) values to a row's running totals.
fn add_leaf(totals: &mut [f64], values: &[f64]) {
    for (total, value) in totals.iter_mut().zip(values) {
        *total += value;
    }
}

impl Linear {
    /// Class probabilities: the sigmoid of the one output (binary), else the softmax.
    pub fn predict_proba(&self, input: &[f64], positive_class: usize, probabilities: &mut [f64]) {
        let n_outputs = self.intercepts.len();
        if probabilities.len() == 2 && n_outputs == 1 {
            let z = dot(&self.weights, input) + self.intercepts[0];
            set_binary(probabilities, positive_class, sigmoid(z));
        } else {
            for (class_idx, probability) in probabilities.iter_mut().enumerate() {
                let row = self
                    .weights
                    .get(class_idx * self.n_inputs..(class_idx + 1) * self.n_inputs)
                    .unwrap_or(&[]);
                let intercept = self
                    .intercepts
                    .get(class_idx)
                    .copied()
                    .unwrap_or(f64::NEG_INFINITY);
                *probability = dot(row, input) + intercept;
            }
            softmax_in_place(probabilities);
        }
    }
}

impl Boosting {
    /// Class probabilities from a row's summed scores: the sigmoid of the one output
    /// (binary), else the softmax.
    fn finish(&self, scores: &[f64], positive_class: usize, probabilities: &mut [f64]) {
        if probabilities.len() == 2 && scores.len() == 1 {
            set_binary(probabilities, positive_class, sigmoid(scores[0]));
        } else {
            for (probability, score) in probabilities.iter_mut().zip(scores) {
                *probability = *score;
            }
            softmax_in_place(probabilities);
        }
    }
}

fn dot(weights: &[f64], input: &[f64]) -> f64 {
    weights.iter().zip(input).map(|(w, x)| w * x).sum()
}

fn copy_distribution(source: &[f64], probabilities: &mut [f64]) {
    probabilities.iter_mut().for_each(|value| *value = 0.0);
    for (target, value) in probabilities.iter_mut().zip(source) {
        *target = *value;
    }
    normalise(probabilities);
}

/// Scales to sum one; an all-zero vector becomes uniform.
fn normalise(probabilities: &mut [f64]) {
    let total: f64 = probabilities.iter().sum();
    if total > 0.0 && total.is_finite() {
        probabilities.iter_mut().for_each(|value| *value /= total);
    } else {
        let uniform = 1.0 / probabilities.len().max(1) as f64;
        probabilities.iter_mut().for_each(|value| *value = uniform);
    }
}

impl Knn {
    /// Distance-weighted vote of the `k` nearest training rows (exact search).
    pub fn predict_proba(&self, input: &[f64], probabilities: &mut [f64]) {
        probabilities.iter_mut().for_each(|value| *value = 0.0);
        if self.n_inputs == 0 || self.labels.is_empty() {
            normalise(probabilities);
            return;
        }
        let k = self.k.clamp(1, self.labels.len());
        // A bounded max-list of the k best (squared distance, label): k is small, so a sorted
        // vector beats a heap and keeps ties deterministic (earlier rows win).
        let mut best: Vec<(f64, u32)> = Vec::with_capacity(k + 1);
        for (point, label) in self.points.chunks_exact(self.n_inputs).zip(&self.labels) {
            let squared: f64 = point
                .iter()
                .zip(input)
                .map(|(a, b)| (a - b) * (a - b))
                .sum();
            if best.len() == k && squared >= best[k - 1].0 {
                continue;
            }
            let position = best.partition_point(|(distance, _)| *distance <= squared);
            best.insert(position, (squared, *label));
            best.truncate(k);
        }
        let exact_matches = best.iter().filter(|(distance, _)| *distance == 0.0).count();
        for (squared, label) in &best {
            let weight = if !self.distance_weighted {
                1.0
            } else if exact_matches > 0 {
                // As scikit-learn does: identical training rows take all the weight.
                if *squared == 0.0 { 1.0 } else { 0.0 }
            } else {
                1.0 / squared.sqrt()
            };
            if let Some(slot) = probabilities.get_mut(*label as usize) {
                *slot += weight;
            }
        }
        normalise(probabilities);
    }
}

impl GaussianNb {
    /// Posterior class probabilities.
    pub fn predict_proba(&self, input: &[f64], probabilities: &mut [f64]) {
        for (class_idx, probability) in probabilities.iter_mut().enumerate() {
            let range = class_idx * self.n_inputs..(class_idx + 1) * self.n_inputs;
            let (Some(means), Some(variances)) =
                (self.means.get(range.clone()), self.variances.get(range))
            else {
                *probability = f64::NEG_INFINITY;
                continue;
            };
            let mut log_joint = self
                .log_priors
                .get(class_idx)
                .copied()
                .unwrap_or(f64::NEG_INFINITY);
            for ((x, mean), variance) in input.iter().zip(means).zip(variances) {
                log_joint -= 0.5
                    * ((2.0 * std::f64::consts::PI * variance).ln()
                        + (x - mean) * (x - mean) / variance);
            }
            *probability = log_joint;
        }
        softmax_in_place(probabilities);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stump() -> FlatTree {
        FlatTree {
            nodes: vec![
                TreeNode::Split {
                    feature: 0,
                    threshold: 0.5,
                    left: 1,
                    right: 2,
                },
                TreeNode::Leaf { offset: 0 },
                TreeNode::Leaf { offset: 2 },
            ],
            values: vec![0.9, 0.1, 0.2, 0.8],
            n_values: 2,
            covers: vec![4.0, 2.0, 2.0],
            missing_left: Vec::new(),
            layout: Default::default(),
        }
    }

    /// The next number in [0, 1) from a small LCG, so drawn trees are the same on every run.
    fn draw(state: &mut u64) -> f64 {
        *state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (*state >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A complete tree of `depth` splits on inputs and thresholds drawn from `state`, with
    /// `n_values` drawn values per leaf (some negative, as boosting's are) and missing inputs
    /// sent either way.
    fn drawn_tree(state: &mut u64, depth: u32, n_inputs: u32, n_values: usize) -> FlatTree {
        let mut draw = || draw(state);
        let n_splits = (1u32 << depth) - 1;
        let mut nodes = Vec::new();
        let mut values = Vec::new();
        let mut missing_left = Vec::new();
        for node_idx in 0..2 * n_splits + 1 {
            if node_idx < n_splits {
                nodes.push(TreeNode::Split {
                    feature: (draw() * f64::from(n_inputs)) as u32,
                    threshold: draw(),
                    left: 2 * node_idx + 1,
                    right: 2 * node_idx + 2,
                });
            } else {
                nodes.push(TreeNode::Leaf {
                    offset: values.len() as u32,
                });
                values.extend((0..n_values).map(|_| draw() - 0.3));
            }
            missing_left.push(draw() < 0.5);
        }
        FlatTree {
            covers: vec![1.0; nodes.len()],
            nodes,
            values,
            n_values,
            missing_left,
            layout: Default::default(),
        }
    }

    /// One row walks many trees together and sums a binary model's leaves in registers; many
    /// rows walk one tree at a time and add into each row's totals. `/predict`, `/predict/batch`
    /// and `serve score` promise the same probabilities, so the two must agree to the bit.
    #[test]
    fn tree_ensembles_predict_one_row_as_many_rows_to_the_bit() {
        let mut state = 3;
        let n_inputs = 4;
        let n_rows = 2 * MIN_BATCH_ROWS + 5;
        let inputs: Vec<f64> = (0..n_rows * n_inputs as usize)
            .map(|value_idx| {
                // Some missing inputs, so both walks (with and without the test for them) run.
                let value = draw(&mut state);
                if value_idx % 7 == 3 { f64::NAN } else { value }
            })
            .collect();
        for n_classes in [2, 3] {
            let forest = Classifier::Forest(
                (0..37)
                    .map(|tree_idx| drawn_tree(&mut state, 1 + tree_idx % 6, n_inputs, n_classes))
                    .collect(),
            );
            let n_outputs = if n_classes == 2 { 1 } else { n_classes };
            let boosting = Classifier::GradientBoosting(Boosting {
                base_scores: (0..n_outputs)
                    .map(|output| 0.1 * output as f64 - 0.2)
                    .collect(),
                learning_rate: 0.1,
                trees: (0..23)
                    .map(|round_idx| {
                        (0..n_outputs)
                            .map(|_| drawn_tree(&mut state, 1 + round_idx % 5, n_inputs, 1))
                            .collect()
                    })
                    .collect(),
            });
            for classifier in [forest, boosting] {
                let mut many = vec![0.0; n_rows * n_classes];
                classifier.predict_proba_rows(&inputs, n_inputs as usize, n_classes, 1, &mut many);
                for (row, expected) in inputs.chunks(n_inputs as usize).zip(many.chunks(n_classes))
                {
                    let mut one = vec![0.0; n_classes];
                    classifier.predict_proba(row, n_classes, 1, &mut one);
                    let bits = |values: &[f64]| {
                        values
                            .iter()
                            .map(|value| value.to_bits())
                            .collect::<Vec<_>>()
                    };
                    assert_eq!(
                        bits(&one),
                        bits(expected),
                        "{n_classes} classes, row {row:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn tree_routes_below_threshold_left() {
        let tree = stump();
        assert_eq!(tree.leaf(&[0.0]), &[0.9, 0.1]);
        assert_eq!(tree.leaf(&[0.5]), &[0.2, 0.8]);
        assert_eq!(tree.n_leaves(), 2);
    }

    #[test]
    fn malformed_tree_does_not_loop_or_panic() {
        let tree = FlatTree {
            nodes: vec![TreeNode::Split {
                feature: 9,
                threshold: 0.0,
                left: 0,
                right: 0,
            }],
            values: vec![],
            n_values: 2,
            covers: vec![1.0],
            missing_left: Vec::new(),
            layout: Default::default(),
        };
        assert!(tree.leaf(&[1.0]).is_empty());
    }

    #[test]
    fn binary_logistic_points_at_the_positive_class() {
        let classifier = Classifier::Logistic(Linear {
            weights: vec![2.0],
            intercepts: vec![0.0],
            n_inputs: 1,
        });
        let mut probabilities = [0.0; 2];
        classifier.predict_proba(&[3.0], 2, 1, &mut probabilities);
        assert!(probabilities[1] > 0.99);
        classifier.predict_proba(&[3.0], 2, 0, &mut probabilities);
        assert!(probabilities[0] > 0.99);
    }

    #[test]
    fn knn_weights_by_inverse_distance_and_exact_matches_win() {
        let knn = Knn {
            points: vec![0.0, 1.0, 3.0],
            labels: vec![0, 1, 1],
            n_inputs: 1,
            k: 2,
            distance_weighted: true,
        };
        let mut probabilities = [0.0; 2];
        knn.predict_proba(&[0.25], &mut probabilities);
        // Distances 0.25 (class 0) and 0.75 (class 1): weights 4 and 4/3.
        assert!((probabilities[0] - 0.75).abs() < 1e-12);
        knn.predict_proba(&[1.0], &mut probabilities);
        assert_eq!(probabilities, [0.0, 1.0]);
    }

    #[test]
    fn softmax_handles_missing_classes() {
        let mut logits = [f64::NEG_INFINITY, 0.0, 0.0];
        softmax_in_place(&mut logits);
        assert_eq!(logits, [0.0, 0.5, 0.5]);
        let mut all_missing = [f64::NEG_INFINITY; 2];
        softmax_in_place(&mut all_missing);
        assert_eq!(all_missing, [0.5, 0.5]);
    }
}
