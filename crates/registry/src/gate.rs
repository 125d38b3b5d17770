//! The promotion gate: a version replaces production only if none of its cross-validated
//! metrics is worse than production's by more than a margin.

use model::Metric;

use crate::VersionRecord;

/// Which metrics are compared, and how much worse a candidate may be.
#[derive(Debug, Clone, PartialEq)]
pub struct Gate {
    /// Largest tolerated loss, in the metric's own units (0.01 = one AUC point).
    pub margin: f64,
}

impl Default for Gate {
    fn default() -> Self {
        Gate { margin: 0.01 }
    }
}

/// Why the gate refused a promotion.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "{candidate} has cross-validated {metric} {candidate_value:.4} against production version {incumbent}'s {incumbent_value:.4}: worse by more than the margin {margin} (use `--force` to promote anyway)"
)]
pub struct GateRefusal {
    /// The model offered: `version 3`, or `the new model` before it is registered.
    pub candidate: String,
    /// The version in production.
    pub incumbent: u32,
    /// The metric that failed.
    pub metric: Metric,
    /// Its value for the candidate.
    pub candidate_value: f64,
    /// Its value in production.
    pub incumbent_value: f64,
    /// The margin.
    pub margin: f64,
}

impl Gate {
    /// The metrics the gate compares: the one that ranked the candidate's run, and the
    /// threshold-free measures of discrimination and calibration its task reports (a
    /// threshold-dependent figure at 0.5 says little about a model shipped with another
    /// threshold).
    pub fn metrics(candidate: &VersionRecord) -> Vec<Metric> {
        let mut metrics = vec![candidate.facts.ranking_metric];
        for metric in [
            Metric::RocAuc,
            Metric::RocAucOvr,
            Metric::Brier,
            Metric::Accuracy,
            Metric::MacroF1,
        ] {
            let binary = candidate.metric(Metric::RocAuc).is_some();
            let applies = match metric {
                Metric::RocAuc | Metric::Brier => binary,
                _ => !binary,
            };
            if applies && !metrics.contains(&metric) {
                metrics.push(metric);
            }
        }
        metrics
    }

    /// Gates a model not yet registered (its record numbered 0).
    pub fn check_new(
        &self,
        new: &crate::VersionFacts,
        incumbent: &VersionRecord,
    ) -> Result<(), GateRefusal> {
        self.check(&VersionRecord::unregistered(new), incumbent)
    }

    /// Passes when every gated metric of `candidate` is at most `margin` worse than
    /// `incumbent`'s; a metric either lacks (or reports as NaN) is not compared.
    pub fn check(
        &self,
        candidate: &VersionRecord,
        incumbent: &VersionRecord,
    ) -> Result<(), GateRefusal> {
        for metric in Gate::metrics(candidate) {
            let (Some(candidate_value), Some(incumbent_value)) =
                (candidate.metric(metric), incumbent.metric(metric))
            else {
                continue;
            };
            if !(candidate_value.is_finite() && incumbent_value.is_finite()) {
                continue;
            }
            let loss = if metric.lower_is_better() {
                candidate_value - incumbent_value
            } else {
                incumbent_value - candidate_value
            };
            if loss > self.margin {
                return Err(GateRefusal {
                    candidate: if candidate.version == 0 {
                        "the new model".to_owned()
                    } else {
                        format!("version {}", candidate.version)
                    },
                    incumbent: incumbent.version,
                    metric,
                    candidate_value,
                    incumbent_value,
                    margin: self.margin,
                });
            }
        }
        Ok(())
    }
}
