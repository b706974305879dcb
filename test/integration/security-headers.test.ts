import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/platform/http.js';
import type { Runtime } from '../../src/platform/runtime.js';
import { startRequestApi } from '../../src/request/start.js';
import { startResponseApi } from '../../src/response/start.js';
import { startSystem, type TestEnv, type TestSystem, testEnv, testRuntime } from '../helpers/system.js';

const basic = (username: string, password: string) => ({
  authorization: `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`,
});

/** The directives of a Content-Security-Policy header, by name. */
function directives(header: string | undefined): Map<string, string[]> {
  expect(header, 'a Content-Security-Policy header').toBeTypeOf('string');
  return new Map(
    (header as string)
      .split(';')
      .map((d) => d.trim().split(/\s+/))
      .filter((d) => d[0])
      .map(([name, ...values]) => [name as string, values]),
  );
}

/** What a page loads: script and stylesheet URLs, and inline scripts a browser would run. */
function assetsOf(html: string): { scripts: string[]; styles: string[]; inlineScripts: string[] } {
  const scripts = [...html.matchAll(/<script\b[^>]*\bsrc="([^"]+)"/g)].map((m) => m[1] as string);
  const styles = [...html.matchAll(/<link\b[^>]*rel="stylesheet"[^>]*>/g)].map(
    (m) => /href="([^"]+)"/.exec(m[0])?.[1] as string,
  );
  const inlineScripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)]
    .filter(([, attrs]) => !/\bsrc=/.test(attrs as string) && !/type="application\/json"/.test(attrs as string))
    .filter(([, , body]) => (body as string).trim() !== '')
    .map(([whole]) => whole);
  return { scripts, styles, inlineScripts };
}

const sameOrigin = (url: string) => !/^[a-z]+:|^\/\//i.test(url);

describe('security headers and CORS, closed by default', () => {
  let sys: TestSystem;
  beforeAll(async () => {
    sys = await startSystem({ watch: false });
  });
  afterAll(() => sys.stop());

  const both = () =>
    [
      ['response', sys.response],
      ['request', sys.request],
    ] as const;

  it('puts the security headers on every answer of both APIs: success, refusal, error, not found', async () => {
    for (const [side, app] of both()) {
      for (const url of ['/health', '/users', '/no-such-route', '/docs/json']) {
        const res = await app.inject({ url });
        const where = `${side} ${url} (${res.statusCode})`;
        const csp = directives(res.headers['content-security-policy'] as string);
        expect(csp.get('default-src'), where).toEqual(["'self'"]);
        expect(csp.get('script-src'), where).toEqual(["'self'"]);
        expect(csp.get('object-src'), where).toEqual(["'none'"]);
        expect(csp.get('frame-ancestors'), where).toEqual(["'none'"]);
        expect(res.headers['x-content-type-options'], where).toBe('nosniff');
        expect(res.headers['x-frame-options'], where).toBe('DENY');
        expect(res.headers['strict-transport-security'], where).toBe('max-age=31536000');
        expect(res.headers['referrer-policy'], where).toBe('no-referrer');
        expect(res.headers['cross-origin-opener-policy'], where).toBe('same-origin');
        expect(res.headers['x-powered-by'], where).toBeUndefined();
      }
    }
  });

  it('serves the API docs page under its policy: every script and style from the API itself, none inline', async () => {
    for (const [side, app] of both()) {
      const page = await app.inject({ url: '/docs/' });
      expect(page.statusCode, side).toBe(200);
      expect(page.headers['content-type']).toMatch(/^text\/html/);
      const csp = directives(page.headers['content-security-policy'] as string);
      expect(csp.get('script-src')).not.toContain("'unsafe-inline'");
      const { scripts, styles, inlineScripts } = assetsOf(page.body);
      expect(scripts.length, side).toBeGreaterThanOrEqual(3);
      expect(styles.length, side).toBeGreaterThanOrEqual(1);
      expect(inlineScripts, side).toEqual([]);
      for (const asset of [...scripts, ...styles]) {
        expect(sameOrigin(asset), `${side} ${asset}`).toBe(true);
        const res = await app.inject({ url: new URL(asset, 'http://api/docs/').pathname });
        expect(res.statusCode, `${side} ${asset}`).toBe(200);
      }
      // What the page's script then fetches: the spec, from the same origin ('self' in connect-src).
      expect(csp.get('connect-src')).toEqual(["'self'"]);
      expect((await app.inject({ url: '/docs/json' })).statusCode).toBe(200);
    }
  });

  it('serves the queue dashboard under the same policy: its scripts from the API, inline styles allowed', async () => {
    const page = await sys.response.inject({ url: '/admin/queues', headers: basic('admin', 'Admin-pass-1') });
    expect(page.statusCode).toBe(200);
    const csp = directives(page.headers['content-security-policy'] as string);
    expect(csp.get('style-src')).toContain("'unsafe-inline'");
    const { scripts, inlineScripts } = assetsOf(page.body);
    expect(scripts.length).toBeGreaterThan(0);
    expect(inlineScripts).toEqual([]);
    for (const script of scripts) {
      expect(sameOrigin(script), script).toBe(true);
      const res = await sys.response.inject({
        url: `/admin/queues/${script}`,
        headers: basic('admin', 'Admin-pass-1'),
      });
      expect(res.statusCode, script).toBe(200);
    }
  });

  it('sends no CORS header to any origin when CORS_ORIGINS is empty', async () => {
    for (const [side, app] of both()) {
      const get = await app.inject({ url: '/health', headers: { origin: 'https://evil.example' } });
      expect(get.statusCode, side).toBe(200);
      expect(get.headers['access-control-allow-origin'], side).toBeUndefined();
      const preflight = await app.inject({
        method: 'OPTIONS',
        url: '/auth/login',
        headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
      });
      expect(preflight.headers['access-control-allow-origin'], side).toBeUndefined();
      expect(preflight.headers['access-control-allow-methods'], side).toBeUndefined();
    }
  });
});

