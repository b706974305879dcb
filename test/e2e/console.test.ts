import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { freePort, type RunningCli, runCli } from '../helpers/cli.js';
import {
  buildConsoleIfStale,
  chromiumMissing,
  launchChromium,
  logInAs,
  type Opened,
  open,
  screenshot,
  visibleText,
} from '../helpers/console.js';
import { waitFor } from '../helpers/system.js';

vi.setConfig({ testTimeout: 180_000, hookTimeout: 300_000 });

const missing = chromiumMissing();

const ADMIN_PASSWORD = 'Admin-pass-1';
const USER = 'maryam';
const FIRST_PASSWORD = 'First-pass-1';
const RESET_PASSWORD = 'Reset-pass-2';
const OWN_PASSWORD = 'Own-pass-3';
const LOGIN_MAX_FAILURES = 3;

/**
 * Issue 12's acceptance in a real browser (Debian's Chromium, headless) against a real running system:
 * `netsync up` in a temporary folder (both networks, their workers and a Redis of their own), the
 * console built by Vite and served by each API at `/`. Each console runs in its own browser context, as
 * two people (or two tabs with separate cookies) would use it. Screenshots go to docs/screenshots/.
 */
describe.skipIf(missing !== undefined)('the web console, in Chromium', () => {
  let cwd: string;
  let up: RunningCli;
  let browser: Browser;
  let R: string;
  let Q: string;
  const opened: Opened[] = [];

  beforeAll(async () => {
    await buildConsoleIfStale();
    cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'netsync-console-'));
    const [redisPort, responsePort, requestPort] = [await freePort(), await freePort(), await freePort()];
    R = `http://127.0.0.1:${responsePort}`;
    Q = `http://127.0.0.1:${requestPort}`;
    up = runCli(
      ['up'],
      {
        REDIS_URL: `redis://127.0.0.1:${redisPort}/0`,
        RESPONSE_PORT: String(responsePort),
        REQUEST_PORT: String(requestPort),
        ADMIN_USERNAME: 'admin',
        ADMIN_PASSWORD,
        BCRYPT_COST: '4',
        EXPORT_INTERVAL_S: '2',
        LOGIN_MAX_FAILURES: String(LOGIN_MAX_FAILURES),
        LOGIN_MAX_FAILURES_PER_CLIENT: '0',
        LOG_LEVEL: 'warn',
        SHUTDOWN_GRACE_S: '2',
      },
      cwd,
    );
    await up.waitForOutput(/netsync is up/, 120_000);
    browser = await launchChromium();
  });

  afterAll(async () => {
    for (const o of opened) await o.context.close().catch(() => undefined);
    await browser?.close();
    if (up && up.child.exitCode === null) {
      up.child.kill('SIGTERM');
      await up.exited;
    }
    if (cwd) fs.rmSync(cwd, { recursive: true, force: true });
  });

  /**
   * Whether the Request side holds `username`'s newest password, read from both SQLite files. (Trying to
   * log in until it works would count failures and trip the login throttle this suite sets low.)
   */
  const passwordSynced = () => {
    const response = new Database(path.join(cwd, 'data', 'response.sqlite'), { readonly: true });
    const request = new Database(path.join(cwd, 'data', 'request.sqlite'), { readonly: true });
    try {
      const user = response.prepare('SELECT id, password_version FROM users WHERE username = ?').get(USER) as {
        id: string;
        password_version: number;
      };
      const synced = request.prepare('SELECT password_version FROM credentials WHERE user_id = ?').get(user.id) as
        | { password_version: number }
        | undefined;
      return synced !== undefined && synced.password_version >= user.password_version;
    } finally {
      response.close();
      request.close();
    }
  };

  const openAt = async (url: string, opts?: { width?: number; locale?: string }) => {
    const o = await open(browser, url, opts);
    opened.push(o);
    return o;
  };

  /** Logged in as the admin on the Response console, on page `route`. */
  let admin: Opened;
  const adminPage = async (route: string): Promise<Page> => {
    if (!admin) {
      admin = await openAt(`${R}/`);
      await logInAs(admin.page, 'admin', ADMIN_PASSWORD);
      await admin.page.getByRole('link', { name: 'Users' }).waitFor();
    }
    await admin.page.goto(`${R}/#/${route}`);
    return admin.page;
  };

  it('serves the console at / with a strict Content-Security-Policy', async () => {
    for (const base of [R, Q]) {
      const res = await fetch(`${base}/`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
      expect(res.headers.get('content-security-policy')).toContain("style-src 'self'");
      expect(await res.text()).toContain('<div id="app">');
    }
  });

  it('says so when the password is wrong (the form used from the keyboard alone)', async () => {
    const { page } = await openAt(`${R}/`);
    await page.getByLabel('Username').focus();
    await page.keyboard.type('admin');
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('password');
    await page.keyboard.type('not-the-password-1');
    await page.keyboard.press('Enter');
    const alert = page.getByRole('alert');
    await alert.waitFor();
    expect(await alert.textContent()).toBe('Incorrect username or password.');
    await screenshot(page, 'response-login-error-en');
  });

  it('says when to try again once logins are throttled', async () => {
    const { page } = await openAt(`${R}/`);
    for (let i = 0; i <= LOGIN_MAX_FAILURES; i++) {
      await logInAs(page, 'nobody', `wrong-password-${i}`);
      await page.getByRole('alert').waitFor();
      // The next try only once this answer is shown (the button is enabled again).
      await page.getByRole('button', { name: 'Log in' }).and(page.locator(':enabled')).waitFor();
    }
    await page.getByText(/Too many failed logins: try again in \d+ s\./).waitFor();
  });

  it('lets the admin log in and create a user', async () => {
    const page = await adminPage('users');
    await page.getByRole('button', { name: 'New user' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Username').fill(USER);
    await dialog.getByLabel('Email').fill('maryam@example.org');
    await dialog.getByLabel('Password', { exact: true }).fill(FIRST_PASSWORD);
    await dialog.getByRole('button', { name: 'Save' }).click();
    await page.locator(`tr[data-username="${USER}"]`).waitFor();
    await screenshot(page, 'response-users-en');
  });

  it('resets its password, showing the policy as it is typed, and follows the sync task to SUCCESS', async () => {
    const page = await adminPage('users');
    await page.locator(`tr[data-username="${USER}"]`).getByRole('button', { name: 'Reset password' }).click();
    const dialog = page.getByRole('dialog');
    const field = dialog.getByLabel('New password');
    await field.fill('short');
    expect(await dialog.locator('.policy .not-ok').count()).toBeGreaterThan(0);
    await field.fill(RESET_PASSWORD);
    expect(await dialog.locator('.policy .not-ok').count()).toBe(0);
    await dialog.getByRole('button', { name: 'Set password' }).click();
    const task = dialog.locator('[data-task-state="SUCCESS"]');
    await task.waitFor({ timeout: 60_000 });
    expect(await task.textContent()).toMatch(/Task [\w-]+State SUCCESS/);
    await screenshot(page, 'response-reset-password-en');
    await dialog.getByRole('button', { name: 'Close' }).click();
  });

  it('lets that user log in on the Request console with the new password and see the sync status', async () => {
    // The task's SUCCESS means the change was exported; the Request side applies it on its next pass.
    await waitFor(async () => passwordSynced(), 60_000, 'the new password on the Request Network');
    const { page } = await openAt(`${Q}/`);
    await logInAs(page, USER, RESET_PASSWORD);
    await page.getByRole('heading', { name: 'Sync status' }).waitFor();
    await page.getByRole('row', { name: /users/ }).first().waitFor();
    // It refreshes by itself: another GET /sync/status with nobody touching the page.
    await page.waitForRequest((r) => new URL(r.url()).pathname === '/sync/status');
    await page.locator('svg.chart').waitFor();
    await screenshot(page, 'request-sync-status-en');
  });

  it('refuses an invalid JSON setting at the field and sends nothing', async () => {
    const page = await adminPage('settings');
    await page.getByRole('button', { name: 'New setting' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Key').fill('app.title');
    const value = dialog.getByLabel('Value (JSON)');
    await value.fill('{"name": "netsync",');
    const before = admin.writes.length;
    await dialog.getByRole('button', { name: 'Save' }).click();
    const error = dialog.locator('#setting-value-error');
    await error.waitFor();
    expect(await error.textContent()).toMatch(/not valid JSON/);
    expect(await value.getAttribute('aria-invalid')).toBe('true');
    expect(await value.getAttribute('aria-describedby')).toContain('setting-value-error');
    expect(admin.writes.slice(before)).toEqual([]);
    await screenshot(page, 'response-settings-invalid-json-en');
    // Valid JSON under a key the API refuses: sent, and the API's 422 is shown at the key.
    await value.fill('{"name": "netsync"}');
    await dialog.getByLabel('Key').fill('Not A Key');
    await dialog.getByRole('button', { name: 'Save' }).click();
    const keyError = dialog.locator('#setting-key-error');
    await keyError.waitFor();
    expect(await keyError.textContent()).toMatch(/key/i);
    expect(await dialog.getByLabel('Key').getAttribute('aria-describedby')).toContain('setting-key-error');
    // Corrected, it is saved and listed.
    await dialog.getByLabel('Key').fill('app.title');
    await dialog.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('cell', { name: 'app.title' }).waitFor();
    expect(admin.writes.slice(before)).toEqual(['POST /settings', 'POST /settings']);
  });

  it('says why a profile type in use cannot be deleted', async () => {
    const page = await adminPage('profile-types');
    await page.getByRole('button', { name: 'New profile type' }).click();
    await page.getByRole('dialog').getByLabel('Name').fill('Staff');
    await page.getByRole('dialog').getByRole('button', { name: 'Save' }).click();
    await page.getByRole('cell', { name: 'Staff' }).waitFor();
    await page.goto(`${R}/#/users`);
    await page.locator(`tr[data-username="${USER}"]`).getByRole('button', { name: 'Edit' }).click();
    await page.getByRole('dialog').getByLabel('Profile type').selectOption({ label: 'Staff' });
    await page.getByRole('dialog').getByRole('button', { name: 'Save' }).click();
    await page.locator(`tr[data-username="${USER}"]`).getByRole('cell', { name: 'Staff' }).waitFor();
    await page.goto(`${R}/#/profile-types`);
    await page.getByRole('row', { name: /Staff/ }).getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
    await page.getByText(/^It cannot be deleted: .+/).waitFor();
    await page.getByRole('cell', { name: 'Staff' }).waitFor();
  });

  it('shows a non-admin only "My account", where they change their own password and see it sync', async () => {
    const { page } = await openAt(`${R}/`);
    await logInAs(page, USER, RESET_PASSWORD);
    await page.getByRole('heading', { name: 'My account' }).waitFor();
    const links = await page.getByRole('navigation', { name: 'Pages' }).getByRole('link').allTextContents();
    expect(links).toEqual(['My account']);
    // Another page's address still shows My account: the admin pages are not there for this user.
    await page.goto(`${R}/#/users`);
    await page.getByRole('heading', { name: 'My account' }).waitFor();
    await page.getByLabel('New password').fill(OWN_PASSWORD);
    await page.getByRole('button', { name: 'Set password' }).click();
    await page.locator('[data-task-state="SUCCESS"]').waitFor({ timeout: 60_000 });
    await screenshot(page, 'response-my-account-en');
    // Log out ends the session: the log-in form, also after a reload.
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByRole('button', { name: 'Log in' }).waitFor();
    await page.reload();
    await page.getByRole('button', { name: 'Log in' }).waitFor();
  });

  it('shows the exchange: streams, runs, Run now, links and the chart', async () => {
    const page = await adminPage('exchange');
    await page.getByRole('heading', { name: 'Export tasks' }).waitFor();
    await page.getByRole('button', { name: 'Run export_users now' }).click();
    await page.locator('[data-task-state="SUCCESS"]').waitFor({ timeout: 60_000 });
    expect(await page.getByRole('link', { name: 'Queue dashboard' }).getAttribute('href')).toBe('/admin/queues');
    expect(await page.getByRole('link', { name: 'API documentation' }).getAttribute('href')).toBe('/docs');
    await page.locator('svg.chart').waitFor();
    await screenshot(page, 'response-exchange-en');
  });

  it('fits a 375-px-wide screen', async () => {
    const { page } = await openAt(`${R}/`, { width: 375 });
    await logInAs(page, 'admin', ADMIN_PASSWORD);
    await page.locator(`tr[data-username="${USER}"]`).waitFor();
    // Wide tables scroll inside their own box; the page itself does not scroll sideways.
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);
    await screenshot(page, 'response-users-375-en');
  });

  it('broke no rule of the Content-Security-Policy on any page it opened', () => {
    expect(opened.length).toBeGreaterThan(5);
    expect(opened.flatMap((o) => o.cspViolations)).toEqual([]);
  });

  describe('in Persian', () => {
    const expectPersianOnly = async (page: Page) => {
      const english = (await visibleText(page)).filter((t) => /[A-Za-z]/.test(t));
      expect(english).toEqual([]);
    };
    const expectRtl = async (page: Page) => {
      expect(await page.locator('html').getAttribute('dir')).toBe('rtl');
      expect(await page.locator('html').getAttribute('lang')).toBe('fa');
      expect(await page.evaluate(() => getComputedStyle(document.body).direction)).toBe('rtl');
      // The bundled Vazirmatn shapes the Persian text (no font service: it came from this server).
      await page.evaluate(() => document.fonts.ready);
      expect(await page.evaluate(() => document.fonts.check('16px Vazirmatn', 'سلام'))).toBe(true);
      const fonts = await page.evaluate(() =>
        performance
          .getEntriesByType('resource')
          .map((e) => e.name)
          .filter((n) => /vazirmatn/i.test(n)),
      );
      expect(fonts.length).toBeGreaterThan(0);
      for (const f of fonts) expect(f.startsWith(R) || f.startsWith(Q)).toBe(true);
    };

    it('is chosen from the browser language, lays out right to left and shows no English on the Response pages', async () => {
      const { page } = await openAt(`${R}/`, { locale: 'fa-IR' });
      await page.getByRole('button', { name: 'ورود' }).waitFor();
      await expectRtl(page);
      await page.getByLabel('نام کاربری').fill('admin');
      await page.getByLabel('گذرواژه').fill(ADMIN_PASSWORD);
      await page.getByRole('button', { name: 'ورود' }).click();
      await page.locator(`tr[data-username="${USER}"]`).waitFor();
      await expectPersianOnly(page);
      await screenshot(page, 'response-users-fa');
      for (const route of ['settings', 'profile-types', 'exchange', 'audit']) {
        await page.goto(`${R}/#/${route}`);
        await page.locator('main h1').waitFor();
        await page.waitForLoadState('networkidle');
        await expectPersianOnly(page);
      }
      await page.goto(`${R}/#/exchange`);
      await page.locator('svg.chart').waitFor();
      await screenshot(page, 'response-exchange-fa');
    });

    it('is remembered once switched, and the Request console speaks it too', async () => {
      const { page } = await openAt(`${Q}/`, { width: 375 });
      await page.getByRole('button', { name: 'فارسی' }).click();
      await page.getByRole('button', { name: 'ورود' }).waitFor();
      await page.reload();
      await page.getByRole('button', { name: 'ورود' }).waitFor();
      await expectRtl(page);
      await page.getByLabel('نام کاربری').fill(USER);
      await page.getByLabel('گذرواژه').fill(OWN_PASSWORD);
      // The own password set on "My account" reaches the Request Network too.
      await waitFor(async () => passwordSynced(), 60_000, 'the own password on the Request Network');
      await page.getByRole('button', { name: 'ورود' }).click();
      await page.getByRole('heading', { name: 'وضعیت همگام‌سازی' }).waitFor();
      await page.locator('main table').waitFor();
      await expectPersianOnly(page);
      expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);
      await screenshot(page, 'request-sync-status-375-fa');
    });
  });
});
