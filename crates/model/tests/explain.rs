//! Per-record explanations against brute force: TreeSHAP equals the Shapley values of the
//! path-dependent set function computed subset by subset, linear contributions are exact, the
//! sampled estimate lands within its stated error of the exact interventional values, and every
//! method adds up to the model's output.

use model::classifier::{Boosting, FlatTree, GaussianNb, Knn, Linear, TreeNode};
use model::explain::{Background, Method, Scale};
use model::{Classifier, ColumnTransform, Explainer, FillRule, FittedPreprocessor, Pipeline};

/// A deterministic generator for test trees and rows.
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

/// A random tree over `n_inputs` inputs whose features repeat along paths (which exercises
/// TreeSHAP's unwinding), with consistent covers and `n_values` values per leaf.
fn random_tree(rng: &mut Lcg, n_inputs: usize, depth: usize, n_values: usize) -> FlatTree {
    fn grow(rng: &mut Lcg, tree: &mut FlatTree, n_inputs: usize, depth: usize, cover: f64) -> u32 {
        let node_idx = tree.nodes.len() as u32;
        tree.nodes.push(TreeNode::Leaf { offset: 0 });
        tree.covers.push(cover);
        if depth == 0 || (depth < 3 && rng.next() < 0.25) {
            let offset = tree.values.len() as u32;
            let raw: Vec<f64> = (0..tree.n_values).map(|_| rng.next() + 0.05).collect();
            let total: f64 = raw.iter().sum();
            tree.values.extend(raw.iter().map(|value| value / total));
            tree.nodes[node_idx as usize] = TreeNode::Leaf { offset };
            return node_idx;
        }
        let share = 0.15 + 0.7 * rng.next();
        let feature = (rng.next() * n_inputs as f64) as u32;
        let threshold = rng.next() * 2.0 - 1.0;
        let left = grow(rng, tree, n_inputs, depth - 1, cover * share);
        let right = grow(rng, tree, n_inputs, depth - 1, cover * (1.0 - share));
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
        n_values,
        covers: Vec::new(),
        missing_left: Vec::new(),
        layout: Default::default(),
    };
    grow(rng, &mut tree, n_inputs, depth, 100.0);
    tree
}

/// The path-dependent set function: features in `known` follow the record, the others split
/// by cover.
fn expected(tree: &FlatTree, node_idx: usize, inputs: &[f64], known: u32, value_idx: usize) -> f64 {
    match tree.nodes[node_idx] {
        TreeNode::Leaf { offset } => tree.values[offset as usize + value_idx],
        TreeNode::Split {
            feature,
            threshold,
            left,
            right,
        } => {
            if known & (1 << feature) != 0 {
                let next = if inputs[feature as usize] < threshold {
                    left
                } else {
                    right
                };
                expected(tree, next as usize, inputs, known, value_idx)
            } else {
                let cover = tree.covers[node_idx];
                tree.covers[left as usize] / cover
                    * expected(tree, left as usize, inputs, known, value_idx)
                    + tree.covers[right as usize] / cover
                        * expected(tree, right as usize, inputs, known, value_idx)
            }
        }
    }
}

/// Shapley values of a set function over `n_players`, by enumerating every subset.
fn brute_force_shapley(n_players: usize, value: impl Fn(u32) -> f64) -> Vec<f64> {
    let factorial = |n: usize| (1..=n).map(|k| k as f64).product::<f64>();
    let mut shapley = vec![0.0; n_players];
    for (player, slot) in shapley.iter_mut().enumerate() {
        for subset in 0u32..(1 << n_players) {
            if subset & (1 << player) != 0 {
                continue;
            }
            let size = subset.count_ones() as usize;
            let weight = factorial(size) * factorial(n_players - size - 1) / factorial(n_players);
            *slot += weight * (value(subset | (1 << player)) - value(subset));
        }
    }
    shapley
}

/// Identity preprocessing over `n` numeric inputs, so inputs equal the raw row.
fn identity(n: usize) -> FittedPreprocessor {
    FittedPreprocessor {
        columns: (0..n)
            .map(|_| ColumnTransform::Numeric {
                zero_is_missing: false,
                fill: 0.0,
                fill_rule: FillRule::Median,
                center: 0.0,
                scale: 1.0,
                missing_indicator: false,
            })
            .collect(),
        output_names: (0..n).map(|idx| format!("x{idx}")).collect(),
    }
}

fn pipeline(classifier: Classifier, n_inputs: usize, n_classes: usize) -> Pipeline {
    Pipeline {
        preprocessor: identity(n_inputs),
        classifier,
        calibration: None,
        n_classes,
        positive_class: if n_classes == 2 { 1 } else { 0 },
    }
}

