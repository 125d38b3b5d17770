//! A compact CART builder for the random forest (weighted Gini, per-split feature sampling)
//! and gradient boosting (second-order regression trees), producing `model::FlatTree`s.
//!
//! linfa-trees grows one tree at a time over every feature; a forest needs a fresh random
//! feature subset at each split (what makes it a random forest rather than bagged trees) and
//! hundreds of trees per second, so the builder lives here.
//!
//! Features are binned once per fit ([`Binned`]): each value becomes a small bin code, stored
//! column by column, and a node's best split comes from per-bin histograms instead of sorting
//! its rows. A feature with at most `MAX_BINS` distinct values gets one bin per value, so its
//! splits are exactly those of an exhaustive search; only features with more distinct values
//! are cut at quantiles. Split thresholds are real values (midpoints between neighbouring
//! bins), so the stored trees predict from raw inputs like any other.

use model::classifier::{FlatTree, TreeNode};
use ndarray::ArrayView2;
use rand::Rng;
use rand::seq::index::sample;

/// How a node chooses the split point of each candidate feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Splitter {
    /// The best point of the feature (CART; random forest, boosting).
    Best,
    /// One point drawn uniformly between the node's smallest and largest value of the feature
    /// (extra trees, Geurts et al. 2006); the best feature is still chosen by its score.
    Random,
}

/// Growth limits shared by both tree kinds.
#[derive(Debug, Clone, Copy)]
pub struct Growth {
    /// Maximum depth (root = 0); `None` grows until leaves are pure or too small.
    pub max_depth: Option<usize>,
    /// A node needs at least this many rows to split.
    pub min_samples_split: usize,
    /// Each child needs at least this many rows.
    pub min_samples_leaf: usize,
    /// Features examined per split; `None` = all.
    pub max_features: Option<usize>,
    /// How split points are chosen.
    pub splitter: Splitter,
}

/// What the tree predicts.
pub enum Target<'a> {
    /// Class frequencies, weighted per row.
    Classes {
        /// Class index per row.
        y: &'a [usize],
        /// Number of classes (leaf vector length).
        n_classes: usize,
        /// Weight per row (bootstrap multiplicity times class weight).
        weights: &'a [f64],
    },
    /// Newton step on a loss: leaf value `-sum(g) / (sum(h) + lambda)`.
    Gradient {
        /// First derivatives per row.
        gradients: &'a [f64],
        /// Second derivatives per row.
        hessians: &'a [f64],
        /// L2 regularisation on leaf values.
        lambda: f64,
    },
}

/// Most bins per feature (bin codes are `u8`).
pub const MAX_BINS: usize = 256;

/// Features turned into bin codes, column by column, with the real threshold between bins.
pub struct Binned {
    /// `codes[feature * n_rows + row]`.
    codes: Vec<u8>,
    n_rows: usize,
    /// Bins per feature.
    n_bins: Vec<usize>,
    /// `thresholds[feature][b]` separates bin `b` (below) from bin `b + 1`.
    thresholds: Vec<Vec<f64>>,
    /// `uppers[feature][b]` is the largest value in bin `b`.
    uppers: Vec<Vec<f64>>,
}

