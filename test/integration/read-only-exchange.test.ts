import fs from 'node:fs';
import path from 'node:path';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { batchFileName } from '../../src/exchange/index.js';
import type { Db } from '../../src/platform/db.js';
import type { App } from '../../src/platform/http.js';
import { redisConnection } from '../../src/platform/redis.js';
import type { Runtime } from '../../src/platform/runtime.js';
import type { RequestDatabase } from '../../src/request/db/schema.js';
import { IMPORT_TASK, REQUEST_QUEUE } from '../../src/request/tasks/registry.js';
import { startResponseApi, startResponseWorker } from '../../src/response/start.js';
import { freePort } from '../helpers/cli.js';
import { ChildPart, craftFile, freshSigningKey, openRequestDb, pcRecord } from '../helpers/exchange.js';
import { copyInto, listingWithInodes, mirrorOnce } from '../helpers/mirror.js';
import { READ_ONLY, readOnlyUnsupported } from '../helpers/read-only.js';
import { bearer, login, type TestEnv, testEnv, testRuntime, waitFor } from '../helpers/system.js';

vi.setConfig({ testTimeout: 240_000, hookTimeout: 120_000 });

const unsupported = readOnlyUnsupported();
if (unsupported) console.log(`[netsync tests] read-only exchange folder test skipped: ${unsupported}`);

/**
 * The Request side never writes to its exchange folder, with the operating system as the judge: its
 * worker and API run in a private mount namespace where their exchange folder (B, a copy of the
 * Response side's folder A kept by a copier) is a read-only bind mount. Changes still flow, a refused
 * file is copied to the Request side's own quarantine, nothing under B changes, and no write was even
 * attempted (no EROFS or EACCES logged).
 */
