// The console served by nginx on its own origin, calling the API on another (CORS).
// Env: CONSOLE_URL (nginx), API_URL, ROOT_KEY, SHOTS_DIR.
import { accessible, check, launch, rest, shots } from './browser.mjs';

const shot = shots();
const browser = await launch();
const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
const page = await context.newPage();
const crossOrigin = [];
page.on('response', (r) => { if (r.url().startsWith(process.env.API_URL)) crossOrigin.push(r.status()); });
try {
  await page.goto(`${process.env.CONSOLE_URL}positions/deep-link`); // the SPA fallback
  await page.locator('#api-url').waitFor();
  await page.waitForFunction((url) => document.querySelector('#api-url')?.value === url, process.env.API_URL);
  await page.fill('#api-key', process.env.ROOT_KEY);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByTestId('key-kind').waitFor();
  await page.goto(`${process.env.CONSOLE_URL}#/institutions`);
  await page.getByTestId('key-kind').waitFor();
  await page.fill('#f-name', 'Across Origins Ltd');
  await page.getByRole('button', { name: 'Create institution' }).click();
  await page.getByRole('link', { name: 'Across Origins Ltd' }).waitFor();
  const listed = (await rest(process.env.API_URL, process.env.ROOT_KEY)('GET', '/institutions')).body;
  check(listed.some((i) => i.name === 'Across Origins Ltd'), 'created across origins');
  check(crossOrigin.length > 0 && crossOrigin.every((s) => s < 400), `API calls across origins (${crossOrigin})`);
  await shot(page, 'nginx-cross-origin');
  await accessible(page, 'nginx');
  process.stdout.write(JSON.stringify({ calls: crossOrigin.length }) + '\n');
} catch (error) {
  await shot(page, 'failure-nginx').catch(() => undefined);
  throw error;
} finally {
  await browser.close();
}
