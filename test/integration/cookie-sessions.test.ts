import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/platform/config.js';
import type { App } from '../../src/platform/http.js';
import type { Runtime } from '../../src/platform/runtime.js';
import { startRequestApi } from '../../src/request/start.js';
import { startResponseApi } from '../../src/response/start.js';
import { bearer, canLogin, startSystem, type TestSystem, testRuntime, uniqueName, waitFor } from '../helpers/system.js';

const PASSWORD = 'Cookie-pass-42';
const TTL_S = 1200;

interface CookieSession {
  /** The Cookie header a browser would send back. */
  cookie: string;
  csrf: string;
  setCookie: string;
  body: Record<string, unknown>;
}

async function sessionLogin(app: App, username: string, password: string): Promise<CookieSession> {
  const res = await app.inject({ method: 'POST', url: '/auth/session', payload: { username, password } });
  if (res.statusCode !== 200) throw new Error(`session login ${username}: ${res.statusCode} ${res.body}`);
  const setCookie = String(res.headers['set-cookie']);
  const [name, value] = /^(netsync_\w+_session)=([^;]+)/.exec(setCookie)?.slice(1) ?? [];
  expect(value, 'a session cookie').toBeTypeOf('string');
  return { cookie: `${name}=${value}`, csrf: res.json().csrf_token, setCookie, body: res.json() };
}

/**
 * The console's cookie sessions on both networks (platform/cookie-session.ts): the token travels in an
 * HttpOnly, SameSite=Strict cookie; a write authenticated by it needs the CSRF header; the session ends
 * at logout and when the account changes, as a bearer token's does.
 */
