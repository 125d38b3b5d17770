// Opens /docs/, /ui and the model card of a running `serve` in headless Chromium, as a person
// would, and checks that Swagger UI renders every operation; that the web page states the risk
// against the threshold the model card gives, explains it, flags values beyond training, shows
// the server's field errors and never leaves a result beside inputs it does not belong to;
// that the model card draws its figures; that axe-core finds no serious accessibility
// violation; and that no page requests anything outside the server. Screenshots of every view
// go to SCREENSHOT_DIR.
//
// usage: node check-pages.mjs http://127.0.0.1:PORT [SCREENSHOT_DIR]
import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';

const base = process.argv[2];
const shots = process.argv[3] ?? '.';
if (!base) {
  console.error('usage: node check-pages.mjs http://127.0.0.1:PORT [SCREENSHOT_DIR]');
  process.exit(2);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
});
const foreign = [];
const page = await browser.newPage({ viewport: { width: 1200, height: 1400 } });
// Anything not served by our server is recorded and refused.
await page.route('**/*', (route) => {
  const url = route.request().url();
  if (url.startsWith(base) || url.startsWith('data:')) return route.continue();
  foreign.push(url);
  return route.abort();
});
const consoleErrors = [];
page.on('pageerror', (error) => consoleErrors.push(String(error)));
// The pages run under a content security policy; anything it blocks is a bug in the page.
const blocked = [];
page.on('console', (message) => {
  if (message.type() === 'error' && /Content Security Policy/i.test(message.text())) blocked.push(`${page.url()}: ${message.text()}`);
});

let passed = 0;
let failed = 0;
async function check(name, body) {
  try {
    await body();
    passed += 1;
    console.log(`ok: ${name}`);
  } catch (error) {
    failed += 1;
    console.log(`FAILED: ${name}: ${error.message}`);
  }
}

await check('swagger ui renders every operation from /openapi.json', async () => {
  const document = await (await fetch(`${base}/openapi.json`)).json();
  const expected = Object.values(document.paths).reduce((n, item) => n + Object.keys(item).length, 0);
  await page.goto(`${base}/docs/`, { waitUntil: 'load' });
  await page.waitForSelector('.opblock', { timeout: 15000 });
  const operations = await page.locator('.opblock').count();
  assert.equal(operations, expected, `operations shown: ${operations}, documented: ${expected}`);
  const title = await page.locator('.title').first().innerText();
  assert.match(title, /vigil/);
  await page.screenshot({ path: `${shots}/docs.png` });
});

await check('swagger ui "try it out" posts the example and gets 200', async () => {
  const predict = page.locator('.opblock-post', { hasText: '/predict' }).first();
  await predict.locator('.opblock-summary').click();
  await predict.locator('button.try-out__btn').click();
  await predict.locator('button.execute').click();
  await predict.locator('.response-col_status').filter({ hasText: '200' }).first().waitFor({ timeout: 10000 });
});

const card = await (await fetch(`${base}/model`, { headers: { Accept: 'application/json' } })).json();
const binary = card.task === 'binary';

await check('web page predicts the default (typical) record and states the risk as such', async () => {
  const response = await page.goto(`${base}/ui`, { waitUntil: 'load' });
  const policy = response.headers()['content-security-policy'] ?? '';
  assert.match(policy, /frame-ancestors 'none'/);
  assert.doesNotMatch(policy, /unsafe-inline/);
  await page.screenshot({ path: `${shots}/ui.png` });
  await page.click('#record button[type=submit]');
  await page.waitForSelector('#label', { timeout: 20000 });
  const text = await page.locator('#result').innerText();
  if (binary) {
    // The wording and the threshold match the model card.
    const outcome = card.purpose.outcome ?? card.positive_class;
    const match = text.match(new RegExp(`Risk of ${outcome}: (\\d+\\.\\d)% — (below|at or above) the alert threshold of (\\d+\\.\\d)%`));
    assert.ok(match, `result: ${text}`);
    assert.equal(match[3], (100 * card.decision.threshold).toFixed(1));
    assert.equal(match[2] === 'below', Number(match[1]) < Number(match[3]));
  } else {
    // Every class, most probable first.
    const shown = await page.locator('ol.classes li').allInnerTexts();
    assert.equal(shown.length, card.classes.length);
    const values = shown.map((line) => Number(line.split(': ')[1].replace('%', '')));
    assert.deepEqual(values, [...values].sort((a, b) => b - a));
  }
  // The explanation table lists every feature of the model card once.
  const rows = await page.locator('table.explanation th[scope=row]').allInnerTexts();
  assert.deepEqual([...rows].sort(), card.features.map((f) => f.name).sort());
  await page.locator('#drift').filter({ hasText: /recent record/ }).waitFor({ timeout: 10000 });
  await page.screenshot({ path: `${shots}/ui-result.png`, fullPage: true });
});

