// Every console screen in Debian's Chromium against a real `escrowgrid serve`, each result
// cross-checked through the REST API. Env: CONSOLE_URL, API_URL, ROOT_KEY, SHOTS_DIR, OUT.
// The test that runs it answers its asks on stdin (asker in browser.mjs): the lost race below.
import { writeFileSync } from 'node:fs';
import { accessible, asker, check, keyboardReachable, launch, rest, shots } from './browser.mjs';

const CONSOLE = process.env.CONSOLE_URL;
const API = process.env.API_URL;
const ROOT = process.env.ROOT_KEY;
const root = rest(API, ROOT);
const shot = shots();
const ask = asker();
const report = { screens: [], axe: {}, keyboard: {} };

async function signIn(page, key, apiUrl = API) {
  await page.goto(CONSOLE);
  await page.fill('#api-url', apiUrl);
  await page.fill('#api-key', key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByTestId('key-kind').waitFor();
}

async function go(page, route) {
  await page.goto(`${CONSOLE}#${route}`);
  await page.getByTestId('key-kind').waitFor();
}

async function confirm(page, label) {
  await page.getByRole('button', { name: label, exact: true }).click();
  const dialog = page.locator('dialog[open]');
  await dialog.getByRole('button', { name: 'Confirm' }).click();
  await dialog.waitFor({ state: 'detached' }).catch(() => undefined);
  await page.locator('dialog[open]').waitFor({ state: 'hidden' });
}

async function screen(page, name) {
  await shot(page, name);
  report.axe[name] = await accessible(page, name);
  report.screens.push(name);
}

const browser = await launch();
const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: new URL(CONSOLE).origin });
const page = await context.newPage();
const logged = [];
page.on('console', (m) => logged.push(m.text()));
page.on('request', (r) => logged.push(r.url()));
try {
  // 1. Sign in: the key is kept for the tab only, and the console says which kind it is.
  await page.goto(CONSOLE);
  await page.locator('#api-url').waitFor();
  check((await page.inputValue('#api-url')) !== '', 'the API URL is prefilled');
  await screen(page, 'sign-in');
  report.keyboard['sign-in'] = await keyboardReachable(page, 'sign-in');
  await signIn(page, ROOT);
  check((await page.getByTestId('key-kind').textContent()).startsWith('root'), 'root key shown');
  const stored = await page.evaluate(() => Object.keys(sessionStorage));
  check(stored.length === 1, 'the session is in sessionStorage');
  check((await page.evaluate(() => Object.keys(localStorage))).length === 0, 'nothing in localStorage');

  // 2. Institutions: create with regions and verticals, list, open.
  await go(page, '/institutions');
  await page.fill('#f-name', 'Acme Bank');
  await page.getByLabel('EU_UK').check();
  await page.getByRole('button', { name: 'Create institution' }).click();
  await page.getByRole('link', { name: 'Acme Bank' }).waitFor();
  const institutions = (await root('GET', '/institutions')).body;
  const acme = institutions.find((i) => i.name === 'Acme Bank');
  check(acme && acme.regions.join() === 'US,EU_UK' && acme.verticals.join() === 'CONSTRUCTION', 'institution stored as entered');
  await screen(page, 'institutions');
  report.keyboard.institutions = await keyboardReachable(page, 'institutions');
  await page.getByRole('link', { name: 'Acme Bank' }).click();
  await page.getByRole('heading', { name: 'Acme Bank' }).waitFor();

  // API keys: create (token once, with copy), list, revoke behind a confirmation.
  async function newKey(label, role) {
    await page.fill('#f-label', label);
    await page.selectOption('#f-role', role);
    await page.getByRole('button', { name: 'Create key' }).click();
    const token = await page.getByTestId('new-token').textContent();
    await page.getByRole('button', { name: 'Copy' }).click();
    await page.getByRole('button', { name: 'Copied' }).waitFor();
    check((await page.evaluate(() => navigator.clipboard.readText())) === token, 'copy puts the token on the clipboard');
    await page.getByRole('button', { name: 'Done' }).click();
    check((await page.getByTestId('new-token').count()) === 0, 'the token is shown once');
    return token;
  }
  const adminToken = await newKey('ops', 'admin');
  const readToken = await newKey('auditor', 'read_only');
  const tempToken = await newKey('temp', 'admin');
  check((await rest(API, adminToken)('GET', '/whoami')).body.kind === 'admin', 'admin token works');
  check((await rest(API, readToken)('GET', '/whoami')).body.kind === 'read_only', 'read-only token works');
  await confirm(page, 'Revoke temp');
  await page.getByRole('button', { name: 'Revoke temp' }).waitFor({ state: 'detached' });
  check((await rest(API, tempToken)('GET', '/whoami')).status === 401, 'revoked key refused');
  const keys = (await root('GET', `/institutions/${acme.id}/api-keys`)).body;
  check(keys.filter((k) => !k.revokedAt).map((k) => k.label).sort().join() === 'auditor,ops', 'two active keys left');

  // Policies per region: a server validation error at its field, then a saved policy.
  await page.getByRole('button', { name: 'Edit policy US' }).click();
  await page.fill('#f-minAmount', '500');
  await page.fill('#f-maxAmount', '10');
  await page.getByRole('button', { name: 'Save policy' }).click();
  await page.locator('.field-error').first().waitFor();
  report.policyFieldError = await page.locator('.field-error').first().textContent();
  await screen(page, 'policy-validation');
  await page.fill('#f-minAmount', '10');
  await page.fill('#f-maxAmount', '500000');
  await page.fill('#f-allowedCurrencies', 'USD, EUR');
  await page.getByRole('button', { name: 'Save policy' }).click();
  await page.getByTestId('policy-US-max').filter({ hasText: '500000' }).waitFor();
  const policy = (await root('GET', `/institutions/${acme.id}/policies/US`)).body;
  check(policy.config.position.maxAmount === '500000' && policy.config.position.allowedCurrencies.join() === 'USD,EUR', 'policy stored');
  await screen(page, 'institution');
  report.keyboard.institution = await keyboardReachable(page, 'institution');

  // Sign out clears the tab's key.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.locator('#api-key').waitFor();
  check((await page.evaluate(() => Object.keys(sessionStorage))).length === 0, 'sign out clears sessionStorage');

  // 3. Templates (the four kinds with their config), assets, positions, as the admin key.
  await signIn(page, adminToken);
  check((await page.getByTestId('key-kind').textContent()).startsWith('admin'), 'admin key shown');
  await go(page, '/templates');
  const kinds = [
    ['CONSTR_ESCROW', 'Tower escrow', 'US', { 'config.currency': 'USD', 'config.minAmount': '10', 'config.maxAmount': '1000000' }],
    ['CONSTR_RETAINAGE', 'Tower retainage', 'US', { 'config.retainagePercentage': '5', 'config.currency': 'USD' }],
    ['TF_INVOICE', 'Invoice finance', 'EU_UK', { 'config.maxTenorDays': '90', 'config.country': 'GB', 'config.currency': 'GBP' }],
    ['TF_LC', 'Letter of credit', 'EU_UK', { 'config.issuingBankCountry': 'GB', 'config.maxTenorDays': '180', 'config.currency': 'USD' }],
  ];
  for (const [code, name, region, config] of kinds) {
    await page.selectOption('#f-code', code);
    await page.fill('#f-name', name);
    await page.selectOption('#f-region', region);
    for (const [field, value] of Object.entries(config)) await page.fill(`[id="f-${field}"]`, value);
    await page.getByRole('button', { name: 'Create template' }).click();
    await page.getByRole('cell', { name, exact: true }).waitFor();
  }
  const templates = (await rest(API, adminToken)('GET', '/asset-templates')).body.data;
  check(templates.length === 4, 'four templates');
  const escrow = templates.find((t) => t.code === 'CONSTR_ESCROW');
  check(JSON.stringify(escrow.config.maxAmount) === '1000000', 'config amounts sent as exact JSON numbers');
  await screen(page, 'templates');

  await go(page, '/assets');
  await page.selectOption('#f-templateId', escrow.id);
  await page.fill('#f-label', 'Tower A, phase 1');
  await page.getByRole('button', { name: 'Create asset' }).click();
  await page.getByRole('cell', { name: 'Tower A, phase 1' }).waitFor();
  const asset = (await rest(API, adminToken)('GET', '/assets')).body.data[0];
  check(asset.label === 'Tower A, phase 1', 'asset stored');
  await screen(page, 'assets');

  await go(page, '/positions');
  async function newPosition(holder, amount) {
    await page.selectOption('#f-assetId', asset.id);
    await page.fill('#f-holderReference', holder);
    await page.fill('#f-amount', amount);
    await page.getByRole('button', { name: 'Create position' }).click();
    await page.getByRole('cell', { name: holder, exact: true }).waitFor();
  }
  await newPosition('subcontractor-42', '250000.00');
  await newPosition('subcontractor-7', '1000');
  await newPosition('supplier-3', '99999.99');
  // The policy's limits, enforced by the server, explained at the field.
  await page.selectOption('#f-assetId', asset.id);
  await page.fill('#f-holderReference', 'too-big');
  await page.fill('#f-amount', '600000');
  await page.getByRole('button', { name: 'Create position' }).click();
  await page.getByRole('alert').first().waitFor();
  report.positionPolicyError = await page.getByRole('alert').first().textContent();
  const all = (await rest(API, adminToken)('GET', '/positions')).body;
  check(all.pagination.total === 3, 'three positions, the one over the policy refused');
  const big = all.data.find((p) => p.holderReference === 'subcontractor-42');
  check(big.amount === '250000', 'amount kept exact');
  check((await page.locator('[data-amount="250000"]').first().textContent()) === '$250,000.00', 'amount formatted');
  await screen(page, 'positions');
  report.keyboard.positions = await keyboardReachable(page, 'positions');

  // 4. The position page: only the moves its state allows, each confirmed; exact partial release.
  await page.getByRole('link', { name: big.id.slice(0, 8) }).click();
  await page.getByTestId('state').filter({ hasText: 'CREATED' }).waitFor();
  const visible = async () => (await page.locator('[aria-label="Actions"] button').allTextContents()).sort();
  check((await visible()).join() === 'Cancel,Expire,Fund', `CREATED offers fund, cancel, expire (${await visible()})`);
  await confirm(page, 'Fund');
  await page.getByTestId('state').filter({ hasText: 'FUNDED' }).waitFor();
  await page.fill('#f-amount', '1000.5');
  await confirm(page, 'Release part');
  await page.getByTestId('released').filter({ hasText: '$1,000.50' }).waitFor();
  check((await page.getByTestId('remaining').textContent()) === '$248,999.50', 'remaining exact');
  let now = (await rest(API, adminToken)('GET', `/positions/${big.id}`)).body;
  check(now.state === 'PARTIALLY_RELEASED' && now.releasedAmount === '1000.5' && now.remainingAmount === '248999.5', 'partial release stored exactly');

  // A lost race, for real: the test holds the appender's table lock, so another client's partial
  // release waits inside its batch; this page's release loads the position meanwhile (at the old
  // version) and, once the test lets the lock go, loses to it: the server's own 409.
  await ask('hold', { url: `${API}/positions/${big.id}/transition`, key: adminToken, body: { toState: 'PARTIALLY_RELEASED', amount: '0.25' } });
  const answered = page.waitForResponse((r) => r.url().endsWith(`/positions/${big.id}/transition`) && r.request().method() === 'POST');
  await confirm(page, 'Release');
  const competing = await ask('let-go');
  check(competing.status === 200, `the competing release committed (${competing.status})`);
  const refused = await answered;
  check(refused.status() === 409, `this page's release lost the race (${refused.status()})`);
  report.conflict = { requestId: refused.headers()['x-request-id'], competingRequestId: competing.requestId };
  await page.getByText('Another client moved this position').waitFor();
  await page.getByTestId('released').filter({ hasText: '$1,000.75' }).waitFor();
  await screen(page, 'position-conflict');
  now = (await rest(API, adminToken)('GET', `/positions/${big.id}`)).body;
  check(now.state === 'PARTIALLY_RELEASED' && now.releasedAmount === '1000.75', 'the refused release changed nothing');

  // 5. The verified timeline, recomputed in the browser (reopened: the conflict notice is gone).
  await page.reload();
  await page.getByTestId('state').filter({ hasText: 'PARTIALLY_RELEASED' }).waitFor();
  await page.getByTestId('chain-verdict').filter({ hasText: 'verified' }).waitFor();
  const verdicts = await page.locator('.timeline li').evaluateAll((n) => n.map((x) => x.dataset.verdict));
  check(verdicts.length === 4 && verdicts.every((v) => v === 'verified'), `every event verified (${verdicts})`);
  await screen(page, 'position');
  report.keyboard.position = await keyboardReachable(page, 'position');

  // 6. Time travel: as of version 2 (funded, nothing released), later events greyed out.
  const history = (await rest(API, adminToken)('GET', `/positions/${big.id}/history`)).body;
  await page.selectOption('#as-of', String(history.events[1].recordedAt));
  await page.getByTestId('state').filter({ hasText: 'FUNDED' }).waitFor();
  check((await page.getByTestId('released').textContent()) === '$0.00', 'nothing released then');
  const later = await page.locator('.timeline li').evaluateAll((n) => n.map((x) => x.dataset.later));
  check(later.join() === 'false,false,true,true', `later events greyed (${later})`);
  const then = (await rest(API, adminToken)('GET', `/positions/${big.id}?asOf=${encodeURIComponent(history.events[1].recordedAt)}`)).body;
  check(then.state === 'FUNDED', 'the API agrees on the past state');
  await screen(page, 'time-travel');
  await page.selectOption('#as-of', '');
  await confirm(page, 'Release');
  await page.getByTestId('state').filter({ hasText: /^RELEASED$/ }).waitFor();
  check((await page.locator('[aria-label="Actions"]').count()) === 0, 'a released position offers no move');
  check((await rest(API, adminToken)('GET', `/positions/${big.id}`)).body.remainingAmount === '0', 'released in full');

  // Filters: state, holder, asset, served by the API.
  await go(page, '/positions?state=RELEASED');
  await page.getByRole('cell', { name: 'subcontractor-42' }).waitFor();
  check((await page.locator('tbody tr').count()) === 1, 'state filter');
  await go(page, `/positions?holder=subcontractor-7&asset=${asset.id}`);
  await page.getByRole('cell', { name: 'subcontractor-7' }).waitFor();
  check((await page.locator('tbody tr').count()) === 1, 'holder and asset filters');
  check((await rest(API, adminToken)('GET', '/positions?state=CREATED')).body.pagination.total === 2, 'API state filter');

  // A read-only key sees no write buttons.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await signIn(page, readToken);
  await go(page, '/positions');
  await page.getByRole('cell', { name: 'subcontractor-7' }).waitFor();
  check((await page.getByRole('button', { name: 'Create position' }).count()) === 0, 'read-only: no create');
  await screen(page, 'read-only');
  await page.getByRole('link', { name: all.data.find((p) => p.holderReference === 'subcontractor-7').id.slice(0, 8) }).click();
  await page.getByTestId('state').waitFor();
  check((await page.locator('[aria-label="Actions"]').count()) === 0, 'read-only: no moves');
  for (const route of ['/templates', '/assets']) {
    await go(page, route);
    await page.locator('table').waitFor();
    check((await page.locator('form[aria-label^="New"]').count()) === 0, `read-only: no form on ${route}`);
  }
  // A refused command, for the audit trail below.
  check((await rest(API, readToken)('POST', '/positions', { assetId: asset.id, holderReference: 'x', currency: 'USD', amount: '20' })).status === 403, 'read-only write refused');

  // 7. Ledger (root): the feed, the current digest, a published digest checked.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await signIn(page, ROOT);
  await go(page, '/ledger');
  const digest = (await root('GET', '/ledger/digest')).body;
  await page.getByTestId('digest-position').filter({ hasText: String(digest.position) }).waitFor();
  check((await page.getByTestId('digest-value').textContent()) === digest.digest, 'current digest shown');
  await page.fill('#f-position', String(digest.position));
  await page.fill('#f-digest', digest.digest);
  await page.getByRole('button', { name: 'Check digest' }).click();
  await page.getByTestId('digest-check').filter({ hasText: 'Matches' }).waitFor();
  await screen(page, 'ledger');
  report.keyboard.ledger = await keyboardReachable(page, 'ledger');
  await page.fill('#f-position', String(digest.position - 1));
  await page.getByRole('button', { name: 'Check digest' }).click();
  await page.getByTestId('digest-check').filter({ hasText: 'Does not match' }).waitFor();

  // 8. Read-side health and the audit trail, refused commands included.
  await go(page, '/health');
  const status = (await root('GET', '/projections/status')).body;
  await page.getByTestId(`projection-${status[0].projection}`).waitFor();
  check((await page.locator('[data-testid^="projection-"]').count()) === status.length, 'every projection listed');
  await page.selectOption('#outcome', 'refused');
  await page.locator('tr.refused').first().waitFor();
  await screen(page, 'health');
  report.keyboard.health = await keyboardReachable(page, 'health');

  // The key never reaches the console log or a URL.
  for (const key of [ROOT, adminToken, readToken]) check(!logged.some((l) => l.includes(key)), 'key never logged');
  report.positionId = big.id;
  report.institutionId = acme.id;
  report.adminToken = adminToken;
} catch (error) {
  await shot(page, 'failure').catch(() => undefined);
  throw error;
} finally {
  ask.done();
  await browser.close();
  if (process.env.OUT) writeFileSync(process.env.OUT, JSON.stringify(report, null, 2));
}
process.stdout.write(JSON.stringify({ screens: report.screens, axe: report.axe, keyboard: report.keyboard }) + '\n');
