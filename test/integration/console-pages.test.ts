import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSOLE_CSP, defaultConsoleRoot, NOT_BUILT } from '../../src/platform/console-pages.js';
import type { App } from '../../src/platform/http.js';
import type { Runtime } from '../../src/platform/runtime.js';
import { startRequestApi } from '../../src/request/start.js';
import { startResponseApi } from '../../src/response/start.js';
import { bearer, login, type TestEnv, testEnv, testRuntime } from '../helpers/system.js';

const INDEX =
  '<!doctype html><html><head><title>console</title><script type="module" src="/assets/index-abc123.js"></script></head></html>';
const SCRIPT = 'console.log("console");';

/** A built console of our own: index.html and one hashed asset, plus a file beside them that must not leak. */
function fakeBuild(dir: string, side: string): string {
  const root = path.join(dir, 'web', side);
  fs.mkdirSync(path.join(root, 'assets'), { recursive: true });
  fs.writeFileSync(path.join(root, 'index.html'), INDEX.replace('console', side));
  fs.writeFileSync(path.join(root, 'assets', 'index-abc123.js'), SCRIPT);
  fs.writeFileSync(path.join(root, 'assets', '.hidden'), 'dot');
  fs.writeFileSync(path.join(root, 'secret.txt'), 'not for the web');
  fs.writeFileSync(path.join(dir, 'outside.txt'), 'not for the web either');
  return root;
}

/** The console's pages on both APIs (platform/console-pages.ts), from a built folder and from none. */
describe('console pages', () => {
  let env: TestEnv;
  let rt: Runtime;
  let built: [string, App][];
  let unbuilt: [string, App][];

  beforeAll(async () => {
    env = testEnv('sqlite');
    rt = testRuntime(env.config);
    const missing = path.join(env.dir, 'not-built');
    built = [
      ['response', await startResponseApi(rt, { listen: false, consoleRoot: fakeBuild(env.dir, 'response') })],
      ['request', await startRequestApi(rt, { listen: false, consoleRoot: fakeBuild(env.dir, 'request') })],
    ];
    unbuilt = [
      ['response', await startResponseApi(rt, { listen: false, consoleRoot: missing })],
      ['request', await startRequestApi(rt, { listen: false, consoleRoot: missing })],
    ];
  });
  afterAll(async () => {
    await rt?.lifecycle.stop();
    await env?.cleanup();
  });

  it('serves index.html at / with the strict policy and no-cache', async () => {
    for (const [side, app] of built) {
      const res = await app.inject({ url: '/' });
      expect(res.statusCode, side).toBe(200);
      expect(res.headers['content-type'], side).toMatch(/^text\/html/);
      expect(res.body, side).toContain(side);
      expect(res.headers['content-security-policy'], side).toBe(CONSOLE_CSP);
      expect(res.headers['cache-control'], side).toBe('no-cache');
      // helmet's other headers stay.
      expect(res.headers['x-frame-options'], side).toBe('DENY');
      expect(res.headers['x-content-type-options'], side).toBe('nosniff');
    }
  });

  it('serves hashed assets for a year, immutable, under the same policy', async () => {
    for (const [side, app] of built) {
      const res = await app.inject({ url: '/assets/index-abc123.js' });
      expect(res.statusCode, side).toBe(200);
      expect(res.body, side).toBe(SCRIPT);
      expect(res.headers['content-type'], side).toMatch(/javascript/);
      expect(res.headers['cache-control'], side).toBe('public, max-age=31536000, immutable');
      expect(res.headers['content-security-policy'], side).toBe(CONSOLE_CSP);
      expect((await app.inject({ url: '/assets/no-such.js' })).statusCode, side).toBe(404);
    }
  });

  it('refuses to serve anything outside assets/, however the path is spelled', async () => {
    for (const [side, app] of built) {
      for (const url of [
        '/assets/../secret.txt',
        '/assets/%2e%2e/secret.txt',
        '/assets/..%2fsecret.txt',
        '/assets/%2e%2e%2fsecret.txt',
        '/assets/..%2f..%2foutside.txt',
        '/assets/%2e%2e/%2e%2e/outside.txt',
        '/assets/..\\secret.txt',
        '/assets/.hidden',
        '/secret.txt',
        '/index.html/../secret.txt',
      ]) {
        const res = await app.inject({ url });
        expect(res.statusCode, `${side} ${url}`).toBeGreaterThanOrEqual(400);
        expect(res.statusCode, `${side} ${url}`).toBeLessThan(500);
        expect(res.body, `${side} ${url}`).not.toMatch(/not for the web|dot/);
      }
    }
  });

  it('keeps the API answering JSON under its own policy', async () => {
    for (const [side, app] of built) {
      for (const url of ['/health', '/no-such-route', '/docs/json']) {
        const res = await app.inject({ url });
        expect(res.headers['content-type'], `${side} ${url}`).toMatch(/^application\/json/);
        expect(res.headers['content-security-policy'], `${side} ${url}`).not.toBe(CONSOLE_CSP);
        expect(res.headers['content-security-policy'], `${side} ${url}`).toMatch(/style-src 'self' 'unsafe-inline'/);
      }
      if (side === 'response') {
        const users = await app.inject({ url: '/users', headers: bearer(await login(app, 'admin', 'Admin-pass-1')) });
        expect(users.statusCode).toBe(200);
        expect(users.headers['content-type']).toMatch(/^application\/json/);
        expect(Array.isArray(users.json())).toBe(true);
      }
      const docs = await app.inject({ url: '/docs/' });
      expect(docs.statusCode, side).toBe(200);
      expect(docs.headers['content-security-policy'], side).not.toBe(CONSOLE_CSP);
      // The console's own routes are not in the API's documentation.
      const spec = (await app.inject({ url: '/docs/json' })).json();
      expect(Object.keys(spec.paths), side).not.toContain('/');
      expect(
        Object.keys(spec.paths).some((p) => p.startsWith('/assets')),
        side,
      ).toBe(false);
    }
  });

  it('answers 503 in plain text at / until the console is built', async () => {
    for (const [side, app] of unbuilt) {
      const res = await app.inject({ url: '/' });
      expect(res.statusCode, side).toBe(503);
      expect(res.headers['content-type'], side).toMatch(/^text\/plain/);
      expect(res.body, side).toBe(NOT_BUILT);
      expect(res.headers['content-security-policy'], side).toBe(CONSOLE_CSP);
      expect((await app.inject({ url: '/assets/index-abc123.js' })).statusCode, side).toBe(404);
    }
  });

  it('looks for the built console in <repo>/dist/web/<side>/ by default', () => {
    const repo = path.resolve(import.meta.dirname, '../..');
    expect(defaultConsoleRoot('response')).toBe(path.join(repo, 'dist', 'web', 'response'));
    expect(defaultConsoleRoot('request')).toBe(path.join(repo, 'dist', 'web', 'request'));
  });
});
