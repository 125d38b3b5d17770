//! The web page at `/ui`: a form built from the schema that calls `/predict` and shows the result.
//!
//! Self-contained HTML, CSS and JavaScript with no external assets, so it works offline. The
//! script and style sheet are separate resources (`/ui.js`, `/ui.css`) so the page's content
//! security policy can forbid inline code.

use std::fmt::Write as _;

use model::{Artifact, FeatureKind};
use report::escape;

use crate::api::example_record;

/// The page's script, served at `/ui.js`.
pub const SCRIPT: &str = include_str!("ui/page.js");

/// The page's style sheet, served at `/ui.css`.
pub const STYLE: &str = include_str!("ui/page.css");

/// Renders the page for an artifact.
pub fn render(artifact: &Artifact, model_version: &str) -> String {
    let schema = &artifact.schema;
    let example = example_record(artifact);
    let mut fields = String::new();
    for feature in &schema.features {
        let name = escape(&feature.name);
        let id = format!(
            "f-{}",
            feature
                .name
                .replace(|c: char| !c.is_ascii_alphanumeric(), "_")
        );
        let unit = feature
            .unit
            .as_deref()
            .map(|u| format!(" ({})", escape(u)))
            .unwrap_or_default();
        let mut hint = escape(feature.description.trim());
        if !hint.is_empty() && !hint.ends_with('.') {
            hint.push('.');
        }
        let has_range = !matches!(feature.kind, FeatureKind::Binary | FeatureKind::Categorical);
        if let (true, Some((min, max))) = (
            has_range,
            crate::api::published_range(feature.training_range),
        ) {
            let _ = write!(hint, " Training values lie within {min} to {max}.");
        }
        if feature.zero_is_missing {
            hint.push_str(" 0 = not measured.");
        }
        if feature.allow_missing {
            hint.push_str(" Leave empty if not measured.");
        }
        let default = example
            .get(&feature.name)
            .map(|v| match v {
                serde_json::Value::String(text) => text.clone(),
                other => other.to_string(),
            })
            .unwrap_or_default();
        let input = match feature.kind {
            FeatureKind::Categorical => {
                let mut options = String::new();
                if feature.allow_missing {
                    options.push_str("<option value=\"\">(not known)</option>");
                }
                for category in &feature.categories {
                    let selected = if *category == default {
                        " selected"
                    } else {
                        ""
                    };
                    let _ = write!(
                        options,
                        "<option value=\"{0}\"{selected}>{0}</option>",
                        escape(category)
                    );
                }
                format!(
                    "<select id=\"{id}\" name=\"{name}\" data-kind=\"categorical\">{options}</select>"
                )
            }
            FeatureKind::Binary => {
                let mut options = String::new();
                if feature.allow_missing {
                    options.push_str("<option value=\"\">(not known)</option>");
                }
                for value in ["0", "1"] {
                    let selected = if value == default { " selected" } else { "" };
                    let label = if value == "1" { "1 (yes)" } else { "0 (no)" };
                    let _ = write!(
                        options,
                        "<option value=\"{value}\"{selected}>{label}</option>"
                    );
                }
                format!(
                    "<select id=\"{id}\" name=\"{name}\" data-kind=\"number\">{options}</select>"
                )
            }
            FeatureKind::Integer | FeatureKind::Numeric => {
                let step = if feature.kind == FeatureKind::Integer {
                    "1"
                } else {
                    "any"
                };
                let (min, max) = feature
                    .valid_range
                    .map(|(min, max)| {
                        // A configured zero ("not measured") is accepted below the range.
                        let lowest = if feature.zero_is_missing {
                            min.min(0.0)
                        } else {
                            min
                        };
                        (format!(" min=\"{lowest}\""), format!(" max=\"{max}\""))
                    })
                    .unwrap_or_default();
                format!(
                    "<input id=\"{id}\" name=\"{name}\" type=\"number\" step=\"{step}\"{min}{max} value=\"{}\" data-kind=\"number\">",
                    escape(&default)
                )
            }
        };
        let _ = write!(
            fields,
            "<div class=\"field\"><label for=\"{id}\">{name}{unit}</label>{input}<small>{hint}</small><span class=\"error\" data-error-for=\"{name}\"></span><span class=\"warning\" data-warning-for=\"{name}\"></span></div>"
        );
    }
    let metric_line = crate::api::headline_metrics(artifact)
        .map(|summary| format!("{} {:.3}", summary.metric, summary.mean))
        .collect::<Vec<_>>()
        .join(" · ");
    let evidence = &artifact.evidence;
    let threshold = match (
        artifact.decision.threshold,
        evidence.figure("sensitivity"),
        evidence.figure("specificity"),
    ) {
        (Some(t), Some(sensitivity), Some(specificity)) => format!(
            "Alert threshold {:.1}% ({}): expected sensitivity {:.3} (95% CI {:.3}–{:.3}) and specificity {:.3} ({:.3}–{:.3}).",
            t * 100.0,
            escape(&artifact.decision.rule),
            sensitivity.value,
            sensitivity.lower,
            sensitivity.upper,
            specificity.value,
            specificity.lower,
            specificity.upper
        ),
        (Some(t), _, _) => format!(
            "Alert threshold {:.1}% ({}).",
            t * 100.0,
            escape(&artifact.decision.rule)
        ),
        _ => "The label is the most probable class.".into(),
    };
    format!(
        r##"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>vigil · {dataset}</title>
<link rel="stylesheet" href="/ui.css">
</head><body>
<h1>{dataset} risk model</h1>
<p class="muted">Model <code>{model}</code> (<code>{version}</code>). Cross-validated (fold mean): {metrics}. {threshold}
See the <a href="/model">model card</a> and the <a href="/docs/">API docs</a>.</p>
<div id="token-box" hidden><label for="token">API token</label> <input id="token" type="password" autocomplete="off"></div>
<form id="record">{fields}<button type="submit">Predict</button></form>
<div id="result" aria-live="polite">Fill in the record and press Predict.</div>
<h2>Score a file</h2>
<form id="upload" class="upload"><label for="file">A CSV file with a header row naming the fields above; with a <code>{target}</code> column of true classes, the model is also evaluated on it</label> <input id="file" name="file" type="file" accept=".csv,text/csv"> <button type="submit">Score file</button></form>
<div id="upload-result" aria-live="polite"></div>
<h2>Recent inputs against the training population</h2>
<div id="drift" class="muted">Checking…</div>
<script src="/ui.js"></script>
</body></html>
"##,
        dataset = escape(&schema.dataset),
        model = escape(&artifact.model_name),
        version = escape(model_version),
        metrics = escape(&metric_line),
        target = escape(&schema.target),
    )
}
