//! Gaussian naive Bayes: fitted by linfa-bayes, whose parameters are private and therefore read
//! from its serde form (tests check the copy against linfa's own predictions).

use linfa::prelude::*;
use model::Classifier;
use model::classifier::GaussianNb;

use super::space::Space;
use super::{FamilyInfo, FitData, FitError, Learner, library};

const NAME: &str = "gaussian_naive_bayes";

/// Gaussian naive Bayes.
pub struct NaiveBayes;

/// Hyperparameters of [`NaiveBayes`].
#[derive(Debug, Clone, PartialEq)]
pub struct NaiveBayesParams {
    /// Variance smoothing, as a fraction of the largest feature variance.
    pub var_smoothing: f64,
}

impl Learner for NaiveBayes {
    type Params = NaiveBayesParams;

    fn info(&self) -> FamilyInfo {
        FamilyInfo {
            short: "nb",
            name: NAME,
            description: "Gaussian naive Bayes (linfa-bayes)",
            supports_weights: false,
            in_default_run: true,
            native_missing: false,
            combines_others: false,
        }
    }

    fn default_params(&self) -> NaiveBayesParams {
        NaiveBayesParams {
            var_smoothing: 1e-9,
        }
    }

    fn search_space(&self) -> Space<NaiveBayesParams> {
        Space::<NaiveBayesParams>::new().log_uniform("var_smoothing", 1e-10, 1e-2, |p| &mut p.var_smoothing)
    }

    fn check(&self, params: &NaiveBayesParams) -> Result<(), String> {
        if params.var_smoothing >= 0.0 && params.var_smoothing.is_finite() {
            Ok(())
        } else {
            Err(format!(
                "`var_smoothing` must be a finite number >= 0, found {}",
                params.var_smoothing
            ))
        }
    }

    fn describe(&self, params: &NaiveBayesParams) -> Vec<(&'static str, String)> {
        // Scientific notation: the useful values span ten orders of magnitude.
        vec![("var_smoothing", format!("{:e}", params.var_smoothing))]
    }

    fn fit(
        &self,
        params: &NaiveBayesParams,
        data: &FitData<'_>,
        _seed: u64,
    ) -> Result<Classifier, FitError> {
        data.require_two_classes(NAME)?;
        let fitted = linfa_bayes::GaussianNb::params()
            .var_smoothing(params.var_smoothing)
            .fit(&data.linfa_view())
            .map_err(|error| library(NAME)(error.to_string()))?;
        // linfa-bayes keeps its per-class parameters private; its serde form is the documented
        // way to read them.
        let value =
            serde_json::to_value(&fitted).map_err(|error| library(NAME)(error.to_string()))?;
        copy_parameters(&value, data.n_classes, data.x().ncols())
    }
}

/// Reads linfa-bayes' serialised `class_info` into our per-class arrays.
fn copy_parameters(
    value: &serde_json::Value,
    n_classes: usize,
    n_inputs: usize,
) -> Result<Classifier, FitError> {
    let mut means = vec![0.0; n_classes * n_inputs];
    let mut variances = vec![1.0; n_classes * n_inputs];
    let mut log_priors = vec![f64::NEG_INFINITY; n_classes];
    let class_info = value
        .get("class_info")
        .and_then(|info| info.as_object())
        .ok_or_else(|| library(NAME)("unexpected serialised form: no `class_info`".into()))?;
    let array = |info: &serde_json::Value, key: &str| -> Option<Vec<f64>> {
        info.get(key)?
            .get("data")?
            .as_array()?
            .iter()
            .map(|v| v.as_f64())
            .collect()
    };
    for (class_key, info) in class_info {
        let parsed = class_key
            .parse::<usize>()
            .ok()
            .filter(|class_idx| *class_idx < n_classes);
        let (Some(class_idx), Some(theta), Some(sigma), Some(prior)) = (
            parsed,
            array(info, "theta"),
            array(info, "sigma"),
            info.get("prior").and_then(|prior| prior.as_f64()),
        ) else {
            return Err(library(NAME)(format!(
                "unexpected serialised class `{class_key}`"
            )));
        };
        if theta.len() != n_inputs || sigma.len() != n_inputs {
            return Err(library(NAME)("parameter length mismatch".into()));
        }
        means[class_idx * n_inputs..(class_idx + 1) * n_inputs].copy_from_slice(&theta);
        variances[class_idx * n_inputs..(class_idx + 1) * n_inputs].copy_from_slice(&sigma);
        log_priors[class_idx] = prior.ln();
    }
    Ok(Classifier::NaiveBayes(GaussianNb {
        means,
        variances,
        log_priors,
        n_inputs,
    }))
}
