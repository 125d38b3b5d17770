//! Evidence the artifact carries beside the model: subgroups the reports break results down by (age bands, sex, wine colour), and the one rule
//! that puts a record in a group: bands of a numeric feature, or each value of a binary or
//! categorical one; and permutation importance. The figures are computed in training and
//! evaluation; the artifact keeps them so the model card can show them.

use serde::{Deserialize, Serialize};

use crate::schema::{FeatureKind, FeatureSpec};

/// A figure and its 95% interval (NaN where undefined or where the group is too small).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Estimate {
    /// On all the records.
    pub value: f64,
    /// 2.5th percentile over bootstrap resamples.
    pub lower: f64,
    /// 97.5th percentile over bootstrap resamples.
    pub upper: f64,
}

/// Equal when the numbers are the same, undefined (NaN) ones included, so an artifact holding
/// an undefined figure still equals itself after a round trip.
impl PartialEq for Estimate {
    fn eq(&self, other: &Self) -> bool {
        let same = |a: f64, b: f64| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan());
        same(self.value, other.value)
            && same(self.lower, other.lower)
            && same(self.upper, other.upper)
    }
}

/// How much the ranking metric worsens when one feature's values are shuffled among held-out
/// rows (permutation importance on out-of-fold predictions).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureImportance {
    /// The feature.
    pub feature: String,
    /// Mean loss over repeats (each averaged over folds).
    pub mean: f64,
    /// Standard deviation over repeats.
    pub std: f64,
}

/// Permutation importance of every feature, most important first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PermutationImportance {
    /// The metric whose loss is measured (the run's ranking metric).
    pub metric: crate::Metric,
    /// Shuffles per feature and fold.
    pub repeats: usize,
    /// Per feature, most important first.
    pub features: Vec<FeatureImportance>,
}

/// One way of splitting records: a feature, and cut points when it is numeric. Dataset
/// configs declare them as `[[subgroups]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubgroupSpec {
    /// The feature.
    pub feature: String,
    /// Ascending cut points (numeric and integer features only): `[50, 65]` makes `< 50`,
    /// `50 to < 65` and `≥ 65`.
    #[serde(default)]
    pub bands: Vec<f64>,
}

/// The figures of one group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupResult {
    /// `Age < 30`, `sex = 1`, `type = red`, `Age missing`.
    pub label: String,
    /// Records in the group.
    pub n: usize,
    /// Share of the positive class (binary tasks).
    pub prevalence: Option<f64>,
    /// Figures by name, each with its interval.
    pub figures: Vec<(String, Estimate)>,
    /// Why some intervals are absent (too few records of a class).
    pub note: Option<String>,
}

/// A split and the figures of each of its groups.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubgroupFamily {
    /// How records are split.
    pub spec: SubgroupSpec,
    /// One result per group that has records, in label order.
    pub groups: Vec<GroupResult>,
}

fn number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{value}")
    }
}

impl SubgroupSpec {
    /// The labels of the groups, in order (the last is for missing values).
    pub fn labels(&self, feature: &FeatureSpec) -> Vec<String> {
        let name = &feature.name;
        let mut labels: Vec<String> = match feature.kind {
            FeatureKind::Categorical => feature
                .categories
                .iter()
                .map(|category| format!("{name} = {category}"))
                .collect(),
            FeatureKind::Binary => vec![format!("{name} = 0"), format!("{name} = 1")],
            FeatureKind::Numeric | FeatureKind::Integer => {
                let mut labels = Vec::with_capacity(self.bands.len() + 1);
                for (band_idx, cut) in self.bands.iter().enumerate() {
                    labels.push(match band_idx {
                        0 => format!("{name} < {}", number(*cut)),
                        _ => format!(
                            "{name} {} to < {}",
                            number(self.bands[band_idx - 1]),
                            number(*cut)
                        ),
                    });
                }
                if let Some(last) = self.bands.last() {
                    labels.push(format!("{name} ≥ {}", number(*last)));
                }
                labels
            }
        };
        labels.push(format!("{name} missing"));
        labels
    }

    /// The index into [`SubgroupSpec::labels`] of a raw value (NaN: missing; categories and
    /// 0/1 as their codes). A zero that means "not measured" counts as missing.
    pub fn group_of(&self, feature: &FeatureSpec, value: f64) -> usize {
        let n_labels = self.labels(feature).len();
        let missing = n_labels - 1;
        if value.is_nan() || (feature.zero_is_missing && value == 0.0) {
            return missing;
        }
        match feature.kind {
            FeatureKind::Categorical | FeatureKind::Binary => {
                let code = value as usize;
                if value >= 0.0 && code < missing {
                    code
                } else {
                    missing
                }
            }
            FeatureKind::Numeric | FeatureKind::Integer => {
                self.bands.iter().filter(|cut| value >= **cut).count()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feature(kind: FeatureKind) -> FeatureSpec {
        FeatureSpec {
            categories: vec!["red".into(), "white".into()],
            ..FeatureSpec::new("Age", kind)
        }
    }

    #[test]
    fn bands_and_values_put_each_record_in_one_group() {
        let spec = SubgroupSpec {
            feature: "Age".into(),
            bands: vec![30.0, 50.0],
        };
        let age = feature(FeatureKind::Integer);
        assert_eq!(
            spec.labels(&age),
            ["Age < 30", "Age 30 to < 50", "Age ≥ 50", "Age missing"]
        );
        let groups: Vec<usize> = [21.0, 30.0, 49.9, 50.0, 81.0, f64::NAN]
            .iter()
            .map(|v| spec.group_of(&age, *v))
            .collect();
        assert_eq!(groups, [0, 1, 1, 2, 2, 3]);
        let colour = SubgroupSpec {
            feature: "Age".into(),
            bands: vec![],
        };
        let categorical = feature(FeatureKind::Categorical);
        assert_eq!(
            colour.labels(&categorical),
            ["Age = red", "Age = white", "Age missing"]
        );
        assert_eq!(colour.group_of(&categorical, 1.0), 1);
        assert_eq!(colour.group_of(&categorical, 7.0), 2);
    }
}
