import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';
import { inject } from 'vitest';
import { generateSigningKey, parseSigningKey } from '../../src/exchange/keys.js';
import { type Config, loadConfig } from '../../src/platform/config.js';
import type { App } from '../../src/platform/http.js';
import { createLogger } from '../../src/platform/logger.js';
import type { Runtime } from '../../src/platform/runtime.js';
import { resolveSecrets } from '../../src/platform/secrets.js';
import { Lifecycle } from '../../src/platform/shutdown.js';
import { startRequestApi, startRequestWorker } from '../../src/request/start.js';
import { REQUEST_QUEUE } from '../../src/request/tasks/registry.js';
import { startResponseApi, startResponseWorker } from '../../src/response/start.js';
import { RESPONSE_QUEUE } from '../../src/response/tasks/registry.js';

export type Dialect = 'sqlite' | 'postgres';

/** The dialects this run can test: SQLite always, PostgreSQL when one answers. */
export const dialects = (): Dialect[] => (inject('postgresUrl') ? ['sqlite', 'postgres'] : ['sqlite']);

export const uniqueName = (prefix: string) => `${prefix}_${randomBytes(5).toString('hex')}`;

export interface TestEnv {
  readonly dir: string;
  readonly env: Record<string, string>;
  readonly config: Config;
  /** Drops what the environment made: PostgreSQL schemas, Redis keys and the temp folder. */
  cleanup(): Promise<void>;
}

/**
 * A private corner of every shared service: a temp folder (data, exchange, quarantine), a Redis key
 * prefix, and a PostgreSQL schema per database when the dialect is postgres.
 */
export function testEnv(dialect: Dialect = 'sqlite', extra: Record<string, string> = {}): TestEnv {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'netsync-test-'));
  const prefix = uniqueName('t');
  const schemas = [uniqueName('resp'), uniqueName('req')];
  const pgUrl = inject('postgresUrl');
  const signingKey = generateSigningKey();
  const dbUrl = (schema: string, file: string) =>
    dialect === 'postgres' && pgUrl ? `${pgUrl}?schema=${schema}` : `sqlite:${path.join(dir, 'data', file)}`;
  const env: Record<string, string> = {
    REDIS_URL: inject('redisUrl'),
    DATA_DIR: path.join(dir, 'data'),
    EXPORT_DIR: path.join(dir, 'exports'),
    RESPONSE_DATABASE_URL: dbUrl(schemas[0] as string, 'response.sqlite'),
    REQUEST_DATABASE_URL: dbUrl(schemas[1] as string, 'request.sqlite'),
    QUEUE_PREFIX: prefix,
    // A fresh key pair per environment: the Response side signs, the Request side trusts its public half.
    EXCHANGE_SIGNING_KEY: signingKey,
    EXCHANGE_TRUSTED_KEYS: parseSigningKey(signingKey).publicKey.text,
    ADMIN_USERNAME: 'admin',
    ADMIN_PASSWORD: 'Admin-pass-1',
    BCRYPT_COST: '4',
    LOG_LEVEL: process.env.NETSYNC_TEST_LOG_LEVEL ?? 'silent',
    RESPONSE_PORT: '0',
    REQUEST_PORT: '0',
    SHUTDOWN_GRACE_S: '2',
    // Tests poll logins while a password syncs; the throttle has tests of its own.
    LOGIN_MAX_FAILURES: '0',
    LOGIN_MAX_FAILURES_PER_CLIENT: '0',
    LOGIN_MAX_FAILURES_PER_ACCOUNT: '0',
    ...extra,
  };
  const config = loadConfig(env);
  return {
    dir,
    env,
    config,
    async cleanup() {
      if (dialect === 'postgres' && pgUrl) {
        const client = new pg.Client({ connectionString: pgUrl });
        await client.connect();
        for (const s of schemas) await client.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
        await client.end();
      }
      const redis = new Redis(config.redisUrl);
      for (const name of [RESPONSE_QUEUE, REQUEST_QUEUE]) {
        const q = new Queue(name, { connection: redis, prefix });
        await q.obliterate({ force: true }).catch(() => undefined);
        await q.close();
      }
      // What is not a queue's: sessions' markers and deny list (platform/sessions.ts), and the like.
      for await (const keys of redis.scanStream({ match: `${prefix}:*`, count: 1000 }) as AsyncIterable<string[]>) {
        if (keys.length > 0) await redis.unlink(...keys);
      }
      redis.disconnect();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * The environment of one side's process: a Request part is never given the private key (it would refuse
 * to start), as on a real Request machine.
 */
export function sideEnv(env: Record<string, string>, side: 'response' | 'request'): Record<string, string> {
  if (side === 'response') return env;
  const { EXCHANGE_SIGNING_KEY: _, ...rest } = env;
  return rest;
}

export function testRuntime(config: Config): Runtime {
  const logger = createLogger(config.logLevel);
  return {
    config,
    secrets: resolveSecrets(config, { makeSigningKey: false }),
    logger,
    lifecycle: new Lifecycle(logger),
  };
}

export interface TestSystem {
  readonly env: TestEnv;
  readonly rt: Runtime;
  readonly response: App;
  readonly request: App;
  /** An admin's bearer token on the Response Network. */
  readonly adminToken: string;
  stop(): Promise<void>;
}

/**
 * Both networks in this process, as `netsync up` runs them but without listening (requests go through
 * `inject`) and without the beats (tests trigger what they need; the watcher gives the fast path).
 */
export async function startSystem(
  opts: { dialect?: Dialect; env?: Record<string, string>; watch?: boolean } = {},
): Promise<TestSystem> {
  const env = testEnv(opts.dialect ?? 'sqlite', opts.env);
  const rt = testRuntime(env.config);
  await startRequestWorker(rt, { watch: opts.watch ?? true });
  const request = await startRequestApi(rt, { listen: false });
  await startResponseWorker(rt);
  const response = await startResponseApi(rt, { listen: false });
  const adminToken = await login(response, 'admin', 'Admin-pass-1');
  return {
    env,
    rt,
    response,
    request,
    adminToken,
    async stop() {
      await rt.lifecycle.stop();
      await env.cleanup();
    },
  };
}

export async function login(app: App, username: string, password: string): Promise<string> {
  const res = await app.inject({ method: 'POST', url: '/auth/login', payload: { username, password } });
  if (res.statusCode !== 200) throw new Error(`login ${username}: ${res.statusCode} ${res.body}`);
  return res.json().access_token as string;
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/**
 * How long a test waits for something the system does by itself (a change reaching the Request side,
 * a task finishing). The fast path takes milliseconds, and a test system runs no schedule (or one of
 * 60 s), so arriving at all shows the fast path at work; the deadline is generous because a loaded
 * machine (CI, suites side by side) can stall a process for seconds. How fast things are is measured
 * by `npm run bench`, not asserted by tests.
 */
export const EVENT_DEADLINE_MS = 20_000;

/** Polls `check` until it returns true or `timeoutMs` passes; returns how long it took in ms. */
export async function waitFor(
  check: () => Promise<boolean>,
  timeoutMs = EVENT_DEADLINE_MS,
  what = 'condition',
): Promise<number> {
  const start = performance.now();
  for (;;) {
    if (await check()) return performance.now() - start;
    if (performance.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** True when `password` logs `username` in on `app`. */
export async function canLogin(app: App, username: string, password: string): Promise<boolean> {
  const res = await app.inject({ method: 'POST', url: '/auth/login', payload: { username, password } });
  return res.statusCode === 200;
}
