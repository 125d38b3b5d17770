//! Fitting preprocessing (imputation, scaling, one-hot encoding), class balancing and
//! stratified splits. Everything here is fitted on training rows only: callers pass one
//! training fold at a time, and the fitted result is `model`'s [`FittedPreprocessor`].

pub mod balance;
pub mod split;

use ndarray::{Array2, ArrayView2};

use model::stats::quantile;
use model::{ColumnTransform, FeatureKind, FeatureSpec, FillRule, FittedPreprocessor};

pub use balance::{Balance, class_weights, oversample, smote};
pub use split::{Fold, stratified_folds, stratified_holdout};

/// Errors from fitting preprocessing or splitting.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PreprocessError {
    /// The parameters are contradictory or out of range.
    #[error("invalid preprocessing parameter: {0}")]
    InvalidParams(String),
    /// The data do not match the feature list.
    #[error("expected {expected} feature columns, found {found}")]
    ColumnMismatch {
        /// Features in the schema.
        expected: usize,
        /// Columns in the data.
        found: usize,
    },
    /// No training rows.
    #[error("cannot fit preprocessing on zero rows")]
    NoRows,
    /// A split is impossible.
    #[error("cannot make {folds} folds: {reason}")]
    Split {
        /// Folds requested.
        folds: usize,
        /// Why not.
        reason: String,
    },
}

/// How numeric missing values are filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Imputation {
    /// Median of the training fold (robust to outliers; the default).
    Median,
    /// Mean of the training fold.
    Mean,
    /// Most frequent value of the training fold.
    MostFrequent,
}

impl Imputation {
    /// What the artifact records about a fill value computed this way.
    pub fn fill_rule(self) -> FillRule {
        match self {
            Imputation::Median => FillRule::Median,
            Imputation::Mean => FillRule::Mean,
            Imputation::MostFrequent => FillRule::MostFrequent,
        }
    }
}

impl std::str::FromStr for Imputation {
    type Err = String;

    /// Parses `median`, `mean` or `most-frequent`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim() {
            "median" => Ok(Imputation::Median),
            "mean" => Ok(Imputation::Mean),
            "most-frequent" | "most_frequent" => Ok(Imputation::MostFrequent),
            other => Err(format!(
                "unknown imputation `{other}`, expected `median`, `mean` or `most-frequent`"
            )),
        }
    }
}

/// How numeric columns are scaled after imputation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scaling {
    /// Subtract the mean, divide by the standard deviation.
    Standard,
    /// Subtract the median, divide by the interquartile range.
    Robust,
    /// Leave values as they are.
    None,
}

impl std::str::FromStr for Scaling {
    type Err = String;

    /// Parses `standard`, `robust` or `none`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim() {
            "standard" => Ok(Scaling::Standard),
            "robust" => Ok(Scaling::Robust),
            "none" => Ok(Scaling::None),
            other => Err(format!(
                "unknown scaling `{other}`, expected `standard`, `robust` or `none`"
            )),
        }
    }
}

/// Preprocessing hyperparameters (unchecked).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PreprocessParams {
    /// Imputation for `numeric` features; integer features use the median, binary and
    /// categorical ones the most frequent value.
    pub numeric_imputation: Imputation,
    /// Scaling for numeric, integer and binary features.
    pub scaling: Scaling,
    /// Add a 0/1 input per numeric column that had missing values in the training rows.
    pub missing_indicator: bool,
}

impl Default for PreprocessParams {
    fn default() -> Self {
        PreprocessParams {
            numeric_imputation: Imputation::Median,
            scaling: Scaling::Standard,
            missing_indicator: false,
        }
    }
}

/// Checked preprocessing hyperparameters, ready to fit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ValidPreprocessParams {
    params: PreprocessParams,
    /// Leave missing numeric, integer and binary values missing (NaN) for a model that routes
    /// them itself, instead of imputing them.
    leave_missing: bool,
}

impl PreprocessParams {
    /// Validates the combination.
    pub fn check(self) -> Result<ValidPreprocessParams, PreprocessError> {
        // Robust scaling centres on the median; pairing it with mean imputation would put
        // imputed values off-centre for skewed columns, which is never what anyone wants.
        if self.scaling == Scaling::Robust && self.numeric_imputation == Imputation::Mean {
            return Err(PreprocessError::InvalidParams(
                "robust scaling needs median or most-frequent imputation, not mean".into(),
            ));
        }
        Ok(ValidPreprocessParams {
            params: self,
            leave_missing: false,
        })
    }
}

impl ValidPreprocessParams {
    /// The checked parameters.
    pub fn params(&self) -> &PreprocessParams {
        &self.params
    }

