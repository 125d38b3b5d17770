//! Logistic regression (linfa-logistic, L2-penalised), binary or multinomial.

use linfa::prelude::*;
use model::Classifier;
use model::classifier::Linear;

use super::space::{ParamValue, Space};
use super::{FamilyInfo, FitData, FitError, Learner, library};

const NAME: &str = "logistic_regression";

/// Logistic regression.
pub struct Logistic;

/// Hyperparameters of [`Logistic`].
#[derive(Debug, Clone, PartialEq)]
pub struct LogisticParams {
    /// L2 penalty (linfa's `alpha`; larger = stronger).
    pub alpha: f64,
}

impl Learner for Logistic {
    type Params = LogisticParams;

    fn info(&self) -> FamilyInfo {
        FamilyInfo {
            short: "lr",
            name: NAME,
            description: "logistic regression (linfa-logistic, L2 penalty)",
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
        let n_inputs = data.x.ncols();
        let dataset = data.linfa_dataset();
        if data.n_classes == 2 {
            let fitted = linfa_logistic::LogisticRegression::default()
                .alpha(params.alpha)
                .max_iterations(200)
                .fit(&dataset)
                .map_err(|error| library(NAME)(error.to_string()))?;
            // linfa calls the majority class "positive"; map it onto ours explicitly.
            let sign = if fitted.labels().pos.class == data.positive_class {
                1.0
            } else {
                -1.0
            };
            return Ok(Classifier::Logistic(Linear {
                weights: fitted.params().iter().map(|w| sign * w).collect(),
                intercepts: vec![sign * fitted.intercept()],
                n_inputs,
            }));
        }
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