describe('CORS for the origins CORS_ORIGINS lists', () => {
  const LISTED = 'https://admin.example.org';
  let env: TestEnv;
  let rt: Runtime;
  let apps: [string, App][];
  beforeAll(async () => {
    env = testEnv('sqlite', { CORS_ORIGINS: `${LISTED},http://localhost:5173` });
    rt = testRuntime(env.config);
    apps = [
      ['response', await startResponseApi(rt, { listen: false })],
      ['request', await startRequestApi(rt, { listen: false })],
    ];
  });
  afterAll(async () => {
    await rt.lifecycle.stop();
    await env.cleanup();
  });

  it('lets a listed origin call the API from its pages, with a bearer token', async () => {
    for (const [side, app] of apps) {
      const preflight = await app.inject({
        method: 'OPTIONS',
        url: '/users',
        headers: {
          origin: LISTED,
          'access-control-request-method': 'GET',
          'access-control-request-headers': 'authorization',
        },
      });
      expect(preflight.statusCode, side).toBe(204);
      expect(preflight.headers['access-control-allow-origin'], side).toBe(LISTED);
      expect(String(preflight.headers['access-control-allow-headers'])).toMatch(/authorization/);
      expect(preflight.headers['access-control-allow-credentials'], side).toBeUndefined();

      const get = await app.inject({ url: '/users', headers: { origin: LISTED } });
      expect(get.statusCode, side).toBe(401);
      expect(get.headers['access-control-allow-origin'], side).toBe(LISTED);
      expect(String(get.headers.vary)).toMatch(/origin/i);
      expect(String(get.headers['access-control-expose-headers'])).toMatch(/retry-after/);
      // The paging cursor of list answers, for a listed origin's script to read.
      expect(String(get.headers['access-control-expose-headers'])).toMatch(/x-next-cursor/);
    }
  });

  it('still refuses an origin that is not listed', async () => {
    for (const [side, app] of apps) {
      const get = await app.inject({ url: '/health', headers: { origin: 'https://admin.example.org.evil.example' } });
      expect(get.headers['access-control-allow-origin'], side).toBeUndefined();
      const preflight = await app.inject({
        method: 'OPTIONS',
        url: '/users',
        headers: { origin: 'http://localhost:5174', 'access-control-request-method': 'GET' },
      });
      expect(preflight.headers['access-control-allow-origin'], side).toBeUndefined();
    }
  });
});