impl Binned {
    /// Bins every column of `x` (finite values expected: preprocessing has imputed).
    pub fn new(x: ArrayView2<'_, f64>) -> Self {
        let (n_rows, n_features) = x.dim();
        let mut codes = vec![0u8; n_rows * n_features];
        let mut n_bins = Vec::with_capacity(n_features);
        let mut thresholds = Vec::with_capacity(n_features);
        let mut all_uppers = Vec::with_capacity(n_features);
        for feature in 0..n_features {
            let column = x.column(feature);
            let mut sorted: Vec<f64> = column.iter().copied().collect();
            sorted.sort_by(f64::total_cmp);
            let mut distinct = sorted.clone();
            distinct.dedup();
            // Upper bound (inclusive) of each bin.
            let uppers: Vec<f64> = if distinct.len() <= MAX_BINS {
                distinct.clone()
            } else {
                let mut uppers: Vec<f64> = (1..MAX_BINS)
                    .map(|i| sorted[(i * n_rows / MAX_BINS).min(n_rows - 1)])
                    .collect();
                uppers.push(distinct[distinct.len() - 1]);
                uppers.dedup();
                uppers
            };
            // Threshold between bins: midway between the largest value of one bin and the
            // smallest of the next, nudged onto the next value if the midpoint rounds down.
            let mut feature_thresholds = Vec::with_capacity(uppers.len().saturating_sub(1));
            for pair in uppers.windows(2) {
                let low = pair[0];
                let high = distinct[distinct.partition_point(|value| *value <= low)];
                let mut threshold = low + (high - low) / 2.0;
                if threshold <= low || threshold > high {
                    threshold = high;
                }
                feature_thresholds.push(threshold);
            }
            for (row, value) in column.iter().enumerate() {
                let bin = uppers
                    .partition_point(|upper| upper < value)
                    .min(uppers.len() - 1);
                codes[feature * n_rows + row] = bin as u8;
            }
            n_bins.push(uppers.len());
            thresholds.push(feature_thresholds);
            all_uppers.push(uppers);
        }
        Binned {
            codes,
            n_rows,
            n_bins,
            thresholds,
            uppers: all_uppers,
        }
    }

    fn code(&self, feature: usize, row: usize) -> usize {
        usize::from(self.codes[feature * self.n_rows + row])
    }
}

/// Grows a tree on the rows in `rows` of a binned matrix.
pub fn grow<R: Rng>(
    binned: &Binned,
    rows: Vec<usize>,
    target: Target<'_>,
    growth: Growth,
    rng: &mut R,
) -> FlatTree {
    let n_values = match &target {
        Target::Classes { n_classes, .. } => *n_classes,
        Target::Gradient { .. } => 1,
    };
    let stride = match &target {
        Target::Classes { n_classes, .. } => 1 + n_classes,
        Target::Gradient { .. } => 3,
    };
    let max_bins = binned.n_bins.iter().copied().max().unwrap_or(0);
    let mut builder = Builder {
        binned,
        target,
        growth,
        rng,
        nodes: Vec::new(),
        covers: Vec::new(),
        values: Vec::new(),
        histogram: vec![0.0; max_bins * stride],
        touched: Vec::new(),
        partition: Vec::new(),
        features: Vec::new(),
        class_totals: Vec::new(),
    };
    let mut rows = rows;
    builder.node(&mut rows, 0);
    FlatTree {
        nodes: builder.nodes,
        values: builder.values,
        n_values,
        covers: builder.covers,
        missing_left: Vec::new(),
        layout: Default::default(),
    }
}

/// The best split found at a node: rows whose bin is at most `bin` go left.
struct Split {
    feature: usize,
    bin: usize,
    score: f64,
}

struct Builder<'b, 't, 'r, R> {
    binned: &'b Binned,
    target: Target<'t>,
    growth: Growth,
    rng: &'r mut R,
    nodes: Vec<TreeNode>,
    /// Training weight reaching each node, parallel to `nodes`.
    covers: Vec<f64>,
    values: Vec<f64>,
    /// Scratch: per-bin statistics, all zero between uses.
    histogram: Vec<f64>,
    /// Scratch: the bins a node's rows fall in, so small nodes never scan every bin.
    touched: Vec<usize>,
    /// Scratch: right-hand rows while partitioning.
    partition: Vec<usize>,
    /// Scratch: the features examined at a node.
    features: Vec<usize>,
    /// Scratch: class totals and running left totals for Gini.
    class_totals: Vec<f64>,
}

