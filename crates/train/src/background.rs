//! What the artifact keeps for per-record explanations: the training input means, and for the
//! families explained by sampling, a small weighted summary of the training inputs.
//!
//! The summary is k-means (k-means++ seeding, Lloyd iterations) on the final fit's model
//! inputs, as SHAP's `kmeans` background does: a few centroids weighted by the share of rows
//! nearest each keep the sampled explanations cheap, and no training record is stored.

use ndarray::{Array2, ArrayView2};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use model::Pipeline;
use model::explain::{Background, Explainer, Method};

use crate::learners::BLOCK_ROWS;
use crate::seeds::derive_seed;

/// Centroids in the background summary (fewer when there are fewer distinct rows).
pub const BACKGROUND_POINTS: usize = 16;
/// Antithetic permutation pairs per centroid in a sampled explanation.
pub const PAIRS_PER_POINT: usize = 8;
/// Lloyd iterations (the summary only needs to be representative, not converged).
const ITERATIONS: usize = 25;

/// The explainer for a fitted pipeline, from the raw rows it was fitted on.
pub fn explainer(pipeline: &Pipeline, raw: ArrayView2<'_, f64>, seed: u64) -> Explainer {
    let background =
        (Method::for_classifier(&pipeline.classifier) == Method::SampledShapley).then(|| {
            let summarised = summary_rows(pipeline, raw, derive_seed(seed, &[33]));
            summarise(&summarised, BACKGROUND_POINTS, derive_seed(seed, &[31]))
        });
    Explainer {
        input_means: input_means(pipeline, raw),
        background,
        seed: derive_seed(seed, &[32]),
        pairs_per_point: PAIRS_PER_POINT,
    }
}

/// Each model input's mean over the observed values (a model that routes missing inputs
/// itself sees NaNs). The rows are preprocessed a block at a time and summed in row order:
/// the table's whole model-input matrix would be a second copy of the table.
fn input_means(pipeline: &Pipeline, raw: ArrayView2<'_, f64>) -> Vec<f64> {
    let mut totals = vec![(0.0, 0usize); pipeline.preprocessor.n_outputs()];
    let mut block_rows = Vec::with_capacity(BLOCK_ROWS);
    for first_row in (0..raw.nrows()).step_by(BLOCK_ROWS) {
        block_rows.clear();
        block_rows.extend(first_row..(first_row + BLOCK_ROWS).min(raw.nrows()));
        let block = preprocess::transform_rows(&pipeline.preprocessor, raw, &block_rows);
        for (column, (sum, n)) in block.columns().into_iter().zip(&mut totals) {
            for value in column.iter().filter(|value| !value.is_nan()) {
                *sum += value;
                *n += 1;
            }
        }
    }
    totals
        .into_iter()
        .map(|(sum, n)| if n == 0 { 0.0 } else { sum / n as f64 })
        .collect()
}

/// Most rows the background summary is computed from: 16 centroids of 20,000 rows describe the
/// population as well as of a million, at a fiftieth of the k-means cost.
pub const MAX_SUMMARY_ROWS: usize = 20_000;

/// The model inputs of the rows summarised: all of them, or a seeded sample of
/// [`MAX_SUMMARY_ROWS`] in their order.
fn summary_rows(pipeline: &Pipeline, raw: ArrayView2<'_, f64>, seed: u64) -> Array2<f64> {
    let n_rows = raw.nrows();
    let picked: Vec<usize> = if n_rows <= MAX_SUMMARY_ROWS {
        (0..n_rows).collect()
    } else {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut picked = rand::seq::index::sample(&mut rng, n_rows, MAX_SUMMARY_ROWS).into_vec();
        picked.sort_unstable();
        picked
    };
    preprocess::transform_rows(&pipeline.preprocessor, raw, &picked)
}

