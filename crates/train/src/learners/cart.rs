//! A compact CART builder for the random forest (weighted Gini, per-split feature sampling)
//! and gradient boosting (second-order regression trees), producing `model::FlatTree`s.
//!
//! linfa-trees grows one tree at a time over every feature; a forest needs a fresh random
//! feature subset at each split (what makes it a random forest rather than bagged trees) and
//! hundreds of trees per second, so the builder lives here.

use model::classifier::{FlatTree, TreeNode};
use ndarray::ArrayView2;
use rand::Rng;
use rand::seq::index::sample;

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

struct Builder<'x, 't, 'r, R> {
    x: ArrayView2<'x, f64>,
    target: Target<'t>,
    growth: Growth,
    rng: &'r mut R,
    nodes: Vec<TreeNode>,
    values: Vec<f64>,
}

/// Grows a tree on the rows in `rows` (which may repeat, e.g. unweighted bootstraps).
pub fn grow<R: Rng>(
    x: ArrayView2<'_, f64>,
    rows: Vec<usize>,
    target: Target<'_>,
    growth: Growth,
    rng: &mut R,
) -> FlatTree {
    let n_values = match &target {
        Target::Classes { n_classes, .. } => *n_classes,
        Target::Gradient { .. } => 1,
    };
    let mut builder = Builder {
        x,
        target,
        growth,
        rng,
        nodes: Vec::new(),
        values: Vec::new(),
    };
    builder.node(rows, 0);
    FlatTree {
        nodes: builder.nodes,
        values: builder.values,
        n_values,
    }
}

/// The best split found at a node.
struct Split {
    feature: usize,
    threshold: f64,
    score: f64,
}

