// Opens /docs/ and /ui of a running `serve` in headless Chromium, as a person would, and checks
// that Swagger UI renders every operation, that the web page predicts and shows field errors,
// and that neither page requests anything outside the server (no internet is needed).
//
// usage: node check-pages.mjs http://127.0.0.1:PORT [SCREENSHOT_DIR]
import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';

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

await check('web page predicts with the default (typical) record', async () => {
  const response = await page.goto(`${base}/ui`, { waitUntil: 'load' });
  const policy = response.headers()['content-security-policy'] ?? '';
  assert.match(policy, /frame-ancestors 'none'/);
  assert.doesNotMatch(policy, /unsafe-inline/);
  await page.click('button[type=submit]');
  await page.waitForSelector('#label', { timeout: 10000 });
  const text = await page.locator('#result').innerText();
  const info = await (await fetch(`${base}/`)).json();
  assert.ok(info.classes.some((label) => text.includes(label)), `result: ${text}`);
  assert.match(text, /probability \d+(\.\d)?%/);
  // The explanation table lists every feature of the model card once.
  const card = await (await fetch(`${base}/model`)).json();
  const rows = await page.locator('table.explanation th[scope=row]').allInnerTexts();
  assert.deepEqual([...rows].sort(), card.features.map((f) => f.name).sort());
  // The drift section reflects the server's window after the prediction.
  await page.locator('#drift').filter({ hasText: /recent record/ }).waitFor({ timeout: 10000 });
  await page.screenshot({ path: `${shots}/ui.png` });
});

await check('web page shows the server\'s field error next to the field', async () => {
  const card = await (await fetch(`${base}/model`)).json();
  const numeric = card.features.find((f) => f.accepted_range && f.kind !== 'categorical');
  assert.ok(numeric, 'a numeric feature with a range');
  await page.fill(`[name="${numeric.name}"]`, String(numeric.accepted_range.max * 10 + 1));
  // Bypass the browser's own min/max check so the server's validation is what is shown.
  await page.evaluate(() => { document.getElementById('record').noValidate = true; });
  await page.click('button[type=submit]');
  const slot = page.locator(`[data-error-for="${numeric.name}"]`);
  await slot.filter({ hasText: 'outside the accepted range' }).waitFor({ timeout: 10000 });
  await page.screenshot({ path: `${shots}/ui-error.png` });
});

await check('no request left the server and no script error occurred', async () => {
  assert.deepEqual(foreign, []);
  assert.deepEqual(consoleErrors, []);
  assert.deepEqual(blocked, [], 'content security policy violations');
});

await browser.close();
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
