//! What an analyst should look at before modelling: alerts about the columns (constant, mostly
//! missing, zeros that mean "not measured", highly correlated pairs, duplicate rows, a single
//! feature that almost predicts the target) and each feature's association with the target.

use model::FeatureKind;

use crate::load::Dataset;

/// Share of missing values above which a column is flagged.
pub const HIGH_MISSING_SHARE: f64 = 0.3;
/// Absolute Pearson correlation at or above which a pair is flagged.
pub const HIGH_CORRELATION: f64 = 0.9;
/// Association with the target above which a single feature is suspected of leaking it.
pub const LEAKAGE_ASSOCIATION: f64 = 0.95;

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertKind {
    /// One value only.
    Constant,
    /// More than [`HIGH_MISSING_SHARE`] missing.
    HighMissing,
    /// Zeros the config declares as "not measured".
    ZeroAsMissing,
    /// A pair correlated at [`HIGH_CORRELATION`] or more.
    HighCorrelation,
    /// Exact duplicate rows.
    Duplicates,
    /// A single feature associated with the target above [`LEAKAGE_ASSOCIATION`].
    PossibleLeakage,
}

impl AlertKind {
    /// The kind as the report prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Constant => "constant",
            AlertKind::HighMissing => "high missing share",
            AlertKind::ZeroAsMissing => "zeros mean missing",
            AlertKind::HighCorrelation => "high correlation",
            AlertKind::Duplicates => "duplicate rows",
            AlertKind::PossibleLeakage => "possible leakage",
        }
    }
}

/// One finding about the data.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// What kind of finding.
    pub kind: AlertKind,
    /// The column (or pair, or `all rows`) it is about.
    pub subject: String,
    /// The figures behind it.
    pub detail: String,
}

/// How a feature's association with the target is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    /// Area under the ROC curve of the feature's values as a score, direction-free
    /// (max(AUC, 1 − AUC)); numeric features of a binary target.
    UnivariateAuc,
    /// Cramér's V of the contingency table; categorical and 0/1 features.
    CramersV,
    /// The correlation ratio η; numeric features of a multiclass target.
    CorrelationRatio,
}

impl Measure {
    /// The measure as the report prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            Measure::UnivariateAuc => "univariate ROC-AUC",
            Measure::CramersV => "Cramér's V",
            Measure::CorrelationRatio => "correlation ratio η",
        }
    }
}

/// A feature's association with the target (0 none; 1 the feature alone separates the classes).
#[derive(Debug, Clone, PartialEq)]
pub struct Association {
    /// Feature name.
    pub feature: String,
    /// How it was measured.
    pub measure: Measure,
    /// The value: AUC in [0.5, 1], V and η in [0, 1].
    pub value: f64,
    /// Records with the feature present.
    pub n: usize,
}

/// Each feature's association with the target, strongest first (empty without a target).
pub fn associations(
    dataset: &Dataset,
    n_classes: usize,
    positive: Option<usize>,
) -> Vec<Association> {
    let Some(target) = &dataset.target else {
        return Vec::new();
    };
    let mut found: Vec<Association> = dataset
        .features
        .iter()
        .enumerate()
        .map(|(feature_idx, spec)| {
            let pairs: Vec<(f64, usize)> = dataset
                .raw
                .column(feature_idx)
                .iter()
                .zip(target)
                .filter(|(value, _)| !spec.is_missing(**value))
                .map(|(value, class)| (*value, *class))
                .collect();
            let (measure, value) = match (spec.kind, n_classes, positive) {
                (FeatureKind::Categorical | FeatureKind::Binary, _, _) => {
                    (Measure::CramersV, cramers_v(&pairs, n_classes))
                }
                (_, 2, Some(positive)) => {
                    (Measure::UnivariateAuc, univariate_auc(&pairs, positive))
                }
                _ => (
                    Measure::CorrelationRatio,
                    correlation_ratio(&pairs, n_classes),
                ),
            };
            Association {
                feature: spec.name.clone(),
                measure,
                value,
                n: pairs.len(),
            }
        })
        .collect();
    found.sort_by(|a, b| b.value.total_cmp(&a.value));
    found
}

