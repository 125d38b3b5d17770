//! The statistics behind drift verdicts: the two-sample Kolmogorov–Smirnov test against a
//! stored empirical CDF, Pearson's chi-square goodness-of-fit test against stored shares, and
//! the population stability index. Written out here because the server links no statistics
//! library; each is checked against reference values in the tests.

use model::Ecdf;

/// Share used in place of an empty bin, as Evidently does, so PSI stays finite.
const EMPTY_SHARE: f64 = 1e-4;

/// The largest distance between the reference ECDF and the ECDF of `current_sorted`
/// (ascending, finite). Both are step functions that only jump at their own points, so the
/// supremum is attained at one of those points.
pub fn ks_statistic(reference: &Ecdf, current_sorted: &[f64]) -> f64 {
    let n = current_sorted.len();
    if n == 0 {
        return 0.0;
    }
    let current_at = |x: f64| current_sorted.partition_point(|value| *value <= x) as f64 / n as f64;
    reference
        .support
        .iter()
        .chain(current_sorted)
        .map(|x| (reference.at(*x) - current_at(*x)).abs())
        .fold(0.0, f64::max)
}

/// The asymptotic p-value of a two-sample KS statistic `d` for samples of `n` and `m` values
/// (Kolmogorov's limiting distribution with Stephens' small-sample correction).
pub fn ks_p_value(d: f64, n: usize, m: usize) -> f64 {
    if n == 0 || m == 0 {
        return 1.0;
    }
    let effective = (n as f64 * m as f64 / (n + m) as f64).sqrt();
    let lambda = (effective + 0.12 + 0.11 / effective) * d;
    kolmogorov_q(lambda)
}

/// `Q(λ) = 2 Σ (-1)^(j-1) exp(-2 j² λ²)`, the Kolmogorov survival function.
fn kolmogorov_q(lambda: f64) -> f64 {
    if lambda < 0.2 {
        return 1.0;
    }
    let mut sum = 0.0;
    let mut sign = 1.0;
    for j in 1..=100 {
        let term = sign * (-2.0 * (j * j) as f64 * lambda * lambda).exp();
        sum += term;
        if term.abs() < 1e-12 * sum.abs().max(1e-300) {
            break;
        }
        sign = -sign;
    }
    (2.0 * sum).clamp(0.0, 1.0)
}

/// Pearson's chi-square statistic of observed counts against expected shares, and its degrees
/// of freedom (codes expected at all, minus one). Empty expected shares take [`EMPTY_SHARE`].
pub fn chi_square(expected_shares: &[f64], observed_counts: &[f64]) -> (f64, usize) {
    let total: f64 = observed_counts.iter().sum();
    if total <= 0.0 {
        return (0.0, 0);
    }
    let normaliser: f64 = expected_shares
        .iter()
        .map(|share| share.max(EMPTY_SHARE))
        .sum();
    let statistic = expected_shares
        .iter()
        .zip(observed_counts)
        .map(|(share, observed)| {
            let expected = share.max(EMPTY_SHARE) / normaliser * total;
            (observed - expected) * (observed - expected) / expected
        })
        .sum();
    (statistic, expected_shares.len().saturating_sub(1))
}

/// The p-value of a chi-square statistic with `dof` degrees of freedom.
pub fn chi_square_p_value(statistic: f64, dof: usize) -> f64 {
    if dof == 0 {
        return 1.0;
    }
    upper_regularised_gamma(dof as f64 / 2.0, statistic / 2.0)
}

