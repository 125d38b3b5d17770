//! Gaussian naive Bayes, fitted in one pass over the rows block by block: each class's means
//! and variances, and the whole table's variances for the smoothing, are accumulated as rows
//! arrive, so no fold's matrix is ever made.
//!
//! The arithmetic is linfa-bayes' to the bit (a running sum for each mean, Welford's update
//! with a fused multiply-add for each variance, rows in table order), so the fitted model is
//! the one `linfa_bayes::GaussianNb` fits on the same matrix; the tests check that against
//! linfa itself.

use model::Classifier;
use model::classifier::GaussianNb;
use ndarray::ArrayView1;

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
            description: "Gaussian naive Bayes (one pass over the rows; linfa-bayes' arithmetic)",
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
        let n_inputs = data.n_inputs();
        if n_inputs == 0 {
            return Err(library(NAME)("no model inputs".into()));
        }
        let mut whole = Moments::new(n_inputs);
        let mut classes: Vec<Moments> = (0..data.n_classes)
            .map(|_| Moments::new(n_inputs))
            .collect();
        data.for_each_block(&mut |first_row, block| {
            for (input, class_idx) in block.rows().into_iter().zip(&data.y[first_row..]) {
                whole.add(input);
                // `present_classes` ignores out-of-range labels; so does the fit.
                if let Some(class) = classes.get_mut(*class_idx) {
                    class.add(input);
                }
            }
        });
        let largest_variance = whole.largest_variance().ok_or_else(|| {
            library(NAME)("an input's variance is not a number (are the inputs finite?)".into())
        })?;
        let epsilon = params.var_smoothing * largest_variance;
        Ok(Classifier::NaiveBayes(parameters(&classes, epsilon, n_inputs)))
    }
}

/// The per-class parameters: a class without rows keeps mean 0, variance 1 and probability 0.
fn parameters(classes: &[Moments], epsilon: f64, n_inputs: usize) -> GaussianNb {
    let n_classes = classes.len();
    let n_rows: usize = classes.iter().map(|class| class.count).sum();
    let mut means = vec![0.0; n_classes * n_inputs];
    let mut variances = vec![1.0; n_classes * n_inputs];
    let mut log_priors = vec![f64::NEG_INFINITY; n_classes];
    for (class_idx, class) in classes.iter().enumerate() {
        if class.count == 0 {
            continue;
        }
        let slots = class_idx * n_inputs..(class_idx + 1) * n_inputs;
        let count = class.count as f64;
        for (mean, sum) in means[slots.clone()].iter_mut().zip(&class.sums) {
            *mean = sum / count;
        }
        for (variance, sum_sq) in variances[slots].iter_mut().zip(&class.sums_sq) {
            *variance = sum_sq / count + epsilon;
        }
        log_priors[class_idx] = (count / n_rows as f64).ln();
    }
    GaussianNb {
        means,
        variances,
        log_priors,
        n_inputs,
    }
}

/// Running moments of a stream of rows, computed as ndarray's `mean_axis` and `var_axis` do:
/// the mean from a plain running sum, the variance by Welford's update.
struct Moments {
    count: usize,
    /// Running sum of each input.
    sums: Vec<f64>,
    /// Welford's running mean of each input.
    means: Vec<f64>,
    /// Welford's running sum of squared deviations of each input.
    sums_sq: Vec<f64>,
}

impl Moments {
    fn new(n_inputs: usize) -> Self {
        Moments {
            count: 0,
            sums: vec![0.0; n_inputs],
            means: vec![0.0; n_inputs],
            sums_sq: vec![0.0; n_inputs],
        }
    }

    fn add(&mut self, input: ArrayView1<'_, f64>) {
        self.count += 1;
        let count = self.count as f64;
        for (((value, sum), mean), sum_sq) in input
            .iter()
            .zip(&mut self.sums)
            .zip(&mut self.means)
            .zip(&mut self.sums_sq)
        {
            *sum += value;
            let delta = value - *mean;
            *mean += delta / count;
            *sum_sq = (value - *mean).mul_add(delta, *sum_sq);
        }
    }

    /// The largest population variance; `None` when one is not a number, which has no order
    /// (linfa-bayes refuses such inputs for the same reason).
    fn largest_variance(&self) -> Option<f64> {
        let count = self.count as f64;
        let variances = self.sums_sq.iter().map(|sum_sq| sum_sq / count);
        if variances.clone().any(f64::is_nan) {
            return None;
        }
        variances.reduce(f64::max)
    }
}
