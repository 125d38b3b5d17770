//! Input drift: are the records being scored still like the training population?
//!
//! The server keeps a bounded window of recent records ([`Window`]); `serve drift` reads a
//! file. Either way [`report`] compares the sample with the artifact's [`Reference`], feature
//! by feature: a two-sample test (Kolmogorov–Smirnov for numbers, chi-square for categories and
//! 0/1 features), the population stability index, and the shift in the missing rate; and the
//! same for the model's reported probability.
//!
//! A feature drifts when its test rejects at `p_value` *and* its PSI reaches `psi` (Evidently's
//! defaults: 0.05 and 0.1), or when its missing rate changes significantly by at least
//! `missing_shift`. Asking for both a significant test and a material PSI keeps large windows
//! from flagging negligible shifts and small ones from flagging noise; and because a report
//! tests every feature at once, p-values are adjusted with Holm's method by default, so that
//! the chance of any false alarm in a report stays at `p_value` rather than growing with the
//! number of features.

pub mod html;
pub mod stats;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use model::{Distribution, Ecdf, FeatureKind, FeatureSpec, Reference, Schema};
use serde::Serialize;

/// Thresholds and window bounds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DriftSettings {
    /// Most recent records kept.
    pub window: usize,
    /// Records older than this leave the window.
    pub max_age: Duration,
    /// Fewest records (observed values, for a feature's test) before a verdict is given.
    pub min_records: usize,
    /// A test rejects below this p-value.
    pub p_value: f64,
    /// PSI at or above this counts as a material shift.
    pub psi: f64,
    /// A missing rate that changes significantly by at least this much (absolute) drifts.
    pub missing_shift: f64,
    /// Adjustment of p-values for the number of tests in a report.
    pub correction: Correction,
}

impl Default for DriftSettings {
    fn default() -> Self {
        DriftSettings {
            window: 1000,
            max_age: Duration::from_secs(3600),
            min_records: 5,
            p_value: 0.05,
            psi: 0.1,
            missing_shift: 0.1,
            correction: Correction::Holm,
        }
    }
}

/// The records a drift report describes: raw rows (schema order) and the model's output.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sample {
    /// Raw rows, `n_features` values each, row-major.
    pub raw: Vec<f64>,
    /// Values per row.
    pub n_features: usize,
    /// Reported probability per row.
    pub probabilities: Vec<f64>,
    /// Decided label per row.
    pub labels: Vec<usize>,
}

impl Sample {
    /// An empty sample of rows with `n_features` values.
    pub fn new(n_features: usize) -> Self {
        Sample {
            n_features,
            ..Sample::default()
        }
    }

    /// Adds one scored record.
    pub fn push(&mut self, raw: &[f64], probability: f64, label_idx: usize) {
        self.raw
            .extend((0..self.n_features).map(|idx| raw.get(idx).copied().unwrap_or(f64::NAN)));
        self.probabilities.push(probability);
        self.labels.push(label_idx);
    }

    /// Records held.
    pub fn len(&self) -> usize {
        self.probabilities.len()
    }

    /// Whether the sample holds no record.
    pub fn is_empty(&self) -> bool {
        self.probabilities.is_empty()
    }

    fn column(&self, feature_idx: usize) -> impl Iterator<Item = f64> + '_ {
        self.raw
            .iter()
            .skip(feature_idx)
            .step_by(self.n_features.max(1))
            .copied()
    }
}

/// The most recent scored records, bounded by count and by age. Its buffers grow to the
/// window's size once and are reused after, so remembering a record does not allocate.
pub struct Window {
    settings: DriftSettings,
    n_features: usize,
    /// Raw rows, `n_features` values each, oldest first.
    values: VecDeque<f64>,
    /// (arrival, probability, label) per row, oldest first.
    records: VecDeque<(Instant, f64, usize)>,
}

impl Window {
    /// An empty window for rows of `n_features` values.
    pub fn new(settings: DriftSettings, n_features: usize) -> Self {
        Window {
            settings,
            n_features,
            values: VecDeque::new(),
            records: VecDeque::new(),
        }
    }

