//! Histogram gradient boosting in the manner of LightGBM: features binned once, trees grown
//! leaf by leaf from per-leaf gradient histograms, missing values routed natively.
//!
//! Each feature's observed values are cut into at most `max_bins - 1` bins (one per distinct
//! value when there are few, quantiles otherwise); one more bin holds the missing values.
//! A leaf's histogram sums gradients and hessians per bin; of two siblings only the smaller
//! is summed from its rows, the larger is its parent's histogram minus the smaller one. Every
//! split tries the missing rows on both sides and keeps the better, so the direction is
//! learned; the stored tree records it per node (`FlatTree::missing_left`). The family asks
//! preprocessing to leave missing values missing (`native_missing`), as LightGBM and
//! scikit-learn's `HistGradientBoostingClassifier` do.
//!
//! Speed and memory: each bin code is one byte, kept column by column; a leaf's rows stay in
//! ascending order as leaves split (a stable partition), so every pass reads memory front to
//! back; histograms are filled several features to a pass over a leaf's rows, and a large
//! leaf's on two cores while one is idle, with the same sums either way. The codes are made
//! from the rows block by block, so no fold's matrix exists.
//!
//! The trees predict from raw inputs: a split at bin `b` becomes the threshold between bin `b`
//! and bin `b + 1`, the same rule the bin codes were computed with, so the stored model and the
//! training-time scores agree exactly.

use std::borrow::Cow;

use model::Classifier;
use model::classifier::{Boosting, FlatTree, TreeNode, sigmoid, softmax_in_place};
use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use super::boosting::{base_scores, check_boosting, check_fraction};
use super::space::{ParamValue, Space};
use super::{FamilyInfo, FitData, FitError, Learner};
use crate::cores;

/// Histogram gradient boosting.
pub struct HistGradientBoosting;

/// Hyperparameters of [`HistGradientBoosting`]; the defaults are LightGBM's.
#[derive(Debug, Clone, PartialEq)]
pub struct HistBoostingParams {
    /// Boosting rounds (the most, with early stopping).
    pub n_rounds: usize,
    /// Shrinkage applied to every tree.
    pub learning_rate: f64,
    /// Leaves per tree (growth is leaf-wise: the leaf with the best gain splits next).
    pub max_leaves: usize,
    /// Depth limit (root = 0); `None` lets `max_leaves` alone bound the tree.
    pub max_depth: Option<usize>,
    /// Minimum rows per leaf.
    pub min_samples_leaf: usize,
    /// L2 penalty on leaf values.
    pub lambda: f64,
    /// Bins per feature, the missing-value bin included (at most 255).
    pub max_bins: usize,
    /// Row fraction per round (bagging).
    pub subsample: f64,
    /// Feature fraction per tree.
    pub colsample: f64,
    /// Stop when the validation loss has not improved for this many rounds and keep the best
    /// round's trees; 0 boosts every round.
    pub early_stopping_rounds: usize,
    /// Share of the training rows held out (stratified) to decide early stopping.
    pub validation_fraction: f64,
}

/// The smallest hessian sum a leaf may have (LightGBM's `min_sum_hessian_in_leaf`).
const MIN_HESSIAN: f64 = 1e-3;
/// Rows sampled (evenly spaced) to place the bin boundaries, as LightGBM's
/// `bin_construct_sample_cnt`: quantiles of 200,000 rows are as good as of all of them.
const BINNING_SAMPLE: usize = 200_000;

impl Learner for HistGradientBoosting {
    type Params = HistBoostingParams;

    fn info(&self) -> FamilyInfo {
        FamilyInfo {
            short: "hgb",
            name: "hist_gradient_boosting",
            description: "histogram gradient boosting (binned features, leaf-wise trees, native missing values)",
            supports_weights: true,
            in_default_run: true,
            native_missing: true,
            combines_others: false,
        }
    }

    fn default_params(&self) -> HistBoostingParams {
        HistBoostingParams {
            n_rounds: 100,
            learning_rate: 0.1,
            max_leaves: 31,
            max_depth: None,
            min_samples_leaf: 20,
            lambda: 0.0,
            max_bins: 255,
            subsample: 1.0,
            colsample: 1.0,
            early_stopping_rounds: 0,
            validation_fraction: 0.1,
        }
    }

    fn search_space(&self) -> Space<HistBoostingParams> {
        Space::<HistBoostingParams>::new()
            .choice("n_rounds", &[100, 200, 500], |p| &mut p.n_rounds)
            .log_uniform("learning_rate", 0.01, 0.3, |p| &mut p.learning_rate)
            .choice("max_leaves", &[4, 8, 15, 31, 63], |p| &mut p.max_leaves)
            .choice("min_samples_leaf", &[5, 10, 20, 40], |p| &mut p.min_samples_leaf)
            .choice("lambda", &[0.0, 0.1, 1.0, 10.0], |p| &mut p.lambda)
            .choice("subsample", &[0.7, 0.85, 1.0], |p| &mut p.subsample)
            .choice("colsample", &[0.5, 0.75, 1.0], |p| &mut p.colsample)
            .choice("early_stopping_rounds", &[0, 10, 20], |p| {
                &mut p.early_stopping_rounds
            })
    }

    fn check(&self, params: &HistBoostingParams) -> Result<(), String> {
        check_boosting(params.n_rounds, params.learning_rate, params.lambda)?;
        if params.max_leaves < 2 {
            return Err(format!(
                "`max_leaves` must be at least 2, found {}",
                params.max_leaves
            ));
        }
        if params.max_depth == Some(0) || params.min_samples_leaf == 0 {
            return Err("`max_depth` and `min_samples_leaf` must be at least 1".into());
        }
        if !(3..=255).contains(&params.max_bins) {
            return Err(format!(
                "`max_bins` must be from 3 to 255, found {}",
                params.max_bins
            ));
        }
        check_fraction("subsample", params.subsample)?;
        check_fraction("colsample", params.colsample)?;
        if !(params.validation_fraction > 0.0 && params.validation_fraction < 0.5) {
            return Err(format!(
                "`validation_fraction` must be in (0, 0.5), found {}",
                params.validation_fraction
            ));
        }
        Ok(())
    }