impl<R: Rng> Builder<'_, '_, '_, R> {
    fn node(&mut self, mut rows: Vec<usize>, depth: usize) -> u32 {
        let node_idx = self.nodes.len() as u32;
        self.nodes.push(TreeNode::Leaf { offset: 0 });
        let depth_ok = self.growth.max_depth.is_none_or(|max| depth < max);
        let split = if depth_ok
            && rows.len() >= self.growth.min_samples_split.max(2)
            && rows.len() >= 2 * self.growth.min_samples_leaf.max(1)
            && !self.is_pure(&rows)
        {
            self.best_split(&mut rows)
        } else {
            None
        };
        match split {
            Some(split) => {
                let (left, right): (Vec<usize>, Vec<usize>) = rows
                    .into_iter()
                    .partition(|row| self.x[[*row, split.feature]] < split.threshold);
                let left_idx = self.node(left, depth + 1);
                let right_idx = self.node(right, depth + 1);
                self.nodes[node_idx as usize] = TreeNode::Split {
                    feature: split.feature as u32,
                    threshold: split.threshold,
                    left: left_idx,
                    right: right_idx,
                };
            }
            None => {
                let offset = self.values.len() as u32;
                let leaf = self.leaf_values(&rows);
                self.values.extend(leaf);
                self.nodes[node_idx as usize] = TreeNode::Leaf { offset };
            }
        }
        node_idx
    }

    fn is_pure(&self, rows: &[usize]) -> bool {
        match &self.target {
            Target::Classes { y, .. } => rows.iter().all(|row| y[*row] == y[rows[0]]),
            Target::Gradient { .. } => false,
        }
    }

    fn leaf_values(&self, rows: &[usize]) -> Vec<f64> {
        match &self.target {
            Target::Classes {
                y,
                n_classes,
                weights,
            } => {
                let mut counts = vec![0.0; *n_classes];
                for row in rows {
                    counts[y[*row]] += weights[*row];
                }
                let total: f64 = counts.iter().sum();
                if total > 0.0 {
                    counts.iter_mut().for_each(|count| *count /= total);
                }
                counts
            }
            Target::Gradient {
                gradients,
                hessians,
                lambda,
            } => {
                let g: f64 = rows.iter().map(|row| gradients[*row]).sum();
                let h: f64 = rows.iter().map(|row| hessians[*row]).sum();
                vec![-g / (h + lambda)]
            }
        }
    }

    fn best_split(&mut self, rows: &mut [usize]) -> Option<Split> {
        let n_features = self.x.ncols();
        let n_candidates = self
            .growth
            .max_features
            .unwrap_or(n_features)
            .clamp(1, n_features);
        let features: Vec<usize> = if n_candidates == n_features {
            (0..n_features).collect()
        } else {
            sample(self.rng, n_features, n_candidates).into_vec()
        };
        let mut best: Option<Split> = None;
        let min_leaf = self.growth.min_samples_leaf.max(1);
        let mut class_left = Vec::new();
        for feature in features {
            let x = self.x;
            rows.sort_unstable_by(|a, b| {
                x[[*a, feature]].total_cmp(&x[[*b, feature]]).then(a.cmp(b))
            });
            if x[[rows[0], feature]] == x[[rows[rows.len() - 1], feature]] {
                continue;
            }
            let candidate = match &self.target {
                Target::Classes {
                    y,
                    n_classes,
                    weights,
                } => {
                    let mut class_total = vec![0.0; *n_classes];
                    for row in rows.iter() {
                        class_total[y[*row]] += weights[*row];
                    }
                    let total_weight: f64 = class_total.iter().sum();
                    class_left.clear();
                    class_left.resize(*n_classes, 0.0);
                    let mut left_weight = 0.0;
                    let mut best_here: Option<(f64, usize)> = None;
                    for position in 0..rows.len() - 1 {
                        let row = rows[position];
                        class_left[y[row]] += weights[row];
                        left_weight += weights[row];
                        let value = x[[row, feature]];
                        let next = x[[rows[position + 1], feature]];
                        if value == next
                            || position + 1 < min_leaf
                            || rows.len() - position - 1 < min_leaf
                        {
                            continue;
                        }
                        let right_weight = total_weight - left_weight;
                        if left_weight <= 0.0 || right_weight <= 0.0 {
                            continue;
                        }
                        // Maximising sum(L_c^2)/L + sum(R_c^2)/R minimises weighted Gini.
                        let mut left_sq = 0.0;
                        let mut right_sq = 0.0;
                        for class_idx in 0..*n_classes {
                            let left = class_left[class_idx];
                            let right = class_total[class_idx] - left;
                            left_sq += left * left;
                            right_sq += right * right;
                        }
                        let score = left_sq / left_weight + right_sq / right_weight;
                        if best_here.is_none_or(|(best_score, _)| score > best_score + 1e-12) {
                            best_here = Some((score, position));
                        }
                    }
                    best_here
                }
                Target::Gradient {
                    gradients,
                    hessians,
                    lambda,
                } => {
                    let g_total: f64 = rows.iter().map(|row| gradients[*row]).sum();
                    let h_total: f64 = rows.iter().map(|row| hessians[*row]).sum();
                    let (mut g_left, mut h_left) = (0.0, 0.0);
                    let mut best_here: Option<(f64, usize)> = None;
                    let parent = g_total * g_total / (h_total + lambda);
                    for position in 0..rows.len() - 1 {
                        let row = rows[position];
                        g_left += gradients[row];
                        h_left += hessians[row];
                        let value = x[[row, feature]];
                        let next = x[[rows[position + 1], feature]];
                        if value == next
                            || position + 1 < min_leaf
                            || rows.len() - position - 1 < min_leaf
                        {
                            continue;
                        }
                        let (g_right, h_right) = (g_total - g_left, h_total - h_left);
                        let score = g_left * g_left / (h_left + lambda)
                            + g_right * g_right / (h_right + lambda)
                            - parent;
                        if score > 1e-12
                            && best_here.is_none_or(|(best_score, _)| score > best_score + 1e-12)
                        {
                            best_here = Some((score, position));
                        }
                    }
                    best_here
                }
            };
            if let Some((score, position)) = candidate
                && best
                    .as_ref()
                    .is_none_or(|current| score > current.score + 1e-12)
            {
                let low = x[[rows[position], feature]];
                let high = x[[rows[position + 1], feature]];
                let mut threshold = low + (high - low) / 2.0;
                // Midpoints can round onto `high`; the split must still separate the rows.
                if threshold <= low || threshold > high {
                    threshold = high;
                }
                best = Some(Split {
                    feature,
                    threshold,
                    score,
                });
            }
        }
        best
    }
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
        }
    }

    #[test]
    fn classification_tree_separates_and_reports_frequencies() {
        let x = array![[0.0, 5.0], [1.0, 5.0], [2.0, 5.0], [3.0, 5.0]];
        let y = [0, 0, 1, 1];
        let weights = [1.0; 4];
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(0);
        let tree = grow(
            x.view(),
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
            x.view(),
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
    fn gradient_tree_takes_newton_steps() {
        let x = array![[0.0], [1.0], [2.0], [3.0]];
        let gradients = [-1.0, -1.0, 1.0, 1.0];
        let hessians = [1.0; 4];
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(0);
        let tree = grow(
            x.view(),
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
