import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Unavailable } from '../../src/platform/errors.js';
import type { App, TokenClaims } from '../../src/platform/http.js';
import { createLogger } from '../../src/platform/logger.js';
import { Sessions } from '../../src/platform/sessions.js';
import type { Importer } from '../../src/request/importer/importer.js';
import { startRequestApi, startRequestWorker } from '../../src/request/start.js';
import { startResponseApi, startResponseWorker } from '../../src/response/start.js';
import {
  bearer,
  canLogin,
  dialects,
  login,
  type TestEnv,
  testEnv,
  testRuntime,
  uniqueName,
  waitFor,
} from '../helpers/system.js';

const PASSWORD = 'Sync-pass-42';
const TTL_S = 900;

/**
 * Sessions end when the account changes, and at logout, on both networks, each with two API processes
 * (apps with their own Redis connection, database handle and memory) sharing one Redis. Imports are run
 * by the test (no watcher), so "after the importer applied the change" is the moment importAll returns.
 */
describe.each(dialects())('sessions (%s)', (dialect) => {
  let env: TestEnv;
  let rt: ReturnType<typeof testRuntime>;
  let respA: App;
  let respB: App;
  let reqA: App;
  let reqB: App;
  let importer: Importer;
  let admin: string;
  let reqAdmin: string;

  beforeAll(async () => {
    env = testEnv(dialect, { TOKEN_TTL_S: String(TTL_S) });
    rt = testRuntime(env.config);
    respA = await startResponseApi(rt, { listen: false });
    respB = await startResponseApi(rt, { listen: false });
    // Started after the admin account was made: its catch-up exports it, for the Request side.
    await startResponseWorker(rt);
    ({ importer } = await startRequestWorker(rt, { watch: false }));
    reqA = await startRequestApi(rt, { listen: false });
    reqB = await startRequestApi(rt, { listen: false });
    admin = await login(respA, 'admin', 'Admin-pass-1');
    reqAdmin = await synced(() => canLogin(reqA, 'admin', 'Admin-pass-1')).then(() =>
      login(reqA, 'admin', 'Admin-pass-1'),
    );
  });
  afterAll(async () => {
    await rt?.lifecycle.stop();
    await env?.cleanup();
  });

  /** Imports until `check` holds: when it returns, the change is applied and the importer has signalled it. */
  const synced = (check: () => Promise<boolean>) =>
    waitFor(async () => (await importer.importAll()) && check(), undefined, 'the change to be imported');

  const status = async (app: App, url: string, token: string) =>
    (await app.inject({ url, headers: bearer(token) })).statusCode;

  /** A user made on the Response side and synced, with a token from each network. */
  async function userWithTokens(username: string, extra: Record<string, unknown> = {}) {
    const res = await respA.inject({
      method: 'POST',
      url: '/users',
      headers: bearer(admin),
      payload: { username, password: PASSWORD, ...extra },
    });
    expect(res.statusCode).toBe(201);
    const id = res.json().id as string;
    await synced(() => canLogin(reqA, username, PASSWORD));
    const u = {
      id,
      url: `/users/${id}`,
      resp: await login(respA, username, PASSWORD),
      req: await login(reqB, username, PASSWORD),
    };
    // Every process has checked (and remembered) both tokens before the change.
    for (const app of [respA, respB]) expect(await status(app, u.url, u.resp)).toBe(200);
    for (const app of [reqA, reqB]) expect(await status(app, u.url, u.req)).toBe(200);
    return u;
  }

  interface AccountChange {
    what: string;
    extra: Record<string, unknown>;
    change: (id: string) => Promise<{ statusCode: number }>;
    /** Whether the Request side has applied it. */
    applied: (username: string, id: string) => Promise<boolean>;
  }
  const changes: AccountChange[] = [
    {
      what: 'a password reset',
      extra: {},
      change: (id: string) =>
        respA.inject({
          method: 'POST',
          url: `/users/${id}/reset-password`,
          headers: bearer(admin),
          payload: { new_password: 'Newer-pass-77' },
        }),
      applied: (username: string) => canLogin(reqA, username, 'Newer-pass-77'),
    },
    {
      what: 'a deactivation',
      extra: {},
      change: (id: string) =>
        respA.inject({ method: 'PATCH', url: `/users/${id}`, headers: bearer(admin), payload: { is_active: false } }),
      applied: async (username: string) => !(await canLogin(reqA, username, PASSWORD)),
    },
    {
      what: 'a deletion',
      extra: {},
      change: (id: string) => respA.inject({ method: 'DELETE', url: `/users/${id}`, headers: bearer(admin) }),
      applied: async (username: string) => !(await canLogin(reqA, username, PASSWORD)),
    },
    {
      what: 'the admin flag taken away',
      extra: { is_admin: true },
      change: (id: string) =>
        respA.inject({ method: 'PATCH', url: `/users/${id}`, headers: bearer(admin), payload: { is_admin: false } }),
      applied: async (_username: string, id: string) =>
        (await reqA.inject({ url: `/users/${id}`, headers: bearer(reqAdmin) })).json().is_admin === false,
    },
  ];

  it.each(changes.map((c, i) => [c.what, i] as const))(
    'after %s, tokens issued before are refused by both processes of each network',
    async (_what, i) => {
      const c = changes[i] as AccountChange;
      const username = `session_${i}`;
      const u = await userWithTokens(username, c.extra);
      const bystander = await userWithTokens(`bystander_${i}`);

      expect((await c.change(u.id)).statusCode).toBeLessThan(300);
      // The Response side: at once, on the process that made the change and on the other.
      for (const app of [respB, respA]) {
        const res = await app.inject({ url: u.url, headers: bearer(u.resp) });
        expect(res.statusCode).toBe(401);
        expect(res.json()).toEqual({ detail: 'Not authenticated' });
      }
      // The Request side: still good until the change is applied there, refused as soon as it is.
      expect(await status(reqB, u.url, u.req)).toBe(200);
      await synced(() => c.applied(username, u.id));
      for (const app of [reqB, reqA]) expect(await status(app, u.url, u.req)).toBe(401);

      // Other accounts' tokens stand.
      for (const app of [respA, respB]) expect(await status(app, bystander.url, bystander.resp)).toBe(200);
      for (const app of [reqA, reqB]) expect(await status(app, bystander.url, bystander.req)).toBe(200);
      expect(await status(respB, '/users?limit=1', admin)).toBe(200);
    },
  );

  it('a token issued after the admin flag was taken away carries no admin rights', async () => {
    const u = await userWithTokens('demoted', { is_admin: true });
    expect(await status(respB, '/users?limit=1', u.resp)).toBe(200);
    await respA.inject({ method: 'PATCH', url: u.url, headers: bearer(admin), payload: { is_admin: false } });
    const fresh = await login(respB, 'demoted', PASSWORD);
    expect(await status(respA, u.url, fresh)).toBe(200);
    expect(await status(respA, '/users?limit=1', fresh)).toBe(403);
  });

  it('an admin may not take away their own admin flag', async () => {
    const me = (await respA.inject({ url: '/users?username=admin', headers: bearer(admin) })).json()[0].id as string;
    const res = await respA.inject({
      method: 'PATCH',
      url: `/users/${me}`,
      headers: bearer(admin),
      payload: { is_admin: false },
    });
    expect(res.statusCode).toBe(409);
    expect(await status(respB, '/users?limit=1', admin)).toBe(200);
  });

  it('logout ends the token it is called with, on both processes, and no other', async () => {
    const u = await userWithTokens('leaving');
    for (const [a, b, first] of [
      [respA, respB, u.resp],
      [reqA, reqB, u.req],
    ] as const) {
      const second = await login(b, 'leaving', PASSWORD);
      const out = await a.inject({ method: 'POST', url: '/auth/logout', headers: bearer(first) });
      expect(out.statusCode).toBe(204);
      expect(out.body).toBe('');
      expect(await status(b, u.url, first)).toBe(401);
      expect(await status(a, u.url, first)).toBe(401);
      expect(await status(a, u.url, second)).toBe(200);
      expect(await status(b, u.url, second)).toBe(200);
      // Once ended, it cannot log out again; without a token there is nothing to end.
      expect((await b.inject({ method: 'POST', url: '/auth/logout', headers: bearer(first) })).statusCode).toBe(401);
      expect((await b.inject({ method: 'POST', url: '/auth/logout' })).statusCode).toBe(401);
    }
  });

  it('tokens live TOKEN_TTL_S on both networks', async () => {
    const claims = (token: string) =>
      JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString()) as { iat: number; exp: number };
    for (const token of [admin, reqAdmin]) {
      const { iat, exp } = claims(token);
      expect(exp - iat).toBe(TTL_S);
    }
  });
});

