import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SpawnedRedis, spawnRedis } from '../../src/platform/redis.js';
import type { Runtime } from '../../src/platform/runtime.js';
import { startRequestApi } from '../../src/request/start.js';
import { startResponseApi } from '../../src/response/start.js';
import { freePort } from '../helpers/cli.js';
import { ChildPart } from '../helpers/exchange.js';
import { dialects, type TestEnv, testEnv, testRuntime, waitFor } from '../helpers/system.js';

/*
 * Failed logins are counted in the network's Redis: every API process of the network shares the count,
 * a restart keeps it, and a client trying a new username each time is counted over all of them. The
 * client address comes through a trusted proxy's X-Forwarded-For (TRUST_PROXY), so each test is a
 * client of its own.
 */

const LIMITS = { LOGIN_MAX_FAILURES: '3', LOGIN_MAX_FAILURES_PER_CLIENT: '6', TRUST_PROXY: '127.0.0.1,::1' };
const WINDOW_S = 15 * 60;

interface Answer {
  status: number;
  retryAfter: string | null;
}

async function loginAt(baseUrl: string, client: string, username: string, password: string): Promise<Answer> {
  const res = await fetch(`${baseUrl}/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-forwarded-for': client },
    body: JSON.stringify({ username, password }),
  });
  await res.arrayBuffer();
  return { status: res.status, retryAfter: res.headers.get('retry-after') };
}

/** Deletes the keys under `prefix` (the throttle's own; BullMQ's are obliterated by cleanup). */
async function dropKeys(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url);
  const keys = await redis.keys(`${prefix}:login-throttle:*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
}

describe.each(dialects())('the login throttle, shared by two API processes through Redis (%s)', (dialect) => {
  let env: TestEnv;
  let ports: number[];
  let apis: ChildPart[] = [];
  const urls = () => ports.map((p) => `http://127.0.0.1:${p}`);

  /** Two `netsync response api` processes of one network: one database, one Redis. */
  async function startApis(): Promise<void> {
    apis = ports.map((port) => new ChildPart({ ...env.env, RESPONSE_PORT: String(port) }, 'response', 'api'));
    await Promise.all(apis.map((a) => a.waitForLine(/listening/i, 60_000)));
  }

  beforeAll(async () => {
    // Set, as it must be for processes that share a network (a token from one is checked by the other):
    // two processes starting at once on a fresh DATA_DIR could each generate their own.
    env = testEnv(dialect, { ...LIMITS, RESPONSE_JWT_SECRET: randomBytes(32).toString('base64url') });
    ports = [await freePort(), await freePort()];
    await startApis();
  });
  afterAll(async () => {
    await Promise.all(apis.map((a) => a.stop()));
    await dropKeys(env.config.redisUrl, env.config.queuePrefix);
    await env.cleanup();
  });

  it('holds across both processes and across a restart of them', async () => {
    const [a, b] = urls() as [string, string];
    const client = '203.0.113.1';
    // Three guesses, spread over both processes: each process alone has seen fewer than the limit.
    expect((await loginAt(a, client, 'admin', 'guess-1')).status).toBe(401);
    expect((await loginAt(b, client, 'admin', 'guess-2')).status).toBe(401);
    expect((await loginAt(a, client, 'admin', 'guess-3')).status).toBe(401);
    for (const url of [a, b]) {
      const refused = await loginAt(url, client, 'admin', 'Admin-pass-1');
      expect(refused.status).toBe(429);
      expect(Number(refused.retryAfter)).toBeGreaterThan(WINDOW_S - 120);
      expect(Number(refused.retryAfter)).toBeLessThanOrEqual(WINDOW_S);
    }
    // Another client is not held back by this one's failures.
    expect((await loginAt(b, '203.0.113.9', 'admin', 'Admin-pass-1')).status).toBe(200);

    await Promise.all(apis.map((api) => api.stop()));
    await startApis();
    for (const url of urls()) expect((await loginAt(url, client, 'admin', 'Admin-pass-1')).status).toBe(429);
  });

  it('throttles a client that tries a new username each time', async () => {
    const [a, b] = urls() as [string, string];
    const client = '203.0.113.2';
    for (let i = 0; i < 6; i++) expect((await loginAt(i % 2 ? a : b, client, `user${i}`, 'guess')).status).toBe(401);
    const refused = await loginAt(a, client, 'user6', 'guess');
    expect(refused.status).toBe(429);
    expect(Number(refused.retryAfter)).toBeGreaterThan(0);
    // Over all usernames: the right password of a real account waits too.
    expect((await loginAt(b, client, 'admin', 'Admin-pass-1')).status).toBe(429);
  });

  it("counts the queue dashboard's Basic logins against the same limits", async () => {
    const [a, b] = urls() as [string, string];
    const client = '203.0.113.4';
    const board = (url: string, password: string) =>
      fetch(`${url}/admin/queues`, {
        headers: {
          'x-forwarded-for': client,
          authorization: `Basic ${Buffer.from(`admin:${password}`).toString('base64')}`,
        },
      });
    for (const [url, guess] of [
      [a, 'guess-1'],
      [b, 'guess-2'],
      [a, 'guess-3'],
    ] as const) {
      expect((await board(url, guess)).status).toBe(401);
    }
    const refused = await board(b, 'Admin-pass-1');
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await loginAt(a, client, 'admin', 'Admin-pass-1')).status).toBe(429);
  });

  it('does not count successful logins', async () => {
    const [a, b] = urls() as [string, string];
    for (let i = 0; i < 10; i++)
      expect((await loginAt(i % 2 ? a : b, '203.0.113.3', 'admin', 'Admin-pass-1')).status).toBe(200);
  });
});

