//! Each conversion from a linfa model into `model`'s types predicts what linfa itself predicts.

use linfa::prelude::*;
use linfa_nn::distance::L2Dist;
use linfa_nn::{CommonNearestNeighbour, NearestNeighbour};
use model::Classifier;
use ndarray::{Array1, Array2};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use train::learners::decision_tree::{DecisionTree, TreeParams};
use train::learners::knn::{KNearestNeighbours, KnnParams};
use train::learners::naive_bayes::{NaiveBayes, NaiveBayesParams};
use train::learners::svm::{Svm, SvmParams};
use train::learners::{FitData, ModelKind, ModelParams, predict_inputs};

/// Two overlapping Gaussian blobs in 3 dimensions; class 1 is a 30% minority.
fn blobs(n_rows: usize, seed: u64) -> (Array2<f64>, Vec<usize>) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut x = Array2::zeros((n_rows, 3));
    let mut y = Vec::with_capacity(n_rows);
    for row in 0..n_rows {
        let class_idx = usize::from(rng.gen_bool(0.3));
        for column in 0..3 {
            x[[row, column]] = class_idx as f64 * 1.2 + rng.gen_range(-1.5..1.5);
        }
        y.push(class_idx);
    }
    (x, y)
}

/// Binary training data over all rows, unweighted.
fn binary<'a>(x: &'a Array2<f64>, y: &'a [usize], positive_class: usize) -> FitData<'a> {
    FitData::new(x.view(), y, None, 2, positive_class)
}

fn kind(short: &str) -> ModelKind {
    short.parse().unwrap()
}

fn auc(classifier: &Classifier, x: &Array2<f64>, y: &[usize], positive_class: usize) -> f64 {
    let probabilities = predict_inputs(classifier, x.view(), 2, positive_class);
    let scores: Vec<f64> = probabilities.column(positive_class).to_vec();
    let positive: Vec<bool> = y.iter().map(|c| *c == positive_class).collect();
    model::evaluation::roc_auc(&scores, &positive)
}

#[test]
fn every_model_ranks_the_positive_class_first_whichever_class_it_is() {
    let (x, y) = blobs(300, 1);
    // Ensembles get three members, as a run would give them.
    let members: Vec<_> = ["lr", "nb", "dt"]
        .iter()
        .map(|short| kind(short).default_params())
        .collect();
    for kind in ModelKind::all() {
        let params = if kind.info().combines_others {
            train::learners::voting::ensemble_params(kind, members.clone())
        } else {
            kind.default_params()
        };
        for positive_class in [0, 1] {
            let data = binary(&x, &y, positive_class);
            let classifier = kind.fit(&params, &data, 3).unwrap();
            let score = auc(&classifier, &x, &y, positive_class);
            // On training data every sensible model is far above 0.5; a flipped one is far below.
            assert!(
                score > 0.75,
                "{} with positive class {positive_class}: AUC {score:.3}",
                kind.name()
            );
        }
    }
}

#[test]
fn svm_conversion_matches_linfa_platt_probabilities() {
    let (x, y) = blobs(120, 2);
    let positive: Vec<bool> = y.iter().map(|c| *c == 1).collect();
    let n_inputs = x.ncols() as f64;
    let dataset = Dataset::new(x.clone(), Array1::from(positive.clone()));
    let reference = linfa_svm::Svm::<f64, Pr>::params()
        .pos_neg_weights(1.0, 1.0)
        .gaussian_kernel(n_inputs)
        .fit(&dataset)
        .unwrap();
    let data = binary(&x, &y, 1);
    let params = ModelParams::new::<Svm>(
        kind("svm"),
        SvmParams {
            c: 1.0,
            gamma_scale: 1.0,
        },
    );
    let ours = params.kind().fit(&params, &data, 0).unwrap();
    let probabilities = predict_inputs(&ours, x.view(), 2, 1);
    for (row_idx, row) in x.rows().into_iter().enumerate() {
        let expected = f64::from(*reference.predict(row));
        let got = probabilities[[row_idx, 1]];
        assert!(
            (expected - got).abs() < 1e-4,
            "row {row_idx}: linfa {expected}, ours {got}"
        );
    }
}