/**
 * What a check costs: the account's version is read from the database once, then only after a change
 * (made through any process) moved its marker; while Redis does not answer, on every request.
 */
describe('session checks', () => {
  const prefix = uniqueName('t');
  const logger = createLogger('silent');
  const connections: Redis[] = [];
  const connect = (url: string) => {
    const redis = new Redis(url, { maxRetriesPerRequest: null, retryStrategy: () => 200 });
    redis.on('error', () => undefined);
    connections.push(redis);
    return redis;
  };
  /** The database as the checks see it: each account's version, and how often it was read. */
  const versions = new Map<string, number>();
  let reads = 0;
  const versionOf = async (id: string) => {
    reads++;
    return versions.get(id) ?? null;
  };
  const claims = (sub: string, sv: number, jti = `${sub}-1`): TokenClaims => ({
    sub,
    username: sub,
    admin: false,
    sv,
    jti,
  });

  afterAll(async () => {
    const redis = connections[0] as Redis;
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.unlink(...keys);
    for (const c of connections) c.disconnect();
  });

  it('reads the database once per account until a change, made through any process, ends its tokens', async () => {
    const [ra, rb] = [connect(inject('redisUrl')), connect(inject('redisUrl'))];
    const a = new Sessions(ra, prefix, logger, versionOf);
    const b = new Sessions(rb, prefix, logger, versionOf);
    for (const r of [ra, rb]) if (r.status !== 'ready') await new Promise((ok) => r.once('ready', ok));
    versions.set('u1', 5);
    reads = 0;
    for (let i = 0; i < 5; i++) expect(await a.accepts(claims('u1', 5))).toBe(true);
    expect(reads).toBe(1);
    expect(await b.accepts(claims('u1', 5))).toBe(true);
    expect(reads).toBe(2);
    expect(await a.accepts(claims('u1', 4))).toBe(false);
    expect(reads).toBe(2);

    versions.set('u1', 6);
    await a.accountsChanged(['u1']);
    expect(await b.accepts(claims('u1', 5))).toBe(false);
    expect(await b.accepts(claims('u1', 6))).toBe(true);
    expect(reads).toBe(3);

    // A change for all accounts (the Request importer's) makes every account be read again.
    versions.set('u2', 1);
    expect(await b.accepts(claims('u2', 1))).toBe(true);
    await a.accountsChanged('all');
    versions.set('u2', 2);
    expect(await b.accepts(claims('u2', 1))).toBe(false);

    // Logout through one process ends that token on the other, and no other token of the account.
    await a.revoke({ ...claims('u1', 6, 'gone'), exp: Math.floor(Date.now() / 1000) + 60 });
    expect(await b.accepts(claims('u1', 6, 'gone'))).toBe(false);
    expect(await b.accepts(claims('u1', 6, 'kept'))).toBe(true);
  });

  it('while Redis does not answer: reads the database on every check, and logout answers 503', async () => {
    const down = new Sessions(connect('redis://127.0.0.1:1'), prefix, logger, versionOf);
    versions.set('u3', 1);
    reads = 0;
    expect(await down.accepts(claims('u3', 1))).toBe(true);
    expect(await down.accepts(claims('u3', 1))).toBe(true);
    expect(reads).toBe(2);
    versions.set('u3', 2);
    expect(await down.accepts(claims('u3', 1))).toBe(false);
    // A change is committed whether or not Redis takes its marker: telling the sessions never throws.
    await expect(down.accountsChanged(['u3'])).resolves.toBeUndefined();
    await expect(down.revoke({ ...claims('u3', 2), exp: Math.floor(Date.now() / 1000) + 60 })).rejects.toThrow(
      Unavailable,
    );
  });
});