    /// The same parameters, but missing numeric, integer and binary values stay missing (a NaN
    /// fill, [`FillRule::LeftMissing`]) for a model that handles them natively; scaling
    /// statistics then come from the observed values only. Categorical columns are still
    /// filled with their most frequent category, as one-hot inputs cannot be missing.
    pub fn leaving_missing(self) -> Self {
        ValidPreprocessParams {
            leave_missing: true,
            ..self
        }
    }

    /// Fits on training rows (`raw`: one row per sample, schema order, NaN = missing).
    pub fn fit(
        &self,
        features: &[FeatureSpec],
        raw: ArrayView2<'_, f64>,
    ) -> Result<FittedPreprocessor, PreprocessError> {
        let all_rows: Vec<usize> = (0..raw.nrows()).collect();
        self.fit_rows(features, raw, &all_rows)
    }

    /// Fits on the rows `rows` of `raw` (each an index below `raw.nrows()`), without copying
    /// them out first: a fold of a million-row table fits in place. The same fit as [`fit`] on
    /// those rows, as each column's statistics are taken over its sorted values.
    ///
    /// [`fit`]: Preprocess::fit
    pub fn fit_rows(
        &self,
        features: &[FeatureSpec],
        raw: ArrayView2<'_, f64>,
        rows: &[usize],
    ) -> Result<FittedPreprocessor, PreprocessError> {
        if raw.ncols() != features.len() {
            return Err(PreprocessError::ColumnMismatch {
                expected: features.len(),
                found: raw.ncols(),
            });
        }
        if rows.is_empty() {
            return Err(PreprocessError::NoRows);
        }
        let mut columns = Vec::with_capacity(features.len());
        let mut output_names = Vec::new();
        for (feature_idx, spec) in features.iter().enumerate() {
            let column = raw.column(feature_idx);
            let mut present: Vec<f64> = rows
                .iter()
                .map(|row| column[*row])
                .filter(|value| !spec.is_missing(*value))
                .collect();
            present.sort_by(f64::total_cmp);
            let n_missing = rows.len() - present.len();
            if spec.kind == FeatureKind::Categorical {
                columns.push(fit_one_hot(spec, &present));
                output_names.extend(
                    spec.categories
                        .iter()
                        .map(|category| format!("{}={category}", spec.name)),
                );
                continue;
            }
            let column = self.fit_numeric(spec, &present, n_missing);
            output_names.push(spec.name.clone());
            if let ColumnTransform::Numeric {
                missing_indicator: true,
                ..
            } = column
            {
                output_names.push(format!("{}_missing", spec.name));
            }
            columns.push(column);
        }
        Ok(FittedPreprocessor {
            columns,
            output_names,
        })
    }

    /// Imputation and scaling of one numeric, integer or binary column from its observed
    /// (sorted) values and the number of missing ones.
    fn fit_numeric(
        &self,
        spec: &FeatureSpec,
        present: &[f64],
        n_missing: usize,
    ) -> ColumnTransform {
        let params = &self.params;
        let imputation = match spec.kind {
            FeatureKind::Numeric => params.numeric_imputation,
            FeatureKind::Integer => Imputation::Median,
            _ => Imputation::MostFrequent,
        };
        let fill = match imputation {
            Imputation::Median => median(present),
            Imputation::Mean => mean(present),
            Imputation::MostFrequent => most_frequent(present),
        };
        // A column with no observed value in this fold is imputed with 0 and not scaled.
        let (fill, fill_rule) = match fill {
            _ if self.leave_missing => (f64::NAN, FillRule::LeftMissing),
            Some(fill) => (fill, imputation.fill_rule()),
            None => (0.0, FillRule::NoObservedValue),
        };
        // Missing values left missing take no part in the scaling statistics.
        let (stats_fill, stats_missing) = if self.leave_missing {
            (0.0, 0)
        } else {
            (fill, n_missing)
        };
        let n_rows = (present.len() + stats_missing) as f64;
        let (center, scale) = match params.scaling {
            Scaling::None => (0.0, 1.0),
            Scaling::Standard => {
                // Statistics of the imputed column, as scikit-learn's pipeline computes them.
                let total = present.iter().sum::<f64>() + stats_fill * stats_missing as f64;
                let mean = total / n_rows;
                let squares = present.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>()
                    + (stats_fill - mean) * (stats_fill - mean) * stats_missing as f64;
                (mean, (squares / n_rows).sqrt())
            }
            Scaling::Robust => {
                let mut imputed = present.to_vec();
                imputed.extend(std::iter::repeat_n(stats_fill, stats_missing));
                imputed.sort_by(f64::total_cmp);
                let median = quantile(&imputed, 0.5);
                (median, quantile(&imputed, 0.75) - quantile(&imputed, 0.25))
            }
        };
        // A column with nothing observed has no centre; keep its inputs as they are.
        let center = if center.is_finite() { center } else { 0.0 };
        // A constant column would divide by zero; leave it unscaled instead.
        let scale = if scale.is_finite() && scale > 1e-12 {
            scale
        } else {
            1.0
        };
        ColumnTransform::Numeric {
            zero_is_missing: spec.zero_is_missing,
            fill,
            fill_rule,
            center,
            scale,
            missing_indicator: params.missing_indicator && n_missing > 0,
        }
    }
}

