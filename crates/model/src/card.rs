//! What a model card says beyond the figures the rest of the artifact holds: the purpose a
//! person wrote in the dataset config, and the evidence computed from the chosen model's
//! out-of-fold predictions (figures with intervals, curves, the confusion matrix).

use serde::{Deserialize, Serialize};

use crate::subgroups::Estimate;

/// The purpose of the model, in the words of the dataset config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Purpose {
    /// What the positive class means in plain words ("sepsis"), for "Risk of sepsis".
    pub outcome: Option<String>,
    /// What the model is for, and for whom.
    pub intended_use: String,
    /// Known limits of the data and of what the model was validated for.
    pub limitations: Vec<String>,
    /// A prediction with more than this share of its features imputed is flagged as
    /// low-information.
    pub low_information_share: f64,
}

impl Purpose {
    /// Whether a prediction that imputed `n_imputed` of `n_features` features says little.
    pub fn is_low_information(&self, n_imputed: usize, n_features: usize) -> bool {
        n_features > 0 && n_imputed as f64 / n_features as f64 > self.low_information_share
    }
}

/// The chosen model's evidence, from its pooled out-of-fold predictions at the shipped rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// Figures with bootstrap 95% intervals, by name (`sensitivity`, `roc_auc`, ...).
    pub figures: Vec<(String, Estimate)>,
    /// Bootstrap resamples behind the intervals.
    pub resamples: usize,
    /// ROC curve as (false positive rate, true positive rate), binary tasks only.
    pub roc: Vec<(f64, f64)>,
    /// The shipped threshold's point on the ROC curve.
    pub operating_point: Option<(f64, f64)>,
    /// Precision-recall curve as (recall, precision), binary tasks only.
    pub precision_recall: Vec<(f64, f64)>,
    /// Reliability diagram as (mean predicted, observed share) per bin, binary tasks only.
    pub calibration: Vec<(f64, f64)>,
    /// Counts by true class (rows) and decided class (columns).
    pub confusion: Vec<Vec<u64>>,
}

impl Evidence {
    /// A figure by name.
    pub fn figure(&self, name: &str) -> Option<&Estimate> {
        self.figures
            .iter()
            .find(|(figure, _)| figure == name)
            .map(|(_, estimate)| estimate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn more_than_the_configured_share_imputed_is_low_information() {
        let purpose = Purpose {
            outcome: None,
            intended_use: String::new(),
            limitations: Vec::new(),
            low_information_share: 0.5,
        };
        assert!(!purpose.is_low_information(4, 8));
        assert!(purpose.is_low_information(5, 8));
        assert!(!purpose.is_low_information(0, 0));
    }
}
