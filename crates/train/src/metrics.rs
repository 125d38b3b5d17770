//! Classification metrics, written to match scikit-learn's definitions. Which metrics a task
//! reports, and their names, come from [`model::Metric`].

use model::Metric;

use model::evaluation::{average_precision, roc_auc};

/// Counts at a threshold: (true positives, false positives, true negatives, false negatives).
pub fn confusion_at(scores: &[f64], positive: &[bool], threshold: f64) -> (f64, f64, f64, f64) {
    let (mut tp, mut fp, mut tn, mut fn_) = (0.0, 0.0, 0.0, 0.0);
    for (score, is_positive) in scores.iter().zip(positive) {
        match (*score >= threshold, *is_positive) {
            (true, true) => tp += 1.0,
            (true, false) => fp += 1.0,
            (false, false) => tn += 1.0,
            (false, true) => fn_ += 1.0,
        }
    }
    (tp, fp, tn, fn_)
}

fn ratio(numerator: f64, denominator: f64) -> f64 {
    if denominator > 0.0 {
        numerator / denominator
    } else {
        0.0
    }
}

/// Binary metrics for one fold, aligned with [`Metric::BINARY`].
///
/// Threshold-dependent metrics use 0.5, as scikit-learn's `predict` does; the deployed
/// threshold is chosen and reported separately.
pub fn binary_metrics(scores: &[f64], positive: &[bool]) -> Vec<f64> {
    let (tp, fp, tn, fn_) = confusion_at(scores, positive, 0.5);
    let n = tp + fp + tn + fn_;
    let precision = ratio(tp, tp + fp);
    let recall = ratio(tp, tp + fn_);
    let specificity = ratio(tn, tn + fp);
    let accuracy = ratio(tp + tn, n);
    let expected = ((tp + fp) * (tp + fn_) + (tn + fn_) * (tn + fp)) / (n * n);
    Metric::BINARY
        .iter()
        .map(|metric| match metric {
            Metric::RocAuc => roc_auc(scores, positive),
            Metric::PrAuc => average_precision(scores, positive),
            Metric::Accuracy => accuracy,
            Metric::BalancedAccuracy => (recall + specificity) / 2.0,
            Metric::Precision => precision,
            Metric::Recall => recall,
            Metric::Specificity => specificity,
            Metric::F1 => ratio(2.0 * precision * recall, precision + recall),
            Metric::CohenKappa => kappa(accuracy, expected),
            Metric::Mcc => ratio(
                tp * tn - fp * fn_,
                ((tp + fp) * (tp + fn_) * (tn + fp) * (tn + fn_)).sqrt(),
            ),
            Metric::Brier => {
                scores
                    .iter()
                    .zip(positive)
                    .map(|(s, p)| (s - f64::from(u8::from(*p))).powi(2))
                    .sum::<f64>()
                    / n.max(1.0)
            }
            Metric::LogLoss => {
                scores
                    .iter()
                    .zip(positive)
                    .map(|(s, p)| {
                        let s = s.clamp(1e-15, 1.0 - 1e-15);
                        if *p { -s.ln() } else { -(1.0 - s).ln() }
                    })
                    .sum::<f64>()
                    / n.max(1.0)
            }
            Metric::MacroF1 | Metric::WeightedF1 | Metric::RocAucOvr => f64::NAN,
        })
        .collect()
}

/// Cohen's kappa from observed and chance agreement.
fn kappa(accuracy: f64, expected: f64) -> f64 {
    if (1.0 - expected).abs() > 0.0 {
        (accuracy - expected) / (1.0 - expected)
    } else {
        0.0
    }
}