/// Two-sided p-value of `successes` out of `n` trials against a success probability
/// `expected`: the exact binomial test (the probability of every outcome no likelier than the
/// one observed, as scipy's `binomtest` computes it), or its normal approximation beyond
/// [`EXACT_BINOMIAL_LIMIT`] trials. An outcome the reference never showed (expected 0 or 1)
/// differs with certainty as soon as it is seen.
pub fn binomial_p_value(successes: usize, n: usize, expected: f64) -> f64 {
    if n == 0 {
        return 1.0;
    }
    let observed = successes as f64 / n as f64;
    if expected <= 0.0 || expected >= 1.0 {
        return if (observed - expected).abs() < 1e-12 {
            1.0
        } else {
            0.0
        };
    }
    if n > EXACT_BINOMIAL_LIMIT {
        let z = (observed - expected) / (expected * (1.0 - expected) / n as f64).sqrt();
        // P(|Z| > z) = P(χ²₁ > z²).
        return chi_square_p_value(z * z, 1);
    }
    let log_pmf = |k: usize| {
        ln_gamma(n as f64 + 1.0) - ln_gamma(k as f64 + 1.0) - ln_gamma((n - k) as f64 + 1.0)
            + k as f64 * expected.ln()
            + (n - k) as f64 * (1.0 - expected).ln()
    };
    let observed_log = log_pmf(successes);
    // A relative tolerance keeps outcomes exactly as likely (symmetric cases) on both sides.
    let bound = observed_log + 1e-7f64.ln_1p();
    (0..=n)
        .map(log_pmf)
        .filter(|log| *log <= bound)
        .map(f64::exp)
        .sum::<f64>()
        .min(1.0)
}

/// Trials up to which [`binomial_p_value`] is exact.
pub const EXACT_BINOMIAL_LIMIT: usize = 100_000;

/// Holm's step-down adjustment: the i-th smallest of m p-values is multiplied by (m - i),
/// then made non-decreasing in that order and capped at 1.
pub fn holm(p_values: &[f64]) -> Vec<f64> {
    let m = p_values.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|a, b| p_values[*a].total_cmp(&p_values[*b]));
    let mut adjusted = vec![1.0; m];
    let mut running = 0.0f64;
    for (rank, idx) in order.into_iter().enumerate() {
        running = running.max(((m - rank) as f64 * p_values[idx]).min(1.0));
        adjusted[idx] = running;
    }
    adjusted
}

/// Population stability index of `current` shares against `reference` shares (same bins):
/// `Σ (c - r) ln(c / r)`, with empty bins at [`EMPTY_SHARE`].
pub fn psi(reference: &[f64], current: &[f64]) -> f64 {
    reference
        .iter()
        .zip(current)
        .map(|(r, c)| {
            let (r, c) = (r.max(EMPTY_SHARE), c.max(EMPTY_SHARE));
            (c - r) * (c / r).ln()
        })
        .sum()
}

/// Interior bin edges for PSI of a numeric feature: the reference deciles, without repeats.
pub fn decile_edges(reference: &Ecdf) -> Vec<f64> {
    let mut edges: Vec<f64> = (1..10)
        .map(|k| reference.quantile(k as f64 / 10.0))
        .collect();
    edges.dedup();
    // The top edge would leave an empty last bin.
    if edges.last() == reference.support.last() {
        edges.pop();
    }
    edges
}

/// Shares of the reference in the bins `(-inf, e0], (e0, e1], ..., (e_last, inf)`.
pub fn reference_bin_shares(reference: &Ecdf, edges: &[f64]) -> Vec<f64> {
    let mut shares = Vec::with_capacity(edges.len() + 1);
    let mut below = 0.0;
    for edge in edges {
        let at = reference.at(*edge);
        shares.push(at - below);
        below = at;
    }
    shares.push(1.0 - below);
    shares
}

/// Shares of a sorted sample in the same bins.
pub fn sample_bin_shares(sorted: &[f64], edges: &[f64]) -> Vec<f64> {
    let n = sorted.len().max(1) as f64;
    let mut shares = Vec::with_capacity(edges.len() + 1);
    let mut below = 0;
    for edge in edges {
        let at = sorted.partition_point(|value| *value <= *edge);
        shares.push((at - below) as f64 / n);
        below = at;
    }
    shares.push((sorted.len() - below) as f64 / n);
    shares
}

