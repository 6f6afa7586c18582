// Debian's Chromium through playwright-core (Playwright's own browser download is not used).
import { chromium } from 'playwright-core';
import AxeBuilder from '@axe-core/playwright';
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';

export const FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run',
];

export async function launch() {
  return chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: FLAGS });
}

export function shots() {
  const dir = resolve(process.env.SHOTS_DIR ?? 'test-results/shots');
  mkdirSync(dir, { recursive: true });
  return async (page, name) => {
    await page.waitForTimeout(150);
    await page.screenshot({ path: resolve(dir, `${name}.png`), fullPage: true });
  };
}

export function check(condition, message) {
  if (!condition) throw new Error(`check failed: ${message}`);
}

/** axe-core on the current page: no serious or critical violation. */
export async function accessible(page, where) {
  const result = await new AxeBuilder({ page }).analyze();
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  if (bad.length) {
    const text = bad.map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join(', ')}`);
    throw new Error(`axe on ${where}:\n${text.join('\n')}`);
  }
  return result.violations.length;
}

/** Every visible, enabled control of the page is reached by pressing Tab. */
export async function keyboardReachable(page, where) {
  const wanted = await page.evaluate(() => {
    const nodes = [...document.querySelectorAll('a[href], button, input, select, textarea, summary')]
      .filter((n) => !n.disabled && n.getClientRects().length > 0 && !n.closest('dialog:not([open])') && n.type !== 'hidden');
    nodes.forEach((n, i) => n.setAttribute('data-kb', String(i)));
    document.body.focus();
    return nodes.length;
  });
  const seen = new Set();
  await page.evaluate(() => (document.activeElement instanceof HTMLElement ? document.activeElement.blur() : null));
  for (let i = 0; i < wanted * 2 + 5 && seen.size < wanted; i++) {
    await page.keyboard.press('Tab');
    const id = await page.evaluate(() => document.activeElement?.getAttribute('data-kb'));
    if (id != null) seen.add(id);
  }
  if (seen.size < wanted) {
    const missing = await page.evaluate((got) => [...document.querySelectorAll('[data-kb]')]
      .filter((n) => !got.includes(n.getAttribute('data-kb'))).map((n) => n.outerHTML.slice(0, 80)), [...seen]);
    throw new Error(`keyboard on ${where}: ${wanted - seen.size} of ${wanted} controls not reached by Tab: ${missing.join(' | ')}`);
  }
  return wanted;
}

/** The REST API directly, to cross-check what the console shows. */
export function rest(apiUrl, key) {
  return async (method, path, body) => {
    const answer = await fetch(apiUrl + path, {
      method,
      headers: { 'X-API-KEY': key, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await answer.text();
    return { status: answer.status, body: text ? JSON.parse(text) : null };
  };
}

/**
 * Asks the test that runs this script to act: one JSON line `{"ask": what, ...}` on stdout, its
 * answer one JSON line on stdin (tests/e2e/test_admin_console.py holds the database URL).
 */
export function asker() {
  const lines = createInterface({ input: process.stdin });
  const early = [];
  const waiting = [];
  lines.on('line', (line) => (waiting.length ? waiting.shift()(line) : early.push(line)));
  lines.on('close', () => waiting.splice(0).forEach((answer) => answer('{"error": "no answer: stdin closed"}')));
  const ask = async (what, details = {}) => {
    process.stdout.write(JSON.stringify({ ask: what, ...details }) + '\n');
    const line = early.length ? early.shift() : await new Promise((answer) => waiting.push(answer));
    const answer = JSON.parse(line);
    if (answer.error) throw new Error(`${what}: ${answer.error}`);
    return answer;
  };
  ask.done = () => lines.close();
  return ask;
}
