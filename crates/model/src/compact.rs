//! Tree ensembles predicting many rows at once: each tree is laid out for walking (16-byte
//! nodes, children side by side, leaves that point at themselves) and walked by a block of
//! rows in lock-step, with no branch that depends on the data.
//!
//! Walking one row down one tree is a chain of dependent loads and a hard-to-predict branch
//! per node: scoring a file spent most of its time in mispredicted branches. Here a step is
//! arithmetic (`next + went_right`), a leaf's step returns the leaf, and every row of a block
//! takes as many steps as the tree is deep, so the processor overlaps the rows' independent
//! chains. Routing is exactly [`FlatTree`]'s (below the threshold goes left; a missing input
//! goes where the node says; an absent input index reads as 0) and every row adds its trees'
//! leaves in tree order, so probabilities are bit-for-bit those of one-row prediction; the
//! tests check both.

use crate::classifier::{FlatTree, TreeNode};

/// Bit of `Node::feature` set when a missing input goes left at this split.
const MISSING_LEFT: u32 = 1 << 31;
/// Bits of `Node::feature` holding the input index.
const FEATURE_MASK: u32 = MISSING_LEFT - 1;
/// Rows walked together down one tree.
const BLOCK_ROWS: usize = 16;

/// One node. A split reads `input[feature & FEATURE_MASK]` and goes to `next` (left) or
/// `next + 1` (right). A leaf reads input 0 against a threshold of -inf, which always goes
/// right, to `next + 1`: its own index.
#[derive(Debug, Clone, Copy)]
struct Node {
    threshold: f64,
    feature: u32,
    next: u32,
}

/// A tree in walking layout.
#[derive(Debug, Clone)]
struct CompactTree {
    nodes: Vec<Node>,
    /// Per node, the value offset in [`FlatTree::values`] of a leaf (unused for splits).
    leaf_offsets: Vec<u32>,
    /// The longest root-to-leaf path, in splits: the steps a walk takes.
    depth: usize,
}

impl CompactTree {
    /// Lays `tree` out breadth-first. `None` when it is not a tree (a child index out of
    /// bounds, a node reached twice, an input index too large to pack): callers then predict
    /// row by row through [`FlatTree::leaf`], which handles those without panicking.
    fn build(tree: &FlatTree) -> Option<CompactTree> {
        let n_nodes = tree.nodes.len();
        if n_nodes == 0 || u32::try_from(n_nodes).is_err() {
            return None;
        }
        let mut seen = vec![false; n_nodes];
        // Queue of (persisted node index, depth); a node's place in the queue is its index in
        // the compact layout, so the two children pushed together sit side by side.
        let mut order: Vec<(usize, usize)> = vec![(0, 0)];
        seen[0] = true;
        let mut nodes = Vec::with_capacity(n_nodes);
        let mut leaf_offsets = Vec::with_capacity(n_nodes);
        let mut depth = 0;
        let mut cursor = 0;
        while let Some(&(node_idx, node_depth)) = order.get(cursor) {
            depth = depth.max(node_depth);
            let own_idx = u32::try_from(cursor).ok()?;
            cursor += 1;
            match *tree.nodes.get(node_idx)? {
                TreeNode::Leaf { offset } => {
                    nodes.push(Node {
                        threshold: f64::NEG_INFINITY,
                        feature: 0,
                        next: own_idx.wrapping_sub(1),
                    });
                    leaf_offsets.push(offset);
                }
                TreeNode::Split {
                    feature,
                    threshold,
                    left,
                    right,
                } => {
                    if feature > FEATURE_MASK {
                        return None;
                    }
                    let missing_left = tree.missing_left.get(node_idx).copied().unwrap_or(false);
                    nodes.push(Node {
                        threshold,
                        feature: feature | if missing_left { MISSING_LEFT } else { 0 },
                        next: u32::try_from(order.len()).ok()?,
                    });
                    leaf_offsets.push(0);
                    for child in [left as usize, right as usize] {
                        if *seen.get(child)? {
                            return None;
                        }
                        seen[child] = true;
                        order.push((child, node_depth + 1));
                    }
                }
            }
        }
        Some(CompactTree {
            nodes,
            leaf_offsets,
            depth,
        })
    }

    /// Where a walk at `node_idx` goes next. No branch depends on the input: the comparison
    /// becomes an addition. (The bounds checks always pass, as the layout is built so.)
    #[inline(always)]
    fn step(&self, node_idx: u32, input: &[f64]) -> u32 {
        let Some(node) = self.nodes.get(node_idx as usize) else {
            return node_idx;
        };
        let value = input
            .get((node.feature & FEATURE_MASK) as usize)
            .copied()
            .unwrap_or(0.0);
        let left = (value < node.threshold) | (value.is_nan() & (node.feature & MISSING_LEFT != 0));
        node.next.wrapping_add(u32::from(!left))
    }

    /// The values of the leaf at `node_idx`.
    fn leaf_values<'a>(&self, tree: &'a FlatTree, node_idx: u32) -> &'a [f64] {
        self.leaf_offsets
            .get(node_idx as usize)
            .map_or(&[], |offset| tree.values_at(*offset as usize))
    }
}

