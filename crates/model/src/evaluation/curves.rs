//! Threshold-free summaries of scored records: ROC-AUC, average precision, the ROC and
//! precision-recall curves, reliability points and the expected calibration error, written to
//! match scikit-learn's definitions. Training, `train evaluate` and the server all call these.

/// ROC-AUC by the rank-sum (Mann–Whitney) formula, ties counted half. NaN without both classes.
pub fn roc_auc(scores: &[f64], positive: &[bool]) -> f64 {
    let n_pos = positive.iter().filter(|p| **p).count();
    let n_neg = positive.len() - n_pos;
    if n_pos == 0 || n_neg == 0 {
        return f64::NAN;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|a, b| scores[*a].total_cmp(&scores[*b]));
    let mut rank_sum = 0.0;
    let mut start = 0;
    while start < order.len() {
        let mut end = start;
        while end + 1 < order.len() && scores[order[end + 1]] == scores[order[start]] {
            end += 1;
        }
        // Average rank (1-based) of the tie group.
        let average_rank = (start + end) as f64 / 2.0 + 1.0;
        for idx in &order[start..=end] {
            if positive[*idx] {
                rank_sum += average_rank;
            }
        }
        start = end + 1;
    }
    (rank_sum - (n_pos * (n_pos + 1)) as f64 / 2.0) / (n_pos as f64 * n_neg as f64)
}

/// Average precision (scikit-learn's `average_precision_score`): sum over thresholds of
/// (R_n - R_{n-1}) * P_n.
pub fn average_precision(scores: &[f64], positive: &[bool]) -> f64 {
    let n_pos = positive.iter().filter(|p| **p).count();
    if n_pos == 0 {
        return f64::NAN;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|a, b| scores[*b].total_cmp(&scores[*a]));
    let (mut true_pos, mut false_pos) = (0usize, 0usize);
    let mut previous_recall = 0.0;
    let mut ap = 0.0;
    let mut idx = 0;
    while idx < order.len() {
        let score = scores[order[idx]];
        while idx < order.len() && scores[order[idx]] == score {
            if positive[order[idx]] {
                true_pos += 1;
            } else {
                false_pos += 1;
            }
            idx += 1;
        }
        let recall = true_pos as f64 / n_pos as f64;
        let precision = true_pos as f64 / (true_pos + false_pos) as f64;
        ap += (recall - previous_recall) * precision;
        previous_recall = recall;
    }
    ap
}

/// ROC curve points (false positive rate, true positive rate), from (0,0) to (1,1).
pub fn roc_curve(scores: &[f64], positive: &[bool]) -> Vec<(f64, f64)> {
    let n_pos = positive.iter().filter(|p| **p).count().max(1) as f64;
    let n_neg = positive.iter().filter(|p| !**p).count().max(1) as f64;
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|a, b| scores[*b].total_cmp(&scores[*a]));
    let mut points = vec![(0.0, 0.0)];
    let (mut tp, mut fp) = (0.0, 0.0);
    let mut idx = 0;
    while idx < order.len() {
        let score = scores[order[idx]];
        while idx < order.len() && scores[order[idx]] == score {
            if positive[order[idx]] {
                tp += 1.0
            } else {
                fp += 1.0
            }
            idx += 1;
        }
        points.push((fp / n_neg, tp / n_pos));
    }
    points
}

/// Precision at each recall reached, scores taken from the highest down.
pub fn precision_recall(scores: &[f64], positive: &[bool]) -> Vec<(f64, f64)> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|a, b| scores[*b].total_cmp(&scores[*a]));
    let n_positive = positive.iter().filter(|p| **p).count().max(1) as f64;
    let (mut tp, mut fp) = (0.0, 0.0);
    let mut points = Vec::new();
    for (rank, idx) in order.iter().enumerate() {
        if positive[*idx] {
            tp += 1.0
        } else {
            fp += 1.0
        }
        let last_of_tie = order
            .get(rank + 1)
            .is_none_or(|next| scores[*next] != scores[*idx]);
        if last_of_tie {
            points.push((tp / n_positive, tp / (tp + fp)));
        }
    }
    points
}