await check('changing an input clears the result it no longer belongs to', async () => {
  const field = page.locator('#record input[type=number]').first();
  await field.fill(await field.inputValue());
  await page.locator('#label').waitFor({ state: 'detached', timeout: 5000 });
  assert.match(await page.locator('#result').innerText(), /Inputs changed/);
});

await check('a value beyond the training range but accepted is flagged at its field', async () => {
  const feature = card.features.find((f) => f.kind !== 'categorical' && f.kind !== 'binary'
    && f.training_range && f.accepted_range && f.accepted_range.max > f.training_range.max);
  assert.ok(feature, 'a feature whose accepted range exceeds its training range');
  await page.goto(`${base}/ui`, { waitUntil: 'load' });
  const value = feature.kind === 'integer'
    ? Math.floor(feature.accepted_range.max)
    : feature.accepted_range.max;
  await page.fill(`[name="${feature.name}"]`, String(value));
  await page.click('#record button[type=submit]');
  await page.locator(`[data-warning-for="${feature.name}"]`).filter({ hasText: 'Outside the training range' }).waitFor({ timeout: 20000 });
});

await check('a blocked submit shows the server\'s error at the field and clears the old result', async () => {
  await page.goto(`${base}/ui`, { waitUntil: 'load' });
  await page.click('#record button[type=submit]');
  await page.waitForSelector('#label', { timeout: 20000 });
  const numeric = card.features.find((f) => f.accepted_range && f.kind !== 'categorical' && f.kind !== 'binary');
  assert.ok(numeric, 'a numeric feature with a range');
  // Bypass the browser's own min/max check so the server's validation is what is shown.
  await page.evaluate(() => { document.getElementById('record').noValidate = true; });
  await page.fill(`[name="${numeric.name}"]`, String(numeric.accepted_range.max * 10 + 1));
  await page.click('#record button[type=submit]');
  const slot = page.locator(`[data-error-for="${numeric.name}"]`);
  await slot.filter({ hasText: 'outside the accepted range' }).waitFor({ timeout: 10000 });
  assert.equal(await page.locator('#label').count(), 0, 'the old result is gone');
  await page.screenshot({ path: `${shots}/ui-error.png`, fullPage: true });
});

await check('an empty form is refused at its fields or flagged as low-information', async () => {
  await page.goto(`${base}/ui`, { waitUntil: 'load' });
  await page.evaluate(() => {
    document.getElementById('record').noValidate = true;
    for (const field of document.querySelectorAll('#record input')) field.value = '';
    for (const field of document.querySelectorAll('#record select')) {
      if ([...field.options].some((option) => option.value === '')) field.value = '';
    }
  });
  await page.click('#record button[type=submit]');
  await page.waitForFunction(() => {
    const errors = [...document.querySelectorAll('.error')].some((slot) => slot.textContent !== '');
    return errors || /Low-information/.test(document.getElementById('result').innerText);
  }, null, { timeout: 20000 });
  await page.screenshot({ path: `${shots}/ui-empty.png`, fullPage: true });
});