impl<R: Rng> Builder<'_, '_, '_, R> {
    fn node(&mut self, rows: &mut [usize], depth: usize) -> u32 {
        let node_idx = self.nodes.len() as u32;
        self.nodes.push(TreeNode::Leaf { offset: 0 });
        let cover = self.cover(rows);
        self.covers.push(cover);
        let depth_ok = self.growth.max_depth.is_none_or(|max| depth < max);
        let split = if depth_ok
            && rows.len() >= self.growth.min_samples_split.max(2)
            && rows.len() >= 2 * self.growth.min_samples_leaf.max(1)
            && !self.is_pure(rows)
        {
            self.best_split(rows)
        } else {
            None
        };
        match split {
            Some(split) => {
                // Stable in-place partition: left rows first, each side in its original order.
                let binned = self.binned;
                let scratch = &mut self.partition;
                scratch.clear();
                let mut n_left = 0;
                for idx in 0..rows.len() {
                    let row = rows[idx];
                    if binned.code(split.feature, row) <= split.bin {
                        rows[n_left] = row;
                        n_left += 1;
                    } else {
                        scratch.push(row);
                    }
                }
                rows[n_left..].copy_from_slice(scratch);
                let (left, right) = rows.split_at_mut(n_left);
                let left_idx = self.node(left, depth + 1);
                let right_idx = self.node(right, depth + 1);
                self.nodes[node_idx as usize] = TreeNode::Split {
                    feature: split.feature as u32,
                    threshold: self.binned.thresholds[split.feature][split.bin],
                    left: left_idx,
                    right: right_idx,
                };
            }
            None => {
                let offset = self.values.len() as u32;
                self.push_leaf_values(rows);
                self.nodes[node_idx as usize] = TreeNode::Leaf { offset };
            }
        }
        node_idx
    }

    /// A node's cover: its rows' total weight for class trees (bootstrap multiplicity times
    /// class weight, as scikit-learn's `weighted_n_node_samples`), its row count for gradient
    /// trees.
    fn cover(&self, rows: &[usize]) -> f64 {
        match &self.target {
            Target::Classes { weights, .. } => rows.iter().map(|row| weights[*row]).sum(),
            Target::Gradient { .. } => rows.len() as f64,
        }
    }

    fn is_pure(&self, rows: &[usize]) -> bool {
        match &self.target {
            Target::Classes { y, .. } => rows.iter().all(|row| y[*row] == y[rows[0]]),
            Target::Gradient { .. } => false,
        }
    }

    fn push_leaf_values(&mut self, rows: &[usize]) {
        match &self.target {
            Target::Classes {
                y,
                n_classes,
                weights,
            } => {
                let start = self.values.len();
                self.values.resize(start + n_classes, 0.0);
                let counts = &mut self.values[start..];
                for row in rows {
                    counts[y[*row]] += weights[*row];
                }
                let total: f64 = counts.iter().sum();
                if total > 0.0 {
                    counts.iter_mut().for_each(|count| *count /= total);
                }
            }
            Target::Gradient {
                gradients,
                hessians,
                lambda,
            } => {
                let g: f64 = rows.iter().map(|row| gradients[*row]).sum();
                let h: f64 = rows.iter().map(|row| hessians[*row]).sum();
                self.values.push(-g / (h + lambda));
            }
        }
    }

    fn best_split(&mut self, rows: &[usize]) -> Option<Split> {
        let n_features = self.binned.n_bins.len();
        let n_candidates = self
            .growth
            .max_features
            .unwrap_or(n_features)
            .clamp(1, n_features);
        let mut features = std::mem::take(&mut self.features);
        features.clear();
        if n_candidates == n_features {
            features.extend(0..n_features);
        } else {
            features.extend(sample(self.rng, n_features, n_candidates));
        }
        let min_leaf = self.growth.min_samples_leaf.max(1) as f64;
        let mut best: Option<Split> = None;
        // Per bin: [row count, then class weights] or [row count, sum g, sum h].
        let stride = match &self.target {
            Target::Classes { n_classes, .. } => 1 + n_classes,
            Target::Gradient { .. } => 3,
        };
        for &feature in &features {
            if self.binned.n_bins[feature] < 2 {
                continue;
            }
            let histogram = &mut self.histogram;
            let touched = &mut self.touched;
            let codes = &self.binned.codes
                [feature * self.binned.n_rows..(feature + 1) * self.binned.n_rows];
            match &self.target {
                Target::Classes { y, weights, .. } => {
                    for row in rows {
                        let base = count_in_bin(histogram, touched, codes[*row], stride);
                        histogram[base + 1 + y[*row]] += weights[*row];
                    }
                }
                Target::Gradient {
                    gradients,
                    hessians,
                    ..
                } => {
                    for row in rows {
                        let base = count_in_bin(histogram, touched, codes[*row], stride);
                        histogram[base + 1] += gradients[*row];
                        histogram[base + 2] += hessians[*row];
                    }
                }
            }
            touched.sort_unstable();
            let only = match self.growth.splitter {
                Splitter::Best => None,
                Splitter::Random => random_bin(&self.binned.uppers[feature], touched, self.rng),
            };
            let candidate = match (&self.target, self.growth.splitter, only) {
                (_, Splitter::Random, None) => None,
                (Target::Classes { n_classes, .. }, _, _) => best_class_split(
                    histogram,
                    touched,
                    *n_classes,
                    rows.len() as f64,
                    min_leaf,
                    only,
                    &mut self.class_totals,
                ),
                (Target::Gradient { lambda, .. }, _, _) => best_gradient_split(
                    histogram,
                    touched,
                    *lambda,
                    rows.len() as f64,
                    min_leaf,
                    only,
                ),
            };
            // Leave the scratch histogram all zero for the next feature or node.
            for bin in touched.drain(..) {
                histogram[bin * stride..(bin + 1) * stride]
                    .iter_mut()
                    .for_each(|value| *value = 0.0);
            }
            if let Some((score, bin)) = candidate
                && best
                    .as_ref()
                    .is_none_or(|current| score > current.score + 1e-12)
            {
                best = Some(Split {
                    feature,
                    bin,
                    score,
                });
            }
        }
        self.features = features;
        best
    }
}