    /// Adds a record, dropping the oldest beyond the window's size.
    pub fn push(&mut self, now: Instant, raw: &[f64], probability: f64, label_idx: usize) {
        if self.settings.window == 0 {
            return;
        }
        while self.records.len() >= self.settings.window {
            self.pop_oldest();
        }
        self.values
            .extend((0..self.n_features).map(|idx| raw.get(idx).copied().unwrap_or(f64::NAN)));
        self.records.push_back((now, probability, label_idx));
    }

    fn pop_oldest(&mut self) {
        if self.records.pop_front().is_some() {
            self.values.drain(..self.n_features.min(self.values.len()));
        }
    }

    /// Drops records older than the window's age limit.
    pub fn expire(&mut self, now: Instant) {
        while self
            .records
            .front()
            .is_some_and(|(arrived, ..)| now.duration_since(*arrived) > self.settings.max_age)
        {
            self.pop_oldest();
        }
    }

    /// Records held.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether the window holds no record.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// A copy of the records, for computing a report without holding the window.
    pub fn sample(&self) -> Sample {
        Sample {
            raw: self.values.iter().copied().collect(),
            n_features: self.n_features,
            probabilities: self.records.iter().map(|(_, p, _)| *p).collect(),
            labels: self.records.iter().map(|(_, _, label)| *label).collect(),
        }
    }
}

/// Which test a verdict rests on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Test {
    /// Two-sample Kolmogorov–Smirnov.
    KolmogorovSmirnov,
    /// Pearson's chi-square goodness of fit.
    ChiSquare,
}

/// The comparison of one distribution with its reference.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// The test used.
    pub test: Test,
    /// Its statistic (KS distance, or chi-square).
    pub statistic: f64,
    /// Its p-value, adjusted for the number of tests in the report (see [`Correction`]).
    pub p_value: f64,
    /// Population stability index over the reference's bins or categories.
    pub psi: f64,
    /// Observed values compared.
    pub n: usize,
    /// The PSI bins (value ranges or categories).
    pub bins: Vec<String>,
    /// Training share per bin.
    pub reference_shares: Vec<f64>,
    /// Current share per bin.
    pub current_shares: Vec<f64>,
}

/// One feature's drift.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeatureDrift {
    /// Feature name.
    pub feature: String,
    /// Missing rate in training.
    pub reference_missing_rate: f64,
    /// Missing rate in the sample.
    pub current_missing_rate: f64,
    /// The distribution comparison, when both sides have enough observed values.
    pub comparison: Option<Comparison>,
    /// P-value (adjusted, see [`Correction`]) of the missing-rate change, when there were
    /// enough records.
    pub missing_p_value: Option<f64>,
    /// Whether the feature drifted.
    pub drifted: bool,
    /// Why, in words (empty when it did not).
    pub reasons: Vec<String>,
}

/// A drift report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DriftReport {
    /// Records in the sample.
    pub n_records: usize,
    /// Whether there were enough records for verdicts.
    pub enough_records: bool,
    /// Names of drifted features.
    pub drifted_features: Vec<String>,
    /// Per feature, in schema order.
    pub features: Vec<FeatureDrift>,
    /// The model's reported probability against its out-of-fold distribution.
    pub probability: Option<Comparison>,
    /// Whether the probability drifted.
    pub probability_drifted: bool,
    /// Thresholds used.
    pub thresholds: Thresholds,
}

/// The thresholds a report used, as reported.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Thresholds {
    /// Fewest records for a verdict.
    pub min_records: usize,
    /// Test p-value.
    pub p_value: f64,
    /// PSI.
    pub psi: f64,
    /// Absolute missing-rate shift.
    pub missing_shift: f64,
    /// How p-values were adjusted for testing many features at once.
    pub correction: Correction,
}

/// How a report's p-values are adjusted for testing many features at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Correction {
    /// Holm's step-down method: the chance of any false alarm in a report stays at the
    /// p-value threshold (family-wise error), with more power than Bonferroni's.
    Holm,
    /// Each test on its own: a report of many features raises false alarms more often.
    None,
}

