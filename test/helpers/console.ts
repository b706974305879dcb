import fs from 'node:fs';
import path from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { ROOT } from './cli.js';

/*
 * What the browser tests share: building the console when its sources are newer than dist/web, Debian's
 * Chromium launched headless, and reading a page's visible text.
 */

export const CHROMIUM = '/usr/bin/chromium';

/** Why the browser tests cannot run here (no Chromium), or undefined. Under CI a missing browser fails. */
export function chromiumMissing(): string | undefined {
  if (fs.existsSync(CHROMIUM)) return undefined;
  const why = `${CHROMIUM} is missing (apt-get install chromium)`;
  if (process.env.CI) throw new Error(`browser tests cannot run under CI: ${why}`);
  console.warn(`[netsync tests] browser tests skipped: ${why}`);
  return why;
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestMtime(p) : fs.statSync(p).mtimeMs);
  }
  return newest;
}

/** Builds dist/web/<side>/ with Vite when it is missing or older than any file under web/. */
export async function buildConsoleIfStale(): Promise<void> {
  const sources = newestMtime(path.join(ROOT, 'web'));
  const { build } = await import('vite');
  const { consoleConfig } = await import('../../web/vite.config.js');
  for (const side of ['response', 'request'] as const) {
    const index = path.join(ROOT, 'dist', 'web', side, 'index.html');
    if (fs.existsSync(index) && fs.statSync(index).mtimeMs >= sources) continue;
    await build(consoleConfig(side));
  }
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

export interface Opened {
  context: BrowserContext;
  page: Page;
  /** Every request the page made that was not a GET, as "METHOD path". */
  writes: string[];
  /** What the browser refused under the Content-Security-Policy (it says so on the console). */
  cspViolations: string[];
}

/** A fresh browser context (its own cookies) at `url`, 1280 px wide unless told, in English unless told. */
export async function open(
  browser: Browser,
  url: string,
  opts: { width?: number; locale?: string } = {},
): Promise<Opened> {
  const context = await browser.newContext({
    viewport: { width: opts.width ?? 1280, height: 800 },
    locale: opts.locale ?? 'en-GB',
  });
  context.setDefaultTimeout(30_000);
  const page = await context.newPage();
  const writes: string[] = [];
  const cspViolations: string[] = [];
  page.on('request', (r) => {
    if (r.method() !== 'GET') writes.push(`${r.method()} ${new URL(r.url()).pathname}`);
  });
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
  });
  await page.goto(url);
  return { context, page, writes, cspViolations };
}

export async function logInAs(page: Page, username: string, password: string): Promise<void> {
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
}

/**
 * The text a person sees on the page, one entry per text node, leaving out data shown as it is
 * (translate="no": usernames, keys, stream names) and text marked as another language (lang="en": the
 * language switch's "English").
 */
export function visibleText(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const out: string[] = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    while (walker.nextNode()) {
      const node = walker.currentNode;
      const el = node.parentElement;
      const text = node.textContent?.trim();
      if (!el || !text) continue;
      if (el.closest('[translate="no"], [lang="en"], script, style')) continue;
      if (!el.checkVisibility()) continue;
      out.push(text);
    }
    return out;
  });
}

export const SCREENSHOTS = path.join(ROOT, 'docs', 'screenshots');

export async function screenshot(page: Page, name: string): Promise<void> {
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
}