await check('an uploaded CSV is scored as `serve score` scores it, sortable, and downloads byte for byte', async () => {
  const { SERVE_BIN: serveBin, SERVE_MODEL: model } = process.env;
  assert.ok(serveBin && model, 'SERVE_BIN and SERVE_MODEL name the binary and the model');
  // Thirty records made from the documented example, with CRLF line endings and a BOM.
  const openapi = await (await fetch(`${base}/openapi.json`)).json();
  const example = openapi.components.schemas.Record.example;
  const names = Object.keys(example);
  const numeric = card.features.find((f) => f.kind === 'numeric' || f.kind === 'integer');
  const lines = [names.join(',')];
  for (let row = 0; row < 30; row += 1) {
    const record = { ...example };
    if (numeric && numeric.training_range) {
      // Within both the (published) training range and the accepted range.
      const accepted = numeric.accepted_range ?? { min: -Infinity, max: Infinity };
      const min = Math.max(numeric.training_range.min, accepted.min);
      const max = Math.min(numeric.training_range.max, accepted.max);
      const value = min + (max - min) * (0.1 + (0.8 * row) / 29);
      record[numeric.name] = numeric.kind === 'integer' ? Math.round(value) : Number(value.toFixed(3));
    }
    lines.push(names.map((name) => String(record[name])).join(','));
  }
  const input = `${shots}/upload.csv`;
  writeFileSync(input, '\ufeff' + lines.join('\r\n') + '\r\n');
  const expected = `${shots}/upload-expected.csv`;
  execFileSync(serveBin, ['score', '--model', model, '--input', input, '--output', expected]);
  await page.goto(`${base}/ui`, { waitUntil: 'load' });
  await page.setInputFiles('#file', input);
  await page.click('#upload button[type=submit]');
  await page.waitForSelector('#download', { timeout: 20000 });
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
  const downloaded = readFileSync(await download.path());
  assert.ok(downloaded.equals(readFileSync(expected)), 'the download equals `serve score` byte for byte');
  assert.equal(await page.locator('table.scores tbody tr').count(), 30);
  // Sorting by the first probability column orders the rows by it.
  const header = await page.locator('table.scores th').allInnerTexts();
  // The first probability column whose values differ between rows (a rare class's may not).
  let column = -1;
  for (const [idx, name] of header.entries()) {
    if (!name.startsWith('probability_')) continue;
    const cells = await page.locator(`table.scores tbody tr td:nth-child(${idx + 1})`).allInnerTexts();
    if (new Set(cells).size > 1) { column = idx; break; }
  }
  assert.ok(column >= 0, `a probability column that varies among ${header}`);
  await page.locator('table.scores th button').nth(column).click();
  const values = (await page.locator(`table.scores tbody tr td:nth-child(${column + 1})`).allInnerTexts()).map(Number);
  assert.equal(values.length, 30);
  assert.ok(new Set(values).size > 1, 'the rows differ');
  assert.deepEqual(values, [...values].sort((a, b) => a - b));
  await page.screenshot({ path: `${shots}/ui-upload.png`, fullPage: true });
  // A bad row is refused naming its line and column.
  const bad = `${shots}/upload-bad.csv`;
  const broken = [...lines];
  broken[3] = broken[3].replace(/^[^,]*/, 'not-a-number');
  writeFileSync(bad, broken.join('\n') + '\n');
  await page.setInputFiles('#file', bad);
  await page.click('#upload button[type=submit]');
  await page.locator('#upload-result .error').filter({ hasText: 'line 4' }).waitFor({ timeout: 10000 });
  assert.match(await page.locator('#upload-result .error').innerText(), new RegExp(`column \`${names[0]}\``));
});

