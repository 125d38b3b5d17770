//! The model card's evidence: the chosen model's pooled out-of-fold predictions at the shipped
//! decision rule, summarised once (figures with bootstrap intervals, curves, the confusion
//! matrix) so that the model report, `model.json` and the server's model card agree.

use ndarray::Array2;
use rand::SeedableRng;

use model::{Decision, Evidence, Schema, Task};

use crate::evaluate::{Figure, Scored};

/// Bootstrap resamples behind the intervals.
pub const RESAMPLES: usize = 1000;
/// Most points kept of each curve (the artifact must not grow with the data).
const MAX_CURVE_POINTS: usize = 200;

/// Summarises the calibrated out-of-fold probabilities `oof` of records with true classes `y`.
pub fn evidence(
    schema: &Schema,
    decision: &Decision,
    oof: &Array2<f64>,
    y: &[usize],
    seed: u64,
) -> Evidence {
    let probabilities: Vec<Vec<f64>> = oof.rows().into_iter().map(|row| row.to_vec()).collect();
    let decided: Vec<usize> = probabilities
        .iter()
        .map(|row| model::decide(row, schema.positive_class, decision.threshold))
        .collect();
    let scored = Scored {
        task: schema.task,
        positive_class: schema.positive_class,
        n_classes: schema.classes.len(),
        probabilities: &probabilities,
        decided: &decided,
        truth: y,
    };
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed);
    let rows: Vec<usize> = (0..y.len()).collect();
    let figures = Figure::for_task(schema.task)
        .iter()
        .zip(scored.estimates(&rows, RESAMPLES, &mut rng))
        .map(|(figure, estimate)| (figure.name().to_owned(), estimate))
        .collect();
    let mut confusion = vec![vec![0u64; schema.classes.len()]; schema.classes.len()];
    for (truth, label) in y.iter().zip(&decided) {
        if let Some(cell) = confusion
            .get_mut(*truth)
            .and_then(|row| row.get_mut(*label))
        {
            *cell += 1;
        }
    }
    let mut evidence = Evidence {
        figures,
        resamples: RESAMPLES,
        roc: Vec::new(),
        operating_point: None,
        precision_recall: Vec::new(),
        calibration: Vec::new(),
        confusion,
    };
    if let (Task::Binary, Some(positive_class)) = (schema.task, schema.positive_class) {
        let scores: Vec<f64> = probabilities
            .iter()
            .map(|row| row[positive_class])
            .collect();
        let positive: Vec<bool> = y.iter().map(|class| *class == positive_class).collect();
        evidence.roc = thin(crate::metrics::roc_curve(&scores, &positive));
        evidence.precision_recall = thin(crate::evaluate::precision_recall(&scores, &positive));
        evidence.calibration = crate::report::calibration_points(&scores, &positive, 10);
        evidence.operating_point = match (
            evidence
                .figure("sensitivity")
                .map(|estimate| estimate.value),
            evidence
                .figure("specificity")
                .map(|estimate| estimate.value),
        ) {
            (Some(sensitivity), Some(specificity)) => Some((1.0 - specificity, sensitivity)),
            _ => None,
        };
    }
    evidence
}

/// At most [`MAX_CURVE_POINTS`] evenly spaced points of a curve, always with both ends.
fn thin(points: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    if points.len() <= MAX_CURVE_POINTS {
        return points;
    }
    let last = points.len() - 1;
    (0..MAX_CURVE_POINTS)
        .map(|idx| points[idx * last / (MAX_CURVE_POINTS - 1)])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thinning_keeps_both_ends_and_the_order() {
        let points: Vec<(f64, f64)> = (0..1000).map(|idx| (idx as f64, idx as f64)).collect();
        let thinned = thin(points);
        assert_eq!(thinned.len(), MAX_CURVE_POINTS);
        assert_eq!(thinned[0], (0.0, 0.0));
        assert_eq!(thinned[MAX_CURVE_POINTS - 1], (999.0, 999.0));
        assert!(thinned.windows(2).all(|pair| pair[0].0 < pair[1].0));
    }
}