/// Counts a row in its bin's histogram slot (remembering bins touched for the first time) and
/// returns the offset of that bin's statistics.
#[inline]
fn count_in_bin(histogram: &mut [f64], touched: &mut Vec<usize>, code: u8, stride: usize) -> usize {
    let bin = usize::from(code);
    let base = bin * stride;
    if histogram[base] == 0.0 {
        touched.push(bin);
    }
    histogram[base] += 1.0;
    base
}

/// Extra trees' split point for one feature at a node: a value drawn uniformly between the
/// node's smallest and largest bin, snapped to the bin boundary below it. Returns the last bin
/// that goes left, or `None` when the node holds a single bin of the feature.
///
/// Snapping keeps thresholds at bin midpoints, so the stored tree routes the training rows
/// exactly as the histograms that scored the split did.
fn random_bin<R: Rng>(uppers: &[f64], touched: &[usize], rng: &mut R) -> Option<usize> {
    let (&first, &last) = (touched.first()?, touched.last()?);
    if first == last {
        return None;
    }
    let (low, high) = (uppers[first], uppers[last]);
    let point = low + (high - low) * rng.r#gen::<f64>();
    // The largest touched bin whose values all lie below the point (at least `first`).
    let position = touched.partition_point(|bin| uppers[*bin] < point);
    Some(touched[position.saturating_sub(1).min(touched.len() - 2)])
}

