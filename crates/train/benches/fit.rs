//! One fit of a family on generated clinical-shaped rows (100,000 by default; `VIGIL_FIT_ROWS`
//! to change), on one core (`VIGIL_FIT_THREADS` to give it more: a fit running alone borrows
//! idle cores), best of several: the per-fit cost that `scripts/bench-scale.sh` compares with
//! LightGBM and scikit-learn, without the noise of a whole run. Run with
//! `cargo bench -p train --bench fit [-- FAMILY...]` (default: `hgb`).

use std::hint::black_box;
use std::time::Instant;

use ndarray::Array2;
use rand::{Rng, SeedableRng};
use train::learners::{FitData, ModelKind};

/// Inputs like the scale benchmark's: 20 numeric columns, about 10% missing, an outcome from a
/// few of them with noise.
fn generated(n_rows: usize, seed: u64) -> (Array2<f64>, Vec<usize>) {
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed);
    let n_features = 20;
    let mut x = Array2::zeros((n_rows, n_features));
    let mut y = Vec::with_capacity(n_rows);
    for mut row in x.rows_mut() {
        let mut logit = -0.8;
        for (feature, cell) in row.iter_mut().enumerate() {
            let value: f64 = rng.gen_range(-2.0..2.0);
            if feature < 6 {
                logit += value * (0.6 - 0.1 * feature as f64) + 0.2 * value * value;
            }
            *cell = if rng.gen_bool(0.1) { f64::NAN } else { value };
        }
        let probability = 1.0 / (1.0 + (-logit).exp());
        y.push(usize::from(rng.gen_bool(probability)));
    }
    (x, y)
}

/// A whole number from the environment variable `name`, or `default` when it is not set.
fn from_env(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Err(_) => default,
        Ok(text) => text.parse().unwrap_or_else(|_| {
            eprintln!("fit bench: `{name}` must be a whole number, not `{text}`");
            std::process::exit(2);
        }),
    }
}

fn main() {
    let n_rows = from_env("VIGIL_FIT_ROWS", 100_000);
    let n_threads = from_env("VIGIL_FIT_THREADS", 1).max(1);
    // The fits run in a pool of their own, so that the thread count is the bench's and a fit
    // sees only as many idle cores as it was given.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(n_threads)
        .build()
        .unwrap_or_else(|error| {
            eprintln!("fit bench: no pool of {n_threads} threads: {error}");
            std::process::exit(2);
        });
    pool.install(|| run(n_rows));
}

fn run(n_rows: usize) {
    let families: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with('-'))
        .collect();
    let families = if families.is_empty() {
        vec!["hgb".to_owned()]
    } else {
        families
    };
    let (x, y) = generated(n_rows, 3);
    // Families without native missing values get the column means, as imputation would.
    let mut imputed = x.clone();
    for mut column in imputed.columns_mut() {
        let observed: Vec<f64> = column.iter().copied().filter(|v| !v.is_nan()).collect();
        let mean = observed.iter().sum::<f64>() / observed.len().max(1) as f64;
        column.mapv_inplace(|value| if value.is_nan() { mean } else { value });
    }
    println!("{:<28} {:>10} {:>12}", "family", "rows", "s per fit");
    for name in families {
        let Ok(kind) = name.parse::<ModelKind>() else {
            eprintln!("fit bench: unknown family `{name}`");
            std::process::exit(2);
        };
        let inputs = if kind.info().native_missing {
            &x
        } else {
            &imputed
        };
        let data = FitData::new(inputs.view(), &y, None, 2, 1);
        let params = kind.default_params();
        let best = (0..5)
            .map(|_| {
                let started = Instant::now();
                black_box(kind.fit(&params, black_box(&data), 11).ok());
                started.elapsed().as_secs_f64()
            })
            .fold(f64::INFINITY, f64::min);
        println!("{:<28} {:>10} {:>12.3}", kind.name(), n_rows, best);
    }
}
