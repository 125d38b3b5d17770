//! The quality metrics vigil reports, as one enum: names, direction, and which ones a task uses.
//!
//! Training computes them, the leaderboard's columns are [`Metric::for_task`], the artifact
//! records them, and the server shows them; the formulas live in `train::metrics`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::schema::Task;

/// A cross-validated quality metric. Timing is not a metric and is reported separately.
///
/// Variants are persisted in artifacts by position: add new ones at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Area under the ROC curve (rank-based, ties count half).
    RocAuc,
    /// Average precision, the area under the precision-recall curve.
    PrAuc,
    /// Share of correct labels.
    Accuracy,
    /// Mean of per-class recall.
    BalancedAccuracy,
    /// Positive predictive value at 0.5.
    Precision,
    /// Sensitivity at 0.5.
    Recall,
    /// True negative rate at 0.5.
    Specificity,
    /// Harmonic mean of precision and recall at 0.5.
    F1,
    /// Agreement beyond chance.
    CohenKappa,
    /// Matthews correlation coefficient at 0.5.
    Mcc,
    /// Mean squared error of the positive-class probability.
    Brier,
    /// Mean negative log-likelihood of the true class.
    LogLoss,
    /// Unweighted mean of per-class F1.
    MacroF1,
    /// Support-weighted mean of per-class F1.
    WeightedF1,
    /// One-vs-rest ROC-AUC averaged over classes.
    RocAucOvr,
}

impl Metric {
    /// Metrics of binary tasks, in leaderboard order.
    pub const BINARY: [Metric; 12] = [
        Metric::RocAuc,
        Metric::PrAuc,
        Metric::Accuracy,
        Metric::BalancedAccuracy,
        Metric::Precision,
        Metric::Recall,
        Metric::Specificity,
        Metric::F1,
        Metric::CohenKappa,
        Metric::Mcc,
        Metric::Brier,
        Metric::LogLoss,
    ];

    /// Metrics of multiclass tasks, in leaderboard order.
    pub const MULTICLASS: [Metric; 7] = [
        Metric::Accuracy,
        Metric::BalancedAccuracy,
        Metric::MacroF1,
        Metric::WeightedF1,
        Metric::RocAucOvr,
        Metric::CohenKappa,
        Metric::LogLoss,
    ];

    /// The metrics a task reports, in leaderboard order.
    pub fn for_task(task: Task) -> &'static [Metric] {
        match task {
            Task::Binary => &Metric::BINARY,
            Task::Multiclass => &Metric::MULTICLASS,
        }
    }

    /// The metric that ranks models when none is configured.
    pub fn default_for(task: Task) -> Metric {
        match task {
            Task::Binary => Metric::RocAuc,
            Task::Multiclass => Metric::Accuracy,
        }
    }

    /// The snake_case name used on the command line, in files and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Metric::RocAuc => "roc_auc",
            Metric::PrAuc => "pr_auc",
            Metric::Accuracy => "accuracy",
            Metric::BalancedAccuracy => "balanced_accuracy",
            Metric::Precision => "precision",
            Metric::Recall => "recall",
            Metric::Specificity => "specificity",
            Metric::F1 => "f1",
            Metric::CohenKappa => "cohen_kappa",
            Metric::Mcc => "mcc",
            Metric::Brier => "brier",
            Metric::LogLoss => "log_loss",
            Metric::MacroF1 => "macro_f1",
            Metric::WeightedF1 => "weighted_f1",
            Metric::RocAucOvr => "roc_auc_ovr",
        }
    }

    /// Whether a smaller value is better.
    pub fn lower_is_better(self) -> bool {
        matches!(self, Metric::Brier | Metric::LogLoss)
    }

    /// Orders two values of this metric best first; NaN (a failed fold) sorts last.
    pub fn best_first(self, a: f64, b: f64) -> std::cmp::Ordering {
        match (a.is_nan(), b.is_nan()) {
            (true, true) => std::cmp::Ordering::Equal,
            (true, false) => std::cmp::Ordering::Greater,
            (false, true) => std::cmp::Ordering::Less,
            (false, false) if self.lower_is_better() => a.total_cmp(&b),
            (false, false) => b.total_cmp(&a),
        }
    }

    /// Every metric once: the binary ones, then those only multiclass tasks report.
    pub fn all() -> Vec<Metric> {
        let mut all = Metric::BINARY.to_vec();
        all.extend(
            Metric::MULTICLASS
                .iter()
                .filter(|metric| !Metric::BINARY.contains(metric)),
        );
        all
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Metric {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let all = Metric::all();
        all.iter()
            .copied()
            .find(|metric| metric.name() == text)
            .ok_or_else(|| {
                let names: Vec<String> =
                    all.iter().map(|metric| metric.name().to_owned()).collect();
                format!(
                    "unknown metric `{text}`, expected one of {}",
                    crate::record::quoted_list(&names)
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_tasks_list_distinct_metrics() {
        assert_eq!(Metric::all().len(), 15);
        for metric in Metric::all() {
            assert_eq!(metric.name().parse::<Metric>(), Ok(metric));
        }
        assert!(
            "auc"
                .parse::<Metric>()
                .unwrap_err()
                .contains("unknown metric `auc`")
        );
        for task in [Task::Binary, Task::Multiclass] {
            let metrics = Metric::for_task(task);
            assert!(metrics.contains(&Metric::default_for(task)));
            let mut sorted = metrics.to_vec();
            sorted.sort();
            sorted.dedup();
            assert_eq!(sorted.len(), metrics.len());
        }
    }

    #[test]
    fn best_first_respects_direction_and_puts_nan_last() {
        use std::cmp::Ordering;
        assert_eq!(Metric::RocAuc.best_first(0.9, 0.8), Ordering::Less);
        assert_eq!(Metric::Brier.best_first(0.1, 0.2), Ordering::Less);
        assert_eq!(Metric::RocAuc.best_first(f64::NAN, 0.1), Ordering::Greater);
    }
}