#[test]
fn naive_bayes_fits_linfa_bayes_parameters_bit_for_bit() {
    // Three classes over more rows than one block, so the one-pass fit crosses block edges.
    let (mut x, mut y) = blobs(9_000, 3);
    for (row, class_idx) in y.iter_mut().enumerate() {
        if row % 7 == 0 {
            *class_idx = 2;
            x[[row, 1]] += 2.5;
        }
    }
    for var_smoothing in [1e-9, 1e-2] {
        let dataset = Dataset::new(x.clone(), Array1::from(y.clone()));
        let reference = linfa_bayes::GaussianNb::params()
            .var_smoothing(var_smoothing)
            .fit(&dataset)
            .unwrap();
        // linfa-bayes keeps its parameters private; its serde form shows them.
        let serialised = serde_json::to_value(&reference).unwrap();
        let data = FitData::new(x.view(), &y, None, 3, 1);
        let params = ModelParams::new::<NaiveBayes>(kind("nb"), NaiveBayesParams { var_smoothing });
        let Classifier::NaiveBayes(ours) = params.kind().fit(&params, &data, 0).unwrap() else {
            panic!("naive Bayes fitted another kind of model");
        };
        for class_idx in 0..3 {
            let info = &serialised["class_info"][class_idx.to_string()];
            let slots = class_idx * 3..(class_idx + 1) * 3;
            let column = |key: &str| -> Vec<f64> {
                info[key]["data"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|value| value.as_f64().unwrap())
                    .collect()
            };
            assert_eq!(
                ours.means[slots.clone()],
                column("theta"),
                "class {class_idx} means"
            );
            assert_eq!(
                ours.variances[slots],
                column("sigma"),
                "class {class_idx} variances"
            );
            let prior = info["prior"].as_f64().unwrap();
            assert_eq!(
                ours.log_priors[class_idx],
                prior.ln(),
                "class {class_idx} prior"
            );
        }
        let expected = reference.predict(&x);
        let probabilities = predict_inputs(&Classifier::NaiveBayes(ours), x.view(), 3, 1);
        for row_idx in 0..x.nrows() {
            let predicted = model::argmax(&probabilities.row(row_idx).to_vec());
            assert_eq!(predicted, expected[row_idx], "row {row_idx}");
        }
    }
}

#[test]
fn naive_bayes_refuses_inputs_without_a_variance() {
    let (mut x, y) = blobs(50, 6);
    x[[10, 2]] = f64::INFINITY;
    let data = binary(&x, &y, 1);
    let params = kind("nb").default_params();
    let error = params
        .kind()
        .fit(&params, &data, 0)
        .unwrap_err()
        .to_string();
    assert!(error.contains("not a number"), "{error}");
}

#[test]
fn knn_uses_the_same_neighbours_as_linfa_nn() {
    let (x, y) = blobs(150, 4);
    let (queries, _) = blobs(20, 5);
    let k = 7;
    let index = CommonNearestNeighbour::KdTree
        .from_batch(&x, L2Dist)
        .unwrap();
    let data = binary(&x, &y, 1);
    let params = ModelParams::new::<KNearestNeighbours>(
        kind("knn"),
        KnnParams {
            k,
            distance_weighted: false,
        },
    );
    let ours = params.kind().fit(&params, &data, 0).unwrap();
    let probabilities = predict_inputs(&ours, queries.view(), 2, 1);
    for (query_idx, query) in queries.rows().into_iter().enumerate() {
        let neighbours = index.k_nearest(query, k).unwrap();
        let positives = neighbours
            .iter()
            .filter(|(point, _)| {
                let row = x
                    .rows()
                    .into_iter()
                    .position(|candidate| candidate == *point)
                    .unwrap();
                y[row] == 1
            })
            .count();
        let expected = positives as f64 / k as f64;
        assert!(
            (probabilities[[query_idx, 1]] - expected).abs() < 1e-12,
            "query {query_idx}"
        );
    }
}

#[test]
fn decision_tree_leaves_hold_class_frequencies() {
    let (x, y) = blobs(200, 6);
    let data = binary(&x, &y, 1);
    let params = ModelParams::new::<DecisionTree>(
        kind("dt"),
        TreeParams {
            max_depth: Some(3),
            min_weight_leaf: 10.0,
        },
    );
    let tree = params.kind().fit(&params, &data, 0).unwrap();
    let Classifier::DecisionTree(flat) = &tree else {
        panic!("a tree")
    };
    let fractional = flat.values.iter().any(|value| *value > 0.0 && *value < 1.0);
    assert!(
        fractional,
        "depth-limited leaves are mixed, so probabilities are not just 0/1"
    );
    for leaf in flat.values.chunks(2) {
        assert!((leaf.iter().sum::<f64>() - 1.0).abs() < 1e-9 || leaf.iter().sum::<f64>() == 0.0);
    }
}

#[test]
fn soft_voting_is_the_mean_of_its_members_and_ensembles_check_their_members() {
    let (x, y) = blobs(200, 4);
    let data = binary(&x, &y, 1);
    let members: Vec<_> = ["lr", "nb", "knn"]
        .iter()
        .map(|short| kind(short).default_params())
        .collect();
    let vote = kind("vote");
    let ensemble = vote
        .fit(
            &train::learners::voting::ensemble_params(vote, members.clone()),
            &data,
            5,
        )
        .unwrap();
    let Classifier::SoftVote(fitted) = &ensemble else {
        panic!("a soft vote expected")
    };
    assert_eq!(fitted.len(), 3);
    let mean = members
        .iter()
        .map(|member| {
            let alone = member.kind().fit(member, &data, 0).unwrap();
            predict_inputs(&alone, x.view(), 2, 1)
        })
        .fold(Array2::<f64>::zeros((x.nrows(), 2)), |total, p| total + p)
        / 3.0;
    let voted = predict_inputs(&ensemble, x.view(), 2, 1);
    assert!((voted - mean).iter().all(|d| d.abs() < 1e-12));

    let one = train::learners::voting::ensemble_params(vote, members[..1].to_vec());
    let error = vote.fit(&one, &data, 5).unwrap_err().to_string();
    assert!(error.contains("at least two families, found 1"), "{error}");
    let nested = train::learners::voting::ensemble_params(
        vote,
        vec![members[0].clone(), kind("stack").default_params()],
    );
    let error = vote.fit(&nested, &data, 5).unwrap_err().to_string();
    assert!(error.contains("another ensemble (`stacking`)"), "{error}");
}

