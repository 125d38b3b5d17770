//! The fitted pipeline: preprocessing, classifier and optional calibration, and the one function
//! that turns a raw row into class probabilities.

use serde::{Deserialize, Serialize};

use crate::classifier::{Classifier, sigmoid};
use crate::preprocessing::FittedPreprocessor;

/// Maps a binary model's positive-class probability to a calibrated one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Calibration {
    /// `p' = sigmoid(a * logit(p) + b)`, fitted on out-of-fold predictions.
    Platt {
        /// Slope on the logit.
        a: f64,
        /// Intercept.
        b: f64,
    },
    /// A non-decreasing step function from isotonic regression, linearly interpolated.
    Isotonic {
        /// Increasing input probabilities.
        inputs: Vec<f64>,
        /// Calibrated probabilities at `inputs`, non-decreasing.
        outputs: Vec<f64>,
    },
}

impl Calibration {
    /// The method's name, as options and model cards spell it.
    pub fn name(&self) -> &'static str {
        match self {
            Calibration::Platt { .. } => "platt",
            Calibration::Isotonic { .. } => "isotonic",
        }
    }

    /// Applies the calibration to a positive-class probability.
    pub fn apply(&self, probability: f64) -> f64 {
        match self {
            Calibration::Platt { a, b } => {
                let clipped = probability.clamp(1e-12, 1.0 - 1e-12);
                sigmoid(a * (clipped / (1.0 - clipped)).ln() + b)
            }
            Calibration::Isotonic { inputs, outputs } => {
                if inputs.is_empty() || inputs.len() != outputs.len() {
                    return probability;
                }
                let upper = inputs.partition_point(|input| *input < probability);
                if upper == 0 {
                    return outputs[0];
                }
                if upper == inputs.len() {
                    return outputs[inputs.len() - 1];
                }
                let (x0, x1) = (inputs[upper - 1], inputs[upper]);
                let (y0, y1) = (outputs[upper - 1], outputs[upper]);
                if x1 > x0 {
                    y0 + (y1 - y0) * (probability - x0) / (x1 - x0)
                } else {
                    y1
                }
            }
        }
    }
}

/// A fitted preprocessing + classifier pair: everything needed to score a raw row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pipeline {
    /// Imputation, scaling and encoding.
    pub preprocessor: FittedPreprocessor,
    /// The fitted model.
    pub classifier: Classifier,
    /// Optional calibration of the positive-class probability (binary tasks only).
    pub calibration: Option<Calibration>,
    /// Number of classes.
    pub n_classes: usize,
    /// Index of the positive class for binary tasks (0 for multiclass).
    pub positive_class: usize,
}

impl Pipeline {
    /// Class probabilities for one raw row (schema order, NaN = missing, categories as codes).
    ///
    /// Training's out-of-fold evaluation, the server and the batch scorer all call this.
    pub fn predict_raw(&self, raw: &[f64]) -> Vec<f64> {
        let mut inputs = Vec::with_capacity(self.preprocessor.n_outputs());
        let mut probabilities = vec![0.0; self.n_classes];
        self.predict_raw_into(raw, &mut inputs, &mut probabilities);
        probabilities
    }

    /// As [`Pipeline::predict_raw`], reusing caller buffers (for scoring many rows).
    pub fn predict_raw_into(&self, raw: &[f64], inputs: &mut Vec<f64>, probabilities: &mut [f64]) {
        self.preprocessor.transform_into(raw, inputs);
        self.classifier
            .predict_proba(inputs, self.n_classes, self.positive_class, probabilities);
        self.calibrate(probabilities);
    }

    /// [`Pipeline::predict_raw_into`] for many rows: `raws` row-major with `n_features` per
    /// row, one row of `n_classes` probabilities each into `probabilities`. The values are
    /// exactly those of row-by-row prediction; tree ensembles compute them several times
    /// faster ([`Classifier::predict_proba_rows`]).
    pub fn predict_raw_rows(&self, raws: &[f64], n_features: usize, probabilities: &mut [f64]) {
        let n_rows = probabilities.len() / self.n_classes.max(1);
        let mut inputs = Vec::with_capacity(n_rows * self.preprocessor.n_outputs());
        let mut row_inputs = Vec::new();
        for raw in raws.chunks(n_features.max(1)).take(n_rows) {
            self.preprocessor.transform_into(raw, &mut row_inputs);
            inputs.extend_from_slice(&row_inputs);
        }
        // Every row has as many inputs as the preprocessor's columns produce.
        self.classifier.predict_proba_rows(
            &inputs,
            row_inputs.len(),
            self.n_classes,
            self.positive_class,
            probabilities,
        );
        for row in probabilities.chunks_mut(self.n_classes.max(1)) {
            self.calibrate(row);
        }
    }

    /// The calibration's name, or `none`.
    pub fn calibration_name(&self) -> &'static str {
        self.calibration.as_ref().map_or("none", Calibration::name)
    }

    /// Turns the classifier's class probabilities into the pipeline's, in place, by applying the
    /// calibration (binary tasks; a no-op without one).
    ///
    /// Training calls this on out-of-fold probabilities, so that thresholds, plots and reports
    /// see exactly what the server will return.
    pub fn calibrate(&self, probabilities: &mut [f64]) {
        if let (Some(calibration), 2, 2) = (&self.calibration, self.n_classes, probabilities.len())
        {
            let positive = self.positive_class.min(1);
            let calibrated = calibration.apply(probabilities[positive]).clamp(0.0, 1.0);
            probabilities[positive] = calibrated;
            probabilities[1 - positive] = 1.0 - calibrated;
        }
    }
}

/// The label decision: threshold on the positive class (binary) or the most probable class.
pub fn decide(
    probabilities: &[f64],
    positive_class: Option<usize>,
    threshold: Option<f64>,
) -> usize {
    match (positive_class, threshold, probabilities.len()) {
        (Some(positive), Some(threshold), 2) => {
            if probabilities[positive] >= threshold {
                positive
            } else {
                1 - positive
            }
        }
        _ => argmax(probabilities),
    }
}

/// The one probability a prediction reports: the positive class's for binary tasks (the value
/// compared with the threshold), the decided class's otherwise.
pub fn reported_probability(
    probabilities: &[f64],
    label_idx: usize,
    positive_class: Option<usize>,
) -> f64 {
    let idx = match positive_class {
        Some(positive) if probabilities.len() == 2 => positive,
        _ => label_idx,
    };
    probabilities.get(idx).copied().unwrap_or(f64::NAN)
}

/// Index of the largest value (first on ties); 0 for an empty slice.
pub fn argmax(values: &[f64]) -> usize {
    let mut best = 0;
    for (idx, value) in values.iter().enumerate() {
        if *value > values[best] {
            best = idx;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_decides_binary_and_argmax_decides_multiclass() {
        assert_eq!(decide(&[0.6, 0.4], Some(1), Some(0.3)), 1);
        assert_eq!(decide(&[0.8, 0.2], Some(1), Some(0.3)), 0);
        assert_eq!(decide(&[0.2, 0.5, 0.3], None, None), 1);
    }

    #[test]
    fn isotonic_interpolates_and_clamps() {
        let calibration = Calibration::Isotonic {
            inputs: vec![0.2, 0.6],
            outputs: vec![0.1, 0.5],
        };
        assert_eq!(calibration.apply(0.0), 0.1);
        assert!((calibration.apply(0.4) - 0.3).abs() < 1e-12);
        assert_eq!(calibration.apply(0.9), 0.5);
    }
}
