//! Fitted preprocessing: turns a raw feature row (NaN = missing, categories as codes) into model inputs.
//!
//! The fitting lives in the `preprocess` crate; only the fitted state and its `transform` live here,
//! because the server must apply exactly what training applied.

use serde::{Deserialize, Serialize};

use crate::missing::is_missing_value;

/// Where a column's fill value for missing inputs came from, so model cards can say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FillRule {
    /// The median of the training rows.
    Median,
    /// The mean of the training rows.
    Mean,
    /// The most frequent value (or category) of the training rows.
    MostFrequent,
    /// No value was observed in the training rows, so a constant 0 is used.
    NoObservedValue,
    /// Not imputed: the fill is NaN and the model routes missing inputs itself (histogram
    /// boosting learns a direction for them at every split).
    LeftMissing,
}

impl FillRule {
    /// Words for model cards: "training median", ...
    pub fn describe(self) -> &'static str {
        match self {
            FillRule::Median => "training median",
            FillRule::Mean => "training mean",
            FillRule::MostFrequent => "most frequent in training",
            FillRule::NoObservedValue => "no value was observed in training",
            FillRule::LeftMissing => "left missing: the model routes missing values itself",
        }
    }
}

/// How one raw column becomes one or more model inputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ColumnTransform {
    /// Impute, optionally flag missingness, then centre and scale.
    Numeric {
        /// Treat a literal `0` as missing before imputing.
        zero_is_missing: bool,
        /// Value that replaces a missing one (median, mean or mode of the training fold).
        fill: f64,
        /// How `fill` was computed.
        fill_rule: FillRule,
        /// Subtracted after imputation (mean, or median for robust scaling).
        center: f64,
        /// Divides after centring (standard deviation or IQR); never zero.
        scale: f64,
        /// Whether an extra 0/1 input says the value was missing.
        missing_indicator: bool,
    },
    /// Impute with the most frequent category, then one-hot encode.
    OneHot {
        /// Number of known categories (one input each).
        n_categories: usize,
        /// Category code that replaces a missing value.
        fill: usize,
        /// How `fill` was chosen.
        fill_rule: FillRule,
    },
}

impl ColumnTransform {
    /// How many model inputs this column produces.
    pub fn n_outputs(&self) -> usize {
        match self {
            ColumnTransform::Numeric {
                missing_indicator, ..
            } => 1 + usize::from(*missing_indicator),
            ColumnTransform::OneHot { n_categories, .. } => *n_categories,
        }
    }
}

/// Fitted preprocessing for every raw column, in schema order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FittedPreprocessor {
    /// One transform per raw feature.
    pub columns: Vec<ColumnTransform>,
    /// Names of the produced model inputs, for model cards and debugging.
    pub output_names: Vec<String>,
}

impl FittedPreprocessor {
    /// Number of model inputs produced per row.
    pub fn n_outputs(&self) -> usize {
        self.output_names.len()
    }

    /// The raw column (schema feature) each model input comes from, in input order: one-hot
    /// inputs and missing-value indicators map back to their column.
    pub fn input_sources(&self) -> Vec<usize> {
        self.columns
            .iter()
            .enumerate()
            .flat_map(|(column_idx, transform)| {
                std::iter::repeat_n(column_idx, transform.n_outputs())
            })
            .collect()
    }

    /// Whether a raw value counts as missing for column `column_idx` (NaN, or a configured zero).
    pub fn is_missing(&self, column_idx: usize, value: f64) -> bool {
        match &self.columns[column_idx] {
            ColumnTransform::Numeric {
                zero_is_missing, ..
            } => is_missing_value(value, *zero_is_missing),
            ColumnTransform::OneHot { .. } => is_missing_value(value, false),
        }
    }

    /// Transforms one raw row into `out`, which is cleared first.
    ///
    /// The raw row must already be validated: categorical codes are in range. An out-of-range
    /// code is treated as missing rather than panicking, so a bug upstream cannot crash a server.
    pub fn transform_into(&self, raw: &[f64], out: &mut Vec<f64>) {
        out.clear();
        for (column_idx, transform) in self.columns.iter().enumerate() {
            let value = raw.get(column_idx).copied().unwrap_or(f64::NAN);
            match transform {
                ColumnTransform::Numeric {
                    fill,
                    center,
                    scale,
                    missing_indicator,
                    ..
                } => {
                    let missing = self.is_missing(column_idx, value);
                    let imputed = if missing { *fill } else { value };
                    out.push((imputed - center) / scale);
                    if *missing_indicator {
                        out.push(if missing { 1.0 } else { 0.0 });
                    }
                }
                ColumnTransform::OneHot {
                    n_categories, fill, ..
                } => {
                    let code = if value.is_nan() || value < 0.0 || value >= *n_categories as f64 {
                        *fill
                    } else {
                        value as usize
                    };
                    out.extend(
                        (0..*n_categories).map(
                            |category_idx| {
                                if category_idx == code { 1.0 } else { 0.0 }
                            },
                        ),
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_is_missing_is_imputed_scaled_and_flagged() {
        let preprocessor = FittedPreprocessor {
            columns: vec![
                ColumnTransform::Numeric {
                    zero_is_missing: true,
                    fill: 10.0,
                    fill_rule: FillRule::Median,
                    center: 8.0,
                    scale: 2.0,
                    missing_indicator: true,
                },
                ColumnTransform::OneHot {
                    n_categories: 2,
                    fill: 1,
                    fill_rule: FillRule::MostFrequent,
                },
            ],
            output_names: vec!["a".into(), "a_missing".into(), "b=x".into(), "b=y".into()],
        };
        let mut out = Vec::new();
        preprocessor.transform_into(&[0.0, 0.0], &mut out);
        assert_eq!(out, vec![1.0, 1.0, 1.0, 0.0]);
        preprocessor.transform_into(&[12.0, f64::NAN], &mut out);
        assert_eq!(out, vec![2.0, 0.0, 0.0, 1.0]);
    }
}