    fn describe(&self, params: &HistBoostingParams) -> Vec<(&'static str, String)> {
        vec![
            ("n_rounds", params.n_rounds.show()),
            ("learning_rate", params.learning_rate.show()),
            ("max_leaves", params.max_leaves.show()),
            ("max_depth", params.max_depth.show()),
            ("min_samples_leaf", params.min_samples_leaf.show()),
            ("lambda", params.lambda.show()),
            ("max_bins", params.max_bins.show()),
            ("subsample", params.subsample.show()),
            ("colsample", params.colsample.show()),
            ("early_stopping_rounds", params.early_stopping_rounds.show()),
            ("validation_fraction", params.validation_fraction.show()),
        ]
    }

    fn fit(
        &self,
        params: &HistBoostingParams,
        data: &FitData<'_>,
        seed: u64,
    ) -> Result<Classifier, FitError> {
        data.require_two_classes(self.info().name)?;
        Ok(Classifier::GradientBoosting(boost(params, data, seed)))
    }
}

/// Rows from which a leaf's histogram is filled on two cores when one is idle: below it,
/// starting a thread costs a noticeable share of the fill.
const SHARED_FILL_MIN_ROWS: usize = 16_384;

/// Features whose histograms are filled in one pass over a leaf's rows (`cargo bench -p train
/// --bench fit` at a million rows of 21 features, one core: one feature a pass 10.8 s, four
/// 9.4 s, eight 9.2 s).
const FEATURES_PER_PASS: usize = 8;
// `Grower::fill_by_columns` has a pass for each group size up to eight.
const _: () = assert!(FEATURES_PER_PASS <= 8);

/// Every row's bin codes and each feature's thresholds between neighbouring finite bins.
pub struct BinnedRows {
    /// The codes column-major, `columns[feature * n_rows + row]`: a split reads one feature of
    /// each of its rows, 1 byte apart instead of a row apart. A missing value's code is the
    /// feature's number of finite bins (one past the last finite code).
    columns: Vec<u8>,
    n_rows: usize,
    n_features: usize,
    /// `thresholds[feature][b]`: values below it fall in bin `b` or lower.
    thresholds: Vec<Vec<f64>>,
    /// Feature `f`'s histogram slots are `offsets[f]..offsets[f + 1]`: one per finite bin,
    /// then the missing slot. Features with few values take few slots, so a histogram is only
    /// as large (and as costly to clear) as the data needs.
    offsets: Vec<usize>,
}

impl BinnedRows {
    /// Places each feature's bin boundaries from the observed values of `fit_rows` (evenly
    /// spaced ones, past [`BINNING_SAMPLE`]), then codes every row. The rows are read block by
    /// block, so when they come from the raw table no matrix of them is made: the codes take a
    /// byte per cell where the matrix would take eight.
    pub fn new(data: &FitData<'_>, fit_rows: &[u32], max_bins: usize) -> Self {
        let (n_rows, n_features) = (data.n_rows(), data.n_inputs());
        let step = fit_rows.len().div_ceil(BINNING_SAMPLE).max(1);
        let sampled: Vec<usize> = fit_rows
            .iter()
            .step_by(step)
            .map(|row| *row as usize)
            .collect();
        let sample = data.rows_matrix(&sampled);
        let thresholds: Vec<Vec<f64>> = sample
            .columns()
            .into_iter()
            .map(|column| {
                let mut observed: Vec<f64> =
                    column.iter().copied().filter(|value| !value.is_nan()).collect();
                observed.sort_by(f64::total_cmp);
                bin_thresholds(&observed, max_bins - 1)
            })
            .collect();
        drop(sample);
        let mut offsets = Vec::with_capacity(n_features + 1);
        offsets.push(0);
        for cuts in &thresholds {
            offsets.push(offsets.last().copied().unwrap_or(0) + cuts.len() + 2);
        }
        let mut columns = vec![0u8; n_rows * n_features];
        data.for_each_block(&mut |first_row, block| {
            for (row_offset, input) in block.rows().into_iter().enumerate() {
                let row = first_row + row_offset;
                for (feature, (value, cuts)) in input.iter().zip(&thresholds).enumerate() {
                    columns[feature * n_rows + row] = if value.is_nan() {
                        (cuts.len() + 1) as u8
                    } else {
                        // The number of thresholds at or below the value: the rule a stored
                        // split applies to a raw input (`value < threshold` goes left).
                        cuts.partition_point(|cut| *cut <= *value) as u8
                    };
                }
            }
        });
        BinnedRows {
            columns,
            n_rows,
            n_features,
            thresholds,
            offsets,
        }
    }

    /// Whether a row with bin `code` of `feature` goes left at a split after `bin`.
    #[inline]
    fn goes_left(&self, feature: usize, code: u8, bin: usize, missing_left: bool) -> bool {
        code_goes_left(usize::from(code), self.n_finite(feature), bin, missing_left)
    }

    /// The histogram slots of `feature`.
    fn slots(&self, feature: usize) -> std::ops::Range<usize> {
        self.offsets[feature]..self.offsets[feature + 1]
    }

    /// Slots in a whole histogram.
    fn n_slots(&self) -> usize {
        self.offsets.last().copied().unwrap_or(0)
    }

    /// Every row's code of `feature`.
    fn column(&self, feature: usize) -> &[u8] {
        &self.columns[feature * self.n_rows..(feature + 1) * self.n_rows]
    }

    /// Row `row`'s code of `feature`.
    #[inline]
    fn code(&self, row: usize, feature: usize) -> u8 {
        self.columns[feature * self.n_rows + row]
    }

    /// Finite bins of `feature`.
    fn n_finite(&self, feature: usize) -> usize {
        self.thresholds[feature].len() + 1
    }
}

/// The split rule on bin codes: a missing value (`missing_code`) goes where the split says,
/// finite codes up to `bin` go left. Written without a branch, as partitioning calls it on
/// rows whose direction the processor cannot predict.
#[inline]
fn code_goes_left(code: usize, missing_code: usize, bin: usize, missing_left: bool) -> bool {
    let is_missing = code == missing_code;
    (is_missing & missing_left) | (!is_missing & (code <= bin))
}

