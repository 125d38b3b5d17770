// The web page's script, served at /ui.js: builds the record from the form, posts it to
// /predict (with its explanation) and shows the answer; scores (and, when labelled, evaluates)
// an uploaded file; shows the drift status. No inline script or style anywhere,
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

// The model card (JSON) says what the positive class means, how each feature is imputed and
// its training range; fetched once.
const card = fetch('/model', { headers: { Accept: 'application/json' } })
  .then((response) => response.json())
  .catch(() => null);

function featureCard(info, name) {
  return info?.features?.find((feature) => feature.name === name);
}

// Binary: the risk of the positive class said as such, against the threshold, on a gauge
// whose colour and words both carry the outcome. Multiclass: every class, most probable first.
function riskNodes(body, info) {
  const nodes = [];
  if (body.threshold !== undefined && info?.positive_class) {
    const positive = info.positive_class;
    const risk = body.probabilities[positive];
    const outcome = info.purpose?.outcome ?? positive;
    const alert = risk >= body.threshold;
    const heading = element('div');
    heading.id = 'label';
    heading.className = alert ? 'risk alert' : 'risk calm';
    heading.append(
      element('strong', `Risk of ${outcome}: ${pct(risk)}`),
      ` — ${alert ? 'at or above' : 'below'} the alert threshold of ${pct(body.threshold)}: labelled ${body.label}.`,
    );
    const bar = element('div', undefined, alert ? 'bar alert' : 'bar calm');
    bar.setAttribute('role', 'meter');
    bar.setAttribute('aria-valuemin', '0');
    bar.setAttribute('aria-valuemax', '100');
    bar.setAttribute('aria-valuenow', (100 * risk).toFixed(1));
    bar.setAttribute('aria-label', `risk of ${outcome}`);
    const fill = element('div');
    fill.style.width = `${100 * risk}%`;
    const marker = element('span');
    marker.title = `alert threshold ${pct(body.threshold)}`;
    marker.style.left = `${100 * body.threshold}%`;
    bar.append(fill, marker);
    nodes.push(heading, bar);
  } else {
    const heading = element('div');
    heading.id = 'label';
    heading.append(element('strong', body.label), ` — the most probable class (${pct(body.probability)}).`);
    const list = element('ol', undefined, 'classes');
    const ranked = Object.entries(body.probabilities).sort((a, b) => b[1] - a[1]);
    for (const [name, probability] of ranked) list.append(element('li', `${name}: ${pct(probability)}`));
    nodes.push(heading, list);
  }
  if (body.prediction_set) {
    const uncertain = body.prediction_set.length !== 1;
    nodes.push(element('p',
      `Prediction set (${pct(info?.prediction_sets?.coverage ?? 0.9)} coverage): ${body.prediction_set.join(', ') || 'none'}${uncertain ? ' — uncertain' : ''}.`,
      'muted'));
  }
  return nodes;
}

// What the prediction assumed: each imputed field with the value used, the low-information
// flag, and each value outside the training range marked at its field.
function assumptionNodes(body, info) {
  const nodes = [];
  if (body.low_information) {
    nodes.push(element('p',
      `Low-information prediction: ${body.imputed.length} of ${info?.features?.length ?? '?'} features were missing, so this result says more about the training population than about this record.`,
      'warning'));
  }
  for (const name of body.imputed) {
    const imputation = featureCard(info, name)?.imputation;
    const used = imputation ? `the ${imputation.rule} ${imputation.value} was used` : 'a typical training value was used';
    nodes.push(element('p', `${name} was missing: ${used}.`, 'muted'));
  }
  for (const name of body.out_of_training_range) {
    const range = featureCard(info, name)?.training_range;
    const where = range ? ` (${range.min} to ${range.max})` : '';
    const text = `Outside the training range${where}: the model extrapolates.`;
    const slot = document.querySelector(`[data-warning-for="${CSS.escape(name)}"]`);
    if (slot) slot.textContent = text;
    nodes.push(element('p', `${name}: ${text}`, 'warning'));
  }
  return nodes;
}

async function showPrediction(body) {
  const info = await card;
  const nodes = [...riskNodes(body, info), ...assumptionNodes(body, info)];
  if (body.explanation) nodes.push(explanationTable(body.explanation));
  result.replaceChildren(...nodes);
}

function clearMessages() {
  document.querySelectorAll('.error, .field .warning').forEach((slot) => { slot.textContent = ''; });
}

// A result belongs to the inputs it was computed from: any change clears it.
form.addEventListener('input', () => {
  clearMessages();
  result.textContent = 'Inputs changed: press Predict for a new result.';
});

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
  clearMessages();
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
    await showPrediction(body);
    showDrift();
  } catch (error) {
    result.textContent = 'Request failed: ' + error;
  }
});

// Scoring a file: the file goes to /score as the request body (the browser streams it from
// disk), the answer is exactly what `serve score` writes, shown as a sortable table and offered
// for download.
const upload = document.getElementById('upload');
const uploadResult = document.getElementById('upload-result');
const SHOWN_ROWS = 500;