/// Weighted k-means centroids of the rows of `inputs`.
pub fn summarise(inputs: &Array2<f64>, k: usize, seed: u64) -> Background {
    let (n_rows, n_inputs) = inputs.dim();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut centroids = seed_centroids(inputs, k.min(n_rows), &mut rng);
    let mut nearest = vec![0usize; n_rows];
    for _ in 0..ITERATIONS {
        let mut changed = false;
        for (row_idx, row) in inputs.rows().into_iter().enumerate() {
            let best = closest(&centroids, n_inputs, row.as_slice().unwrap_or(&[])).0;
            changed |= best != nearest[row_idx];
            nearest[row_idx] = best;
        }
        let mut sums = vec![0.0; centroids.len()];
        let mut counts = vec![0usize; centroids.len() / n_inputs.max(1)];
        for (row, cluster) in inputs.rows().into_iter().zip(&nearest) {
            counts[*cluster] += 1;
            for (input_idx, value) in row.iter().enumerate() {
                sums[cluster * n_inputs + input_idx] += value;
            }
        }
        for (cluster, count) in counts.iter().enumerate() {
            if *count > 0 {
                for input_idx in 0..n_inputs {
                    let slot = cluster * n_inputs + input_idx;
                    centroids[slot] = sums[slot] / *count as f64;
                }
            }
        }
        if !changed {
            break;
        }
    }
    let n_clusters = centroids.len() / n_inputs.max(1);
    let mut counts = vec![0usize; n_clusters];
    for cluster in &nearest {
        counts[*cluster] += 1;
    }
    // Clusters no row chose carry no weight and are dropped.
    let mut points = Vec::with_capacity(centroids.len());
    let mut weights = Vec::with_capacity(n_clusters);
    for (cluster, count) in counts.iter().enumerate() {
        if *count > 0 {
            points.extend_from_slice(&centroids[cluster * n_inputs..(cluster + 1) * n_inputs]);
            weights.push(*count as f64 / n_rows.max(1) as f64);
        }
    }
    Background {
        points,
        weights,
        n_inputs,
    }
}

/// k-means++: the first centroid uniformly, each next one with probability proportional to the
/// squared distance from the nearest chosen one.
fn seed_centroids<R: Rng>(inputs: &Array2<f64>, k: usize, rng: &mut R) -> Vec<f64> {
    let (n_rows, n_inputs) = inputs.dim();
    let mut centroids: Vec<f64> = Vec::with_capacity(k * n_inputs);
    if n_rows == 0 || k == 0 {
        return centroids;
    }
    centroids.extend(inputs.row(rng.gen_range(0..n_rows)).iter());
    let mut distances = vec![0.0; n_rows];
    while centroids.len() < k * n_inputs {
        for (row_idx, row) in inputs.rows().into_iter().enumerate() {
            distances[row_idx] = closest(&centroids, n_inputs, row.as_slice().unwrap_or(&[])).1;
        }
        let total: f64 = distances.iter().sum();
        if total <= 0.0 {
            // Every row coincides with a chosen centroid: no more distinct points.
            break;
        }
        let mut target = rng.r#gen::<f64>() * total;
        let mut chosen = n_rows - 1;
        for (row_idx, distance) in distances.iter().enumerate() {
            if target < *distance {
                chosen = row_idx;
                break;
            }
            target -= distance;
        }
        centroids.extend(inputs.row(chosen).iter());
    }
    centroids
}

/// The nearest centroid's index and squared distance.
fn closest(centroids: &[f64], n_inputs: usize, row: &[f64]) -> (usize, f64) {
    let mut best = (0, f64::INFINITY);
    for (cluster, centroid) in centroids.chunks_exact(n_inputs.max(1)).enumerate() {
        let squared: f64 = centroid
            .iter()
            .zip(row)
            .map(|(a, b)| (a - b) * (a - b))
            .sum();
        if squared < best.1 {
            best = (cluster, squared);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_separated_clouds_become_two_weighted_centroids() {
        let mut rows = Vec::new();
        for idx in 0..30 {
            let jitter = (idx % 3) as f64 * 0.01;
            if idx < 20 {
                rows.extend([0.0 + jitter, 0.0]);
            } else {
                rows.extend([10.0 + jitter, 5.0]);
            }
        }
        let inputs = Array2::from_shape_vec((30, 2), rows).expect("30 rows of 2");
        let background = summarise(&inputs, 2, 3);
        assert_eq!(background.weights.len(), 2);
        let mut pairs: Vec<(f64, f64)> = background
            .points
            .chunks_exact(2)
            .zip(&background.weights)
            .map(|(point, weight)| (point[0], *weight))
            .collect();
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        assert!((pairs[0].0 - 0.0095).abs() < 0.01 && (pairs[0].1 - 2.0 / 3.0).abs() < 1e-12);
        assert!((pairs[1].0 - 10.01).abs() < 0.01 && (pairs[1].1 - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(
            background,
            summarise(&inputs, 2, 3),
            "same seed, same summary"
        );
    }
}