/// Thresholds cutting sorted observed values into at most `max_finite` bins: between every
/// pair of neighbouring distinct values when there are few enough, else after the values at
/// evenly spaced ranks. Each threshold lies above the largest value of the bin below it and
/// at or below the smallest value of the bin above it.
fn bin_thresholds(sorted: &[f64], max_finite: usize) -> Vec<f64> {
    let mut distinct = sorted.to_vec();
    distinct.dedup();
    let uppers: Vec<f64> = if distinct.len() <= max_finite {
        distinct.clone()
    } else {
        let n = sorted.len();
        let mut uppers: Vec<f64> = (1..max_finite).map(|i| sorted[i * n / max_finite]).collect();
        uppers.dedup();
        uppers
    };
    uppers
        .iter()
        .filter_map(|upper| {
            let next_idx = distinct.partition_point(|value| value <= upper);
            let next = *distinct.get(next_idx)?;
            let middle = upper + (next - upper) / 2.0;
            Some(if middle > *upper { middle } else { next })
        })
        .collect()
}

/// Gradient, hessian and row count of a set of rows.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Totals {
    gradient: f64,
    hessian: f64,
    n_rows: f64,
}

impl Totals {
    fn add(&mut self, other: &Totals) {
        self.gradient += other.gradient;
        self.hessian += other.hessian;
        self.n_rows += other.n_rows;
    }

    fn minus(&self, other: &Totals) -> Totals {
        Totals {
            gradient: self.gradient - other.gradient,
            hessian: self.hessian - other.hessian,
            n_rows: self.n_rows - other.n_rows,
        }
    }

    /// The structure score `G^2 / (H + lambda)` (twice the loss reduction of the leaf's
    /// Newton step).
    fn score(&self, lambda: f64) -> f64 {
        self.gradient * self.gradient / (self.hessian + lambda)
    }

    fn leaf_value(&self, lambda: f64) -> f64 {
        let denominator = self.hessian + lambda;
        if denominator > 0.0 {
            -self.gradient / denominator
        } else {
            0.0
        }
    }
}

/// The best way to split a leaf: finite codes up to `bin` go left, missing ones go left when
/// `missing_left`.
#[derive(Debug, Clone, Copy)]
struct Split {
    gain: f64,
    feature: usize,
    bin: usize,
    missing_left: bool,
    left: Totals,
}

/// What a tree's growth needs besides the rows.
struct Grower<'a> {
    binned: &'a BinnedRows,
    /// Every row's gradient and hessian, side by side: the pass over a root's rows reads them
    /// in place (see [`Grower::gather`]).
    pairs: &'a [(f64, f64)],
    params: &'a HistBoostingParams,
    /// Features this tree may split on, ascending.
    features: Vec<usize>,
}

/// A leaf while the tree grows: its rows are `order[start..end]`.
struct GrowingLeaf {
    node: usize,
    start: usize,
    end: usize,
    depth: usize,
    totals: Totals,
    histogram: Vec<Totals>,
    split: Option<Split>,
}

/// A finished leaf's rows, `order[start..end]`, and its value.
struct Segment {
    start: usize,
    end: usize,
    value: f64,
}

/// A node of a growing tree, in bin terms.
enum Node {
    Split {
        feature: usize,
        bin: usize,
        missing_left: bool,
        left: usize,
        right: usize,
    },
    Leaf {
        value: f64,
    },
}

/// A grown tree in bin terms (to update scores from codes) with each node's row count.
struct BinTree {
    nodes: Vec<Node>,
    covers: Vec<f64>,
}

impl BinTree {
    fn value(&self, binned: &BinnedRows, row: usize) -> f64 {
        let mut node_idx = 0;
        loop {
            match self.nodes[node_idx] {
                Node::Split {
                    feature,
                    bin,
                    missing_left,
                    left,
                    right,
                } => {
                    let code = binned.code(row, feature);
                    let goes_left = binned.goes_left(feature, code, bin, missing_left);
                    node_idx = if goes_left { left } else { right };
                }
                Node::Leaf { value } => return value,
            }
        }
    }

    /// The tree on raw inputs: bin `b` becomes the threshold above it; a split sending every
    /// observed value left (missing alone to the right) gets the largest finite threshold.
    fn to_flat(&self, binned: &BinnedRows) -> FlatTree {
        let mut values = Vec::new();
        let nodes = self
            .nodes
            .iter()
            .map(|node| match *node {
                Node::Split {
                    feature,
                    bin,
                    left,
                    right,
                    ..
                } => TreeNode::Split {
                    feature: feature as u32,
                    threshold: binned.thresholds[feature]
                        .get(bin)
                        .copied()
                        .unwrap_or(f64::MAX),
                    left: left as u32,
                    right: right as u32,
                },
                Node::Leaf { value } => {
                    values.push(value);
                    TreeNode::Leaf {
                        offset: (values.len() - 1) as u32,
                    }
                }
            })
            .collect();
        let missing_left = self
            .nodes
            .iter()
            .map(|node| matches!(node, Node::Split { missing_left: true, .. }))
            .collect();
        FlatTree {
            nodes,
            values,
            n_values: 1,
            covers: self.covers.clone(),
            missing_left,
            layout: Default::default(),
        }
    }
}