/// `Q(a, x) = Γ(a, x) / Γ(a)`, by its series below `a + 1` and its continued fraction above
/// (the standard pairing, accurate to about 1e-14 here).
fn upper_regularised_gamma(a: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    let log_prefactor = a * x.ln() - x - ln_gamma(a);
    if x < a + 1.0 {
        // P(a, x) = e^(-x) x^a / Γ(a) Σ x^n / (a (a+1) ... (a+n)).
        let (mut term, mut sum, mut denominator) = (1.0 / a, 1.0 / a, a);
        for _ in 0..1000 {
            denominator += 1.0;
            term *= x / denominator;
            sum += term;
            if term.abs() < sum.abs() * 1e-16 {
                break;
            }
        }
        (1.0 - sum * log_prefactor.exp()).clamp(0.0, 1.0)
    } else {
        // Lentz's method for the continued fraction of Γ(a, x).
        let tiny = 1e-300;
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / tiny;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..1000 {
            let an = -(i as f64) * (i as f64 - a);
            b += 2.0;
            d = an * d + b;
            if d.abs() < tiny {
                d = tiny;
            }
            c = b + an / c;
            if c.abs() < tiny {
                c = tiny;
            }
            d = 1.0 / d;
            let delta = d * c;
            h *= delta;
            if (delta - 1.0).abs() < 1e-16 {
                break;
            }
        }
        (log_prefactor.exp() * h).clamp(0.0, 1.0)
    }
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7, nine coefficients).
fn ln_gamma(x: f64) -> f64 {
    const COEFFICIENTS: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection keeps the approximation in its accurate range.
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut sum = COEFFICIENTS[0];
    for (k, coefficient) in COEFFICIENTS.iter().enumerate().skip(1) {
        sum += coefficient / (x + k as f64);
    }
    let t = x + 7.5;
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + sum.ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tolerance: f64) -> bool {
        (a - b).abs() <= tolerance
    }

    #[test]
    fn gamma_and_chi_square_match_tables() {
        // ln Γ(5) = ln 24, ln Γ(0.5) = ln √π.
        assert!(close(ln_gamma(5.0), 24f64.ln(), 1e-12));
        assert!(close(
            ln_gamma(0.5),
            std::f64::consts::PI.sqrt().ln(),
            1e-12
        ));
        // scipy.stats.chi2.sf: (3.841459, 1) = 0.05; (11.0705, 5) = 0.05; (2, 2) = e^-1;
        // (30, 10) = 0.000857; (0.5, 3) = 0.918891.
        assert!(close(chi_square_p_value(3.841_459, 1), 0.05, 1e-6));
        assert!(close(chi_square_p_value(11.070_5, 5), 0.05, 1e-5));
        assert!(close(chi_square_p_value(2.0, 2), (-1f64).exp(), 1e-12));
        assert!(close(chi_square_p_value(30.0, 10), 0.000_857, 1e-6));
        assert!(close(chi_square_p_value(0.5, 3), 0.918_891, 1e-6));
        assert_eq!(chi_square_p_value(5.0, 0), 1.0);
    }

    #[test]
    fn holm_matches_statsmodels() {
        // statsmodels.stats.multitest.multipletests([0.01, 0.04, 0.03, 0.005], method="holm")
        // gives [0.03, 0.06, 0.06, 0.02].
        let adjusted = holm(&[0.01, 0.04, 0.03, 0.005]);
        for (got, want) in adjusted.iter().zip([0.03, 0.06, 0.06, 0.02]) {
            assert!(close(*got, want, 1e-12), "{adjusted:?}");
        }
        assert!(holm(&[]).is_empty());
    }

    #[test]
    fn binomial_test_matches_scipy() {
        // scipy.stats.binomtest(k, n, p).pvalue: (1, 5, 0.015) = 0.07278; (60, 100, 0.5) =
        // 0.05689; (3, 10, 0.5) = 0.34375; (50, 100, 0.5) = 1.
        assert!(close(binomial_p_value(1, 5, 0.015), 0.072_78, 1e-5));
        assert!(close(binomial_p_value(60, 100, 0.5), 0.056_89, 1e-5));
        assert!(close(binomial_p_value(3, 10, 0.5), 0.343_75, 1e-9));
        assert!(close(binomial_p_value(50, 100, 0.5), 1.0, 1e-9));
        assert_eq!(binomial_p_value(1, 10, 0.0), 0.0);
        assert_eq!(binomial_p_value(0, 10, 0.0), 1.0);
    }

    #[test]
    fn chi_square_statistic_is_pearsons() {
        // Observed 30/70 against expected 50/50 of 100: (20² + 20²) / 50 = 16.
        let (statistic, dof) = chi_square(&[0.5, 0.5], &[30.0, 70.0]);
        assert!(close(statistic, 16.0, 1e-12));
        assert_eq!(dof, 1);
    }

    #[test]
    fn kolmogorov_distribution_matches_tables() {
        // Q(1.3581) = 0.05 and Q(1.6276) = 0.01 (the classic critical values); Q(0.5) = 0.9639.
        assert!(close(kolmogorov_q(1.358_1), 0.05, 1e-4));
        assert!(close(kolmogorov_q(1.627_6), 0.01, 1e-4));
        assert!(close(kolmogorov_q(0.5), 0.963_9, 1e-4));
        assert_eq!(kolmogorov_q(0.0), 1.0);
    }

    #[test]
    fn ks_statistic_is_the_largest_ecdf_gap() {
        let reference = Ecdf::from_values([1.0, 2.0, 3.0, 4.0]).unwrap();
        assert_eq!(ks_statistic(&reference, &[1.0, 2.0, 3.0, 4.0]), 0.0);
        // All current values above the reference: the gap reaches 1.
        assert_eq!(ks_statistic(&reference, &[10.0, 11.0]), 1.0);
        // Current {2, 3}: at x = 3, F_ref = 0.75 and F_cur = 1.
        assert!(close(ks_statistic(&reference, &[2.0, 3.0]), 0.25, 1e-12));
        // scipy.stats.ks_2samp([1..4], [2.5, 10]) has D = 0.5.
        assert!(close(ks_statistic(&reference, &[2.5, 10.0]), 0.5, 1e-12));
    }

    #[test]
    fn psi_is_zero_for_equal_shares_and_grows_with_shift() {
        let reference = [0.25, 0.25, 0.25, 0.25];
        assert_eq!(psi(&reference, &reference), 0.0);
        // (0.4-0.25) ln(0.4/0.25) + (0.1-0.25) ln(0.1/0.25) twice = 0.2785...
        let shifted = psi(&reference, &[0.4, 0.4, 0.1, 0.1]);
        let expected = 2.0 * (0.15 * (1.6f64).ln() + (-0.15) * (0.4f64).ln());
        assert!(close(shifted, expected, 1e-12));
        assert!(psi(&reference, &[1.0, 0.0, 0.0, 0.0]).is_finite());
    }

    #[test]
    fn bins_cover_the_reference_and_samples() {
        let reference = Ecdf::from_values((1..=100).map(f64::from)).unwrap();
        let edges = decile_edges(&reference);
        assert_eq!(edges.len(), 9);
        let shares = reference_bin_shares(&reference, &edges);
        assert!(
            shares.iter().all(|share| close(*share, 0.1, 1e-12)),
            "{shares:?}"
        );
        let sorted: Vec<f64> = (1..=100).map(f64::from).collect();
        let sample_shares = sample_bin_shares(&sorted, &edges);
        assert!(
            sample_shares
                .iter()
                .zip(&shares)
                .all(|(a, b)| close(*a, *b, 1e-12))
        );
        // A 0/1-like feature keeps one edge and two bins.
        let binary = Ecdf::from_values([0.0, 0.0, 0.0, 1.0]).unwrap();
        assert_eq!(decile_edges(&binary), vec![0.0]);
    }
}