/// Best Gini split over class histograms: maximises sum(L_c^2)/L + sum(R_c^2)/R. With `only`,
/// just the split after that bin is scored.
fn best_class_split(
    histogram: &[f64],
    touched: &[usize],
    n_classes: usize,
    n_rows: f64,
    min_leaf: f64,
    only: Option<usize>,
    scratch: &mut Vec<f64>,
) -> Option<(f64, usize)> {
    let stride = 1 + n_classes;
    scratch.clear();
    scratch.resize(2 * n_classes, 0.0);
    let (total, left) = scratch.split_at_mut(n_classes);
    for bin in touched {
        for class_idx in 0..n_classes {
            total[class_idx] += histogram[bin * stride + 1 + class_idx];
        }
    }
    let total_weight: f64 = total.iter().sum();
    let (mut left_rows, mut left_weight) = (0.0, 0.0);
    let mut best: Option<(f64, usize)> = None;
    // The last touched bin cannot start a split: nothing would go right.
    for &bin in touched.iter().take(touched.len().saturating_sub(1)) {
        let base = bin * stride;
        left_rows += histogram[base];
        for class_idx in 0..n_classes {
            left[class_idx] += histogram[base + 1 + class_idx];
            left_weight += histogram[base + 1 + class_idx];
        }
        if only.is_some_and(|only| only != bin) {
            continue;
        }
        let right_rows = n_rows - left_rows;
        let right_weight = total_weight - left_weight;
        if left_rows < min_leaf
            || right_rows < min_leaf
            || left_weight <= 0.0
            || right_weight <= 0.0
        {
            continue;
        }
        let (mut left_sq, mut right_sq) = (0.0, 0.0);
        for class_idx in 0..n_classes {
            let right = total[class_idx] - left[class_idx];
            left_sq += left[class_idx] * left[class_idx];
            right_sq += right * right;
        }
        let score = left_sq / left_weight + right_sq / right_weight;
        if best.is_none_or(|(best_score, _)| score > best_score + 1e-12) {
            best = Some((score, bin));
        }
    }
    best
}