impl Grower<'_> {
    /// Grows one tree on `order` (the round's rows, reordered in place so that every leaf's
    /// rows are contiguous).
    fn grow(
        &self,
        order: &mut [u32],
        pool: &mut Vec<Vec<Totals>>,
        right_rows: &mut Vec<u32>,
    ) -> (BinTree, Vec<Segment>) {
        let mut histogram = self.take_histogram(pool);
        self.fill_histogram(&mut histogram, order);
        let totals = self.leaf_totals(&histogram, order);
        let mut tree = BinTree {
            nodes: vec![Node::Leaf { value: 0.0 }],
            covers: vec![totals.n_rows],
        };
        let mut root = GrowingLeaf {
            node: 0,
            start: 0,
            end: order.len(),
            depth: 0,
            totals,
            histogram,
            split: None,
        };
        root.split = self.best_split(&root);
        let mut leaves = vec![root];
        while leaves.len() < self.params.max_leaves {
            // The leaf whose split gains most; ties go to the earliest leaf.
            let chosen = leaves
                .iter()
                .enumerate()
                .filter_map(|(idx, leaf)| leaf.split.map(|split| (idx, split.gain)))
                .fold(None, |best: Option<(usize, f64)>, (idx, gain)| match best {
                    Some((_, best_gain)) if best_gain >= gain => best,
                    _ => Some((idx, gain)),
                });
            let Some((leaf_idx, _)) = chosen else {
                break;
            };
            let parent = leaves.swap_remove(leaf_idx);
            let (left, right) = self.split_leaf(parent, order, &mut tree, pool, right_rows);
            leaves.push(left);
            leaves.push(right);
        }
        let mut segments = Vec::with_capacity(leaves.len());
        for leaf in leaves {
            let value = leaf.totals.leaf_value(self.params.lambda);
            tree.nodes[leaf.node] = Node::Leaf { value };
            segments.push(Segment {
                start: leaf.start,
                end: leaf.end,
                value,
            });
            pool.push(leaf.histogram);
        }
        (tree, segments)
    }

    /// A histogram from the pool (they are cleared before use), or a new one.
    fn take_histogram(&self, pool: &mut Vec<Vec<Totals>>) -> Vec<Totals> {
        pool.pop()
            .unwrap_or_else(|| vec![Totals::default(); self.binned.n_slots()])
    }

    /// Splits a leaf: partitions its rows, sums the smaller child's histogram and takes the
    /// larger's as the parent's minus it, and finds each child's best split.
    fn split_leaf(
        &self,
        parent: GrowingLeaf,
        order: &mut [u32],
        tree: &mut BinTree,
        pool: &mut Vec<Vec<Totals>>,
        right_rows: &mut Vec<u32>,
    ) -> (GrowingLeaf, GrowingLeaf) {
        let Some(split) = parent.split else {
            unreachable!("only leaves with a split are chosen")
        };
        let n_left = self.partition(&mut order[parent.start..parent.end], &split, right_rows);
        let middle = parent.start + n_left;
        let left_node = tree.nodes.len();
        tree.nodes.push(Node::Leaf { value: 0.0 });
        tree.nodes.push(Node::Leaf { value: 0.0 });
        tree.covers.push(split.left.n_rows);
        tree.covers
            .push(parent.totals.n_rows - split.left.n_rows);
        tree.nodes[parent.node] = Node::Split {
            feature: split.feature,
            bin: split.bin,
            missing_left: split.missing_left,
            left: left_node,
            right: left_node + 1,
        };
        let left_is_smaller = n_left <= parent.end - middle;
        let mut larger_histogram = parent.histogram;
        let mut smaller_histogram = self.take_histogram(pool);
        let smaller_rows = if left_is_smaller {
            &order[parent.start..middle]
        } else {
            &order[middle..parent.end]
        };
        self.fill_histogram(&mut smaller_histogram, smaller_rows);
        for &feature in &self.features {
            let slots = self.binned.slots(feature);
            for (larger, smaller) in larger_histogram[slots.clone()]
                .iter_mut()
                .zip(&smaller_histogram[slots])
            {
                *larger = larger.minus(smaller);
            }
        }
        let (left_histogram, right_histogram) = if left_is_smaller {
            (smaller_histogram, larger_histogram)
        } else {
            (larger_histogram, smaller_histogram)
        };
        let mut left = GrowingLeaf {
            node: left_node,
            start: parent.start,
            end: middle,
            depth: parent.depth + 1,
            totals: split.left,
            histogram: left_histogram,
            split: None,
        };
        let mut right = GrowingLeaf {
            node: left_node + 1,
            start: middle,
            end: parent.end,
            depth: parent.depth + 1,
            totals: parent.totals.minus(&split.left),
            histogram: right_histogram,
            split: None,
        };
        left.split = self.best_split(&left);
        right.split = self.best_split(&right);
        (left, right)
    }

    /// Moves the rows going left by `split` to the front of `rows` and returns how many they
    /// are. Stable: each side keeps the rows' order, so a leaf's rows stay ascending (as the
    /// round's rows start) and every later pass over them reads the bin codes, gradients and
    /// hessians front to back, which the processor prefetches; at a million rows, scattered
    /// reads were most of a fit. Branch-free: every row is written to both sides and the side
    /// it does not belong to is overwritten (which way a row goes is data the processor
    /// cannot predict).
    fn partition(&self, rows: &mut [u32], split: &Split, right_rows: &mut Vec<u32>) -> usize {
        let column = self.binned.column(split.feature);
        let missing_code = self.binned.n_finite(split.feature);
        right_rows.clear();
        right_rows.resize(rows.len(), 0);
        let (mut n_left, mut n_right) = (0, 0);
        for idx in 0..rows.len() {
            let row = rows[idx];
            let code = usize::from(column[row as usize]);
            let left = code_goes_left(code, missing_code, split.bin, split.missing_left);
            // `n_left <= idx`: the slot written was already read.
            rows[n_left] = row;
            right_rows[n_right] = row;
            n_left += usize::from(left);
            n_right += usize::from(!left);
        }
        rows[n_left..].copy_from_slice(&right_rows[..n_right]);
        n_left
    }

    /// Sums gradients, hessians and rows per bin of every allowed feature: several features
    /// to a pass over the rows ([`Grower::fill_by_columns`]), and for a large leaf while a
    /// core is idle ([`cores::idle`]) half the features on each core. Each bin adds its rows
    /// in row order whichever way, so the sums are the same to the last bit.
    fn fill_histogram(&self, histogram: &mut [Totals], rows: &[u32]) {
        let shared =
            rows.len() >= SHARED_FILL_MIN_ROWS && self.features.len() >= 2 && cores::idle();
        self.fill_histogram_on(histogram, rows, shared);
    }

    /// [`Grower::fill_histogram`], on two cores when `shared`.
    fn fill_histogram_on(&self, histogram: &mut [Totals], rows: &[u32], shared: bool) {
        let ordered = self.gather(rows, shared);
        let fill = |features: &[usize], part: &mut [Totals], first_slot: usize| {
            self.fill_by_columns(part, first_slot, features, rows, &ordered);
        };
        let (head, tail) = self.features.split_at(self.features.len() / 2);
        match (shared, tail.first()) {
            (true, Some(first_of_tail)) => {
                let split_slot = self.binned.offsets[*first_of_tail];
                let (head_slots, tail_slots) = histogram.split_at_mut(split_slot);
                cores::both(
                    || fill(head, head_slots, 0),
                    || fill(tail, tail_slots, split_slot),
                );
            }
            _ => fill(&self.features, histogram, 0),
        }
    }

    /// The rows' gradients and hessians in the rows' order, so that every feature's pass reads
    /// them in sequence; each half gathered on its own core when `shared`. A leaf's rows are
    /// ascending and distinct, so a leaf with as many rows as there are pairs is the root of a
    /// tree grown on every row, whose pairs are already in order: they are read in place
    /// rather than copied (at a million rows, 12.8 MB for each fold in flight).
    fn gather(&self, rows: &[u32], shared: bool) -> Cow<'_, [(f64, f64)]> {
        if rows.len() == self.pairs.len() {
            debug_assert!(rows.iter().enumerate().all(|(idx, row)| *row as usize == idx));
            return Cow::Borrowed(self.pairs);
        }
        let pair = |row: &u32| self.pairs[*row as usize];
        if !shared {
            return Cow::Owned(rows.iter().map(pair).collect());
        }
        let mut ordered = vec![(0.0, 0.0); rows.len()];
        let (head_rows, tail_rows) = rows.split_at(rows.len() / 2);
        let (head, tail) = ordered.split_at_mut(head_rows.len());
        let copy = |rows: &[u32], out: &mut [(f64, f64)]| {
            for (row, slot) in rows.iter().zip(out) {
                *slot = pair(row);
            }
        };
        cores::both(|| copy(head_rows, head), || copy(tail_rows, tail));
        Cow::Owned(ordered)
    }

    /// Fills `features`' histograms into `part`, the histogram's slots from `first_slot` on;
    /// `ordered` holds the rows' gradients and hessians in their order. Features go up to
    /// [`FEATURES_PER_PASS`] to a pass over the rows: at a million rows a pass is bound by
    /// memory, not arithmetic, and that many features' histograms still fit in the
    /// first-level cache.
    fn fill_by_columns(
        &self,
        part: &mut [Totals],
        first_slot: usize,
        features: &[usize],
        rows: &[u32],
        ordered: &[(f64, f64)],
    ) {
        for group in features.chunks(FEATURES_PER_PASS) {
            match group.len() {
                8 => self.fill_group::<8>(part, first_slot, group, rows, ordered),
                7 => self.fill_group::<7>(part, first_slot, group, rows, ordered),
                6 => self.fill_group::<6>(part, first_slot, group, rows, ordered),
                5 => self.fill_group::<5>(part, first_slot, group, rows, ordered),
                4 => self.fill_group::<4>(part, first_slot, group, rows, ordered),
                3 => self.fill_group::<3>(part, first_slot, group, rows, ordered),
                2 => self.fill_group::<2>(part, first_slot, group, rows, ordered),
                1 => self.fill_group::<1>(part, first_slot, group, rows, ordered),
                _ => unreachable!("groups hold one to eight features"),
            }
        }
    }

    /// One pass of [`Grower::fill_by_columns`] over the rows for a `group` of `N` features
    /// (a count the compiler knows, so that the features' slots and columns stay in
    /// registers: a loop over a group of any size took a fit on a million rows from 9.2 to
    /// 11.4 s).
    fn fill_group<const N: usize>(
        &self,
        part: &mut [Totals],
        first_slot: usize,
        group: &[usize],
        rows: &[u32],
        ordered: &[(f64, f64)],
    ) {
        let ranges: [std::ops::Range<usize>; N] = std::array::from_fn(|idx| {
            let range = self.binned.slots(group[idx]);
            range.start - first_slot..range.end - first_slot
        });
        let Ok(mut slots) = part.get_disjoint_mut(ranges) else {
            unreachable!("features ascend, so their slots are disjoint")
        };
        let columns: [&[u8]; N] = std::array::from_fn(|idx| self.binned.column(group[idx]));
        for feature_slots in slots.iter_mut() {
            feature_slots.fill(Totals::default());
        }
        for (row, (gradient, hessian)) in rows.iter().zip(ordered) {
            let row = *row as usize;
            for (feature_slots, column) in slots.iter_mut().zip(&columns) {
                let slot = &mut feature_slots[usize::from(column[row])];
                slot.gradient += gradient;
                slot.hessian += hessian;
                slot.n_rows += 1.0;
            }
        }
    }

    /// A leaf's totals, from the first allowed feature's histogram (every row is in exactly
    /// one of its bins), or from the rows when no feature is allowed.
    fn leaf_totals(&self, histogram: &[Totals], rows: &[u32]) -> Totals {
        match self.features.first() {
            Some(feature) => histogram[self.binned.slots(*feature)].iter().fold(
                Totals::default(),
                |mut totals, slot| {
                    totals.add(slot);
                    totals
                },
            ),
            None => rows.iter().fold(Totals::default(), |mut totals, row| {
                let (gradient, hessian) = self.pairs[*row as usize];
                totals.add(&Totals {
                    gradient,
                    hessian,
                    n_rows: 1.0,
                });
                totals
            }),
        }
    }

    /// The split with the largest positive gain over every allowed feature and bin, missing
    /// rows tried on both sides; `None` when the leaf may not or cannot split.
    fn best_split(&self, leaf: &GrowingLeaf) -> Option<Split> {
        let params = self.params;
        let min_leaf = params.min_samples_leaf as f64;
        if params.max_depth.is_some_and(|max| leaf.depth >= max)
            || leaf.totals.n_rows < 2.0 * min_leaf
        {
            return None;
        }
        let parent_score = leaf.totals.score(params.lambda);
        let mut best: Option<Split> = None;
        let mut consider = |left: Totals, feature: usize, bin: usize, missing_left: bool| {
            let right = leaf.totals.minus(&left);
            if left.n_rows < min_leaf
                || right.n_rows < min_leaf
                || left.hessian < MIN_HESSIAN
                || right.hessian < MIN_HESSIAN
            {
                return;
            }
            let gain = left.score(params.lambda) + right.score(params.lambda) - parent_score;
            if gain > 1e-12 && best.is_none_or(|current| gain > current.gain) {
                best = Some(Split {
                    gain,
                    feature,
                    bin,
                    missing_left,
                    left,
                });
            }
        };
        for &feature in &self.features {
            let slots = &leaf.histogram[self.binned.slots(feature)];
            let n_finite = self.binned.n_finite(feature);
            let missing = slots[n_finite];
            let mut below = Totals::default();
            for (bin, slot) in slots.iter().enumerate().take(n_finite) {
                below.add(slot);
                // The last finite bin leaves only the missing rows on the right.
                if bin + 1 < n_finite || missing.n_rows > 0.0 {
                    consider(below, feature, bin, false);
                }
                if missing.n_rows > 0.0 && bin + 1 < n_finite {
                    let mut with_missing = below;
                    with_missing.add(&missing);
                    consider(with_missing, feature, bin, true);
                }
            }
        }
        best
    }
}

