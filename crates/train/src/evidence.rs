//! The model card's evidence: the chosen model's pooled out-of-fold predictions at the shipped
//! decision rule, summarised once by [`model::evaluation::evidence`] so that the model report,
//! `model.json` and the server's model card agree.

use ndarray::Array2;

use model::{Decision, Evidence, Schema};

/// Bootstrap resamples behind the intervals.
pub const RESAMPLES: usize = 1000;

/// Summarises the calibrated out-of-fold probabilities `oof` of records with true classes `y`.
pub fn evidence(
    schema: &Schema,
    decision: &Decision,
    oof: &Array2<f64>,
    y: &[usize],
    seed: u64,
) -> Evidence {
    let probabilities: Vec<Vec<f64>> = oof.rows().into_iter().map(|row| row.to_vec()).collect();
    model::evaluation::evidence(
        schema,
        decision.threshold,
        &probabilities,
        y,
        RESAMPLES,
        seed,
    )
}
