//! Which cross-validated candidate ships: the best by the ranking metric, or (the default) the
//! one-standard-error rule: among candidates whose mean is within one standard error of the
//! best's, the one with the best proper score (Brier for binary tasks, log loss for
//! multiclass), which ranks probabilities rather than one cut of them and so tends to hold up
//! better on new data than a winner by a hair.

use std::fmt::Write as _;

use model::{Metric, Task};

use crate::ModelResult;
use crate::learners::ModelKind;

/// How the shipped candidate is picked from the ranked leaderboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelectionRule {
    /// The best mean of the ranking metric.
    Best,
    /// The best proper score among candidates within one standard error of the best.
    OneStandardError,
    /// This family, whatever the ranking (to ship and compare a particular model).
    Model(ModelKind),
}

impl std::str::FromStr for SelectionRule {
    type Err = String;

    /// Parses `best`, `one-se` or `model:<family>` (`model:stacking`, `model:rf`).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim() {
            "best" => Ok(SelectionRule::Best),
            "one-se" => Ok(SelectionRule::OneStandardError),
            other => match other.strip_prefix("model:") {
                Some(name) => Ok(SelectionRule::Model(name.parse()?)),
                None => Err(format!(
                    "unknown selection `{other}`, expected `best`, `one-se` or `model:<family>`"
                )),
            },
        }
    }
}

impl SelectionRule {
    /// The command-line spelling.
    pub fn as_str(self) -> String {
        match self {
            SelectionRule::Best => "best".to_owned(),
            SelectionRule::OneStandardError => "one-se".to_owned(),
            SelectionRule::Model(kind) => format!("model:{}", kind.name()),
        }
    }
}

/// A candidate's place in the selection.
#[derive(Debug, Clone, PartialEq)]
pub struct Contender {
    /// The family.
    pub model: String,
    /// Its mean of the ranking metric.
    pub mean: f64,
    /// Its mean of the proper score that breaks the tie.
    pub proper_score: f64,
}

/// What the selection saw and why the winner won.
#[derive(Debug, Clone, PartialEq)]
pub struct Selection {
    /// The rule applied.
    pub rule: SelectionRule,
    /// The ranking metric.
    pub metric: Metric,
    /// The proper score among close candidates (one-se rule).
    pub proper_score: Metric,
    /// The best by the ranking metric: its mean and fold standard deviation.
    pub best: (String, f64, f64),
    /// The standard error of the best's mean (standard deviation over √folds).
    pub standard_error: f64,
    /// Candidates within one standard error of the best, the best included, in rank order.
    pub within: Vec<Contender>,
    /// The candidate shipped.
    pub chosen: String,
}

impl Selection {
    /// One paragraph for reports and the terminal.
    pub fn describe(&self) -> String {
        let (best, mean, std) = &self.best;
        let mut text = format!(
            "best `{}`: {best} ({mean:.3} ± {std:.3}, standard error {:.3})",
            self.metric, self.standard_error
        );
        match self.rule {
            SelectionRule::Best => {
                let _ = write!(text, "; chosen: {} (rule `best`)", self.chosen);
                return text;
            }
            SelectionRule::Model(kind) => {
                let _ = write!(
                    text,
                    "; chosen: {}, as asked (rule `model:{}`)",
                    self.chosen,
                    kind.name()
                );
                return text;
            }
            SelectionRule::OneStandardError => {}
        }
        let close: Vec<String> = self
            .within
            .iter()
            .map(|contender| {
                format!(
                    "{} {:.3} ({} {:.4})",
                    contender.model, contender.mean, self.proper_score, contender.proper_score
                )
            })
            .collect();
        let _ = write!(
            text,
            "; within one standard error: {}; chosen: {}, {} (rule `one-se`)",
            close.join(", "),
            self.chosen,
            if self.within.len() < 2 {
                "no other candidate was that close".to_owned()
            } else if self.metric == self.proper_score {
                format!("the best `{}` itself", self.metric)
            } else {
                format!("the best `{}` among them", self.proper_score)
            }
        );
        text
    }
}

/// The proper score that breaks ties among close candidates.
fn proper_score(task: Task) -> Metric {
    match task {
        Task::Binary => Metric::Brier,
        Task::Multiclass => Metric::LogLoss,
    }
}

