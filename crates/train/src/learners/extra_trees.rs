//! Extremely randomised trees (Geurts, Ernst and Wehenkel 2006): every tree sees all rows (no
//! bootstrap by default), and each candidate feature's split point is drawn at random between
//! the node's smallest and largest value; the best of those random splits is kept.

use super::FamilyInfo;
use super::cart::Splitter;
use super::ensemble::{Ensemble, ForestParams, MaxFeatures};

/// Extra trees.
pub static EXTRA_TREES: Ensemble = Ensemble {
    info: FamilyInfo {
        short: "et",
        name: "extra_trees",
        description: "extra trees (random split points, no bootstrap by default)",
        supports_weights: true,
        in_default_run: false,
        native_missing: false,
        combines_others: false,
    },
    defaults: ForestParams {
        n_trees: 300,
        max_depth: None,
        min_samples_leaf: 1,
        min_leaf_fraction: 1.0 / 5000.0,
        max_features: MaxFeatures::Sqrt,
        bootstrap: false,
    },
    splitter: Splitter::Random,
    tune_bootstrap: true,
};
