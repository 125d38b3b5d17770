//! The training population, summarised compactly in the artifact so that a server can tell
//! when the records it scores stop looking like the ones the model learned from (drift).
//!
//! Per feature: the share of missing values and the distribution of the observed ones (an
//! empirical CDF on at most [`MAX_SUPPORT`] points for numbers; shares per code for categories
//! and 0/1 features). For the model's output: the distribution of out-of-fold probabilities
//! and of decided labels. No training row is stored.

use serde::{Deserialize, Serialize};

use crate::schema::{FeatureKind, FeatureSpec};

/// Most points kept of a numeric feature's empirical CDF.
pub const MAX_SUPPORT: usize = 256;

/// The empirical distribution of a numeric sample: `cdf[i]` is the share of values at most
/// `support[i]`. Exact when the sample has at most [`MAX_SUPPORT`] distinct values; otherwise
/// the support is that many quantile points, each with its exact share.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ecdf {
    /// Increasing values.
    pub support: Vec<f64>,
    /// Non-decreasing shares in (0, 1], the last equal to 1.
    pub cdf: Vec<f64>,
    /// Sample size.
    pub n: usize,
}

impl Ecdf {
    /// The ECDF of finite values (others are skipped); `None` for an empty sample.
    pub fn from_values(values: impl IntoIterator<Item = f64>) -> Option<Self> {
        let mut sorted: Vec<f64> = values.into_iter().filter(|v| v.is_finite()).collect();
        if sorted.is_empty() {
            return None;
        }
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        // Every distinct value with the share of the sample at or below it.
        let mut support = Vec::new();
        let mut cdf = Vec::new();
        for (idx, value) in sorted.iter().enumerate() {
            if idx + 1 == n || sorted[idx + 1] != *value {
                support.push(*value);
                cdf.push((idx + 1) as f64 / n as f64);
            }
        }
        if support.len() > MAX_SUPPORT {
            // Keep the points nearest to evenly spaced shares; the last one is the maximum.
            let keep: Vec<usize> = (1..=MAX_SUPPORT)
                .map(|k| {
                    let share = k as f64 / MAX_SUPPORT as f64;
                    cdf.partition_point(|c| *c < share - 1e-12)
                        .min(support.len() - 1)
                })
                .collect();
            let mut kept_support = Vec::with_capacity(MAX_SUPPORT);
            let mut kept_cdf = Vec::with_capacity(MAX_SUPPORT);
            for idx in keep {
                if kept_support.last() != Some(&support[idx]) {
                    kept_support.push(support[idx]);
                    kept_cdf.push(cdf[idx]);
                }
            }
            support = kept_support;
            cdf = kept_cdf;
        }
        Some(Ecdf { support, cdf, n })
    }

    /// The share of the sample at or below `x`.
    pub fn at(&self, x: f64) -> f64 {
        let position = self.support.partition_point(|value| *value <= x);
        if position == 0 {
            0.0
        } else {
            self.cdf[position - 1]
        }
    }

    /// The smallest support value whose share reaches `q` (a quantile).
    pub fn quantile(&self, q: f64) -> f64 {
        let position = self.cdf.partition_point(|c| *c < q - 1e-12);
        self.support[position.min(self.support.len() - 1)]
    }
}

/// How a feature's observed (non-missing) values were distributed in training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Distribution {
    /// Numeric and integer features.
    Numeric(Ecdf),
    /// Categorical features (by category code) and 0/1 features (codes 0 and 1): the share of
    /// each code among observed values.
    Shares(Vec<f64>),
    /// No value was observed.
    Empty,
}

/// One feature's training reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureReference {
    /// Share of training rows where the feature was missing (NaN or a configured zero).
    pub missing_rate: f64,
    /// Distribution of the observed values.
    pub distribution: Distribution,
}

/// The training population and the model's out-of-fold output on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reference {
    /// Training rows summarised.
    pub n_rows: usize,
    /// One per schema feature, in schema order.
    pub features: Vec<FeatureReference>,
    /// Out-of-fold probability of the positive class (binary) or of the decided class
    /// (multiclass).
    pub probability: Option<Ecdf>,
    /// Share of out-of-fold rows given each label by the shipped decision rule.
    pub label_shares: Vec<f64>,
}