/// Most-frequent imputation and one-hot encoding of a categorical column.
fn fit_one_hot(spec: &FeatureSpec, present: &[f64]) -> ColumnTransform {
    let n_categories = spec.categories.len();
    let (fill, fill_rule) = match most_frequent(present) {
        Some(code) => (code as usize, FillRule::MostFrequent),
        None => (0, FillRule::NoObservedValue),
    };
    ColumnTransform::OneHot {
        n_categories,
        fill: fill.min(n_categories.saturating_sub(1)),
        fill_rule,
    }
}

/// Transforms many raw rows with a fitted preprocessor into a model-input matrix.
pub fn transform(preprocessor: &FittedPreprocessor, raw: ArrayView2<'_, f64>) -> Array2<f64> {
    let all_rows: Vec<usize> = (0..raw.nrows()).collect();
    transform_rows(preprocessor, raw, &all_rows)
}

/// Transforms the rows `rows` of `raw` (each an index below `raw.nrows()`), in that order,
/// into a model-input matrix, without copying them out first.
pub fn transform_rows(
    preprocessor: &FittedPreprocessor,
    raw: ArrayView2<'_, f64>,
    rows: &[usize],
) -> Array2<f64> {
    let n_outputs = preprocessor.n_outputs();
    let mut out = Array2::zeros((rows.len(), n_outputs));
    let mut buffer = Vec::with_capacity(n_outputs);
    let mut row_values = Vec::with_capacity(raw.ncols());
    for (mut out_row, row) in out.rows_mut().into_iter().zip(rows) {
        row_values.clear();
        row_values.extend(raw.row(*row).iter().copied());
        preprocessor.transform_into(&row_values, &mut buffer);
        for (cell, value) in out_row.iter_mut().zip(&buffer) {
            *cell = *value;
        }
    }
    out
}

fn median(sorted: &[f64]) -> Option<f64> {
    (!sorted.is_empty()).then(|| quantile(sorted, 0.5))
}

fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// Most frequent value of sorted input; ties go to the smallest value (deterministic).
fn most_frequent(sorted: &[f64]) -> Option<f64> {
    let mut best: Option<(f64, usize)> = None;
    let mut idx = 0;
    while idx < sorted.len() {
        let value = sorted[idx];
        let run = sorted[idx..]
            .iter()
            .take_while(|other| **other == value)
            .count();
        if best.is_none_or(|(_, count)| run > count) {
            best = Some((value, run));
        }
        idx += run;
    }
    best.map(|(value, _)| value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn spec(name: &str, kind: FeatureKind, zero_is_missing: bool) -> FeatureSpec {
        FeatureSpec {
            zero_is_missing,
            categories: if kind == FeatureKind::Categorical {
                vec!["red".into(), "white".into()]
            } else {
                vec![]
            },
            ..FeatureSpec::new(name, kind)
        }
    }

    #[test]
    fn zeros_become_missing_then_median_imputed_and_standardised() {
        let features = vec![
            spec("PL", FeatureKind::Numeric, true),
            spec("type", FeatureKind::Categorical, false),
        ];
        let raw = array![[0.0, 1.0], [2.0, 1.0], [4.0, f64::NAN], [6.0, 0.0]];
        let fitted = PreprocessParams::default()
            .check()
            .unwrap()
            .fit(&features, raw.view())
            .unwrap();
        let ColumnTransform::Numeric {
            fill,
            center,
            scale,
            ..
        } = fitted.columns[0]
        else {
            panic!("numeric expected")
        };
        assert_eq!(fill, 4.0, "median of 2, 4, 6; the zero is missing");
        assert_eq!(center, 4.0);
        assert!((scale - (8.0f64 / 4.0).sqrt()).abs() < 1e-12);
        assert_eq!(
            fitted.columns[1],
            ColumnTransform::OneHot {
                n_categories: 2,
                fill: 1,
                fill_rule: FillRule::MostFrequent,
            }
        );
        let out = transform(&fitted, raw.view());
        assert_eq!(out.row(2).to_vec(), vec![0.0, 0.0, 1.0]);
        assert_eq!(fitted.output_names, vec!["PL", "type=red", "type=white"]);
    }

    #[test]
    fn leaving_missing_keeps_missing_values_missing_and_scales_on_observed_ones() {
        let features = vec![
            spec("PL", FeatureKind::Numeric, true),
            spec("type", FeatureKind::Categorical, false),
            spec("empty", FeatureKind::Numeric, false),
        ];
        let raw = array![
            [0.0, 1.0, f64::NAN],
            [2.0, 1.0, f64::NAN],
            [4.0, f64::NAN, f64::NAN],
            [6.0, 0.0, f64::NAN]
        ];
        let fitted = PreprocessParams::default()
            .check()
            .unwrap()
            .leaving_missing()
            .fit(&features, raw.view())
            .unwrap();
        let ColumnTransform::Numeric {
            fill,
            fill_rule,
            center,
            scale,
            ..
        } = fitted.columns[0]
        else {
            panic!("numeric expected")
        };
        assert!(fill.is_nan());
        assert_eq!(fill_rule, FillRule::LeftMissing);
        assert_eq!(center, 4.0, "mean of the observed 2, 4, 6");
        assert!((scale - (8.0f64 / 3.0).sqrt()).abs() < 1e-12);
        let out = transform(&fitted, raw.view());
        assert!(out[[0, 0]].is_nan(), "the configured zero stays missing");
        assert_eq!(out[[1, 0]], (2.0 - 4.0) / scale);
        assert_eq!(
            (out[[2, 1]], out[[2, 2]]),
            (0.0, 1.0),
            "the type is still filled"
        );
        assert!(
            out[[2, 3]].is_nan(),
            "a column never observed stays missing"
        );
    }

    #[test]
    fn indicator_robust_scaling_and_validation() {
        let features = vec![spec("x", FeatureKind::Numeric, false)];
        let raw = array![[1.0], [f64::NAN], [3.0], [5.0], [100.0]];
        let params = PreprocessParams {
            numeric_imputation: Imputation::Median,
            scaling: Scaling::Robust,
            missing_indicator: true,
        };
        let fitted = params.check().unwrap().fit(&features, raw.view()).unwrap();
        assert_eq!(fitted.output_names, vec!["x", "x_missing"]);
        let out = transform(&fitted, raw.view());
        assert_eq!(out[[1, 1]], 1.0);
        let bad = PreprocessParams {
            numeric_imputation: Imputation::Mean,
            ..params
        };
        assert!(bad.check().is_err());
        let error = params
            .check()
            .unwrap()
            .fit(&features, array![[1.0, 2.0]].view());
        assert_eq!(
            error.unwrap_err(),
            PreprocessError::ColumnMismatch {
                expected: 1,
                found: 2
            }
        );
    }

    #[test]
    fn fill_rules_record_how_each_fill_was_computed() {
        let features = vec![
            spec("measured", FeatureKind::Numeric, false),
            spec("count", FeatureKind::Integer, false),
            spec("never", FeatureKind::Numeric, true),
        ];
        let raw = array![[1.0, 1.0, 0.0], [2.0, 5.0, f64::NAN], [6.0, 6.0, 0.0]];
        let params = PreprocessParams {
            numeric_imputation: Imputation::Mean,
            ..PreprocessParams::default()
        };
        let fitted = params.check().unwrap().fit(&features, raw.view()).unwrap();
        let rules: Vec<(f64, FillRule)> = fitted
            .columns
            .iter()
            .map(|column| match column {
                ColumnTransform::Numeric {
                    fill, fill_rule, ..
                } => (*fill, *fill_rule),
                ColumnTransform::OneHot { .. } => panic!("numeric expected"),
            })
            .collect();
        assert_eq!(
            rules,
            vec![
                (3.0, FillRule::Mean),
                (5.0, FillRule::Median),
                (0.0, FillRule::NoObservedValue)
            ],
            "numeric columns follow `--impute`, integer ones always use the median"
        );
    }

    #[test]
    fn most_frequent_breaks_ties_low() {
        assert_eq!(most_frequent(&[0.0, 0.0, 1.0, 1.0]), Some(0.0));
        assert_eq!(most_frequent(&[0.0, 1.0, 1.0]), Some(1.0));
        assert_eq!(most_frequent(&[]), None);
    }
}