describe.skipIf(unsupported !== undefined)('a Request side whose exchange folder the OS makes read-only', () => {
  let env: TestEnv;
  let rt: Runtime;
  let response: App;
  let admin: string;
  let req: Db<RequestDatabase>;
  let A: string;
  let B: string;
  let requestUrl: string;
  const children: ChildPart[] = [];

  beforeAll(async () => {
    env = testEnv('sqlite');
    A = env.config.exchangeDir;
    B = path.join(env.dir, 'mirror');
    fs.mkdirSync(A, { recursive: true });
    fs.mkdirSync(B, { recursive: true });
    rt = testRuntime(env.config);
    await startResponseWorker(rt);
    response = await startResponseApi(rt, { listen: false });
    admin = await login(response, 'admin', 'Admin-pass-1');
    req = await openRequestDb(env);
    const port = await freePort();
    requestUrl = `http://127.0.0.1:${port}`;
    const requestEnv = { ...env.env, EXPORT_DIR: B, RO_DIR: B, REQUEST_PORT: String(port) };
    children.push(new ChildPart(requestEnv, 'request', 'worker', READ_ONLY));
    children.push(new ChildPart(requestEnv, 'request', 'api', READ_ONLY));
    await children[0]?.ready();
    await children[1]?.waitForLine(/listening/i, 60_000);
  });
  afterAll(async () => {
    await Promise.all(children.map((c) => c.stop()));
    await req?.close();
    await rt?.lifecycle.stop();
    await env?.cleanup();
  });

  const post = (url: string, payload: unknown, token = admin) =>
    response.inject({ method: 'POST', url, headers: bearer(token), payload: payload as object });
  const requestLogin = (username: string, password: string) =>
    fetch(`${requestUrl}/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username, password }),
    });
  const canLogin = async (username: string, password: string) => (await requestLogin(username, password)).ok;
  /** The copier: what the Response side wrote to A, copied to B as rsync would. */
  const copyNow = () => mirrorOnce(A, B);
  const untilCopied = (what: string, check: () => Promise<boolean>) =>
    waitFor(
      async () => {
        await copyNow();
        return check();
      },
      undefined,
      what,
    );

  it('its processes cannot write under the exchange folder, and still apply what arrives', async () => {
    const created = await post('/users', { username: 'rosa', password: 'First-pass-1' });
    expect(created.statusCode).toBe(201);
    await untilCopied('rosa to log in on the Request side', () => canLogin('rosa', 'First-pass-1'));

    const reset = await post(`/users/${created.json().id}/reset-password`, { new_password: 'Second-pass-2' });
    expect(reset.statusCode).toBe(200);
    await untilCopied('the new password to work on the Request side', () => canLogin('rosa', 'Second-pass-2'));
    expect(await canLogin('rosa', 'First-pass-1')).toBe(false);

    const ready = await fetch(`${requestUrl}/ready`);
    expect(ready.status).toBe(200);
    expect((await ready.json()).checks.exchange_folder).toBe('ok');
  });

  it('copies a refused file to its own quarantine, leaves it in place, and a snapshot still applies', async () => {
    // A forged batch (signed with a key the Request side does not trust) under the name of the next
    // password batch, delivered by the copier like any other file.
    const next = await nextPasswordBatch();
    const name = batchFileName(next);
    const user = await req.kysely
      .selectFrom('users')
      .select('id')
      .where('username', '=', 'rosa')
      .executeTakeFirstOrThrow();
    const staging = path.join(env.dir, 'staging');
    fs.mkdirSync(path.join(staging, 'password_changes'), { recursive: true });
    const forged = craftFile(
      { stream: 'password_changes', seq: next },
      [JSON.stringify(pcRecord(user.id, 9))],
      freshSigningKey(),
    );
    fs.writeFileSync(path.join(staging, 'password_changes', name), forged);
    await copyInto(staging, B, path.join('password_changes', name));
    await waitFor(
      async () => (await req.kysely.selectFrom('quarantine_log').selectAll().execute()).length > 0,
      undefined,
      'the forged batch to be refused',
    );
    const [row] = await req.kysely.selectFrom('quarantine_log').selectAll().execute();
    expect(row).toMatchObject({ stream: 'password_changes', code: 'unknown_key', name });
    expect(path.dirname(row?.file as string)).toBe(path.join(env.config.quarantineDir, 'password_changes'));
    expect(fs.readFileSync(row?.file as string, 'utf8')).toBe(forged);
    expect(fs.readFileSync(path.join(B, 'password_changes', name), 'utf8')).toBe(forged); // still in place
    expect(await canLogin('rosa', 'Second-pass-2')).toBe(true);

    // The scheduled snapshot, copied over: applied past the refused batch.
    const run = await post('/tasks/export_users/run', {});
    expect(run.statusCode).toBeLessThan(300);
    await untilCopied('the snapshot to be applied', async () => {
      const users = await req.kysely
        .selectFrom('import_streams')
        .selectAll()
        .where('stream', '=', 'users')
        .executeTakeFirstOrThrow();
      return users.last_file === 'users_latest.json';
    });
  });

  it('leaves every file and folder under the exchange folder as the copier made it, and logs no refused write', async () => {
    await copyNow();
    const before = await listingWithInodes(B);
    expect(before.length).toBeGreaterThan(4);
    // Two more imports over everything there: applied, refused and snapshot files alike.
    const redis = redisConnection(env.config.redisUrl);
    const queue = new Queue(REQUEST_QUEUE, { connection: redis, prefix: env.config.queuePrefix });
    try {
      for (let i = 0; i < 2; i++) {
        const job = await queue.add(IMPORT_TASK, { trigger: 'manual' });
        await waitFor(async () => (await job.getState()) === 'completed', undefined, 'an import');
      }
    } finally {
      await queue.close();
      redis.disconnect();
    }
    expect(await listingWithInodes(B)).toEqual(before);
    const lines = children.flatMap((c) => c.lines);
    expect(lines.filter((l) => /EROFS|EACCES|read-only file system/i.test(l))).toEqual([]);
    expect(lines.filter((l) => /"level":50/.test(l) && !/refused password_changes/.test(l))).toEqual([]);
  });

  async function nextPasswordBatch(): Promise<number> {
    const row = await req.kysely
      .selectFrom('import_streams')
      .select('last_seq')
      .where('stream', '=', 'password_changes')
      .executeTakeFirstOrThrow();
    return Number(row.last_seq) + 1;
  }
});