/// Multiclass metrics for one fold, aligned with [`Metric::MULTICLASS`]. `probabilities`
/// holds one row of `n_classes` values per sample.
pub fn multiclass_metrics(probabilities: &[Vec<f64>], y: &[usize], n_classes: usize) -> Vec<f64> {
    let n = y.len() as f64;
    let mut confusion = vec![vec![0.0; n_classes]; n_classes];
    for (truth, row) in y.iter().zip(probabilities) {
        confusion[*truth][model::argmax(row)] += 1.0;
    }
    let accuracy = (0..n_classes).map(|c| confusion[c][c]).sum::<f64>() / n;
    let support: Vec<f64> = confusion.iter().map(|row| row.iter().sum()).collect();
    let predicted_count: Vec<f64> = (0..n_classes)
        .map(|c| confusion.iter().map(|row| row[c]).sum())
        .collect();
    let (mut f1s, mut recalls, mut weighted_f1) = (Vec::new(), Vec::new(), 0.0);
    for class_idx in 0..n_classes {
        if support[class_idx] == 0.0 && predicted_count[class_idx] == 0.0 {
            continue;
        }
        let tp = confusion[class_idx][class_idx];
        let precision = ratio(tp, predicted_count[class_idx]);
        let recall = ratio(tp, support[class_idx]);
        let f1 = ratio(2.0 * precision * recall, precision + recall);
        f1s.push(f1);
        weighted_f1 += f1 * support[class_idx] / n;
        if support[class_idx] > 0.0 {
            recalls.push(recall);
        }
    }
    let mean = |values: &[f64]| values.iter().sum::<f64>() / values.len().max(1) as f64;
    let expected = (0..n_classes)
        .map(|c| support[c] * predicted_count[c])
        .sum::<f64>()
        / (n * n);
    Metric::MULTICLASS
        .iter()
        .map(|metric| match metric {
            Metric::Accuracy => accuracy,
            Metric::BalancedAccuracy => mean(&recalls),
            Metric::MacroF1 => mean(&f1s),
            Metric::WeightedF1 => weighted_f1,
            Metric::CohenKappa => kappa(accuracy, expected),
            Metric::RocAucOvr => {
                // Averaged over classes present with both outcomes in this fold.
                let aucs: Vec<f64> = (0..n_classes)
                    .map(|class_idx| {
                        let scores: Vec<f64> = probabilities.iter().map(|p| p[class_idx]).collect();
                        let positive: Vec<bool> =
                            y.iter().map(|truth| *truth == class_idx).collect();
                        roc_auc(&scores, &positive)
                    })
                    .filter(|auc| !auc.is_nan())
                    .collect();
                mean(&aucs)
            }
            Metric::LogLoss => {
                probabilities
                    .iter()
                    .zip(y)
                    .map(|(p, truth)| -p[*truth].clamp(1e-15, 1.0).ln())
                    .sum::<f64>()
                    / n
            }
            _ => f64::NAN,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_metrics_at_one_half() {
        let metrics = binary_metrics(&[0.9, 0.8, 0.3, 0.6], &[true, false, false, true]);
        let get =
            |metric: Metric| metrics[Metric::BINARY.iter().position(|m| *m == metric).unwrap()];
        assert_eq!(get(Metric::Accuracy), 0.75);
        assert_eq!(get(Metric::Recall), 1.0);
        assert_eq!(get(Metric::Specificity), 0.5);
        assert!((get(Metric::Precision) - 2.0 / 3.0).abs() < 1e-12);
        assert!((get(Metric::Mcc) - 1.0 / 3f64.sqrt()).abs() < 1e-12);
        assert_eq!(metrics.len(), Metric::BINARY.len());
        assert!(metrics.iter().all(|value| value.is_finite()));
    }

    #[test]
    fn multiclass_metrics_handle_absent_classes() {
        let probabilities = vec![
            vec![0.7, 0.2, 0.1],
            vec![0.1, 0.8, 0.1],
            vec![0.6, 0.3, 0.1],
        ];
        let metrics = multiclass_metrics(&probabilities, &[0, 1, 1], 3);
        assert_eq!(Metric::MULTICLASS[0], Metric::Accuracy);
        assert!((metrics[0] - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(metrics.len(), Metric::MULTICLASS.len());
        assert!(metrics.iter().all(|m| m.is_finite()));
    }
}