impl std::str::FromStr for Correction {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim() {
            "holm" => Ok(Correction::Holm),
            "none" => Ok(Correction::None),
            other => Err(format!(
                "unknown correction `{other}`, expected `holm` or `none`"
            )),
        }
    }
}

/// Compares a sample with the reference.
pub fn report(
    schema: &Schema,
    reference: &Reference,
    sample: &Sample,
    settings: &DriftSettings,
) -> DriftReport {
    let enough_records = sample.len() >= settings.min_records.max(1);
    let mut features: Vec<FeatureDrift> = schema
        .features
        .iter()
        .zip(&reference.features)
        .enumerate()
        .map(|(feature_idx, (spec, feature_reference))| {
            let column: Vec<f64> = sample.column(feature_idx).collect();
            let observed: Vec<f64> = column
                .iter()
                .copied()
                .filter(|value| !spec.is_missing(*value))
                .collect();
            let current_missing_rate = if column.is_empty() {
                0.0
            } else {
                1.0 - observed.len() as f64 / column.len() as f64
            };
            FeatureDrift {
                feature: spec.name.clone(),
                reference_missing_rate: feature_reference.missing_rate,
                current_missing_rate,
                missing_p_value: enough_records.then(|| {
                    stats::binomial_p_value(
                        column.len() - observed.len(),
                        column.len(),
                        feature_reference.missing_rate,
                    )
                }),
                comparison: (observed.len() >= settings.min_records.max(1))
                    .then(|| compare(spec, &feature_reference.distribution, observed))
                    .flatten(),
                drifted: false,
                reasons: Vec::new(),
            }
        })
        .collect();
    let mut probability = match &reference.probability {
        Some(ecdf) if enough_records => Some(compare_numeric(ecdf, sample.probabilities.clone())),
        _ => None,
    };
    adjust_p_values(&mut features, probability.as_mut(), settings.correction);
    for feature in &mut features {
        if let Some(p_value) = feature.missing_p_value
            && p_value < settings.p_value
            && (feature.current_missing_rate - feature.reference_missing_rate).abs()
                >= settings.missing_shift
        {
            feature.reasons.push(format!(
                "missing rate {:.0}% against {:.0}% in training (p = {p_value:.2e})",
                100.0 * feature.current_missing_rate,
                100.0 * feature.reference_missing_rate
            ));
        }
        if let Some(reason) = feature
            .comparison
            .as_ref()
            .and_then(|c| shifted(c, settings))
        {
            feature.reasons.push(reason);
        }
        feature.drifted = !feature.reasons.is_empty();
    }
    let probability_drifted = probability
        .as_ref()
        .is_some_and(|comparison| shifted(comparison, settings).is_some());
    DriftReport {
        n_records: sample.len(),
        enough_records,
        drifted_features: features
            .iter()
            .filter(|feature| feature.drifted)
            .map(|feature| feature.feature.clone())
            .collect(),
        features,
        probability,
        probability_drifted,
        thresholds: Thresholds {
            min_records: settings.min_records,
            p_value: settings.p_value,
            psi: settings.psi,
            missing_shift: settings.missing_shift,
            correction: settings.correction,
        },
    }
}

/// Replaces every p-value of the report (distribution tests, missing-rate tests, the
/// probability test) by its adjusted value for the chosen correction.
fn adjust_p_values(
    features: &mut [FeatureDrift],
    probability: Option<&mut Comparison>,
    correction: Correction,
) {
    let mut slots: Vec<&mut f64> = Vec::new();
    for feature in features.iter_mut() {
        if let Some(p_value) = feature.missing_p_value.as_mut() {
            slots.push(p_value);
        }
        if let Some(comparison) = feature.comparison.as_mut() {
            slots.push(&mut comparison.p_value);
        }
    }
    if let Some(comparison) = probability {
        slots.push(&mut comparison.p_value);
    }
    if correction == Correction::Holm {
        let raw: Vec<f64> = slots.iter().map(|p| **p).collect();
        for (slot, adjusted) in slots.into_iter().zip(stats::holm(&raw)) {
            *slot = adjusted;
        }
    }
}

