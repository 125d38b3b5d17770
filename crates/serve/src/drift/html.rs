//! The drift report as a self-contained HTML page: a verdict table and, per feature and for the
//! model's probability, the training and current shares side by side.

use std::fmt::Write as _;

use report::{escape, plot};

use super::{Comparison, DriftReport, Test};

fn chart(title: &str, comparison: &Comparison) -> String {
    plot::bar_chart(
        title,
        "bin",
        "share of values",
        &comparison.bins,
        &[
            ("training".to_owned(), comparison.reference_shares.clone()),
            ("current".to_owned(), comparison.current_shares.clone()),
        ],
    )
}

fn test_name(test: Test) -> &'static str {
    match test {
        Test::KolmogorovSmirnov => "Kolmogorov–Smirnov",
        Test::ChiSquare => "chi-square",
    }
}

/// Renders the report; `title` names the model and the data compared.
pub fn render(report: &DriftReport, title: &str) -> String {
    let thresholds = &report.thresholds;
    let mut html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#1d1d1f}}\
         table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.3em .6em;text-align:right}}\
         td:first-child,th:first-child{{text-align:left}}.drift{{color:#9a3412;font-weight:700}}\
         .grid{{display:grid;grid-template-columns:repeat(auto-fill,minmax(520px,1fr));gap:1em}}</style></head><body>\
         <h1>{title}</h1><p>{} records compared with the training population. A feature drifts when its test rejects at p &lt; {} and its PSI is at least {}, or when its missing rate changes significantly by at least {:.0} points; at least {} values are needed for a test. P-values are {}.</p>",
        report.n_records,
        thresholds.p_value,
        thresholds.psi,
        100.0 * thresholds.missing_shift,
        thresholds.min_records,
        match thresholds.correction {
            super::Correction::Holm => "adjusted for the number of tests with Holm's method",
            super::Correction::None => "not adjusted for the number of tests",
        },
        title = escape(title),
    );
    let verdict = if !report.enough_records {
        "Too few records for a verdict.".to_owned()
    } else if report.drifted_features.is_empty() && !report.probability_drifted {
        "No drift detected.".to_owned()
    } else {
        let mut parts: Vec<String> = report
            .drifted_features
            .iter()
            .map(|name| format!("`{name}`"))
            .collect();
        if report.probability_drifted {
            parts.push("the model's probability".into());
        }
        format!("Drift detected in {}.", parts.join(", "))
    };
    let _ = write!(
        html,
        "<h2>Verdict</h2><p class=\"{}\">{}</p>",
        if verdict.starts_with("Drift") {
            "drift"
        } else {
            ""
        },
        escape(&verdict)
    );
    html.push_str("<table><tr><th>feature</th><th>test</th><th>statistic</th><th>p-value</th><th>PSI</th><th>missing (training)</th><th>missing (current)</th><th>verdict</th></tr>");
    for feature in &report.features {
        let (test, statistic, p_value, psi) = match &feature.comparison {
            Some(c) => (
                test_name(c.test).to_owned(),
                format!("{:.3}", c.statistic),
                format!("{:.2e}", c.p_value),
                format!("{:.3}", c.psi),
            ),
            None => ("too few values".into(), "–".into(), "–".into(), "–".into()),
        };
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{test}</td><td>{statistic}</td><td>{p_value}</td><td>{psi}</td><td>{:.1}%</td><td>{:.1}%</td><td{}>{}</td></tr>",
            escape(&feature.feature),
            100.0 * feature.reference_missing_rate,
            100.0 * feature.current_missing_rate,
            if feature.drifted {
                " class=\"drift\""
            } else {
                ""
            },
            if feature.drifted {
                escape(&feature.reasons.join("; "))
            } else {
                "no drift".into()
            }
        );
    }
    html.push_str("</table><h2>Distributions</h2><div class=\"grid\">");
    if let Some(comparison) = &report.probability {
        html.push_str(&chart(
            "model probability: training (out-of-fold) and current",
            comparison,
        ));
    }
    for feature in &report.features {
        if let Some(comparison) = &feature.comparison {
            html.push_str(&chart(
                &format!("{}: training and current", feature.feature),
                comparison,
            ));
        }
    }
    html.push_str("</div></body></html>\n");
    html
}