/// The alerts of a dataset, given its correlations and associations.
pub fn alerts(
    dataset: &Dataset,
    correlations: &[Vec<f64>],
    associations: &[Association],
) -> Vec<Alert> {
    let mut alerts = Vec::new();
    let n_rows = dataset.n_rows().max(1);
    for (feature_idx, spec) in dataset.features.iter().enumerate() {
        let column = dataset.raw.column(feature_idx);
        let present: Vec<f64> = column
            .iter()
            .copied()
            .filter(|value| !spec.is_missing(*value))
            .collect();
        let missing = n_rows - present.len();
        if present.windows(2).all(|pair| pair[0] == pair[1]) {
            alerts.push(Alert {
                kind: AlertKind::Constant,
                subject: spec.name.clone(),
                detail: format!(
                    "{} distinct value(s) among {} present",
                    usize::from(!present.is_empty()),
                    present.len()
                ),
            });
        }
        if missing as f64 / n_rows as f64 > HIGH_MISSING_SHARE {
            alerts.push(Alert {
                kind: AlertKind::HighMissing,
                subject: spec.name.clone(),
                detail: format!(
                    "{missing} of {n_rows} missing ({:.1}%)",
                    100.0 * missing as f64 / n_rows as f64
                ),
            });
        }
        if spec.zero_is_missing {
            let zeros = column.iter().filter(|value| **value == 0.0).count();
            if zeros > 0 {
                alerts.push(Alert {
                    kind: AlertKind::ZeroAsMissing,
                    subject: spec.name.clone(),
                    detail: format!(
                        "{zeros} zeros counted as not measured ({:.1}%)",
                        100.0 * zeros as f64 / n_rows as f64
                    ),
                });
            }
        }
    }
    for (a, row) in correlations.iter().enumerate() {
        for (b, r) in row.iter().enumerate().skip(a + 1) {
            if r.abs() >= HIGH_CORRELATION {
                alerts.push(Alert {
                    kind: AlertKind::HighCorrelation,
                    subject: format!(
                        "{} and {}",
                        dataset.features[a].name, dataset.features[b].name
                    ),
                    detail: format!("Pearson r = {r:.3}"),
                });
            }
        }
    }
    if dataset.n_duplicates > 0 {
        alerts.push(Alert {
            kind: AlertKind::Duplicates,
            subject: "all rows".into(),
            detail: format!(
                "{} exact duplicate rows ({})",
                dataset.n_duplicates,
                if dataset.duplicates_dropped {
                    "dropped as configured"
                } else {
                    "kept: copies can sit on both sides of a fold"
                }
            ),
        });
    }
    for association in associations {
        if association.value > LEAKAGE_ASSOCIATION {
            alerts.push(Alert {
                kind: AlertKind::PossibleLeakage,
                subject: association.feature.clone(),
                detail: format!(
                    "{} {:.3} on its own: check that it is known before the outcome",
                    association.measure.as_str(),
                    association.value
                ),
            });
        }
    }
    alerts
}

/// Mann–Whitney AUC of the values as a score for `positive`, ties counted half, direction-free.
fn univariate_auc(pairs: &[(f64, usize)], positive: usize) -> f64 {
    let mut sorted: Vec<(f64, bool)> = pairs
        .iter()
        .map(|(value, class)| (*value, *class == positive))
        .collect();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let n_positive = sorted.iter().filter(|(_, is)| *is).count() as f64;
    let n_negative = sorted.len() as f64 - n_positive;
    if n_positive == 0.0 || n_negative == 0.0 {
        return f64::NAN;
    }
    // Sum of the positives' mid-ranks.
    let mut rank_sum = 0.0;
    let mut start = 0;
    while start < sorted.len() {
        let mut end = start;
        while end + 1 < sorted.len() && sorted[end + 1].0 == sorted[start].0 {
            end += 1;
        }
        let mid_rank = (start + end) as f64 / 2.0 + 1.0;
        rank_sum += mid_rank * sorted[start..=end].iter().filter(|(_, is)| *is).count() as f64;
        start = end + 1;
    }
    let auc = (rank_sum - n_positive * (n_positive + 1.0) / 2.0) / (n_positive * n_negative);
    auc.max(1.0 - auc)
}