fn explainer(n_inputs: usize, background: Option<Background>) -> Explainer {
    Explainer {
        input_means: vec![0.0; n_inputs],
        background,
        seed: 11,
        pairs_per_point: 8,
    }
}

#[test]
fn tree_shap_equals_brute_force_shapley_on_random_trees() {
    let mut rng = Lcg(5);
    let n_inputs = 4;
    for _ in 0..40 {
        let tree = random_tree(&mut rng, n_inputs, 5, 2);
        let inputs: Vec<f64> = (0..n_inputs).map(|_| rng.next() * 2.0 - 1.0).collect();
        let fitted = pipeline(Classifier::DecisionTree(tree.clone()), n_inputs, 2);
        let explanation = explainer(n_inputs, None)
            .explain(&fitted, &inputs, 1)
            .expect("covers are present");
        let exact = brute_force_shapley(n_inputs, |known| expected(&tree, 0, &inputs, known, 1));
        for (got, want) in explanation.contributions.iter().zip(&exact) {
            assert!(
                (got - want).abs() < 1e-12,
                "{:?} vs {exact:?}",
                explanation.contributions
            );
        }
        assert!((explanation.base_value - expected(&tree, 0, &inputs, 0, 1)).abs() < 1e-12);
        assert_eq!(explanation.method, Method::TreeShap);
        assert_eq!(explanation.scale, Scale::Probability);
    }
}

/// The base value plus the contributions equals the model's output, and the output is what
/// prediction returns.
fn assert_additive(fitted: &Pipeline, explainer: &Explainer, raw: &[f64], class_idx: usize) {
    let explanation = explainer
        .explain(fitted, raw, class_idx)
        .expect("explainable");
    let total: f64 = explanation.base_value + explanation.contributions.iter().sum::<f64>();
    assert!(
        (total - explanation.output_value).abs() < 1e-9,
        "{total} vs {}",
        explanation.output_value
    );
    let probabilities = fitted.predict_raw(raw);
    let from_output = match explanation.scale {
        Scale::Probability => explanation.output_value,
        Scale::LogOdds => 1.0 / (1.0 + (-explanation.output_value).exp()),
        Scale::Logit => return,
    };
    assert!((from_output - probabilities[class_idx]).abs() < 1e-9);
}

#[test]
fn forests_and_boosting_add_up_to_their_output() {
    let mut rng = Lcg(9);
    let trees: Vec<FlatTree> = (0..12).map(|_| random_tree(&mut rng, 3, 6, 3)).collect();
    let forest = pipeline(Classifier::Forest(trees), 3, 3);
    let rounds: Vec<Vec<FlatTree>> = (0..20)
        .map(|_| vec![random_tree(&mut rng, 3, 4, 1)])
        .collect();
    let boosting = pipeline(
        Classifier::GradientBoosting(Boosting {
            base_scores: vec![-0.4],
            learning_rate: 0.3,
            trees: rounds,
        }),
        3,
        2,
    );
    for _ in 0..10 {
        let raw: Vec<f64> = (0..3).map(|_| rng.next() * 2.0 - 1.0).collect();
        for class_idx in 0..3 {
            assert_additive(&forest, &explainer(3, None), &raw, class_idx);
        }
        assert_additive(&boosting, &explainer(3, None), &raw, 1);
    }
}

#[test]
fn linear_contributions_are_coefficient_times_centred_input_summed_per_feature() {
    // Two raw features: a numeric one with a missing indicator, and a three-level category.
    let preprocessor = FittedPreprocessor {
        columns: vec![
            ColumnTransform::Numeric {
                zero_is_missing: true,
                fill: 2.0,
                fill_rule: FillRule::Median,
                center: 1.0,
                scale: 2.0,
                missing_indicator: true,
            },
            ColumnTransform::OneHot {
                n_categories: 3,
                fill: 0,
                fill_rule: FillRule::MostFrequent,
            },
        ],
        output_names: ["a", "a_missing", "b=0", "b=1", "b=2"]
            .map(String::from)
            .to_vec(),
    };
    let fitted = Pipeline {
        preprocessor,
        classifier: Classifier::Logistic(Linear {
            weights: vec![0.5, -1.0, 0.2, 0.4, -0.3],
            intercepts: vec![0.1],
            n_inputs: 5,
        }),
        calibration: None,
        n_classes: 2,
        positive_class: 1,
    };
    let means = vec![0.0, 0.1, 0.5, 0.3, 0.2];
    let explainer = Explainer {
        input_means: means.clone(),
        background: None,
        seed: 0,
        pairs_per_point: 2,
    };
    let explanation = explainer.explain(&fitted, &[5.0, 2.0], 1).expect("linear");
    // Inputs: (5 - 1) / 2 = 2, not missing, category 2.
    // The indicator input has weight -1.
    let first = 0.5 * (2.0 - 0.0) - (0.0 - 0.1);
    let second = 0.2 * (0.0 - 0.5) + 0.4 * (0.0 - 0.3) + -0.3 * (1.0 - 0.2);
    assert!((explanation.contributions[0] - first).abs() < 1e-15);
    assert!((explanation.contributions[1] - second).abs() < 1e-15);
    assert_eq!(explanation.method, Method::ExactLinear);
    assert_eq!(explanation.scale, Scale::LogOdds);
    assert_additive(&fitted, &explainer, &[5.0, 2.0], 1);
    assert_additive(&fitted, &explainer, &[0.0, f64::NAN], 1);
}