/// Reliability points: records sorted by score and cut into `n_bins` bins of equal count;
/// each bin gives (mean predicted probability, observed share positive).
pub fn calibration_points(scores: &[f64], outcome: &[bool], n_bins: usize) -> Vec<(f64, f64)> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|a, b| scores[*a].total_cmp(&scores[*b]));
    let n_bins = n_bins.clamp(1, scores.len().max(1));
    (0..n_bins)
        .filter_map(|bin| {
            let start = bin * order.len() / n_bins;
            let end = (bin + 1) * order.len() / n_bins;
            let members = &order[start..end];
            if members.is_empty() {
                return None;
            }
            let mean = members.iter().map(|idx| scores[*idx]).sum::<f64>() / members.len() as f64;
            let rate =
                members.iter().filter(|idx| outcome[**idx]).count() as f64 / members.len() as f64;
            Some((mean, rate))
        })
        .collect()
}

/// Expected calibration error: over `n_bins` equal-width probability bins, the share of
/// records in each bin times the gap between its mean probability and its observed rate.
pub fn expected_calibration_error(scores: &[f64], positive: &[bool], n_bins: usize) -> f64 {
    let mut sums = vec![(0.0f64, 0.0f64, 0usize); n_bins];
    for (score, is_positive) in scores.iter().zip(positive) {
        let bin = ((score * n_bins as f64) as usize).min(n_bins - 1);
        sums[bin].0 += score;
        sums[bin].1 += f64::from(u8::from(*is_positive));
        sums[bin].2 += 1;
    }
    let n = scores.len().max(1) as f64;
    sums.iter()
        .filter(|(_, _, count)| *count > 0)
        .map(|(score_sum, positive_sum, count)| {
            let count = *count as f64;
            count / n * (score_sum / count - positive_sum / count).abs()
        })
        .sum()
}

/// At most `max_points` evenly spaced points of a curve, always with both ends (a curve kept
/// in an artifact or an answer must not grow with the data).
pub fn thin(points: Vec<(f64, f64)>, max_points: usize) -> Vec<(f64, f64)> {
    if points.len() <= max_points || max_points < 2 {
        return points;
    }
    let last = points.len() - 1;
    (0..max_points)
        .map(|idx| points[idx * last / (max_points - 1)])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_matches_hand_computation_with_ties() {
        // scikit-learn: roc_auc_score([0,0,1,1], [0.1,0.4,0.35,0.8]) == 0.75
        assert!(
            (roc_auc(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]) - 0.75).abs() < 1e-12
        );
        assert_eq!(roc_auc(&[0.5, 0.5], &[false, true]), 0.5);
        assert!(roc_auc(&[0.5], &[true]).is_nan());
        // Reversed scores give 1 - AUC: the test that catches a flipped positive class.
        assert!(
            (roc_auc(&[0.9, 0.6, 0.65, 0.2], &[false, false, true, true]) - 0.25).abs() < 1e-12
        );
    }

    #[test]
    fn average_precision_matches_scikit_learn() {
        // average_precision_score([0,0,1,1], [0.1,0.4,0.35,0.8]) == 0.8333...
        let ap = average_precision(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]);
        assert!((ap - 5.0 / 6.0).abs() < 1e-12);
    }

    #[test]
    fn the_roc_curve_runs_corner_to_corner_and_its_area_is_the_auc() {
        let scores = [0.1, 0.4, 0.35, 0.8, 0.8, 0.2];
        let positive = [false, false, true, true, false, true];
        let curve = roc_curve(&scores, &positive);
        assert_eq!(curve.first(), Some(&(0.0, 0.0)));
        assert_eq!(curve.last(), Some(&(1.0, 1.0)));
        let area: f64 = curve
            .windows(2)
            .map(|pair| (pair[1].0 - pair[0].0) * (pair[1].1 + pair[0].1) / 2.0)
            .sum();
        assert!((area - roc_auc(&scores, &positive)).abs() < 1e-12);
    }

    #[test]
    fn expected_calibration_error_weights_bins_by_their_share() {
        // Two bins: 0.05 (observed 0/2) and 0.95 (observed 2/2): gaps 0.05 each.
        let ece =
            expected_calibration_error(&[0.05, 0.05, 0.95, 0.95], &[false, false, true, true], 10);
        assert!((ece - 0.05).abs() < 1e-12, "{ece}");
    }

    #[test]
    fn thinning_keeps_both_ends_and_the_order() {
        let points: Vec<(f64, f64)> = (0..1000).map(|idx| (idx as f64, idx as f64)).collect();
        let thinned = thin(points, 200);
        assert_eq!(thinned.len(), 200);
        assert_eq!(thinned[0], (0.0, 0.0));
        assert_eq!(thinned[199], (999.0, 999.0));
        assert!(thinned.windows(2).all(|pair| pair[0].0 < pair[1].0));
    }
}
