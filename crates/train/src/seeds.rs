//! Where the seed of every random choice in a run comes from.
//!
//! Each family's seeds derive from the run seed and the family's own identity
//! ([`ModelKind::seed_stream`]), never from its position in `--models`, so a family trains
//! the same models whatever else the run trains. Within a family, each purpose (a fold, the
//! tuning candidates, the final fit) gets its own stream.

use crate::learners::ModelKind;

/// Labels that keep the purposes' streams apart.
const FAMILY: u64 = 1;
const FOLD: u64 = 2;
const CANDIDATES: u64 = 3;
const FINAL_SELECTION: u64 = 4;
const FINAL_FIT: u64 = 5;
/// The run-level stream of the `--holdout` split.
pub const HOLDOUT: u64 = 6;
/// The run-level stream of the held-out evaluation's bootstrap.
pub const HOLDOUT_BOOTSTRAP: u64 = 7;
/// The run-level stream of the subgroup figures' bootstrap.
pub const SUBGROUPS: u64 = 8;
/// The run-level stream of the model card's evidence bootstrap.
pub const EVIDENCE_BOOTSTRAP: u64 = 9;
/// The run-level stream of the folds `--calibration auto` compares methods on.
pub const CALIBRATION: u64 = 10;

/// A seed for one purpose, mixed from a parent seed and labels (SplitMix64 steps), so nearby
/// inputs give unrelated streams.
pub fn derive_seed(seed: u64, parts: &[u64]) -> u64 {
    let mut state = seed ^ 0x5851_F42D_4C95_7F2D;
    for part in parts {
        state = state.wrapping_add(part.wrapping_add(0x9E37_79B9_7F4A_7C15));
        state = (state ^ (state >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        state = (state ^ (state >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        state ^= state >> 31;
    }
    state
}

/// The seeds of one family within a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FamilySeeds(u64);

impl FamilySeeds {
    /// The seeds of `kind` in a run seeded with `run_seed`.
    pub fn new(run_seed: u64, kind: ModelKind) -> Self {
        FamilySeeds(derive_seed(run_seed, &[FAMILY, kind.seed_stream()]))
    }

    /// Fitting (and tuning) on one cross-validation fold.
    pub fn fold(self, repeat: usize, fold: usize) -> u64 {
        derive_seed(self.0, &[FOLD, repeat as u64, fold as u64])
    }

    /// Drawing the tuning candidates.
    pub fn candidates(self) -> u64 {
        derive_seed(self.0, &[CANDIDATES])
    }

    /// Choosing the final parameters among the candidates, on all rows.
    pub fn final_selection(self) -> u64 {
        derive_seed(self.0, &[FINAL_SELECTION])
    }

    /// The final fit on all rows.
    pub fn final_fit(self) -> u64 {
        derive_seed(self.0, &[FINAL_FIT])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_and_purposes_get_distinct_seeds() {
        let kinds: Vec<ModelKind> = ModelKind::all().collect();
        let mut seeds: Vec<u64> = kinds
            .iter()
            .flat_map(|kind| {
                let family = FamilySeeds::new(42, *kind);
                [
                    family.fold(0, 0),
                    family.fold(0, 1),
                    family.fold(1, 0),
                    family.candidates(),
                    family.final_selection(),
                    family.final_fit(),
                ]
            })
            .collect();
        let n_seeds = seeds.len();
        seeds.sort_unstable();
        seeds.dedup();
        assert_eq!(seeds.len(), n_seeds);
        assert_eq!(
            FamilySeeds::new(42, kinds[2]),
            FamilySeeds::new(42, kinds[2])
        );
        assert_ne!(
            FamilySeeds::new(42, kinds[2]),
            FamilySeeds::new(43, kinds[2])
        );
    }
}