/// Row indices split into boosting rows and early-stopping rows (stratified by class, a
/// seeded shuffle within each class). The boosting rows are `u32`, as a tree's rows are, so
/// that a round on all of them uses the list itself.
fn validation_split(
    params: &HistBoostingParams,
    data: &FitData<'_>,
    rng: &mut Xoshiro256PlusPlus,
) -> (Vec<u32>, Vec<usize>) {
    let n_rows = data.y.len();
    if params.early_stopping_rounds == 0 {
        return ((0..n_rows as u32).collect(), Vec::new());
    }
    let mut train = Vec::with_capacity(n_rows);
    let mut validation = Vec::new();
    for class_idx in 0..data.n_classes {
        let mut rows: Vec<usize> = (0..n_rows).filter(|row| data.y[*row] == class_idx).collect();
        for idx in (1..rows.len()).rev() {
            rows.swap(idx, rng.gen_range(0..=idx));
        }
        let n_validation = (rows.len() as f64 * params.validation_fraction).round() as usize;
        // A class too small to spare a row keeps them all for boosting.
        let n_validation = if rows.len() - n_validation >= 1 {
            n_validation
        } else {
            0
        };
        validation.extend_from_slice(&rows[..n_validation]);
        train.extend(rows[n_validation..].iter().map(|row| *row as u32));
    }
    train.sort_unstable();
    validation.sort_unstable();
    (train, validation)
}

