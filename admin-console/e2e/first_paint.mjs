// First paint of the positions page over 10,000 positions (figures for docs/performance.md).
// Env: CONSOLE_URL, API_URL, ROOT_KEY; POSITIONS (default 10000). Seeds through the REST API.
import { launch, rest } from './browser.mjs';

const API = process.env.API_URL;
const COUNT = Number(process.env.POSITIONS ?? 10000);
const root = rest(API, process.env.ROOT_KEY);
const inst = (await root('POST', '/institutions', { name: 'Load Ltd', regions: ['US'], verticals: ['CONSTRUCTION'] })).body;
const key = (await root('POST', `/institutions/${inst.id}/api-keys`, { label: 'load', role: 'admin' })).body.apiKey;
const admin = rest(API, key);
const template = (await admin('POST', '/asset-templates', { code: 'CONSTR_ESCROW', name: 'Load', vertical: 'CONSTRUCTION', region: 'US', config: { currency: 'USD', region: 'US' } })).body;
const asset = (await admin('POST', '/assets', { templateId: template.id, label: 'Load asset' })).body;
const started = Date.now();
let next = 0;
await Promise.all(Array.from({ length: 16 }, async () => {
  while (next < COUNT) {
    const i = next++;
    const made = await admin('POST', '/positions', { assetId: asset.id, holderReference: `holder-${i % 500}`, currency: 'USD', amount: `${1000 + i}.25` });
    if (made.status !== 201) throw new Error(`seed ${i}: ${made.status}`);
  }
}));
const seeded = Math.round((Date.now() - started) / 100) / 10;
const total = (await admin('GET', '/positions?limit=1')).body.pagination.total;

const browser = await launch();
const runs = [];
try {
  for (let run = 0; run < 5; run++) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    // Signed in already (this tab's session), so the figure is the positions page itself.
    await context.addInitScript(([apiUrl, apiKey]) => sessionStorage.setItem('escrowgrid.console.session', JSON.stringify({ apiUrl, apiKey })), [API, key]);
    const page = await context.newPage();
    await page.goto(`${process.env.CONSOLE_URL}#/positions`);
    await page.locator('tbody tr').first().waitFor();
    const figures = await page.evaluate(() => {
      const paint = performance.getEntriesByName('first-contentful-paint')[0];
      return { fcp: paint ? paint.startTime : null, rows: performance.now(), count: document.querySelectorAll('tbody tr').length };
    });
    runs.push(figures);
    await context.close();
  }
} finally {
  await browser.close();
}
const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
process.stdout.write(JSON.stringify({
  positions: total, seedSeconds: seeded,
  firstContentfulPaintMs: Math.round(median(runs.map((r) => r.fcp))),
  rowsVisibleMs: Math.round(median(runs.map((r) => r.rows))),
  rowsPerPage: runs[0].count, runs,
}, null, 2) + '\n');