/// Ranks `results` best first by `metric` (ties keep registry order), then moves the
/// candidate `rule` picks to the front. `n_folds` fold scores stand behind each mean.
pub fn select(
    results: Vec<ModelResult>,
    task: Task,
    metric: Metric,
    rule: SelectionRule,
    n_folds: usize,
) -> (Vec<ModelResult>, Selection) {
    let metrics = Metric::for_task(task);
    let proper = proper_score(task);
    let summary_of = |result: &ModelResult, wanted: Metric| {
        let idx = metrics.iter().position(|m| *m == wanted).unwrap_or(0);
        result.summaries(metrics)[idx].clone()
    };
    let mut ranked: Vec<ModelResult> = results;
    ranked.sort_by(|a, b| {
        metric
            .best_first(summary_of(a, metric).mean, summary_of(b, metric).mean)
            .then(a.kind.cmp(&b.kind))
    });
    let Some(first) = ranked.first() else {
        return (ranked, empty_selection(rule, metric, proper));
    };
    let best = summary_of(first, metric);
    let standard_error = best.std / (n_folds.max(1) as f64).sqrt();
    let within: Vec<Contender> = ranked
        .iter()
        .filter(|result| {
            let gap = (summary_of(result, metric).mean - best.mean).abs();
            gap <= standard_error + 1e-12
        })
        .map(|result| Contender {
            model: result.kind.name().to_owned(),
            mean: summary_of(result, metric).mean,
            proper_score: summary_of(result, proper).mean,
        })
        .collect();
    let chosen_idx = match rule {
        SelectionRule::Best | SelectionRule::Model(_) => 0,
        // The first (best-ranked) of those with the lowest proper score; NaN never wins.
        SelectionRule::OneStandardError => {
            within
                .iter()
                .enumerate()
                .fold(0, |chosen, (idx, contender)| {
                    if contender.proper_score < within[chosen].proper_score {
                        idx
                    } else {
                        chosen
                    }
                })
        }
    };
    let chosen = match rule {
        SelectionRule::Model(kind) if ranked.iter().any(|result| result.kind == kind) => {
            kind.name().to_owned()
        }
        _ => within
            .get(chosen_idx)
            .map_or_else(|| first.kind.name().to_owned(), |c| c.model.clone()),
    };
    let selection = Selection {
        rule,
        metric,
        proper_score: proper,
        best: (first.kind.name().to_owned(), best.mean, best.std),
        standard_error,
        within,
        chosen: chosen.clone(),
    };
    if let Some(position) = ranked.iter().position(|r| r.kind.name() == chosen) {
        let winner = ranked.remove(position);
        ranked.insert(0, winner);
    }
    (ranked, selection)
}

fn empty_selection(rule: SelectionRule, metric: Metric, proper: Metric) -> Selection {
    Selection {
        rule,
        metric,
        proper_score: proper,
        best: (String::new(), f64::NAN, f64::NAN),
        standard_error: f64::NAN,
        within: Vec::new(),
        chosen: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::learners::ModelKind;

    /// A result whose folds score `roc_auc` and `brier` as given (other metrics constant).
    fn result(name: &str, roc_auc: [f64; 5], brier: [f64; 5]) -> ModelResult {
        let kind: ModelKind = name.parse().unwrap();
        let metrics = Metric::for_task(Task::Binary);
        let fold_metrics = (0..5)
            .map(|fold| {
                metrics
                    .iter()
                    .map(|metric| match metric {
                        Metric::RocAuc => roc_auc[fold],
                        Metric::Brier => brier[fold],
                        _ => 0.5,
                    })
                    .collect()
            })
            .collect();
        ModelResult {
            kind,
            params: kind.default_params(),
            candidates: vec![kind.default_params()],
            fold_metrics,
            fold_seconds: vec![0.0; 5],
            fold_model_bytes: vec![0; 5],
            fold_predict_us: vec![0.0; 5],
            oof: ndarray::Array2::zeros((0, 2)),
            fold_pipelines: Vec::new(),
            balance: preprocess::Balance::None,
        }
    }

    #[test]
    fn the_one_standard_error_rule_takes_the_best_brier_among_the_close() {
        // Boosting is best by AUC (0.84, population standard deviation √0.00032 ≈ 0.018 over
        // five folds → standard error 0.008);
        // the forest is 0.005 behind with a better Brier score; the tree is too far behind
        // for its even better Brier score to count.
        let results = vec![
            result("dt", [0.80; 5], [0.10; 5]),
            result("rf", [0.835; 5], [0.150; 5]),
            result("gbm", [0.82, 0.86, 0.82, 0.86, 0.84], [0.16; 5]),
        ];
        let (ranked, selection) = select(
            results.clone(),
            Task::Binary,
            Metric::RocAuc,
            SelectionRule::OneStandardError,
            5,
        );
        let order: Vec<&str> = ranked.iter().map(|r| r.kind.name()).collect();
        assert_eq!(
            order,
            ["random_forest", "gradient_boosting", "decision_tree"]
        );
        assert_eq!(selection.chosen, "random_forest");
        assert!((selection.standard_error - 0.00032f64.sqrt() / 5f64.sqrt()).abs() < 1e-12);
        let close: Vec<&str> = selection.within.iter().map(|c| c.model.as_str()).collect();
        assert_eq!(close, ["gradient_boosting", "random_forest"]);
        assert!(selection.describe().contains("the best `brier` among them"));
        // The plain rule keeps the ranking.
        let (ranked, selection) = select(
            results,
            Task::Binary,
            Metric::RocAuc,
            SelectionRule::Best,
            5,
        );
        assert_eq!(ranked[0].kind.name(), "gradient_boosting");
        assert_eq!(selection.chosen, "gradient_boosting");
        assert_eq!("one-se".parse(), Ok(SelectionRule::OneStandardError));
        assert!("worst".parse::<SelectionRule>().is_err());
    }
}
