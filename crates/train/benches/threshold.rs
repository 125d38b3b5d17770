//! Cost of choosing a decision threshold on out-of-fold scores, at the row counts of hospital
//! extracts (100,000 and 1,000,000 rows). Run with `cargo bench -p train`.

use std::hint::black_box;
use std::time::Instant;

use rand::{Rng, SeedableRng};
use train::threshold::{Bootstrap, ThresholdRule};

/// The model card's resampling, which the margin rule replays.
const BOOTSTRAP: Bootstrap = Bootstrap {
    resamples: 1000,
    seed: 9,
};

fn main() {
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(1);
    println!("{:<18} {:>10} {:>12}", "rule", "rows", "ms per call");
    for n_rows in [100_000, 1_000_000] {
        // Scores from a model of moderate skill: positives drawn a little higher.
        let positive: Vec<bool> = (0..n_rows).map(|_| rng.gen_bool(0.3)).collect();
        let scores: Vec<f64> = positive
            .iter()
            .map(|is_positive| {
                let shift = if *is_positive { 0.2 } else { 0.0 };
                (rng.gen_range(0.0..0.8_f64) + shift).min(1.0)
            })
            .collect();
        for rule in [
            ThresholdRule::MinSensitivity(0.8),
            ThresholdRule::MinSensitivityLower95(0.8),
            ThresholdRule::MaxF1,
            ThresholdRule::Youden,
        ] {
            let timings: Vec<f64> = (0..5)
                .map(|_| {
                    let started = Instant::now();
                    black_box(rule.choose(black_box(&scores), black_box(&positive), BOOTSTRAP));
                    started.elapsed().as_secs_f64() * 1e3
                })
                .collect();
            let fastest = timings.iter().copied().fold(f64::INFINITY, f64::min);
            println!("{:<18} {:>10} {:>12.1}", rule.describe(), n_rows, fastest);
        }
    }
}