#[test]
fn sampled_shapley_lands_within_its_standard_error_of_the_exact_values() {
    let n_inputs = 4;
    let naive_bayes = GaussianNb {
        means: vec![0.0, 0.0, 0.0, 0.0, 1.0, -0.5, 0.7, 0.2],
        variances: vec![1.0, 0.5, 2.0, 1.0, 0.8, 0.6, 1.5, 0.3],
        log_priors: vec![0.6f64.ln(), 0.4f64.ln()],
        n_inputs,
    };
    let fitted = pipeline(Classifier::NaiveBayes(naive_bayes), n_inputs, 2);
    let background = Background {
        points: vec![
            0.0, 0.1, -0.2, 0.3, 1.0, -0.4, 0.5, 0.0, -0.6, 0.2, 0.9, -0.3,
        ],
        weights: vec![0.5, 0.3, 0.2],
        n_inputs,
    };
    let explainer = explainer(n_inputs, Some(background.clone()));
    let raw = [1.2, -0.8, 0.4, 0.6];
    let explanation = explainer
        .explain(&fitted, &raw, 1)
        .expect("background present");
    let output = |inputs: &[f64]| fitted.predict_raw(inputs)[1];
    // Interventional Shapley values against the same weighted background, by enumeration.
    let exact = brute_force_shapley(n_inputs, |known| {
        background
            .points
            .chunks_exact(n_inputs)
            .zip(&background.weights)
            .map(|(point, weight)| {
                let mixed: Vec<f64> = (0..n_inputs)
                    .map(|idx| {
                        if known & (1 << idx) != 0 {
                            raw[idx]
                        } else {
                            point[idx]
                        }
                    })
                    .collect();
                weight * output(&mixed)
            })
            .sum()
    });
    let errors = explanation
        .standard_errors
        .as_ref()
        .expect("sampled values carry errors");
    for ((got, want), error) in explanation.contributions.iter().zip(&exact).zip(errors) {
        assert!(
            (got - want).abs() <= 4.0 * error + 1e-12,
            "{got} vs {want} (standard error {error})"
        );
    }
    assert_eq!(explanation.method, Method::SampledShapley);
    assert_additive(&fitted, &explainer, &raw, 1);
    assert_eq!(
        explanation,
        explainer.explain(&fitted, &raw, 1).expect("again"),
        "the same record gets the same explanation"
    );
}

#[test]
fn a_model_without_covers_or_background_is_refused_with_a_reason() {
    let mut rng = Lcg(1);
    let mut tree = random_tree(&mut rng, 2, 3, 2);
    tree.covers.clear();
    let fitted = pipeline(Classifier::Forest(vec![tree]), 2, 2);
    let error = explainer(2, None)
        .explain(&fitted, &[0.0, 0.0], 1)
        .unwrap_err();
    assert!(error.to_string().contains("no node covers"), "{error}");
    let knn = pipeline(
        Classifier::Knn(Knn {
            points: vec![0.0, 0.0, 1.0, 1.0],
            labels: vec![0, 1],
            n_inputs: 2,
            k: 1,
            distance_weighted: false,
        }),
        2,
        2,
    );
    let error = explainer(2, None)
        .explain(&knn, &[0.0, 0.0], 1)
        .unwrap_err();
    assert!(error.to_string().contains("background"), "{error}");
    let error = explainer(2, None)
        .explain(&knn, &[0.0, 0.0], 5)
        .unwrap_err();
    assert!(error.to_string().contains("class index 5"), "{error}");
}
