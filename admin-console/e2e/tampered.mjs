// After a stored event was altered in PostgreSQL: the timeline marks exactly that one broken.
// Env: CONSOLE_URL, API_URL, ROOT_KEY, POSITION_ID, BROKEN_VERSION, SHOTS_DIR.
import { accessible, check, launch, shots } from './browser.mjs';

const shot = shots();
const browser = await launch();
const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
const page = await context.newPage();
try {
  await page.goto(process.env.CONSOLE_URL);
  await page.fill('#api-url', process.env.API_URL);
  await page.fill('#api-key', process.env.ROOT_KEY);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByTestId('key-kind').waitFor();
  await page.goto(`${process.env.CONSOLE_URL}#/positions/${process.env.POSITION_ID}`);
  await page.getByTestId('chain-verdict').filter({ hasText: 'broken' }).waitFor();
  const verdicts = await page.locator('.timeline li').evaluateAll((n) => n.map((x) => x.dataset.verdict));
  const broken = Number(process.env.BROKEN_VERSION);
  const expected = verdicts.map((_, i) => (i + 1 === broken ? 'broken' : 'verified'));
  check(verdicts.join() === expected.join(), `only version ${broken} broken (${verdicts})`);
  await page.locator(`[data-testid="event-${broken}"] details summary`).click();
  await shot(page, 'timeline-tampered');
  await accessible(page, 'timeline-tampered');
  process.stdout.write(JSON.stringify({ verdicts }) + '\n');
} catch (error) {
  await shot(page, 'failure-tampered').catch(() => undefined);
  throw error;
} finally {
  await browser.close();
}
