//! Logistic regression, L2-penalised: binary by Newton's method ([`super::newton`]),
//! multinomial by linfa-logistic.

use linfa::prelude::*;
use model::Classifier;
use model::classifier::Linear;

use super::space::{ParamValue, Space};
use super::{FamilyInfo, FitData, FitError, Learner, library, newton};

const NAME: &str = "logistic_regression";

/// Logistic regression.
pub struct Logistic;

/// Hyperparameters of [`Logistic`].
#[derive(Debug, Clone, PartialEq)]
pub struct LogisticParams {
    /// L2 penalty on the weights (linfa's `alpha`, scikit-learn's `1/C`; larger = stronger).
    pub alpha: f64,
}

impl Learner for Logistic {
    type Params = LogisticParams;

    fn info(&self) -> FamilyInfo {
        FamilyInfo {
            short: "lr",
            name: NAME,
            description: "logistic regression (L2 penalty; Newton's method, linfa-logistic for multiclass)",
            supports_weights: false,
            in_default_run: true,
            native_missing: false,
            combines_others: false,
        }
    }

    fn default_params(&self) -> LogisticParams {
        LogisticParams { alpha: 1.0 }
    }

    fn search_space(&self) -> Space<LogisticParams> {
        Space::<LogisticParams>::new().log_uniform("alpha", 1e-3, 1e2, |p| &mut p.alpha)
    }

    fn check(&self, params: &LogisticParams) -> Result<(), String> {
        if params.alpha.is_finite() && params.alpha >= 0.0 {
            Ok(())
        } else {
            Err(format!(
                "`alpha` must be a finite number >= 0, found {}",
                params.alpha
            ))
        }
    }

    fn describe(&self, params: &LogisticParams) -> Vec<(&'static str, String)> {
        vec![("alpha", params.alpha.show())]
    }

    fn fit(
        &self,
        params: &LogisticParams,
        data: &FitData<'_>,
        _seed: u64,
    ) -> Result<Classifier, FitError> {
        data.require_two_classes(NAME)?;
        let n_inputs = data.n_inputs();
        if data.n_classes == 2 {
            let positive: Vec<bool> = data
                .y
                .iter()
                .map(|class_idx| *class_idx == data.positive_class)
                .collect();
            // Read block by block: the fold's matrix is never made.
            let fitted = newton::fit_binary(data, &positive, params.alpha, 100)
                .map_err(library(NAME))?;
            return Ok(Classifier::Logistic(Linear {
                weights: fitted.weights,
                intercepts: vec![fitted.intercept],
                n_inputs,
            }));
        }
        let dataset = data.linfa_dataset();
        let fitted = linfa_logistic::MultiLogisticRegression::default()
            .alpha(params.alpha)
            .max_iterations(200)
            .fit(&dataset)
            .map_err(|error| library(NAME)(error.to_string()))?;
        // Classes absent from the training rows get zero weights and a -inf intercept.
        let mut weights = vec![0.0; data.n_classes * n_inputs];
        let mut intercepts = vec![f64::NEG_INFINITY; data.n_classes];
        for (column, class_idx) in fitted.classes().iter().enumerate() {
            for input in 0..n_inputs {
                weights[class_idx * n_inputs + input] = fitted.params()[[input, column]];
            }
            intercepts[*class_idx] = fitted.intercept()[column];
        }
        Ok(Classifier::Logistic(Linear {
            weights,
            intercepts,
            n_inputs,
        }))
    }
}