/// Best second-order split: maximises G_L^2/(H_L+λ) + G_R^2/(H_R+λ) - G^2/(H+λ) > 0. With
/// `only`, just the split after that bin is scored.
fn best_gradient_split(
    histogram: &[f64],
    touched: &[usize],
    lambda: f64,
    n_rows: f64,
    min_leaf: f64,
    only: Option<usize>,
) -> Option<(f64, usize)> {
    let (mut g_total, mut h_total) = (0.0, 0.0);
    for bin in touched {
        g_total += histogram[bin * 3 + 1];
        h_total += histogram[bin * 3 + 2];
    }
    let parent = g_total * g_total / (h_total + lambda);
    let (mut left_rows, mut g_left, mut h_left) = (0.0, 0.0, 0.0);
    let mut best: Option<(f64, usize)> = None;
    for &bin in touched.iter().take(touched.len().saturating_sub(1)) {
        let base = bin * 3;
        left_rows += histogram[base];
        g_left += histogram[base + 1];
        h_left += histogram[base + 2];
        if only.is_some_and(|only| only != bin)
            || left_rows < min_leaf
            || n_rows - left_rows < min_leaf
        {
            continue;
        }
        let (g_right, h_right) = (g_total - g_left, h_total - h_left);
        let score =
            g_left * g_left / (h_left + lambda) + g_right * g_right / (h_right + lambda) - parent;
        if score > 1e-12 && best.is_none_or(|(best_score, _)| score > best_score + 1e-12) {
            best = Some((score, bin));
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;
    use rand::SeedableRng;
    use rand_xoshiro::Xoshiro256PlusPlus;

    fn growth() -> Growth {
        Growth {
            max_depth: None,
            min_samples_split: 2,
            min_samples_leaf: 1,
            max_features: None,
            splitter: Splitter::Best,
        }
    }

    #[test]
    fn classification_tree_separates_and_reports_frequencies() {
        let x = array![[0.0, 5.0], [1.0, 5.0], [2.0, 5.0], [3.0, 5.0]];
        let y = [0, 0, 1, 1];
        let weights = [1.0; 4];
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(0);
        let binned = Binned::new(x.view());
        let tree = grow(
            &binned,
            (0..4).collect(),
            Target::Classes {
                y: &y,
                n_classes: 2,
                weights: &weights,
            },
            growth(),
            &mut rng,
        );
        assert_eq!(tree.leaf(&[0.5, 5.0]), &[1.0, 0.0]);
        assert_eq!(tree.leaf(&[2.5, 5.0]), &[0.0, 1.0]);
        let TreeNode::Split {
            feature, threshold, ..
        } = tree.nodes[0]
        else {
            panic!()
        };
        assert_eq!((feature, threshold), (0, 1.5));
        let stump = grow(
            &binned,
            (0..4).collect(),
            Target::Classes {
                y: &[0, 1, 0, 1],
                n_classes: 2,
                weights: &weights,
            },
            Growth {
                max_depth: Some(0),
                ..growth()
            },
            &mut rng,
        );
        assert_eq!(stump.leaf(&[0.0, 0.0]), &[0.5, 0.5]);
    }

    #[test]
    fn many_distinct_values_are_cut_at_quantiles_and_splits_stay_exact() {
        let x = ndarray::Array2::from_shape_fn((1000, 1), |(row, _)| row as f64);
        let binned = Binned::new(x.view());
        assert_eq!(binned.n_bins[0], MAX_BINS);
        // Every threshold separates the rows exactly as their bins do.
        for row in 0..1000 {
            let code = binned.code(0, row);
            if code > 0 {
                assert!(row as f64 >= binned.thresholds[0][code - 1]);
            }
            if code + 1 < binned.n_bins[0] {
                assert!((row as f64) < binned.thresholds[0][code]);
            }
        }
    }

    #[test]
    fn random_split_points_vary_with_the_seed_and_route_rows_as_their_bins() {
        // One feature, 200 distinct values, classes interleaved so every split point is
        // acceptable: the best splitter always picks the same point, the random one does not.
        let x = ndarray::Array2::from_shape_fn((200, 1), |(row, _)| row as f64);
        let y: Vec<usize> = (0..200).map(|row| usize::from(row % 3 == 0)).collect();
        let weights = vec![1.0; 200];
        let binned = Binned::new(x.view());
        let root_threshold = |splitter: Splitter, seed: u64| {
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
            let tree = grow(
                &binned,
                (0..200).collect(),
                Target::Classes {
                    y: &y,
                    n_classes: 2,
                    weights: &weights,
                },
                Growth {
                    max_depth: Some(1),
                    splitter,
                    ..growth()
                },
                &mut rng,
            );
            let TreeNode::Split { threshold, .. } = tree.nodes[0] else {
                panic!("a split expected")
            };
            // Both sides hold the rows the threshold sends there: frequencies sum to one.
            for leaf in tree.values.chunks(2) {
                assert!((leaf.iter().sum::<f64>() - 1.0).abs() < 1e-12);
            }
            threshold
        };
        let best: Vec<f64> = (0..5)
            .map(|seed| root_threshold(Splitter::Best, seed))
            .collect();
        assert!(best.windows(2).all(|pair| pair[0] == pair[1]));
        let random: Vec<f64> = (0..5)
            .map(|seed| root_threshold(Splitter::Random, seed))
            .collect();
        assert!(
            random.windows(2).any(|pair| pair[0] != pair[1]),
            "{random:?}"
        );
        assert!(
            random
                .iter()
                .all(|t| *t > 0.0 && *t < 199.0 && t.fract() == 0.5)
        );
    }

    #[test]
    fn gradient_tree_takes_newton_steps() {
        let x = array![[0.0], [1.0], [2.0], [3.0]];
        let gradients = [-1.0, -1.0, 1.0, 1.0];
        let hessians = [1.0; 4];
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(0);
        let binned = Binned::new(x.view());
        let tree = grow(
            &binned,
            (0..4).collect(),
            Target::Gradient {
                gradients: &gradients,
                hessians: &hessians,
                lambda: 0.0,
            },
            Growth {
                max_depth: Some(1),
                ..growth()
            },
            &mut rng,
        );
        assert_eq!(tree.leaf(&[0.0]), &[1.0]);
        assert_eq!(tree.leaf(&[3.0]), &[-1.0]);
    }
}
