//! The lean inference core of vigil: feature schema, fitted preprocessing, fitted classifiers,
//! the artifact format, and the one function that turns a record into class probabilities.
//!
//! Training and serving both depend on this crate; it deliberately links no data-frame,
//! learning, HTTP or command-line library, so the server stays small and cannot drift from
//! what training evaluated.

pub mod artifact;
pub mod atomic;
pub mod card;
pub mod classifier;
mod compact;
pub mod conformal;
pub mod evaluation;
pub mod explain;
pub mod header;
pub mod metric;
pub mod missing;
pub mod pipeline;
pub mod preprocessing;
pub mod record;
pub mod reference;
pub mod schema;
pub mod stats;
pub mod subgroups;

pub use artifact::{
    Artifact, ArtifactError, Decision, LeaderboardEntry, MetricMap, MetricSummary, PairMap,
    Provenance,
};
pub use atomic::{AtomicFile, write_atomically};
pub use card::{Evidence, Purpose};
pub use classifier::Classifier;
pub use conformal::ConformalSets;
pub use explain::{ExplainError, Explainer, Explanation};
pub use metric::Metric;
pub use pipeline::{Calibration, Pipeline, argmax, decide, reported_probability};
pub use preprocessing::{ColumnTransform, FillRule, FittedPreprocessor};
pub use record::{FieldError, FieldProblem, Value};
pub use reference::{Distribution, Ecdf, FeatureReference, Reference};
pub use schema::{FeatureKind, FeatureSpec, InputAlias, Schema, Task};
pub use subgroups::{
    Estimate, FeatureImportance, GroupResult, PermutationImportance, SubgroupFamily, SubgroupSpec,
};

/// A prediction for one record, in the schema's class order.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// Index into `Schema::classes` of the decided label.
    pub label_idx: usize,
    /// One probability per class.
    pub probabilities: Vec<f64>,
}

impl Artifact {
    /// Validates a named record and predicts it: the entry point of the server and the scorer.
    pub fn predict_record<'a>(
        &self,
        fields: impl IntoIterator<Item = (&'a str, &'a Value)>,
    ) -> Result<Prediction, Vec<FieldError>> {
        let raw = self.schema.encode_record(fields)?;
        Ok(self.predict_raw(&raw))
    }

    /// Predicts an already validated raw row.
    pub fn predict_raw(&self, raw: &[f64]) -> Prediction {
        let mut prediction = Prediction {
            label_idx: 0,
            probabilities: Vec::new(),
        };
        self.predict_raw_into(raw, &mut Vec::new(), &mut prediction);
        prediction
    }

    /// As [`Artifact::predict_raw`], reusing the caller's buffers (`inputs` holds the model
    /// inputs between calls): what a scorer of many rows calls.
    pub fn predict_raw_into(
        &self,
        raw: &[f64],
        inputs: &mut Vec<f64>,
        prediction: &mut Prediction,
    ) {
        prediction.probabilities.clear();
        prediction
            .probabilities
            .resize(self.pipeline.n_classes, 0.0);
        self.pipeline
            .predict_raw_into(raw, inputs, &mut prediction.probabilities);
        prediction.label_idx = decide(
            &prediction.probabilities,
            self.schema.positive_class,
            self.decision.threshold,
        );
    }
}

impl Artifact {
    /// Predicts many validated raw rows (`raws` row-major, one schema row of features each):
    /// `n_classes` probabilities per row into `probabilities` and the decided label of each
    /// row into `labels`. Exactly what [`Artifact::predict_raw`] gives row by row, faster for
    /// tree ensembles: what batch scoring calls.
    pub fn predict_rows(&self, raws: &[f64], probabilities: &mut [f64], labels: &mut [usize]) {
        let n_classes = self.pipeline.n_classes.max(1);
        self.pipeline
            .predict_raw_rows(raws, self.schema.features.len(), probabilities);
        for (row, label) in probabilities.chunks(n_classes).zip(labels.iter_mut()) {
            *label = decide(row, self.schema.positive_class, self.decision.threshold);
        }
    }
}

impl Prediction {
    /// The probability this prediction reports (see [`reported_probability`]).
    pub fn reported_probability(&self, positive_class: Option<usize>) -> f64 {
        reported_probability(&self.probabilities, self.label_idx, positive_class)
    }
}