/// The verdict rule for a comparison: a significant test and a material PSI.
fn shifted(comparison: &Comparison, settings: &DriftSettings) -> Option<String> {
    (comparison.p_value < settings.p_value && comparison.psi >= settings.psi).then(|| {
        format!(
            "distribution shifted ({} p = {:.2e}, PSI {:.2})",
            match comparison.test {
                Test::KolmogorovSmirnov => "KS",
                Test::ChiSquare => "chi-square",
            },
            comparison.p_value,
            comparison.psi
        )
    })
}

/// Compares observed values with a feature's reference distribution.
fn compare(spec: &FeatureSpec, reference: &Distribution, observed: Vec<f64>) -> Option<Comparison> {
    match reference {
        Distribution::Numeric(ecdf) => Some(compare_numeric(ecdf, observed)),
        Distribution::Shares(shares) => {
            let labels: Vec<String> = match spec.kind {
                FeatureKind::Categorical => spec.categories.clone(),
                _ => (0..shares.len()).map(|code| code.to_string()).collect(),
            };
            Some(compare_shares(shares, &observed, labels))
        }
        Distribution::Empty => None,
    }
}

fn compare_numeric(reference: &Ecdf, mut observed: Vec<f64>) -> Comparison {
    observed.retain(|value| value.is_finite());
    observed.sort_by(f64::total_cmp);
    let statistic = stats::ks_statistic(reference, &observed);
    let edges = stats::decile_edges(reference);
    let reference_shares = stats::reference_bin_shares(reference, &edges);
    let current_shares = stats::sample_bin_shares(&observed, &edges);
    Comparison {
        test: Test::KolmogorovSmirnov,
        statistic,
        p_value: stats::ks_p_value(statistic, reference.n, observed.len()),
        psi: stats::psi(&reference_shares, &current_shares),
        n: observed.len(),
        bins: bin_labels(&edges),
        reference_shares,
        current_shares,
    }
}

/// `≤ e0`, `e0 to e1`, ..., `> e_last`.
fn bin_labels(edges: &[f64]) -> Vec<String> {
    let show = |value: f64| format!("{}", (value * 1000.0).round() / 1000.0);
    let mut labels = Vec::with_capacity(edges.len() + 1);
    for (idx, edge) in edges.iter().enumerate() {
        labels.push(match idx {
            0 => format!("≤ {}", show(*edge)),
            _ => format!("{} to {}", show(edges[idx - 1]), show(*edge)),
        });
    }
    labels.push(match edges.last() {
        Some(last) => format!("> {}", show(*last)),
        None => "all".into(),
    });
    labels
}

fn compare_shares(reference: &[f64], observed: &[f64], labels: Vec<String>) -> Comparison {
    let mut counts = vec![0.0; reference.len()];
    for code in observed {
        if let Some(count) = counts.get_mut(*code as usize) {
            *count += 1.0;
        }
    }
    let total: f64 = counts.iter().sum();
    let current_shares: Vec<f64> = counts.iter().map(|count| count / total.max(1.0)).collect();
    let (statistic, dof) = stats::chi_square(reference, &counts);
    Comparison {
        test: Test::ChiSquare,
        statistic,
        p_value: stats::chi_square_p_value(statistic, dof),
        psi: stats::psi(reference, &current_shares),
        n: observed.len(),
        bins: labels,
        reference_shares: reference.to_vec(),
        current_shares,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_is_bounded_by_count_and_by_age() {
        let settings = DriftSettings {
            window: 3,
            max_age: Duration::from_secs(10),
            ..DriftSettings::default()
        };
        let mut window = Window::new(settings, 2);
        let start = Instant::now();
        for idx in 0..5 {
            window.push(start + Duration::from_secs(idx), &[idx as f64, 0.0], 0.5, 0);
        }
        assert_eq!(window.len(), 3);
        assert_eq!(window.sample().raw, vec![2.0, 0.0, 3.0, 0.0, 4.0, 0.0]);
        window.expire(start + Duration::from_secs(13));
        assert_eq!(window.len(), 2, "the record of second 2 is older than 10 s");
        window.expire(start + Duration::from_secs(100));
        assert!(window.is_empty());
    }
}