/// Raw scores (`n_outputs` per row) to class probabilities, written into `probabilities`.
fn probabilities_of(scores: &[f64], binary: bool, probabilities: &mut [f64]) {
    if binary {
        probabilities[0] = sigmoid(scores[0]);
    } else {
        probabilities.copy_from_slice(scores);
        softmax_in_place(probabilities);
    }
}

/// Mean log loss of `rows` at the current scores.
fn log_loss(rows: &[usize], scores: &[f64], data: &FitData<'_>, n_outputs: usize) -> f64 {
    let binary = n_outputs == 1;
    let mut probabilities = vec![0.0; n_outputs];
    let total: f64 = rows
        .iter()
        .map(|row| {
            probabilities_of(
                &scores[row * n_outputs..(row + 1) * n_outputs],
                binary,
                &mut probabilities,
            );
            let p = if binary {
                if data.y[*row] == data.positive_class {
                    probabilities[0]
                } else {
                    1.0 - probabilities[0]
                }
            } else {
                probabilities[data.y[*row]]
            };
            -p.clamp(1e-15, 1.0).ln()
        })
        .sum();
    total / rows.len().max(1) as f64
}

fn boost(params: &HistBoostingParams, data: &FitData<'_>, seed: u64) -> Boosting {
    boost_scored(params, data, seed).0
}

