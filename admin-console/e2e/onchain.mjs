// A position's on-chain records on its page, against a real `escrowgrid serve` whose publisher
// mirrors to anvil; each row cross-checked with GET /positions/{id}/onchain.
// Env: CONSOLE_URL, API_URL, ROOT_KEY, ONCHAIN_ID, PLAIN_ID, SHOTS_DIR.
import { accessible, check, launch, rest, shots } from './browser.mjs';

const CONSOLE = process.env.CONSOLE_URL;
const root = rest(process.env.API_URL, process.env.ROOT_KEY);
const shot = shots();
const browser = await launch();
const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
const page = await context.newPage();
try {
  await page.goto(CONSOLE);
  await page.fill('#api-url', process.env.API_URL);
  await page.fill('#api-key', process.env.ROOT_KEY);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByTestId('key-kind').waitFor();

  const id = process.env.ONCHAIN_ID;
  const records = async () => (await root('GET', `/positions/${id}/onchain`)).body;
  // The publisher keeps retrying the queued record while the node is away, so its attempts grow
  // under the test: the page is compared with an API answer that was the same before its load
  // and after its rows were read, so the page's own fetch saw that state too.
  let body;
  let shown;
  for (let tries = 0; ; tries += 1) {
    const before = await records();
    await page.goto(`${CONSOLE}#/positions/${id}`);
    if (tries > 0) await page.reload();
    await page.getByTestId('onchain-summary').waitFor();
    await page.getByTestId('chain-verdict').filter({ hasText: 'verified' }).waitFor();
    shown = await page.locator('table[aria-label="On-chain records"] tbody tr').evaluateAll((rows) =>
      rows.map((row) => ({
        status: row.dataset.status,
        cells: [...row.querySelectorAll('td')].map((td) => td.textContent.trim()),
      })));
    body = await records();
    if (JSON.stringify(before.records) === JSON.stringify(body.records)) break;
    check(tries < 20, 'the records stood still between two reads at least once');
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  check(body.records.length >= 2, `the API has records (${body.records.length})`);
  check(shown.length === body.records.length, `one row per record (${shown.length})`);
  body.records.forEach((record, i) => {
    const [position, kind, , tx, block, attempts, error] = shown[i].cells;
    check(position === String(record.logPosition) && kind === record.kind, `row ${i}: the event`);
    check(shown[i].status === record.status, `row ${i}: status ${shown[i].status} is ${record.status}`);
    check(tx === (record.txHash ?? '—') && block === String(record.blockNumber ?? '—'), `row ${i}: tx and block`);
    check(attempts === String(record.attempts), `row ${i}: attempts`);
    check(error === (record.lastError ?? '—'), `row ${i}: last error`);
  });
  const statuses = shown.map((r) => r.status);
  check(statuses.includes('published') && statuses.some((s) => s !== 'published'),
    `published records and one waiting for the node (${statuses})`);
  await page.locator('#onchain-title').scrollIntoViewIfNeeded();
  await shot(page, 'position-onchain');
  await accessible(page, 'position-onchain');

  await page.goto(`${CONSOLE}#/positions/${process.env.PLAIN_ID}`);
  await page.getByTestId('onchain-empty').waitFor();
  check((await page.locator('table[aria-label="On-chain records"]').count()) === 0, 'no table when not on chain');
  await accessible(page, 'position-not-onchain');
  process.stdout.write(JSON.stringify({ statuses }) + '\n');
} catch (error) {
  await shot(page, 'failure-onchain').catch(() => undefined);
  throw error;
} finally {
  await browser.close();
}