describe('the login throttle on the Request side', () => {
  let env: TestEnv;
  const runtimes: Runtime[] = [];
  beforeAll(() => {
    env = testEnv('sqlite', { LOGIN_MAX_FAILURES: '2', LOGIN_MAX_FAILURES_PER_CLIENT: '0' });
  });
  afterAll(async () => {
    for (const rt of runtimes) await rt.lifecycle.stop();
    await dropKeys(env.config.redisUrl, env.config.queuePrefix);
    await env.cleanup();
  });

  it("is shared by the network's API instances, and apart from the Response side's", async () => {
    // Two instances with nothing in common but the database and Redis, as two processes would be.
    const apps = [];
    for (let i = 0; i < 2; i++) {
      const rt = testRuntime(env.config);
      runtimes.push(rt);
      apps.push(await startRequestApi(rt, { listen: false }));
    }
    const [one, two] = apps as [(typeof apps)[0], (typeof apps)[0]];
    const attempt = (app: typeof one, username: string) =>
      app.inject({ method: 'POST', url: '/auth/login', payload: { username, password: 'guess' } });
    expect((await attempt(one, 'nobody')).statusCode).toBe(401);
    expect((await attempt(two, 'nobody')).statusCode).toBe(401);
    expect((await attempt(one, 'nobody')).statusCode).toBe(429);
    expect((await attempt(two, 'nobody')).statusCode).toBe(429);

    // The same Redis, the other network: its own count.
    const rt = testRuntime(env.config);
    runtimes.push(rt);
    const response = await startResponseApi(rt, { listen: false });
    expect(
      (
        await response.inject({
          method: 'POST',
          url: '/auth/login',
          payload: { username: 'nobody', password: 'guess' },
        })
      ).statusCode,
    ).toBe(401);
  });
});