await check('a labelled upload is evaluated on the page with the figures of `train evaluate`', async () => {
  const { TRAIN_BIN: trainBin, SERVE_MODEL: model } = process.env;
  assert.ok(trainBin && model, 'TRAIN_BIN and SERVE_MODEL name the binary and the model');
  // The scored upload above, with the target column added: labels cycling through the classes
  // (binary: every third record positive), so every class is present.
  const lines = readFileSync(`${shots}/upload.csv`, 'utf8').replace(/^\ufeff/, '').trim().split('\r\n');
  const labelled = lines.map((line, row) => {
    if (row === 0) return `${line},${card.target}`;
    const label = binary ? card.classes[row % 3 === 0 ? 1 : 0] : card.classes[(row - 1) % card.classes.length];
    return `${line},${label}`;
  });
  const input = `${shots}/labelled.csv`;
  writeFileSync(input, labelled.join('\n') + '\n');
  const out = `${shots}/train-evaluate`;
  execFileSync(trainBin, ['evaluate', '--model', model, '--config', `data/${card.dataset}.toml`, '--input', input, '--out', out, '--store', `${shots}/evaluate-runs.sqlite`], { stdio: 'ignore' });
  const expected = JSON.parse(readFileSync(`${out}/evaluation.json`, 'utf8'));
  await page.goto(`${base}/ui`, { waitUntil: 'load' });
  await page.setInputFiles('#file', input);
  await page.click('#upload button[type=submit]');
  await page.waitForSelector('#evaluation table', { timeout: 60000 });
  const shown = await page.locator('#evaluation tr[data-figure]').evaluateAll((rows) => rows.map((row) => [row.dataset.figure, row.cells[1].innerText, row.cells[2].innerText]));
  assert.deepEqual(shown.map(([name]) => name).sort(), Object.keys(expected.figures).sort(), 'the same figures');
  for (const [name, value, interval] of shown) {
    const figure = expected.figures[name];
    assert.ok(figure, `train evaluate reports ${name}`);
    assert.equal(value, figure.value === null ? 'undefined' : figure.value.toFixed(3), `${name} value`);
    const bounds = figure.lower === null || figure.upper === null ? '—' : `${figure.lower.toFixed(3)} – ${figure.upper.toFixed(3)}`;
    assert.equal(interval, bounds, `${name} interval`);
  }
  const text = await page.locator('#evaluation').innerText();
  assert.ok(text.includes(`${labelled.length - 1} labelled records`), 'the record count');
  // ROC (binary) and the confusion matrix at the threshold are drawn.
  const plots = page.locator('#evaluation figure svg');
  assert.equal(await plots.count(), binary ? 4 : 1);
  for (let idx = 0; idx < await plots.count(); idx += 1) {
    const box = await plots.nth(idx).boundingBox();
    assert.ok(box && box.width > 100 && box.height > 100, `evaluation plot ${idx} is drawn`);
  }
  await page.locator('#evaluation').screenshot({ path: `${shots}/ui-evaluation.png` });
});

await check('the model card is a page for a browser, with its figures drawn', async () => {
  const response = await page.goto(`${base}/model`, { waitUntil: 'load' });
  assert.match(response.headers()['content-type'], /text\/html/);
  assert.match(await page.locator('h1').innerText(), /Model card/);
  const figures = page.locator('figure svg');
  const count = await figures.count();
  assert.ok(count >= (binary ? 5 : 2), `${count} figures`);
  for (let idx = 0; idx < count; idx += 1) {
    const box = await figures.nth(idx).boundingBox();
    assert.ok(box && box.width > 100 && box.height > 100, `figure ${idx} is drawn`);
  }
  const text = await page.locator('body').innerText();
  if (binary) assert.ok(text.includes(`${(100 * card.decision.threshold).toFixed(1)}%`), 'the threshold as on /model');
  await page.screenshot({ path: `${shots}/model-card.png`, fullPage: true });
});

await check('axe-core finds no serious accessibility violation on the page and the card', async () => {
  const { createRequire } = await import('node:module');
  const axePath = createRequire(import.meta.url).resolve('axe-core/axe.min.js');
  // axe is injected as a script, which the pages' content security policy rightly forbids.
  const context = await browser.newContext({ bypassCSP: true, viewport: { width: 1200, height: 1400 } });
  const audit = await context.newPage();
  await audit.route('**/*', (route) => (route.request().url().startsWith(base) ? route.continue() : route.abort()));
  const problems = [];
  for (const path of ['/ui', '/model']) {
    await audit.goto(`${base}${path}`, { waitUntil: 'load' });
    if (path === '/ui') {
      await audit.click('#record button[type=submit]');
      await audit.waitForSelector('#label', { timeout: 20000 });
    }
    await audit.addScriptTag({ path: axePath });
    const results = await audit.evaluate(async () => window.axe.run(document, { resultTypes: ['violations'] }));
    for (const violation of results.violations) {
      if (violation.impact === 'serious' || violation.impact === 'critical') {
        problems.push(`${path}: ${violation.id} (${violation.impact}): ${violation.nodes.slice(0, 2).map((node) => node.target.join(' ')).join('; ')}`);
      }
    }
  }
  await context.close();
  assert.deepEqual(problems, []);
});

await check('no request left the server and no script error occurred', async () => {
  assert.deepEqual(foreign, []);
  assert.deepEqual(consoleErrors, []);
  assert.deepEqual(blocked, [], 'content security policy violations');
});

await browser.close();
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