describe('cookie sessions', () => {
  let sys: TestSystem;
  let user: { id: string; username: string };

  beforeAll(async () => {
    sys = await startSystem({ env: { TOKEN_TTL_S: String(TTL_S) } });
    const username = uniqueName('cookie');
    const res = await sys.response.inject({
      method: 'POST',
      url: '/users',
      headers: bearer(sys.adminToken),
      payload: { username, password: PASSWORD },
    });
    expect(res.statusCode).toBe(201);
    user = { id: res.json().id, username };
    await waitFor(() => canLogin(sys.request, username, PASSWORD), undefined, 'the user to sync');
  });
  afterAll(() => sys?.stop());

  const both = () =>
    [
      // A non-admin may read their own account.
      ['response', sys.response, `/users/${user.id}`],
      ['request', sys.request, '/sync/status'],
    ] as const;

  it('logs in with an HttpOnly SameSite=Strict cookie and never puts the token in the body', async () => {
    for (const [side, app] of both()) {
      const s = await sessionLogin(app, user.username, PASSWORD);
      const attrs = s.setCookie.split(';').map((a) => a.trim().toLowerCase());
      expect(attrs, side).toContain('httponly');
      expect(attrs, side).toContain('samesite=strict');
      expect(attrs, side).toContain('path=/');
      expect(attrs, side).toContain(`max-age=${TTL_S}`);
      // Over plain HTTP; Secure when the request came over HTTPS.
      expect(attrs, side).not.toContain('secure');
      expect(Object.keys(s.body).sort(), side).toEqual(['admin', 'csrf_token', 'expires_at', 'id', 'username']);
      expect(s.body, side).toMatchObject({ id: user.id, username: user.username, admin: false });
      expect(s.cookie.startsWith(`netsync_${side}_session=`), side).toBe(true);
      const token = s.cookie.slice(s.cookie.indexOf('=') + 1);
      expect(JSON.stringify(s.body), side).not.toContain(token);
      const expiresIn = Date.parse(String(s.body.expires_at)) - Date.now();
      expect(expiresIn, side).toBeGreaterThan(0);
      expect(expiresIn, side).toBeLessThanOrEqual(TTL_S * 1000);
    }
  });

  it('authenticates reads by the cookie alone, and GET /auth/me says whose session it is', async () => {
    for (const [side, app, url] of both()) {
      const s = await sessionLogin(app, user.username, PASSWORD);
      expect((await app.inject({ url, headers: { cookie: s.cookie } })).statusCode, side).toBe(200);
      const me = await app.inject({ url: '/auth/me', headers: { cookie: s.cookie } });
      expect(me.statusCode, side).toBe(200);
      expect(me.json(), side).toEqual(s.body);
      expect((await app.inject({ url: '/auth/me' })).statusCode, side).toBe(401);
      const forged = { cookie: `netsync_${side}_session=forged` };
      expect((await app.inject({ url: '/auth/me', headers: forged })).statusCode, side).toBe(401);
    }
  });

  it('refuses a cookie-authenticated write without the right CSRF header, and changes nothing', async () => {
    const s = await sessionLogin(sys.response, 'admin', 'Admin-pass-1');
    const key = `csrf.${uniqueName('k')}`;
    const write = (headers: Record<string, string>) =>
      sys.response.inject({ method: 'POST', url: '/settings', headers, payload: { key, value: 1 } });
    for (const headers of [
      { cookie: s.cookie } as Record<string, string>,
      { cookie: s.cookie, 'x-csrf-token': 'wrong' },
      { cookie: s.cookie, 'x-csrf-token': `${s.csrf}x` },
    ]) {
      const res = await write(headers);
      expect(res.statusCode).toBe(403);
      expect(res.json()).toEqual({ detail: 'CSRF token missing or wrong' });
    }
    // Another session's CSRF token is no good for this one.
    const other = await sessionLogin(sys.response, 'admin', 'Admin-pass-1');
    expect((await write({ cookie: s.cookie, 'x-csrf-token': other.csrf })).statusCode).toBe(403);
    expect((await sys.response.inject({ url: `/settings/${key}`, headers: bearer(sys.adminToken) })).statusCode).toBe(
      404,
    );

    const ok = await write({ cookie: s.cookie, 'x-csrf-token': s.csrf });
    expect(ok.statusCode).toBe(201);
    expect((await sys.response.inject({ url: `/settings/${key}`, headers: bearer(sys.adminToken) })).statusCode).toBe(
      200,
    );
  });

  it("names each network's cookie apart, so one network's session is no login on the other", async () => {
    const resp = await sessionLogin(sys.response, user.username, PASSWORD);
    const req = await sessionLogin(sys.request, user.username, PASSWORD);
    // A browser on one host sends both cookies to both ports: each API reads its own.
    const both = `${resp.cookie}; ${req.cookie}`;
    expect((await sys.response.inject({ url: '/auth/me', headers: { cookie: both } })).json().csrf_token).toBe(
      resp.csrf,
    );
    expect((await sys.request.inject({ url: '/auth/me', headers: { cookie: both } })).json().csrf_token).toBe(req.csrf);
    expect((await sys.request.inject({ url: '/auth/me', headers: { cookie: resp.cookie } })).statusCode).toBe(401);
  });

  it('leaves bearer clients as they were: no CSRF header, and the bearer token counts over a cookie', async () => {
    const key = `bearer.${uniqueName('k')}`;
    const res = await sys.response.inject({
      method: 'POST',
      url: '/settings',
      headers: bearer(sys.adminToken),
      payload: { key, value: 2 },
    });
    expect(res.statusCode).toBe(201);
    // A non-admin's cookie beside an admin's bearer token: the request is the admin's.
    const s = await sessionLogin(sys.response, user.username, PASSWORD);
    const both = await sys.response.inject({
      method: 'DELETE',
      url: `/settings/${key}`,
      headers: { ...bearer(sys.adminToken), cookie: s.cookie },
    });
    expect(both.statusCode).toBe(204);
    // A wrong bearer token is not rescued by a good cookie.
    const wrong = await sys.response.inject({ url: '/users', headers: { ...bearer('nope'), cookie: s.cookie } });
    expect(wrong.statusCode).toBe(401);
  });

  it('ends the session at logout and clears the cookie (the CSRF header is needed there too)', async () => {
    for (const [side, app, url] of both()) {
      const s = await sessionLogin(app, user.username, PASSWORD);
      const noCsrf = await app.inject({ method: 'DELETE', url: '/auth/session', headers: { cookie: s.cookie } });
      expect(noCsrf.statusCode, side).toBe(403);
      expect((await app.inject({ url, headers: { cookie: s.cookie } })).statusCode, side).toBe(200);

      const out = await app.inject({
        method: 'DELETE',
        url: '/auth/session',
        headers: { cookie: s.cookie, 'x-csrf-token': s.csrf },
      });
      expect(out.statusCode, side).toBe(204);
      const cleared = String(out.headers['set-cookie']).toLowerCase();
      expect(cleared, side).toMatch(new RegExp(`^netsync_${side}_session=;`));
      expect(cleared, side).toMatch(/max-age=0|expires=thu, 01 jan 1970/);
      // The token itself is denied, not just forgotten by this browser.
      expect((await app.inject({ url, headers: { cookie: s.cookie } })).statusCode, side).toBe(401);
      expect((await app.inject({ url: '/auth/me', headers: { cookie: s.cookie } })).statusCode, side).toBe(401);
    }
  });

  it('ends the cookie session when the password changes, as it ends a bearer one', async () => {
    const username = uniqueName('pwchange');
    const created = await sys.response.inject({
      method: 'POST',
      url: '/users',
      headers: bearer(sys.adminToken),
      payload: { username, password: PASSWORD },
    });
    const id = created.json().id as string;
    await waitFor(() => canLogin(sys.request, username, PASSWORD), undefined, 'the user to sync');
    const resp = await sessionLogin(sys.response, username, PASSWORD);
    const req = await sessionLogin(sys.request, username, PASSWORD);

    // The user changes their own password from the console: a cookie write with its CSRF header.
    const reset = await sys.response.inject({
      method: 'POST',
      url: `/users/${id}/reset-password`,
      headers: { cookie: resp.cookie, 'x-csrf-token': resp.csrf },
      payload: { new_password: 'Changed-pass-77' },
    });
    expect(reset.statusCode).toBe(200);
    expect((await sys.response.inject({ url: '/auth/me', headers: { cookie: resp.cookie } })).statusCode).toBe(401);
    await waitFor(() => canLogin(sys.request, username, 'Changed-pass-77'), undefined, 'the new password to sync');
    expect((await sys.request.inject({ url: '/auth/me', headers: { cookie: req.cookie } })).statusCode).toBe(401);
  });

  it('answers a wrong password with 401, as POST /auth/login does', async () => {
    for (const [side, app] of both()) {
      const res = await app.inject({
        method: 'POST',
        url: '/auth/session',
        payload: { username: user.username, password: 'not-it' },
      });
      expect(res.statusCode, side).toBe(401);
      expect(res.json(), side).toEqual({ detail: 'Incorrect username or password' });
      expect(res.headers['set-cookie'], side).toBeUndefined();
      const invalid = await app.inject({ method: 'POST', url: '/auth/session', payload: { username: user.username } });
      expect(invalid.statusCode, side).toBe(422);
      expect(invalid.json().detail[0].loc, side).toEqual(['body', 'password']);
    }
  });

  describe('with the login throttle on', () => {
    let strict: Runtime;
    let apps: [string, App][];
    beforeAll(async () => {
      // Two more API processes of the same networks, with a limit of 2 failures per username, behind a
      // trusted proxy (this test) that says whether the client's request came over HTTPS.
      strict = testRuntime(loadConfig({ ...sys.env.env, LOGIN_MAX_FAILURES: '2', TRUST_PROXY: '127.0.0.1' }));
      apps = [
        ['response', await startResponseApi(strict, { listen: false })],
        ['request', await startRequestApi(strict, { listen: false })],
      ];
    });
    afterAll(() => strict?.lifecycle.stop());

    it('marks the cookie Secure when the request came over HTTPS, and only then', async () => {
      for (const [side, app] of apps) {
        for (const [proto, secure] of [
          ['https', true],
          ['http', false],
        ] as const) {
          const res = await app.inject({
            method: 'POST',
            url: '/auth/session',
            payload: { username: user.username, password: PASSWORD },
            headers: { 'x-forwarded-proto': proto },
          });
          expect(res.statusCode, side).toBe(200);
          const attrs = String(res.headers['set-cookie'])
            .split(';')
            .map((a) => a.trim().toLowerCase());
          expect(attrs.includes('secure'), `${side} ${proto}`).toBe(secure);
        }
      }
      // An untrusted client's header changes nothing.
      const res = await sys.response.inject({
        method: 'POST',
        url: '/auth/session',
        payload: { username: user.username, password: PASSWORD },
        headers: { 'x-forwarded-proto': 'https' },
      });
      expect(String(res.headers['set-cookie']).toLowerCase()).not.toMatch(/;\s*secure/);
    });

    it('throttles /auth/session with 429 and Retry-After, counting with /auth/login', async () => {
      for (const [side, app] of apps) {
        const username = uniqueName('guess');
        const attempt = (url: string) =>
          app.inject({ method: 'POST', url, payload: { username, password: 'wrong-guess' } });
        // One failure by each route: the count is the one login's.
        expect((await attempt('/auth/login')).statusCode, side).toBe(401);
        expect((await attempt('/auth/session')).statusCode, side).toBe(401);
        const res = await attempt('/auth/session');
        expect(res.statusCode, side).toBe(429);
        const wait = Number(res.headers['retry-after']);
        expect(wait, side).toBeGreaterThan(0);
        expect(res.json(), side).toEqual({ detail: `too many failed logins; try again in ${wait} s` });
        expect(res.headers['set-cookie'], side).toBeUndefined();
      }
    });
  });
});