describe('a burst of failed logins for one username from many addresses', () => {
  let env: TestEnv;
  const runtimes: Runtime[] = [];
  const apps: Awaited<ReturnType<typeof startResponseApi>>[] = [];
  beforeAll(async () => {
    env = testEnv('sqlite', {
      ...LIMITS,
      LOGIN_MAX_FAILURES_PER_ACCOUNT: '5',
      RESPONSE_JWT_SECRET: randomBytes(32).toString('base64url'),
    });
    // Two API instances of one network, as two processes would be: the count is shared.
    for (let i = 0; i < 2; i++) {
      const rt = testRuntime(env.config);
      runtimes.push(rt);
      apps.push(await startResponseApi(rt, { listen: false }));
    }
  });
  afterAll(async () => {
    for (const rt of runtimes) await rt.lifecycle.stop();
    await dropKeys(env.config.redisUrl, env.config.queuePrefix);
    await env.cleanup();
  });

  const attempt = (i: number, client: string, username: string, password: string) =>
    (apps[i % 2] as (typeof apps)[0]).inject({
      method: 'POST',
      url: '/auth/login',
      headers: { 'x-forwarded-for': client },
      payload: { username, password },
    });

  it('checks at most LOGIN_MAX_FAILURES_PER_ACCOUNT passwords, however many addresses guess, and slows only that username', async () => {
    // Twenty guesses at once, each from an address of its own: no per-client limit is reached. A 401 is a
    // password checked (bcrypt), a 429 one refused before bcrypt.
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => attempt(i, `198.51.100.${i + 1}`, 'admin', `guess-${i}`)),
    );
    const statuses = answers.map((a) => a.statusCode);
    expect(statuses.filter((s) => s === 401)).toHaveLength(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(15);
    // The username's own spellings share the count, and the right password waits too, from a new address.
    expect((await attempt(0, '198.51.100.101', 'ADMIN', 'Admin-pass-1')).statusCode).toBe(429);
    // Other usernames are not slowed: a new address guessing at another name has its password checked.
    expect((await attempt(1, '198.51.100.102', 'someone-else', 'guess')).statusCode).toBe(401);
  });
});

describe('the login throttle while Redis is down', () => {
  let redis: SpawnedRedis;
  let redisDir: string;
  let env: TestEnv;
  let rt: Runtime;
  let app: Awaited<ReturnType<typeof startResponseApi>>;

  beforeAll(async () => {
    // A Redis of its own, to take away.
    redisDir = fs.mkdtempSync(path.join(os.tmpdir(), 'netsync-throttle-redis-'));
    redis = await spawnRedis(`redis://127.0.0.1:${await freePort()}/0`, redisDir);
    env = testEnv('sqlite', { REDIS_URL: redis.url, LOGIN_MAX_FAILURES: '2', LOGIN_MAX_FAILURES_PER_CLIENT: '0' });
    rt = testRuntime(env.config);
    app = await startResponseApi(rt, { listen: false });
  });
  afterAll(async () => {
    await rt?.lifecycle.stop();
    await env?.cleanup();
    await redis?.stop();
    fs.rmSync(redisDir, { recursive: true, force: true });
  });

  const attempt = (username: string, password: string) =>
    app.inject({ method: 'POST', url: '/auth/login', payload: { username, password } });
  const redisHealth = async () => (await app.inject({ url: '/health' })).json().checks.redis as string;

  it('counts in Redis, without the username in clear', async () => {
    const typed = 'Secret-typed-in-the-name-field-1';
    expect((await attempt(typed, 'x')).statusCode).toBe(401);
    const client = new Redis(redis.url);
    const keys = await client.keys('*login-throttle*');
    client.disconnect();
    expect(keys.length).toBeGreaterThan(0);
    expect(keys.join('\n')).not.toContain(typed);
    expect(keys.join('\n')).not.toContain(typed.toLowerCase());
  });

  it('falls back to counting in the process: logins keep working, still throttled; the shared count returns with Redis', async () => {
    expect((await attempt('admin', 'guess-1')).statusCode).toBe(401);
    expect((await attempt('admin', 'guess-2')).statusCode).toBe(401);
    expect((await attempt('admin', 'Admin-pass-1')).statusCode).toBe(429);

    await redis.stop();
    await waitFor(async () => (await redisHealth()) === 'failed', undefined, 'the API to see Redis gone');
    // The process counts alone, from nothing: the right password works, and guesses are throttled again.
    expect((await attempt('admin', 'Admin-pass-1')).statusCode).toBe(200);
    expect((await attempt('dave', 'guess-1')).statusCode).toBe(401);
    expect((await attempt('dave', 'guess-2')).statusCode).toBe(401);
    const local = await attempt('dave', 'guess-3');
    expect(local.statusCode).toBe(429);
    expect(Number(local.headers['retry-after'])).toBeGreaterThan(0);

    // Redis back (its data kept in its append-only file): the shared count decides again, not the process's.
    redis = await spawnRedis(redis.url, redisDir);
    await waitFor(async () => (await redisHealth()) === 'ok', undefined, 'the API to reconnect to Redis');
    expect((await attempt('admin', 'Admin-pass-1')).statusCode).toBe(429);
    expect((await attempt('dave', 'guess-4')).statusCode).toBe(401);
  });
});
