// The web page's script, served at /ui.js: builds the record from the form, posts it to
// /predict (with its explanation) and shows the answer; shows the drift status. No inline script or style anywhere,
// so the page's content security policy can forbid both.
'use strict';
const form = document.getElementById('record');
const result = document.getElementById('result');
const tokenBox = document.getElementById('token-box');
const tokenInput = document.getElementById('token');

function authorised(headers) {
  const token = tokenInput.value.trim();
  return token === '' ? headers : { ...headers, Authorization: `Bearer ${token}` };
}

function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className !== undefined) node.className = className;
  return node;
}

const pct = (p) => (100 * p).toFixed(1) + '%';

function showPrediction(body) {
  const label = element('div');
  label.id = 'label';
  label.append(element('strong', body.label), ` — probability ${pct(body.probability)}`);
  const bar = element('div', undefined, 'bar');
  const fill = element('div');
  fill.style.width = `${100 * body.probability}%`;
  bar.append(fill);
  const nodes = [label, bar];
  if (body.threshold !== undefined) {
    const marker = element('span');
    marker.title = 'threshold';
    marker.style.left = `${100 * body.threshold}%`;
    bar.append(marker);
    nodes.push(element('div', `Threshold ${pct(body.threshold)}: at or above it the label is positive.`, 'muted'));
  }
  const list = element('ul');
  for (const [name, probability] of Object.entries(body.probabilities)) {
    list.append(element('li', `${name}: ${pct(probability)}`));
  }
  nodes.push(list);
  if (body.imputed.length > 0) {
    nodes.push(element('p', `Missing and filled with a typical training value: ${body.imputed.join(', ')}.`, 'muted'));
  }
  if (body.out_of_training_range.length > 0) {
    nodes.push(element('p', `Outside the range seen in training (the model extrapolates): ${body.out_of_training_range.join(', ')}.`, 'error'));
  }
  if (body.explanation) nodes.push(explanationTable(body.explanation));
  result.replaceChildren(...nodes);
}

// Each feature's contribution, largest first, in the model's own scale: a signed number and
// the words "raises"/"lowers", so the direction does not rest on colour.
function explanationTable(explanation) {
  const scale = { log_odds: 'log-odds', logit: 'logit', probability: 'probability' }[explanation.scale] ?? explanation.scale;
  const table = element('table', undefined, 'explanation');
  const caption = element('caption',
    `What moved this prediction of ${explanation.class} (${scale}; average ${explanation.base_value.toFixed(3)}, this record ${explanation.output_value.toFixed(3)}). ${explanation.method_description}.`);
  const head = element('tr');
  for (const name of ['feature', 'value', 'contribution']) {
    const cell = element('th', name);
    cell.scope = 'col';
    head.append(cell);
  }
  table.append(caption, head);
  for (const entry of explanation.contributions) {
    const row = element('tr');
    const name = element('th', entry.feature);
    name.scope = 'row';
    const direction = entry.contribution > 0 ? 'raises' : entry.contribution < 0 ? 'lowers' : 'no change';
    const error = entry.standard_error === undefined ? '' : ` ± ${entry.standard_error.toFixed(3)}`;
    row.append(
      name,
      element('td', entry.value === null ? 'missing (imputed)' : String(entry.value)),
      element('td', `${entry.contribution >= 0 ? '+' : ''}${entry.contribution.toFixed(3)}${error} (${direction})`),
    );
    table.append(row);
  }
  return table;
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  document.querySelectorAll('.error').forEach((slot) => { slot.textContent = ''; });
  const record = {};
  for (const field of form.elements) {
    if (!field.name) continue;
    if (field.value === '') { record[field.name] = null; continue; }
    record[field.name] = field.dataset.kind === 'number' ? Number(field.value) : field.value;
  }
  result.textContent = 'Predicting…';
  try {
    const response = await fetch('/predict?explain=true', {
      method: 'POST',
      headers: authorised({ 'Content-Type': 'application/json' }),
      body: JSON.stringify(record),
    });
    const body = await response.json();
    if (response.status === 401) {
      tokenBox.hidden = false;
      result.textContent = 'This server needs an API token: enter it above and press Predict again.';
      return;
    }
    if (!response.ok) {
      const details = Array.isArray(body.detail) ? body.detail : [{ loc: [], msg: body.detail }];
      for (const item of details) {
        const field = item.loc[item.loc.length - 1];
        const slot = document.querySelector(`[data-error-for="${CSS.escape(String(field))}"]`);
        if (slot) slot.textContent = item.msg;
      }
      result.textContent = 'Please correct the highlighted fields (' + response.status + ').';
      return;
    }
    showPrediction(body);
    showDrift();
  } catch (error) {
    result.textContent = 'Request failed: ' + error;
  }
});

const driftBox = document.getElementById('drift');
async function showDrift() {
  try {
    const response = await fetch('/drift', { headers: authorised({}) });
    if (response.status === 401) {
      driftBox.textContent = 'Drift status needs the API token.';
      tokenBox.hidden = false;
      return;
    }
    const report = await response.json();
    driftBox.replaceChildren();
    if (!report.enough_records) {
      driftBox.append(`${report.n_records} recent record(s): too few for a verdict yet.`);
      return;
    }
    const drifted = report.features.filter((feature) => feature.drifted);
    driftBox.append(element('p', drifted.length === 0
      ? `${report.n_records} recent records: no input drift detected.`
      : `${report.n_records} recent records: drift in ${drifted.map((feature) => feature.feature).join(', ')}.`));
    if (drifted.length > 0) {
      const list = element('ul');
      for (const feature of drifted) {
        list.append(element('li', `${feature.feature}: ${feature.reasons.join('; ')}`));
      }
      driftBox.append(list);
    }
  } catch (error) {
    driftBox.textContent = 'Drift status unavailable: ' + error;
  }
}
showDrift();