impl FeatureReference {
    /// Summarises one feature's raw training column (schema encoding: NaN = missing,
    /// categories as codes).
    pub fn from_column(spec: &FeatureSpec, column: &[f64]) -> Self {
        let observed: Vec<f64> = column
            .iter()
            .copied()
            .filter(|value| !spec.is_missing(*value))
            .collect();
        let missing_rate = if column.is_empty() {
            0.0
        } else {
            (column.len() - observed.len()) as f64 / column.len() as f64
        };
        let distribution = match spec.kind {
            _ if observed.is_empty() => Distribution::Empty,
            FeatureKind::Categorical | FeatureKind::Binary => {
                let n_codes = match spec.kind {
                    FeatureKind::Binary => 2,
                    _ => spec.categories.len(),
                };
                Distribution::Shares(code_shares(&observed, n_codes))
            }
            FeatureKind::Numeric | FeatureKind::Integer => {
                Ecdf::from_values(observed).map_or(Distribution::Empty, Distribution::Numeric)
            }
        };
        FeatureReference {
            missing_rate,
            distribution,
        }
    }
}

/// The share of each code `0..n_codes` among `codes` (codes out of range are ignored).
pub fn code_shares(codes: &[f64], n_codes: usize) -> Vec<f64> {
    let mut counts = vec![0.0; n_codes];
    let mut total = 0.0;
    for code in codes {
        if *code >= 0.0 && (*code as usize) < n_codes && code.fract() == 0.0 {
            counts[*code as usize] += 1.0;
            total += 1.0;
        }
    }
    if total > 0.0 {
        counts.iter_mut().for_each(|count| *count /= total);
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_samples_keep_their_exact_ecdf() {
        let ecdf = Ecdf::from_values([3.0, 1.0, 2.0, 2.0, f64::NAN]).unwrap();
        assert_eq!(ecdf.support, vec![1.0, 2.0, 3.0]);
        assert_eq!(ecdf.cdf, vec![0.25, 0.75, 1.0]);
        assert_eq!(ecdf.n, 4);
        assert_eq!(ecdf.at(0.5), 0.0);
        assert_eq!(ecdf.at(2.0), 0.75);
        assert_eq!(ecdf.at(2.5), 0.75);
        assert_eq!(ecdf.at(9.0), 1.0);
        assert_eq!(ecdf.quantile(0.5), 2.0);
        assert!(Ecdf::from_values([f64::NAN]).is_none());
    }

    #[test]
    fn large_samples_keep_bounded_quantile_points_with_exact_shares() {
        let ecdf = Ecdf::from_values((0..10_000).map(f64::from)).unwrap();
        assert!(ecdf.support.len() <= MAX_SUPPORT);
        assert_eq!(*ecdf.support.last().unwrap(), 9999.0);
        for (value, share) in ecdf.support.iter().zip(&ecdf.cdf) {
            assert!((share - (value + 1.0) / 10_000.0).abs() < 1e-12);
        }
        assert!((ecdf.at(4999.5) - 0.5).abs() < 0.005);
    }

    #[test]
    fn features_record_missing_rates_and_code_shares() {
        let spec = |kind, zero_is_missing| FeatureSpec {
            zero_is_missing,
            categories: vec!["a".into(), "b".into(), "c".into()],
            ..FeatureSpec::new("x", kind)
        };
        let numeric = FeatureReference::from_column(
            &spec(FeatureKind::Numeric, true),
            &[0.0, 5.0, f64::NAN, 7.0],
        );
        assert_eq!(numeric.missing_rate, 0.5);
        let Distribution::Numeric(ecdf) = numeric.distribution else {
            panic!("numeric expected")
        };
        assert_eq!(ecdf.support, vec![5.0, 7.0]);
        let categorical = FeatureReference::from_column(
            &spec(FeatureKind::Categorical, false),
            &[0.0, 2.0, 2.0, 2.0],
        );
        assert_eq!(
            categorical.distribution,
            Distribution::Shares(vec![0.25, 0.0, 0.75])
        );
        let empty =
            FeatureReference::from_column(&spec(FeatureKind::Integer, true), &[0.0, f64::NAN]);
        assert_eq!(empty.missing_rate, 1.0);
        assert_eq!(empty.distribution, Distribution::Empty);
    }
}