function parseCsv(text) {
  const rows = [];
  let row = [];
  let cell = '';
  let quoted = false;
  for (let idx = 0; idx < text.length; idx += 1) {
    const ch = text[idx];
    if (quoted) {
      if (ch === '"' && text[idx + 1] === '"') { cell += '"'; idx += 1; } else if (ch === '"') { quoted = false; } else { cell += ch; }
    } else if (ch === '"') {
      quoted = true;
    } else if (ch === ',') {
      row.push(cell); cell = '';
    } else if (ch === '\n') {
      row.push(cell); rows.push(row); row = []; cell = '';
    } else if (ch !== '\r') {
      cell += ch;
    }
  }
  if (cell !== '' || row.length > 0) { row.push(cell); rows.push(row); }
  return rows;
}

function scoresTable(header, rows) {
  const table = element('table', undefined, 'scores');
  table.append(element('caption', `Scores of ${rows.length} record(s)${rows.length > SHOWN_ROWS ? `, the first ${SHOWN_ROWS} shown (the download has all)` : ''}. Select a column's name to sort by it.`));
  const head = element('tr');
  const body = element('tbody');
  const render = (sorted) => {
    body.replaceChildren(...sorted.slice(0, SHOWN_ROWS).map((cells) => {
      const tr = element('tr');
      cells.forEach((value, column) => {
        // Probabilities shown to three places; the download keeps every digit.
        const shown = header[column].startsWith('probability_') && value !== '' ? Number(value).toFixed(3) : value;
        const td = element('td', shown);
        if (header[column] === 'out_of_training_range' && value !== '') td.className = 'warning';
        tr.append(td);
      });
      return tr;
    }));
  };
  header.forEach((name, column) => {
    const th = element('th');
    th.scope = 'col';
    const button = element('button', name, 'sort');
    button.type = 'button';
    button.addEventListener('click', () => {
      const descending = th.getAttribute('aria-sort') === 'ascending';
      for (const other of head.children) other.removeAttribute('aria-sort');
      th.setAttribute('aria-sort', descending ? 'descending' : 'ascending');
      const key = (cells) => (cells[column] !== '' && !Number.isNaN(Number(cells[column])) ? Number(cells[column]) : cells[column]);
      const sorted = [...rows].sort((a, b) => {
        const [x, y] = [key(a), key(b)];
        const order = typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y));
        return descending ? -order : order;
      });
      render(sorted);
    });
    th.append(button);
    head.append(th);
  });
  table.append(head, body);
  render(rows);
  return table;
}

upload.addEventListener('submit', async (event) => {
  event.preventDefault();
  const file = document.getElementById('file').files[0];
  if (!file) {
    uploadResult.textContent = 'Choose a CSV file first.';
    return;
  }
  uploadResult.textContent = `Scoring ${file.name}…`;
  try {
    const response = await fetch('/score', {
      method: 'POST',
      headers: authorised({ 'Content-Type': 'text/csv' }),
      body: file,
    });
    if (response.status === 401) {
      tokenBox.hidden = false;
      uploadResult.textContent = 'This server needs an API token: enter it above and score again.';
      return;
    }
    if (!response.ok) {
      const body = await response.json();
      const detail = Array.isArray(body.detail) ? body.detail.map((item) => item.msg).join('; ') : body.detail;
      uploadResult.replaceChildren(element('p', `${file.name} was not scored: ${detail}`, 'error'));
      return;
    }
    const text = await response.text();
    const [header, ...rows] = parseCsv(text);
    const link = element('a', `Download the scores of ${file.name}`);
    link.href = URL.createObjectURL(new Blob([text], { type: 'text/csv' }));
    link.download = `scores-${file.name.replace(/\.csv$/i, '')}.csv`;
    link.id = 'download';
    uploadResult.replaceChildren(element('p', '', 'muted'), link, scoresTable(header ?? [], rows));
    uploadResult.firstChild.textContent = `${rows.length} record(s) scored.`;
    await showEvaluation(file);
  } catch (error) {
    uploadResult.textContent = 'Request failed: ' + error;
  }
});

// A file whose header has the target column is labelled: it also gets an evaluation (figures
// with intervals, ROC, confusion matrix at the threshold), rendered by the server with the model
// card's own plots. Only the header is read here; the file itself streams to the server again.
async function isLabelled(file) {
  const info = await card;
  const head = await file.slice(0, 65536).text();
  const firstLine = head.replace(/^\uFEFF/, '').split(/\r\n|\r|\n/)[0];
  const columns = (parseCsv(firstLine)[0] ?? []).map((name) => name.trim());
  return info?.target !== undefined && columns.includes(info.target);
}

async function showEvaluation(file) {
  if (!(await isLabelled(file))) return;
  const box = element('div', `Evaluating the model on the labels of ${file.name}…`);
  box.id = 'evaluation-box';
  uploadResult.append(box);
  const response = await fetch('/evaluate', {
    method: 'POST',
    headers: authorised({ 'Content-Type': 'text/csv', Accept: 'text/html', 'X-File-Name': file.name }),
    body: file,
  });
  if (!response.ok) {
    const body = await response.json();
    const detail = Array.isArray(body.detail) ? body.detail.map((item) => item.msg).join('; ') : body.detail;
    box.replaceChildren(element('p', `${file.name} was not evaluated: ${detail}`, 'error'));
    return;
  }
  // Markup rendered by the server from the artifact and the file's figures (names escaped);
  // it holds no script, and the page's content security policy would refuse one.
  box.innerHTML = await response.text();
}

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
