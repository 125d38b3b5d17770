//! The web page at `/ui`: a form built from the schema that calls `/predict` and shows the result.
//!
//! Self-contained HTML, CSS and JavaScript with no external assets, so it works offline.

use std::fmt::Write as _;

use model::{Artifact, FeatureKind};
use report::escape;

use crate::api::example_record;

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
        if let Some((min, max)) = crate::api::published_range(feature.training_range) {
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
            "<div class=\"field\"><label for=\"{id}\">{name}{unit}</label>{input}<small>{hint}</small><span class=\"error\" data-error-for=\"{name}\"></span></div>"
        );
    }
    let metric_line = crate::api::headline_metrics(artifact)
        .map(|summary| format!("{} {:.3}", summary.metric, summary.mean))
        .collect::<Vec<_>>()
        .join(" · ");
    let threshold = artifact
        .decision
        .threshold
        .map(|t| {
            format!(
                "Decision threshold {t:.3} ({}).",
                escape(&artifact.decision.rule)
            )
        })
        .unwrap_or_else(|| "The label is the most probable class.".into());
    format!(
        r##"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>vigil · {dataset}</title>
<style>
body{{font-family:system-ui,sans-serif;max-width:900px;margin:2em auto;padding:0 1em;color:#1d1d1f}}
h1{{margin-bottom:.2em}} .muted{{color:#666}}
form{{display:grid;grid-template-columns:repeat(auto-fill,minmax(260px,1fr));gap:1em;margin:1.5em 0}}
.field{{display:flex;flex-direction:column;gap:.25em}} label{{font-weight:600}}
input,select{{padding:.45em;font-size:1em;border:1px solid #bbb;border-radius:6px}}
small{{color:#666;font-size:.8em}} .error{{color:#b00020;font-size:.85em}}
button{{grid-column:1/-1;padding:.7em;font-size:1.05em;border:0;border-radius:6px;background:#0072B2;color:white;cursor:pointer}}
#result{{padding:1em;border-radius:8px;background:#f3f6f9;min-height:3em}}
.bar{{height:14px;background:#e3e3e3;border-radius:7px;position:relative;margin:.3em 0 .8em}}
.bar>div{{height:100%;border-radius:7px;background:#D55E00}} .bar>span{{position:absolute;top:-3px;width:2px;height:20px;background:#000}}
</style></head><body>
<h1>{dataset} risk model</h1>
<p class="muted">Model <code>{model}</code> (<code>{version}</code>). Cross-validated: {metrics}. {threshold}
See the <a href="/model">model card</a> and the <a href="/docs/">API docs</a>.</p>
<form id="record">{fields}<button type="submit">Predict</button></form>
<div id="result" aria-live="polite">Fill in the record and press Predict.</div>
<h2>Recent inputs against the training population</h2>
<div id="drift" class="muted">Checking…</div>
<script>
const form = document.getElementById('record');
const result = document.getElementById('result');
form.addEventListener('submit', async (event) => {{
  event.preventDefault();
  document.querySelectorAll('.error').forEach(e => e.textContent = '');
  const record = {{}};
  for (const element of form.elements) {{
    if (!element.name) continue;
    if (element.value === '') {{ record[element.name] = null; continue; }}
    record[element.name] = element.dataset.kind === 'number' ? Number(element.value) : element.value;
  }}
  result.textContent = 'Predicting…';
  try {{
    const response = await fetch('/predict', {{method: 'POST', headers: {{'Content-Type': 'application/json'}}, body: JSON.stringify(record)}});
    const body = await response.json();
    if (!response.ok) {{
      const details = Array.isArray(body.detail) ? body.detail : [{{loc: [], msg: body.detail}}];
      for (const item of details) {{
        const field = item.loc[item.loc.length - 1];
        const slot = document.querySelector(`[data-error-for="${{CSS.escape(String(field))}}"]`);
        if (slot) slot.textContent = item.msg;
      }}
      result.textContent = 'Please correct the highlighted fields (' + response.status + ').';
      return;
    }}
    const pct = (p) => (100 * p).toFixed(1) + '%';
    const esc = (t) => String(t).replace(/[&<>"]/g, c => ({{'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;'}})[c]);
    let html = `<div id="label"><strong>${{esc(body.label)}}</strong> — probability ${{pct(body.probability)}}</div>`;
    const marker = body.threshold === undefined ? '' : `<span style="left:${{100 * body.threshold}}%" title="threshold"></span>`;
    html += `<div class="bar"><div style="width:${{100 * body.probability}}%"></div>${{marker}}</div>`;
    if (body.threshold !== undefined) html += `<div class="muted">Threshold ${{pct(body.threshold)}}: at or above it the label is positive.</div>`;
    html += '<ul>' + Object.entries(body.probabilities).map(([k, v]) => `<li>${{esc(k)}}: ${{pct(v)}}</li>`).join('') + '</ul>';
    result.innerHTML = html;
    showDrift();
  }} catch (error) {{
    result.textContent = 'Request failed: ' + error;
  }}
}});
const driftBox = document.getElementById('drift');
async function showDrift() {{
  try {{
    const report = await (await fetch('/drift')).json();
    const text = (t) => document.createTextNode(t);
    driftBox.replaceChildren();
    if (!report.enough_records) {{
      driftBox.append(text(`${{report.n_records}} recent record(s): too few for a verdict yet.`));
      return;
    }}
    const drifted = report.features.filter((f) => f.drifted);
    const summary = document.createElement('p');
    summary.append(text(drifted.length === 0
      ? `${{report.n_records}} recent records: no input drift detected.`
      : `${{report.n_records}} recent records: drift in ${{drifted.map((f) => f.feature).join(', ')}}.`));
    driftBox.append(summary);
    if (drifted.length > 0) {{
      const list = document.createElement('ul');
      for (const feature of drifted) {{
        const item = document.createElement('li');
        item.append(text(`${{feature.feature}}: ${{feature.reasons.join('; ')}}`));
        list.append(item);
      }}
      driftBox.append(list);
    }}
  }} catch (error) {{
    driftBox.textContent = 'Drift status unavailable: ' + error;
  }}
}}
showDrift();
</script>
</body></html>
"##,
        dataset = escape(&schema.dataset),
        model = escape(&artifact.model_name),
        version = escape(model_version),
        metrics = escape(&metric_line),
    )
}