/// The boosted model and every row's raw scores as training computed them (from bin codes).
fn boost_scored(
    params: &HistBoostingParams,
    data: &FitData<'_>,
    seed: u64,
) -> (Boosting, Vec<f64>) {
    let n_rows = data.y.len();
    let binary = data.n_classes == 2;
    let n_outputs = if binary { 1 } else { data.n_classes };
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let (train_rows, validation_rows) = validation_split(params, data, &mut rng);
    // A row's weight, 1 without class weights: multiplying by 1 changes no bit, and a vector
    // of ones would be one more row-sized vector per fold in flight.
    let weight_of = |row: usize| data.weights.map_or(1.0, |weights| weights[row]);
    // Only the start needs the boosting rows' labels and weights gathered; they are freed
    // before the bin codes are made.
    let base_scores = {
        let train_y: Vec<usize> = train_rows.iter().map(|row| data.y[*row as usize]).collect();
        let train_weights: Vec<f64> = train_rows
            .iter()
            .map(|row| weight_of(*row as usize))
            .collect();
        base_scores(
            &train_y,
            &train_weights,
            data.n_classes,
            data.positive_class,
        )
    };
    let binned = BinnedRows::new(data, &train_rows, params.max_bins);
    let n_features = binned.n_features;
    let n_sampled_features = ((params.colsample * n_features as f64).ceil() as usize).clamp(1, n_features.max(1));
    let mut scores: Vec<f64> = base_scores.iter().copied().cycle().take(n_rows * n_outputs).collect();
    // Each row's gradient and hessian, side by side, as the histograms read them.
    let mut pairs = vec![(0.0, 0.0); n_rows];
    // Several classes' trees in a round use the probabilities from before the round, kept
    // here; with two classes there is one tree per round, which reads its row's score.
    let mut probabilities = vec![0.0; if binary { 0 } else { n_rows * n_outputs }];
    let mut rounds: Vec<Vec<FlatTree>> = Vec::with_capacity(params.n_rounds);
    let mut in_round = vec![false; n_rows];
    let mut pool: Vec<Vec<Totals>> = Vec::new();
    let (mut order, mut right_rows): (Vec<u32>, Vec<u32>) = (Vec::new(), Vec::new());
    let mut best = (f64::INFINITY, 0usize);
    for round_idx in 0..params.n_rounds {
        // Without subsampling every round boosts on all the boosting rows: the list itself.
        let round_rows: Cow<'_, [u32]> = if params.subsample < 1.0 {
            Cow::Owned(
                train_rows
                    .iter()
                    .filter(|_| rng.gen_bool(params.subsample))
                    .copied()
                    .collect(),
            )
        } else {
            Cow::Borrowed(&train_rows)
        };
        if round_rows.len() < n_rows {
            in_round.fill(false);
            for row in round_rows.iter() {
                in_round[*row as usize] = true;
            }
        }
        if !binary {
            for row in &train_rows {
                let row = *row as usize;
                let range = row * n_outputs..(row + 1) * n_outputs;
                probabilities_of(&scores[range.clone()], false, &mut probabilities[range]);
            }
        }
        let mut round = Vec::with_capacity(n_outputs);
        for output in 0..n_outputs {
            for row in &train_rows {
                let row = *row as usize;
                let (p, target) = if binary {
                    (sigmoid(scores[row]), data.y[row] == data.positive_class)
                } else {
                    (probabilities[row * n_outputs + output], data.y[row] == output)
                };
                pairs[row] = (
                    weight_of(row) * (p - f64::from(u8::from(target))),
                    weight_of(row) * (p * (1.0 - p)).max(1e-16),
                );
            }
            let mut features: Vec<usize> = if n_sampled_features < n_features {
                sample(&mut rng, n_features, n_sampled_features).into_vec()
            } else {
                (0..n_features).collect()
            };
            features.sort_unstable();
            let grower = Grower {
                binned: &binned,
                pairs: &pairs,
                params,
                features,
            };
            // Each tree starts from the round's rows in ascending order (see `partition`).
            order.clear();
            order.extend_from_slice(&round_rows);
            let (tree, segments) = grower.grow(&mut order, &mut pool, &mut right_rows);
            // The round's rows get their leaf's value from the partition; the others (held
            // out for early stopping, or left out of the bag) walk the tree.
            for segment in &segments {
                for row in &order[segment.start..segment.end] {
                    scores[*row as usize * n_outputs + output] +=
                        params.learning_rate * segment.value;
                }
            }
            if order.len() < n_rows {
                for row in (0..n_rows).filter(|row| !in_round[*row]) {
                    scores[row * n_outputs + output] +=
                        params.learning_rate * tree.value(&binned, row);
                }
            }
            round.push(tree.to_flat(&binned));
        }
        rounds.push(round);
        if !validation_rows.is_empty() {
            let loss = log_loss(&validation_rows, &scores, data, n_outputs);
            if loss < best.0 - 1e-12 {
                best = (loss, round_idx);
            } else if round_idx - best.1 >= params.early_stopping_rounds {
                break;
            }
        }
    }
    if !validation_rows.is_empty() {
        rounds.truncate(best.1 + 1);
    }
    let model = Boosting {
        base_scores,
        learning_rate: params.learning_rate,
        trees: rounds,
    };
    (model, scores)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    fn params() -> HistBoostingParams {
        HistGradientBoosting.default_params()
    }

    /// Rows where `x0` decides the class and `x1` is missing exactly for the positives.
    fn planted(n_rows: usize) -> (Array2<f64>, Vec<usize>) {
        let mut x = Array2::zeros((n_rows, 3));
        let mut y = Vec::with_capacity(n_rows);
        let mut state = 7u64;
        for row in 0..n_rows {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let noise = (state >> 11) as f64 / (1u64 << 53) as f64;
            let positive = row % 3 == 0;
            x[[row, 0]] = noise + if positive { 0.6 } else { 0.0 };
            x[[row, 1]] = if positive { f64::NAN } else { noise * 10.0 };
            x[[row, 2]] = (row % 7) as f64;
            y.push(usize::from(positive));
        }
        (x, y)
    }

    fn fit(params: &HistBoostingParams, x: &Array2<f64>, y: &[usize], n_classes: usize) -> Boosting {
        let data = FitData::new(x.view(), y, None, n_classes, 1);
        boost(params, &data, 11)
    }

    #[test]
    fn invalid_parameters_are_refused_naming_them() {
        let check = |change: fn(&mut HistBoostingParams)| {
            let mut params = params();
            change(&mut params);
            HistGradientBoosting.check(&params).unwrap_err()
        };
        assert!(check(|p| p.learning_rate = 0.0).contains("`learning_rate`"));
        assert!(check(|p| p.lambda = -1.0).contains("`lambda`"));
        assert!(check(|p| p.colsample = 1.5).contains("`colsample`"));
        assert!(check(|p| p.max_bins = 256).contains("`max_bins`"));
        assert!(check(|p| p.max_leaves = 1).contains("`max_leaves`"));
        assert!(HistGradientBoosting.check(&params()).is_ok());
    }

    #[test]
    fn thresholds_separate_bins_and_codes_follow_them() {
        assert_eq!(bin_thresholds(&[1.0, 1.0, 2.0, 4.0], 10), vec![1.5, 3.0]);
        let many: Vec<f64> = (0..1000).map(f64::from).collect();
        let cuts = bin_thresholds(&many, 254);
        assert!(cuts.len() <= 253 && cuts.len() > 200, "{}", cuts.len());
        assert!(cuts.windows(2).all(|pair| pair[0] < pair[1]));
        let x = ndarray::array![[1.0], [2.0], [f64::NAN], [4.0], [1.5]];
        let y = [0, 1, 0, 1, 0];
        let binned = BinnedRows::new(&FitData::new(x.view(), &y, None, 2, 1), &[0, 1, 2, 3], 255);
        let codes: Vec<u8> = (0..5).map(|row| binned.code(row, 0)).collect();
        assert_eq!(codes, vec![0, 1, 3, 2, 1], "missing: one past the three finite bins");
    }

    #[test]
    fn histograms_on_one_or_two_cores_are_the_row_by_row_sums_to_the_bit() {
        // Eleven features, so that a pass takes eight and one takes the rest.
        let n_rows = 2_000;
        let x = Array2::from_shape_fn((n_rows, 11), |(row, feature)| match feature % 3 {
            _ if (row + feature) % 13 == 0 => f64::NAN,
            0 => (row * (feature + 1) % 97) as f64,
            1 => (row % (feature + 2)) as f64,
            _ => ((row * 7919) % 1009) as f64 / 1009.0,
        });
        let y: Vec<usize> = (0..n_rows).map(|row| usize::from(row % 3 == 0)).collect();
        let data = FitData::new(x.view(), &y, None, 2, 1);
        let binned = BinnedRows::new(&data, &(0..n_rows as u32).collect::<Vec<_>>(), 255);
        // Gradients whose sums depend on the order they are added in.
        let pairs: Vec<(f64, f64)> = (0..n_rows)
            .map(|row| (1.0 / (row as f64 + 0.3), 0.1 + 1e-9 * row as f64))
            .collect();
        let some_rows: Vec<u32> = (0..n_rows as u32).filter(|row| row % 3 != 1).collect();
        let all_rows: Vec<u32> = (0..n_rows as u32).collect();
        let bits = |slot: &Totals| [slot.gradient, slot.hessian, slot.n_rows].map(f64::to_bits);
        let features_tried: [Vec<usize>; 3] =
            [(0..11).collect(), vec![1, 2], vec![0, 2, 3, 5, 6, 7, 8, 9, 10]];
        // A subset of the rows is gathered; all of them (a root) are read in place.
        for (features, rows) in features_tried
            .iter()
            .flat_map(|features| [(features, &some_rows), (features, &all_rows)])
        {
            // Each allowed feature's bins summed a row at a time, in row order.
            let expected: Vec<[u64; 3]> = features
                .iter()
                .flat_map(|feature| {
                    let mut slots = vec![Totals::default(); binned.slots(*feature).len()];
                    for row in rows {
                        let row = *row as usize;
                        slots[usize::from(binned.code(row, *feature))].add(&Totals {
                            gradient: pairs[row].0,
                            hessian: pairs[row].1,
                            n_rows: 1.0,
                        });
                    }
                    slots
                })
                .map(|slot| bits(&slot))
                .collect();
            assert!(expected.iter().filter(|slot| slot[2] != 0).count() > 40);
            for shared in [false, true] {
                let grower = Grower {
                    binned: &binned,
                    pairs: &pairs,
                    params: &params(),
                    features: features.clone(),
                };
                // Stale sums in every slot: each fill must clear its own features' slots.
                let stale = Totals {
                    gradient: 9.0,
                    hessian: 9.0,
                    n_rows: 9.0,
                };
                let mut histogram = vec![stale; binned.n_slots()];
                grower.fill_histogram_on(&mut histogram, rows, shared);
                let found: Vec<[u64; 3]> = features
                    .iter()
                    .flat_map(|feature| histogram[binned.slots(*feature)].iter().map(bits))
                    .collect();
                assert_eq!(found, expected, "two cores: {shared}, features {features:?}");
            }
        }
    }

    #[test]
    fn stored_trees_predict_what_training_scored() {
        let (x, y) = planted(600);
        let mut params = params();
        params.n_rounds = 20;
        params.subsample = 0.8;
        params.colsample = 0.67;
        let data = FitData::new(x.view(), &y, None, 2, 1);
        let (model, scores) = boost_scored(&params, &data, 3);
        // The flat trees on raw inputs (NaN included) give what training computed from codes.
        for (row, input) in x.rows().into_iter().enumerate() {
            let input = input.to_vec();
            let raw = model.base_scores[0]
                + model
                    .trees
                    .iter()
                    .map(|round| params.learning_rate * round[0].leaf(&input)[0])
                    .sum::<f64>();
            assert!((raw - scores[row]).abs() < 1e-9, "row {row}: {raw} vs {}", scores[row]);
        }
        let first = &model.trees[0][0];
        assert_eq!(first.missing_left.len(), first.nodes.len());
        assert_eq!(first.covers[0], first.covers[1] + first.covers[2]);
    }

    #[test]
    fn missing_values_are_routed_to_the_side_they_predict() {
        let (x, y) = planted(900);
        let mut params = params();
        params.n_rounds = 1;
        params.max_leaves = 2;
        let model = fit(&params, &x, &y, 2);
        let tree = &model.trees[0][0];
        // One split: on `x1`, missing (= positive) one way, every observed value the other.
        let TreeNode::Split { feature, .. } = tree.nodes[0] else {
            panic!("a split expected")
        };
        assert_eq!(feature, 1);
        let missing = tree.leaf(&[0.1, f64::NAN, 0.0])[0];
        let observed = tree.leaf(&[0.1, 5.0, 0.0])[0];
        assert!(missing > 0.0 && observed < 0.0, "{missing} {observed}");
    }

    #[test]
    fn early_stopping_keeps_the_best_round_and_same_seed_same_model() {
        let (x, y) = planted(900);
        let mut params = params();
        params.n_rounds = 300;
        params.learning_rate = 0.3;
        params.early_stopping_rounds = 5;
        let model = fit(&params, &x, &y, 2);
        assert!(model.trees.len() < 300, "{} rounds", model.trees.len());
        assert_eq!(model, fit(&params, &x, &y, 2));
    }

    #[test]
    fn multiclass_grows_one_tree_per_class_per_round() {
        let (x, mut y) = planted(600);
        for (row, class_idx) in y.iter_mut().enumerate() {
            if *class_idx == 0 && x[[row, 2]] > 3.0 {
                *class_idx = 2;
            }
        }
        let mut params = params();
        params.n_rounds = 10;
        let model = fit(&params, &x, &y, 3);
        assert_eq!(model.trees.len(), 10);
        assert!(model.trees.iter().all(|round| round.len() == 3));
        assert_eq!(model.base_scores.len(), 3);
    }
}
