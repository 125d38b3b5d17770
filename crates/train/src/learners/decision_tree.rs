//! A single decision tree: grown by linfa-trees, copied into a flat tree whose leaves hold the
//! training class frequencies (linfa keeps only the majority class).

use linfa::prelude::*;
use model::Classifier;
use model::classifier::{FlatTree, TreeNode};
use ndarray::Array1;

use super::space::{ParamValue, Space};
use super::{FamilyInfo, FitData, FitError, Learner, library};

const NAME: &str = "decision_tree";

/// A CART decision tree (linfa-trees, Gini).
pub struct DecisionTree;

/// Hyperparameters of [`DecisionTree`].
#[derive(Debug, Clone, PartialEq)]
pub struct TreeParams {
    /// Maximum depth; `None` grows until leaves are pure or too light.
    pub max_depth: Option<usize>,
    /// Minimum total row weight in a leaf.
    pub min_weight_leaf: f32,
}

impl Learner for DecisionTree {
    type Params = TreeParams;

    fn info(&self) -> FamilyInfo {
        FamilyInfo {
            short: "dt",
            name: NAME,
            description: "decision tree (linfa-trees, Gini; leaves keep class frequencies)",
            supports_weights: true,
            in_default_run: true,
            native_missing: false,
            combines_others: false,
        }
    }

    fn default_params(&self) -> TreeParams {
        // A fully grown tree gives 0/1 leaf "probabilities"; modest limits give usable ones.
        TreeParams {
            max_depth: Some(5),
            min_weight_leaf: 5.0,
        }
    }

    fn search_space(&self) -> Space<TreeParams> {
        Space::<TreeParams>::new()
            .choice(
                "max_depth",
                &[
                    Some(2),
                    Some(3),
                    Some(4),
                    Some(5),
                    Some(6),
                    Some(8),
                    Some(10),
                    None,
                ],
                |p| &mut p.max_depth,
            )
            .choice(
                "min_weight_leaf",
                &[1.0, 2.0, 5.0, 10.0, 20.0],
                |p| &mut p.min_weight_leaf,
            )
    }

    fn check(&self, params: &TreeParams) -> Result<(), String> {
        if params.max_depth == Some(0) {
            return Err("`max_depth` must be at least 1 (or none)".into());
        }
        if !(params.min_weight_leaf.is_finite() && params.min_weight_leaf >= 0.0) {
            return Err(format!(
                "`min_weight_leaf` must be a finite number >= 0, found {}",
                params.min_weight_leaf
            ));
        }
        Ok(())
    }

    fn describe(&self, params: &TreeParams) -> Vec<(&'static str, String)> {
        vec![
            ("max_depth", params.max_depth.show()),
            ("min_weight_leaf", params.min_weight_leaf.show()),
        ]
    }

    fn fit(
        &self,
        params: &TreeParams,
        data: &FitData<'_>,
        _seed: u64,
    ) -> Result<Classifier, FitError> {
        // linfa-trees picks a leaf's majority class by iterating a `HashMap`, whose order is
        // random per process, and prunes sibling leaves that agree on it; a tie (3 vs 3 rows)
        // would make the tree differ between runs. Scaling class c's weights by the exact
        // binary fraction (1 + c / 4096) makes equal weighted counts impossible below 4096 rows
        // per class, so ties cannot occur and the tree is reproducible, at a negligible cost to
        // split scores.
        let weights: Array1<f32> = data
            .y
            .iter()
            .enumerate()
            .map(|(row_idx, class_idx)| {
                let base = data.weights.map_or(1.0, |weights| weights[row_idx] as f32);
                base * (1.0 + *class_idx as f32 / 4096.0)
            })
            .collect();
        let dataset = data.linfa_dataset().with_weights(weights);
        let fitted = linfa_trees::DecisionTree::params()
            .max_depth(params.max_depth)
            .min_weight_leaf(params.min_weight_leaf)
            .min_weight_split(2.0 * params.min_weight_leaf)
            .fit(&dataset)
            .map_err(|error| library(NAME)(error.to_string()))?;
        // linfa's leaves only keep the majority class; probabilities need the class
        // frequencies, so the tree is copied and the training rows are routed to its leaves.
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
            covers: Vec::new(),
            missing_left: Vec::new(),
            layout: Default::default(),
        };
        let mut counts = vec![0.0; n_leaves * data.n_classes];
        for (row_idx, (row, class_idx)) in data.x().rows().into_iter().zip(data.y).enumerate() {
            let row = row.to_vec();
            let weight = data.weights.map_or(1.0, |weights| weights[row_idx]);
            if let Some(offset) = tree.leaf_offset(&row) {
                counts[offset + class_idx] += weight;
            }
            tree.add_cover(&row, weight);
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
