//! RBF support vector machine: fitted by linfa-svm, Platt-scaled by linfa's Newton method, and
//! copied into `model`'s `SvmBinary` (support vectors are the rows with non-zero dual weight).
//! Multiclass is one-vs-rest.

use linfa::composing::platt_scaling::{PlattParams, platt_newton_method};
use linfa::prelude::*;
use model::Classifier;
use model::classifier::SvmBinary;
use ndarray::{Array1, ArrayView2};
use rayon::prelude::*;

use super::space::{ParamValue, Space};
use super::{FamilyInfo, FitData, FitError, Learner, library};

const NAME: &str = "svm";

/// RBF support vector machine with Platt scaling.
pub struct Svm;

/// Hyperparameters of [`Svm`]; `gamma = gamma_scale / n_inputs` (scikit-learn's `scale` on
/// standardised data).
#[derive(Debug, Clone, PartialEq)]
pub struct SvmParams {
    /// Box constraint.
    pub c: f64,
    /// Multiplier on the default kernel width.
    pub gamma_scale: f64,
}

impl Learner for Svm {
    type Params = SvmParams;

    fn info(&self) -> FamilyInfo {
        FamilyInfo {
            short: "svm",
            name: NAME,
            description: "RBF support vector machine (linfa-svm) with Platt scaling",
            supports_weights: true,
            in_default_run: true,
            native_missing: false,
            combines_others: false,
        }
    }

    fn default_params(&self) -> SvmParams {
        SvmParams {
            c: 1.0,
            gamma_scale: 1.0,
        }
    }

    fn search_space(&self) -> Space<SvmParams> {
        Space::<SvmParams>::new()
            .log_uniform("c", 0.1, 10.0, |p| &mut p.c)
            .log_uniform("gamma_scale", 0.2, 5.0, |p| &mut p.gamma_scale)
    }

    fn check(&self, params: &SvmParams) -> Result<(), String> {
        for (name, value) in [("c", params.c), ("gamma_scale", params.gamma_scale)] {
            if !(value > 0.0 && value.is_finite()) {
                return Err(format!("`{name}` must be a positive number, found {value}"));
            }
        }
        Ok(())
    }

    fn describe(&self, params: &SvmParams) -> Vec<(&'static str, String)> {
        vec![
            ("c", params.c.show()),
            ("gamma_scale", params.gamma_scale.show()),
            ("kernel", "rbf".to_owned()),
        ]
    }

    fn fit(&self, params: &SvmParams, data: &FitData<'_>, _seed: u64) -> Result<Classifier, FitError> {
        let present = data.require_two_classes(NAME)?;
        // linfa's kernel is exp(-d^2 / eps), so eps = 1 / gamma with gamma = gamma_scale / n_inputs.
        let kernel_eps = data.x().ncols().max(1) as f64 / params.gamma_scale;
        let c = params.c;
        if data.n_classes == 2 {
            let positive: Vec<bool> = data
                .y
                .iter()
                .map(|class_idx| *class_idx == data.positive_class)
                .collect();
            let machine = fit_binary(
                data.x(),
                &positive,
                c * class_weight(data, data.positive_class),
                c * class_weight(data, 1 - data.positive_class),
                kernel_eps,
            )?;
            return Ok(Classifier::Svm(vec![machine]));
        }
        // One-vs-rest; a class absent from the training rows gets a machine that always says 0.
        let machines = (0..data.n_classes)
            .into_par_iter()
            .map(|class_idx| {
                if !present.contains(&class_idx) {
                    return Ok(SvmBinary {
                        support_vectors: Vec::new(),
                        coefficients: Vec::new(),
                        rho: 0.0,
                        kernel_eps,
                        platt_a: 0.0,
                        platt_b: 50.0,
                        n_inputs: data.x().ncols(),
                    });
                }
                let positive: Vec<bool> = data.y.iter().map(|y| *y == class_idx).collect();
                let others: Vec<usize> = present
                    .iter()
                    .copied()
                    .filter(|other| *other != class_idx)
                    .collect();
                let rest_weight = others
                    .iter()
                    .map(|other| class_weight(data, *other))
                    .sum::<f64>()
                    / others.len().max(1) as f64;
                fit_binary(
                    data.x(),
                    &positive,
                    c * class_weight(data, class_idx),
                    c * rest_weight,
                    kernel_eps,
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Classifier::Svm(machines))
    }
}

/// The mean row weight of a class (1 without weights or rows): the class's share of `c`.
fn class_weight(data: &FitData<'_>, class_idx: usize) -> f64 {
    let Some(weights) = data.weights else {
        return 1.0;
    };
    let (total, count) = data
        .y
        .iter()
        .zip(weights)
        .filter(|(y, _)| **y == class_idx)
        .fold((0.0, 0usize), |(total, count), (_, weight)| (total + weight, count + 1));
    if count == 0 {
        1.0
    } else {
        total / count as f64
    }
}

/// One binary RBF machine: fitted by linfa-svm, Platt-scaled, and copied into `SvmBinary`.
fn fit_binary(
    x: ArrayView2<'_, f64>,
    positive: &[bool],
    c_pos: f64,
    c_neg: f64,
    kernel_eps: f64,
) -> Result<SvmBinary, FitError> {
    let dataset = Dataset::new(x.to_owned(), Array1::from(positive.to_vec()));
    let fitted = linfa_svm::Svm::<f64, bool>::params()
        .pos_neg_weights(c_pos, c_neg)
        .gaussian_kernel(kernel_eps)
        .fit(&dataset)
        .map_err(|error| library(NAME)(error.to_string()))?;
    let cutoff = 100.0 * f64::EPSILON;
    let mut support_vectors = Vec::new();
    let mut coefficients = Vec::new();
    for (row, alpha) in x.rows().into_iter().zip(&fitted.alpha) {
        if alpha.abs() > cutoff {
            support_vectors.extend(row.iter().copied());
            coefficients.push(*alpha);
        }
    }
    let decisions: Array1<f64> = x
        .rows()
        .into_iter()
        .map(|row| fitted.weighted_sum(&row) - fitted.rho)
        .collect();
    let targets = Array1::from(positive.to_vec());
    let platt = PlattParams::<f64, ()>::default()
        .check()
        .map_err(|error| library(NAME)(error.to_string()))?;
    let (platt_a, platt_b) = platt_newton_method(decisions.view(), targets.view(), &platt)
        .map_err(|error| library(NAME)(format!("Platt scaling: {error}")))?;
    Ok(SvmBinary {
        support_vectors,
        coefficients,
        rho: fitted.rho,
        kernel_eps,
        platt_a,
        platt_b,
        n_inputs: x.ncols(),
    })
}
