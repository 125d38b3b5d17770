//! Random forest (Breiman 2001): bootstrap samples, a fresh random feature subset at every
//! split, best split points; probabilities average the trees' leaf frequencies.

use super::FamilyInfo;
use super::cart::Splitter;
use super::ensemble::{Ensemble, ForestParams, MaxFeatures};

/// Random forest.
pub static RANDOM_FOREST: Ensemble = Ensemble {
    info: FamilyInfo {
        short: "rf",
        name: "random_forest",
        description: "random forest (bootstrap, per-split feature sampling, best splits)",
        supports_weights: true,
        in_default_run: true,
        native_missing: false,
        combines_others: false,
    },
    defaults: ForestParams {
        n_trees: 200,
        max_depth: None,
        min_samples_leaf: 1,
        min_leaf_fraction: 1.0 / 5000.0,
        max_features: MaxFeatures::Sqrt,
        bootstrap: true,
    },
    splitter: Splitter::Best,
    tune_bootstrap: false,
};
