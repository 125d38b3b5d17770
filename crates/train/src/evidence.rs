//! The model card's evidence: the chosen model's pooled out-of-fold predictions at the shipped
//! decision rule, summarised once by [`model::evaluation::evidence`] so that the model report,
//! `model.json` and the server's model card agree.

use ndarray::Array2;

use model::{Decision, Evidence, Schema};

/// Bootstrap resamples behind the intervals.
pub const RESAMPLES: usize = 1000;

/// The seed of the evidence's bootstrap for a run seeded `run_seed` (a margin threshold rule
/// replays the same resamples).
pub fn bootstrap_seed(run_seed: u64) -> u64 {
    crate::seeds::derive_seed(run_seed, &[crate::seeds::EVIDENCE_BOOTSTRAP])
}

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
