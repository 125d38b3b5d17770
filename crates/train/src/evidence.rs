//! The model card's evidence: the chosen model's pooled out-of-fold predictions at the shipped
//! decision rule, summarised once by [`model::evaluation::evidence`] so that the model report,
//! `model.json` and the server's model card agree.

use ndarray::Array2;

use model::evaluation::ProbabilityRows;
use model::{Decision, Evidence, Schema};

/// Bootstrap resamples behind the intervals, up to [`FULL_RESAMPLES_UP_TO`] records.
pub const RESAMPLES: usize = 1000;
/// The fewest resamples at any size.
pub const MIN_RESAMPLES: usize = 200;
/// Records up to which the intervals take all [`RESAMPLES`]. Each resample is a pass over
/// every record, so beyond this the count falls to keep the work at that of 1,000 passes over
/// this many records (a million records: 200 resamples, about 35 s saved on this machine),
/// never below [`MIN_RESAMPLES`]; such intervals are narrow, and the count is printed with them.
pub const FULL_RESAMPLES_UP_TO: usize = 200_000;

/// Resamples for intervals over `n_records` records: the one rule behind the model card's
/// intervals, the subgroups' and a margin threshold's bound.
pub fn resamples(n_records: usize) -> usize {
    (RESAMPLES * FULL_RESAMPLES_UP_TO / n_records.max(1)).clamp(MIN_RESAMPLES, RESAMPLES)
}

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
    with_oof_rows(oof, |probabilities| {
        model::evaluation::evidence(
            schema,
            decision.threshold,
            probabilities,
            y,
            resamples(y.len()),
            seed,
        )
    })
}

/// Calls `use_rows` with the out-of-fold matrix `oof` as `model::evaluation`'s flat rows: a
/// view of the matrix, copied only if it is not in row-major order (ours always is).
pub fn with_oof_rows<T>(oof: &Array2<f64>, use_rows: impl FnOnce(ProbabilityRows<'_>) -> T) -> T {
    let row_major = oof.as_standard_layout();
    use_rows(ProbabilityRows::new(
        row_major.as_slice().unwrap_or_default(),
        oof.ncols(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resamples_fall_with_size_only_past_the_bound_and_never_below_the_floor() {
        assert_eq!(resamples(0), RESAMPLES);
        assert_eq!(resamples(599), RESAMPLES);
        assert_eq!(resamples(FULL_RESAMPLES_UP_TO), RESAMPLES);
        assert_eq!(resamples(400_000), 500);
        assert_eq!(resamples(1_000_000), MIN_RESAMPLES);
        assert_eq!(resamples(50_000_000), MIN_RESAMPLES);
    }
}