/// Cramér's V of the table of values (as codes) against classes.
fn cramers_v(pairs: &[(f64, usize)], n_classes: usize) -> f64 {
    let mut values: Vec<f64> = pairs.iter().map(|(value, _)| *value).collect();
    values.sort_by(f64::total_cmp);
    values.dedup();
    let (n_rows, n_columns) = (values.len(), n_classes);
    if n_rows < 2 || n_columns < 2 || pairs.is_empty() {
        return f64::NAN;
    }
    let mut table = vec![vec![0.0; n_columns]; n_rows];
    for (value, class) in pairs {
        let row = values.partition_point(|known| known < value);
        if let Some(cell) = table.get_mut(row).and_then(|cells| cells.get_mut(*class)) {
            *cell += 1.0;
        }
    }
    let n = pairs.len() as f64;
    let row_totals: Vec<f64> = table.iter().map(|row| row.iter().sum()).collect();
    let column_totals: Vec<f64> = (0..n_columns)
        .map(|column| table.iter().map(|row| row[column]).sum())
        .collect();
    let mut chi_square = 0.0;
    for (row, row_total) in table.iter().zip(&row_totals) {
        for (observed, column_total) in row.iter().zip(&column_totals) {
            let expected = row_total * column_total / n;
            if expected > 0.0 {
                chi_square += (observed - expected) * (observed - expected) / expected;
            }
        }
    }
    let present_columns = column_totals.iter().filter(|total| **total > 0.0).count();
    let k = n_rows.min(present_columns) as f64 - 1.0;
    if k <= 0.0 {
        f64::NAN
    } else {
        (chi_square / (n * k)).sqrt()
    }
}

/// The correlation ratio η: the share of the value's spread explained by the class, square-rooted.
fn correlation_ratio(pairs: &[(f64, usize)], n_classes: usize) -> f64 {
    if pairs.len() < 2 {
        return f64::NAN;
    }
    let n = pairs.len() as f64;
    let mean = pairs.iter().map(|(value, _)| value).sum::<f64>() / n;
    let mut sums = vec![0.0; n_classes];
    let mut counts = vec![0.0; n_classes];
    for (value, class) in pairs {
        if let (Some(sum), Some(count)) = (sums.get_mut(*class), counts.get_mut(*class)) {
            *sum += value;
            *count += 1.0;
        }
    }
    let between: f64 = sums
        .iter()
        .zip(&counts)
        .filter(|(_, count)| **count > 0.0)
        .map(|(sum, count)| count * (sum / count - mean).powi(2))
        .sum();
    let total: f64 = pairs.iter().map(|(value, _)| (value - mean).powi(2)).sum();
    if total > 0.0 {
        (between / total).sqrt()
    } else {
        f64::NAN
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn univariate_auc_counts_ties_half_and_ignores_direction() {
        // Positives above every negative: 1; reversed: still 1; all tied: 0.5.
        let separated = [(1.0, 0), (2.0, 0), (3.0, 1), (4.0, 1)];
        assert_eq!(univariate_auc(&separated, 1), 1.0);
        assert_eq!(univariate_auc(&separated, 0), 1.0);
        let tied = [(1.0, 0), (1.0, 1), (1.0, 0), (1.0, 1)];
        assert_eq!(univariate_auc(&tied, 1), 0.5);
        // One inversion among 2 × 2 pairs: 3/4.
        let mixed = [(1.0, 0), (2.0, 1), (3.0, 0), (4.0, 1)];
        assert_eq!(univariate_auc(&mixed, 1), 0.75);
    }

    #[test]
    fn cramers_v_is_one_for_a_perfect_table_and_zero_for_independence() {
        let perfect = [(0.0, 0), (0.0, 0), (1.0, 1), (1.0, 1)];
        assert!((cramers_v(&perfect, 2) - 1.0).abs() < 1e-12);
        let independent = [(0.0, 0), (0.0, 1), (1.0, 0), (1.0, 1)];
        assert!(cramers_v(&independent, 2).abs() < 1e-12);
    }

    #[test]
    fn correlation_ratio_separates_class_means_from_spread() {
        let separated = [(0.0, 0), (0.0, 0), (5.0, 1), (5.0, 1), (9.0, 2)];
        assert!((correlation_ratio(&separated, 3) - 1.0).abs() < 1e-12);
        let same_means = [(0.0, 0), (2.0, 0), (0.0, 1), (2.0, 1)];
        assert!(correlation_ratio(&same_means, 2).abs() < 1e-12);
    }
}