#[test]
fn stacking_learns_its_weights_from_out_of_fold_member_probabilities() {
    // Noisy labels: distance-weighted k-NN reproduces every training label, so a meta-learner
    // fitted on in-sample member probabilities would trust it blindly. Out of fold it is
    // only as good as it is on new rows, and the smooth linear model keeps most of the weight.
    let (x, mut y) = blobs(400, 6);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(8);
    for class_idx in y.iter_mut() {
        if rng.gen_bool(0.25) {
            *class_idx = 1 - *class_idx;
        }
    }
    let data = binary(&x, &y, 1);
    let stack = kind("stack");
    let members = vec![kind("knn").default_params(), kind("lr").default_params()];
    let fitted = stack
        .fit(
            &train::learners::voting::ensemble_params(stack, members),
            &data,
            3,
        )
        .unwrap();
    let Classifier::Stacked(stacked) = &fitted else {
        panic!("a stacked model expected")
    };
    assert_eq!(stacked.meta.n_inputs, 2, "one probability per member");
    let (knn_weight, lr_weight) = (stacked.meta.weights[0], stacked.meta.weights[1]);
    assert!(
        lr_weight > knn_weight,
        "k-NN {knn_weight:.3}, logistic regression {lr_weight:.3}"
    );
    // In sample, k-NN is perfect: a meta-learner fitted there would have favoured it.
    let knn_alone = kind("knn")
        .fit(&kind("knn").default_params(), &data, 0)
        .unwrap();
    let in_sample = predict_inputs(&knn_alone, x.view(), 2, 1);
    let perfect = in_sample
        .rows()
        .into_iter()
        .zip(&y)
        .all(|(p, class_idx)| (p[1] > 0.5) == (*class_idx == 1));
    assert!(perfect, "the premise: k-NN reproduces its training labels");
}

#[test]
fn a_fit_on_raw_rows_through_preprocessing_equals_the_fit_on_their_matrix() {
    // 9,000 raw rows with missing cells and a category: three blocks of rows, the last short.
    let (blob_x, blob_y) = blobs(9_000, 17);
    let mut raw = Array2::zeros((9_000, 3));
    for row in 0..9_000 {
        raw[[row, 0]] = if row % 11 == 0 {
            f64::NAN
        } else {
            blob_x[[row, 0]]
        };
        raw[[row, 1]] = blob_x[[row, 1]] * 10.0 + 50.0;
        raw[[row, 2]] = (row % 3) as f64;
    }
    let spec = |name: &str, kind: model::FeatureKind, categories: &[&str]| model::FeatureSpec {
        categories: categories.iter().map(|name| (*name).to_owned()).collect(),
        ..model::FeatureSpec::new(name, kind)
    };
    let features = [
        spec("a", model::FeatureKind::Numeric, &[]),
        spec("b", model::FeatureKind::Numeric, &[]),
        spec("site", model::FeatureKind::Categorical, &["x", "y", "z"]),
    ];
    // Every other row, as a fold takes some rows of the table.
    let rows: Vec<usize> = (0..9_000).step_by(2).collect();
    let preprocessor = preprocess::PreprocessParams::default()
        .check()
        .unwrap()
        .fit_rows(&features, raw.view(), &rows)
        .unwrap();
    let y: Vec<usize> = rows.iter().map(|row| blob_y[*row]).collect();
    let from_rows = FitData::from_rows(raw.view(), &rows, &preprocessor, &y, None, 2, 1);
    let matrix = preprocess::transform_rows(&preprocessor, raw.view(), &rows);
    let from_matrix = FitData::new(matrix.view(), &y, None, 2, 1);
    // The blocks hold the matrix's values, in order.
    let mut blocks = Vec::new();
    from_rows.for_each_block(&mut |first_row, block| {
        assert_eq!(first_row, blocks.len() / matrix.ncols());
        blocks.extend(block.iter().map(|value| value.to_bits()));
    });
    let expected: Vec<u64> = matrix.iter().map(|value| value.to_bits()).collect();
    assert_eq!(blocks, expected);
    let picked = [4_000, 0, 7, 7];
    assert_eq!(
        from_rows.rows_matrix(&picked),
        matrix.select(ndarray::Axis(0), &picked)
    );
    // Logistic regression, naive Bayes and histogram boosting read blocks, the tree the
    // matrix: the same model either way.
    for short in ["lr", "nb", "hgb", "dt"] {
        let kind = kind(short);
        let params = kind.default_params();
        let on_rows = kind.fit(&params, &from_rows, 5).unwrap();
        let on_matrix = kind.fit(&params, &from_matrix, 5).unwrap();
        assert_eq!(on_rows, on_matrix, "{short}");
    }
}