/// Calls `visit(key, row, leaf values)` for every tree and every row of `inputs` (row-major,
/// `n_inputs` per row): tree after tree, and for each tree every row. A row thus meets its
/// trees in the order given, as one-row prediction does.
pub(crate) fn for_each_leaf_rows<'a, K: Copy>(
    trees: impl IntoIterator<Item = (K, &'a FlatTree)>,
    inputs: &[f64],
    n_inputs: usize,
    mut visit: impl FnMut(K, usize, &'a [f64]),
) {
    let rows: Vec<&[f64]> = if n_inputs == 0 {
        Vec::new()
    } else {
        inputs.chunks_exact(n_inputs).collect()
    };
    for (key, tree) in trees {
        let Some(compact) = CompactTree::build(tree) else {
            for (row_idx, row) in rows.iter().enumerate() {
                visit(key, row_idx, tree.leaf(row));
            }
            continue;
        };
        for (block_idx, block) in rows.chunks(BLOCK_ROWS).enumerate() {
            let mut positions = [0u32; BLOCK_ROWS];
            // At most the tree's depth in steps; fewer when every row of the block has
            // reached its leaf (leaf-wise trees are deep on one side only).
            for _ in 0..compact.depth {
                let mut moved = false;
                for (position, row) in positions.iter_mut().zip(block) {
                    let next = compact.step(*position, row);
                    moved |= next != *position;
                    *position = next;
                }
                if !moved {
                    break;
                }
            }
            for (offset, position) in positions.iter().take(block.len()).enumerate() {
                visit(
                    key,
                    block_idx * BLOCK_ROWS + offset,
                    compact.leaf_values(tree, *position),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator, so the trees below are the same on every run.
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self) -> f64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (self.0 >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    /// A random tree grown depth-first (so the persisted order differs from the compact,
    /// breadth-first one), with missing-value directions at random.
    fn random_tree(rng: &mut Lcg, n_inputs: usize, depth: usize) -> FlatTree {
        fn grow(rng: &mut Lcg, tree: &mut FlatTree, n_inputs: usize, depth: usize) -> u32 {
            let node_idx = tree.nodes.len() as u32;
            tree.nodes.push(TreeNode::Leaf { offset: 0 });
            tree.missing_left.push(rng.next() < 0.5);
            if depth == 0 || rng.next() < 0.2 {
                let offset = tree.values.len() as u32;
                tree.values.push(rng.next());
                tree.nodes[node_idx as usize] = TreeNode::Leaf { offset };
                return node_idx;
            }
            let feature = (rng.next() * n_inputs as f64) as u32;
            let threshold = rng.next();
            let left = grow(rng, tree, n_inputs, depth - 1);
            let right = grow(rng, tree, n_inputs, depth - 1);
            tree.nodes[node_idx as usize] = TreeNode::Split {
                feature,
                threshold,
                left,
                right,
            };
            node_idx
        }
        let mut tree = FlatTree {
            nodes: Vec::new(),
            values: Vec::new(),
            n_values: 1,
            covers: Vec::new(),
            missing_left: Vec::new(),
        };
        grow(rng, &mut tree, n_inputs, depth);
        tree
    }

    #[test]
    fn rows_in_lock_step_reach_the_leaves_one_row_walks_reach() {
        let mut rng = Lcg(7);
        let n_inputs = 5;
        // A single leaf, a stump, and deep random trees.
        let mut trees: Vec<FlatTree> = (0..30)
            .map(|_| random_tree(&mut rng, n_inputs, 9))
            .collect();
        trees.push(random_tree(&mut rng, n_inputs, 0));
        trees.push(random_tree(&mut rng, n_inputs, 1));
        // 37 rows: two full blocks and a partial one; some inputs missing.
        let n_rows = 37;
        let inputs: Vec<f64> = (0..n_rows * n_inputs)
            .map(|_| {
                if rng.next() < 0.2 {
                    f64::NAN
                } else {
                    rng.next()
                }
            })
            .collect();
        let mut visits = Vec::new();
        for_each_leaf_rows(
            trees.iter().enumerate(),
            &inputs,
            n_inputs,
            |tree_idx, row_idx, leaf| {
                visits.push((tree_idx, row_idx, leaf.to_vec()));
            },
        );
        assert_eq!(visits.len(), trees.len() * n_rows);
        for (tree_idx, row_idx, leaf) in visits {
            let row = &inputs[row_idx * n_inputs..(row_idx + 1) * n_inputs];
            assert_eq!(
                leaf,
                trees[tree_idx].leaf(row),
                "tree {tree_idx} row {row_idx}"
            );
        }
    }

    #[test]
    fn malformed_trees_are_walked_row_by_row() {
        let split = |left, right| TreeNode::Split {
            feature: 0,
            threshold: 0.5,
            left,
            right,
        };
        let leaf = TreeNode::Leaf { offset: 0 };
        for nodes in [
            vec![split(0, 1), leaf],
            vec![split(1, 1), leaf],
            vec![split(1, 9), leaf],
            vec![],
        ] {
            let tree = FlatTree {
                nodes,
                values: vec![1.0],
                n_values: 1,
                covers: Vec::new(),
                missing_left: Vec::new(),
            };
            assert!(CompactTree::build(&tree).is_none());
            let mut visited = 0;
            for_each_leaf_rows([((), &tree)], &[0.0, 1.0], 1, |(), _, _| visited += 1);
            assert_eq!(visited, 2);
        }
    }
}
