//! Evaluation of a labelled CSV file against the served model (`POST /evaluate`): every row is
//! read, validated and predicted by the same [`RowReader`] as `serve score`, and the figures
//! come from [`model::evaluation::evidence`], the function behind the model card's evidence
//! and `train evaluate`; the same file, seed and number of resamples give the same figures as
//! `train evaluate`.

use std::io::Read;
use std::path::Path;

use serde::Serialize;

use model::{Artifact, Evidence};

use crate::score::{RowReader, ScoreError};

/// Bootstrap resamples behind the intervals unless asked otherwise (as `train evaluate`).
pub const DEFAULT_RESAMPLES: usize = model::evaluation::DEFAULT_RESAMPLES;
/// Most resamples one request may ask for: the bootstrap's cost grows with records × resamples.
pub const MAX_RESAMPLES: usize = 10_000;

/// How a file is evaluated.
#[derive(Debug, Clone, Copy)]
pub struct EvaluateOptions {
    /// Bootstrap resamples behind the 95% intervals (0: none).
    pub resamples: usize,
    /// Seed of the resampling.
    pub seed: u64,
    /// Quote offending cells in errors (patient data: off by default).
    pub show_values: bool,
}

impl Default for EvaluateOptions {
    fn default() -> Self {
        EvaluateOptions {
            resamples: DEFAULT_RESAMPLES,
            seed: model::evaluation::DEFAULT_SEED,
            show_values: false,
        }
    }
}

/// What an evaluation found.
#[derive(Debug, Clone)]
pub struct FileEvaluation {
    /// Records evaluated.
    pub n_records: usize,
    /// Records per class, in the schema's class order.
    pub class_counts: Vec<u64>,
    /// Figures with intervals, curves and the confusion matrix at the decision rule.
    pub evidence: Evidence,
    /// Seed of the resampling.
    pub seed: u64,
}

/// Reads the labelled CSV `input` (named `path` in errors) and evaluates the artifact on it.
pub fn evaluate(
    artifact: &Artifact,
    path: &Path,
    input: impl Read,
    options: EvaluateOptions,
) -> Result<FileEvaluation, ScoreError> {
    let schema = &artifact.schema;
    let mut rows = RowReader::with_values(artifact, path, input, options.show_values)?;
    if !rows.is_labelled() {
        return Err(ScoreError::Unlabelled {
            path: path.to_path_buf(),
            target: schema.target.clone(),
        });
    }
    // One flat vector of every record's probabilities: a vector per record took two and a
    // half times the memory for two classes.
    let (mut probabilities, mut truth) = (Vec::new(), Vec::new());
    while rows.advance()? {
        truth.push(rows.label()?);
        probabilities.extend_from_slice(&rows.prediction().probabilities);
    }
    if truth.is_empty() {
        return Err(ScoreError::Csv {
            path: path.to_path_buf(),
            line: 2,
            reason: "no records to evaluate".into(),
        });
    }
    let mut class_counts = vec![0u64; schema.classes.len()];
    for class_idx in &truth {
        class_counts[*class_idx] += 1;
    }
    let evidence = model::evaluation::evidence(
        schema,
        artifact.decision.threshold,
        model::evaluation::ProbabilityRows::new(&probabilities, schema.classes.len()),
        &truth,
        options.resamples,
        options.seed,
    );
    Ok(FileEvaluation {
        n_records: truth.len(),
        class_counts,
        evidence,
        seed: options.seed,
    })
}

/// `POST /evaluate`'s JSON answer (an HTTP type, separate from the artifact's [`Evidence`]).
#[derive(Debug, Serialize)]
pub struct EvaluationResponse {
    /// The dataset the model was trained for.
    pub dataset: String,
    /// The model family.
    pub model: String,
    /// The served model's version.
    pub model_version: String,
    /// Records evaluated.
    pub n_records: usize,
    /// Records per class.
    pub class_counts: Vec<ClassCount>,
    /// The decision threshold on the positive class (binary), as served.
    pub threshold: Option<f64>,
    /// The rule that chose it.
    pub decision_rule: String,
    /// Bootstrap resamples behind the intervals.
    pub resamples: usize,
    /// Their seed.
    pub seed: u64,
    /// Each figure with its 95% bootstrap interval; `null` where undefined.
    pub figures: Vec<FigureValue>,
    /// Counts by true class (rows) and decided class (columns), in `classes` order.
    pub confusion: Vec<Vec<u64>>,
    /// The class names.
    pub classes: Vec<String>,
    /// ROC curve as `[false positive rate, true positive rate]` points (binary).
    pub roc: Vec<[f64; 2]>,
    /// The threshold's point on it (binary).
    pub operating_point: Option<[f64; 2]>,
    /// Precision-recall curve as `[recall, precision]` points (binary).
    pub precision_recall: Vec<[f64; 2]>,
    /// Reliability diagram as `[mean predicted, observed share]` per bin (binary).
    pub calibration: Vec<[f64; 2]>,
}

/// A class and its number of records.
#[derive(Debug, Serialize)]
pub struct ClassCount {
    /// The class.
    pub class: String,
    /// Records of it.
    pub n: u64,
}

/// A figure and its interval.
#[derive(Debug, Serialize)]
pub struct FigureValue {
    /// Its name (`roc_auc`, `sensitivity`, ...).
    pub name: String,
    /// On all the records.
    pub value: Option<f64>,
    /// Lower end of the 95% interval.
    pub lower: Option<f64>,
    /// Upper end.
    pub upper: Option<f64>,
}

impl EvaluationResponse {
    /// The answer for an evaluation of `artifact` (served as `model_version`).
    pub fn new(artifact: &Artifact, model_version: &str, evaluation: &FileEvaluation) -> Self {
        let finite = |value: f64| value.is_finite().then_some(value);
        let pairs = |points: &[(f64, f64)]| points.iter().map(|(x, y)| [*x, *y]).collect();
        let schema = &artifact.schema;
        let evidence = &evaluation.evidence;
        EvaluationResponse {
            dataset: schema.dataset.clone(),
            model: artifact.model_name.clone(),
            model_version: model_version.to_owned(),
            n_records: evaluation.n_records,
            class_counts: schema
                .classes
                .iter()
                .zip(&evaluation.class_counts)
                .map(|(class, n)| ClassCount {
                    class: class.clone(),
                    n: *n,
                })
                .collect(),
            threshold: artifact.decision.threshold,
            decision_rule: artifact.decision.rule.clone(),
            resamples: evidence.resamples,
            seed: evaluation.seed,
            figures: evidence
                .figures
                .iter()
                .map(|(name, estimate)| FigureValue {
                    name: name.clone(),
                    value: finite(estimate.value),
                    lower: finite(estimate.lower),
                    upper: finite(estimate.upper),
                })
                .collect(),
            confusion: evidence.confusion.clone(),
            classes: schema.classes.clone(),
            roc: pairs(&evidence.roc),
            operating_point: evidence.operating_point.map(|(x, y)| [x, y]),
            precision_recall: pairs(&evidence.precision_recall),
            calibration: pairs(&evidence.calibration),
        }
    }
}
