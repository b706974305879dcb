import fs from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  batchFileName,
  HEARTBEAT_FILE,
  heartbeatText,
  readHeartbeat,
  streamDir,
  writeHeartbeat,
} from '../../src/exchange/index.js';
import type { Db } from '../../src/platform/db.js';
import type { App } from '../../src/platform/http.js';
import type { RequestDatabase } from '../../src/request/db/schema.js';
import { startRequestBeat } from '../../src/request/start.js';
import { readSyncStatus } from '../../src/request/sync/sync-status.js';
import type { ResponseDatabase } from '../../src/response/db/schema.js';
import { currentGeneration } from '../../src/response/generation.js';
import { startResponseBeat } from '../../src/response/start.js';
import { runResponseTask } from '../../src/response/tasks/registry.js';
import { createUser } from '../../src/response/users/users.service.js';
import {
  exportCtx,
  fakeHash,
  freshSigningKey,
  importerFor,
  memoryLogger,
  openRequestDb,
  openResponseDb,
  signerOf,
  trustedOf,
} from '../helpers/exchange.js';
import {
  bearer,
  dialects,
  EVENT_DEADLINE_MS,
  startSystem,
  type TestEnv,
  type TestSystem,
  testEnv,
  waitFor,
} from '../helpers/system.js';

/** A small export interval, so "three intervals without a heartbeat" is a few seconds. */
const INTERVAL = { EXPORT_INTERVAL_S: '1', IMPORT_INTERVAL_S: '1' };

/**
 * The Response side's signed heartbeat lets a Request side tell a quiet Response side from a cut
 * transport: it reports itself stale when the newest heartbeat is over three export intervals old, or
 * names batches that never arrive.
 */
describe.each(dialects())('the signed heartbeat (%s)', (dialect) => {
  let env: TestEnv;
  let resp: Db<ResponseDatabase>;
  let req: Db<RequestDatabase>;
  afterEach(async () => {
    await resp.close();
    await req.close();
    await env.cleanup();
  });

  async function setUp() {
    env = testEnv(dialect, INTERVAL);
    resp = await openResponseDb(env);
    req = await openRequestDb(env);
    const { logger, entries } = memoryLogger();
    const ctx = { ...exportCtx(env, resp.kysely), logger };
    const importer = importerFor(env, req.kysely, { logger });
    const heartbeatFile = path.join(env.config.exchangeDir, HEARTBEAT_FILE);
    const status = () => readSyncStatus(req.kysely, env.config.exchangeDir, env.config.exportIntervalS);
    const messages = () => entries.map((e) => String(e.msg));
    return { ctx, importer, heartbeatFile, status, messages };
  }

  /** Puts `text` at heartbeat.json as a copier would: a temporary name, then a rename. */
  async function place(file: string, text: string | Buffer) {
    await fs.writeFile(`${file}.part.tmp`, text);
    await fs.rename(`${file}.part.tmp`, file);
  }

  it('is signed and names the generation and the newest batch written; an older (replayed) one and a forged one are ignored', async () => {
    const { ctx, importer, heartbeatFile, status, messages } = await setUp();
    await createUser(resp.kysely, { username: 'ann', hashedPassword: fakeHash('ann') });
    await runResponseTask(ctx, 'export_users', {});
    await runResponseTask(ctx, 'export_heartbeat', {});
    const first = await readHeartbeat(heartbeatFile, trustedOf(env));
    expect(first).toMatchObject({
      kind: 'heartbeat',
      version: 2,
      generation: (await currentGeneration(resp.kysely)).generation,
      key_id: signerOf(env).id,
      streams: { users: 1, password_changes: 0, settings: 0, profile_types: 0 },
    });
    const firstBytes = await fs.readFile(heartbeatFile);
    await importer.importAll();
    expect((await status()).heartbeat?.created_at).toBe(first?.created_at);

    await waitFor(async () => new Date().toISOString() > (first?.created_at ?? ''));
    await runResponseTask(ctx, 'export_heartbeat', {});
    const second = await readHeartbeat(heartbeatFile, trustedOf(env));
    expect(second?.created_at && first?.created_at && second.created_at > first.created_at).toBe(true);
    await importer.importAll();
    expect((await status()).heartbeat?.created_at).toBe(second?.created_at);

    // Replayed: the first heartbeat put back. Refused, once, and the newest seen stays.
    await place(heartbeatFile, firstBytes);
    await importer.importAll();
    await importer.importAll();
    expect((await status()).heartbeat?.created_at).toBe(second?.created_at);
    expect(messages().filter((m) => m.includes('older than the newest seen'))).toHaveLength(1);

    // Forged: signed by a key this side does not trust, fresher than anything. Ignored, never kept.
    const forger = freshSigningKey();
    const future = new Date(Date.now() + 3600_000).toISOString();
    const forged = heartbeatText({ generation: second?.generation ?? '', created_at: future, streams: {} }, forger);
    await place(heartbeatFile, forged.text);
    await importer.importAll();
    // And one that claims the trusted key's id.
    const claimed = forged.text.replace(`"key_id":"${forger.id}"`, `"key_id":"${signerOf(env).id}"`);
    await place(heartbeatFile, claimed);
    await importer.importAll();
    expect((await status()).heartbeat?.created_at).toBe(second?.created_at);
    const ignored = messages().filter((m) => m.startsWith(`ignored ${HEARTBEAT_FILE}:`));
    expect(ignored).toEqual([expect.stringMatching(/does not trust/), expect.stringMatching(/does not match key/)]);
    // The Request side wrote nothing under the exchange folder: the folder holds what was placed there.
    expect(await fs.readFile(heartbeatFile, 'utf8')).toBe(claimed);
  });

  it('before any heartbeat: "no heartbeat yet", stale only after 3 intervals of looking', async () => {
    const { importer, status } = await setUp();
    await importer.importAll();
    expect(await status()).toMatchObject({ heartbeat: null, heartbeat_status: 'no heartbeat yet', stale: false });
    await waitFor(
      async () => {
        await importer.importAll();
        return (await status()).stale;
      },
      EVENT_DEADLINE_MS,
      'stale without a heartbeat',
    );
    expect((await status()).stale_reasons).toEqual([expect.stringMatching(/^no heartbeat in the exchange folder/)]);
  });

  it('stale while a batch the heartbeat names is held back for over an interval; cleared when it arrives', async () => {
    const { ctx, importer, status, messages } = await setUp();
    await createUser(resp.kysely, { username: 'bob', hashedPassword: fakeHash('bob') });
    await runResponseTask(ctx, 'export_users', {});
    // The copy step holds users batch 1 back, but passes the heartbeat naming it.
    const batch = path.join(streamDir(env.config.exchangeDir, 'users'), batchFileName(1));
    const away = path.join(env.dir, 'held-back.json');
    await fs.rename(batch, away);
    await runResponseTask(ctx, 'export_heartbeat', {});
    await importer.importAll();
    expect((await status()).stale).toBe(false); // within the grace of one interval
    await waitFor(
      async () => {
        await importer.importAll();
        return messages().some((m) => m.startsWith('this Request side is stale'));
      },
      EVENT_DEADLINE_MS,
      'stale for a missing batch',
    );
    expect((await status()).stale_reasons).toEqual([
      expect.stringMatching(/names users batch 1, not in the exchange folder/),
    ]);
    expect(messages().filter((m) => m.startsWith('this Request side is stale'))).toHaveLength(1);

    await fs.rename(away, batch);
    await runResponseTask(ctx, 'export_heartbeat', {});
    await importer.importAll();
    expect(await status()).toMatchObject({ stale: false, stale_reasons: [], heartbeat_status: 'ok' });
    expect((await status()).streams.users.last_seq).toBe(1);
    expect(messages().filter((m) => m === 'this Request side is no longer stale')).toHaveLength(1);
  });
});

async function scrape(app: App, name: string): Promise<number | undefined> {
  const body = (await app.inject({ url: '/metrics' })).body;
  // Every series carries the registry's default label (network="request").
  const line = body.split('\n').find((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.split(' ')[1]);
}

describe('a running system with a 1 s export interval', () => {
  let sys: TestSystem | undefined;
  afterEach(async () => {
    await sys?.stop();
  });

  it('writes a heartbeat each interval; the Request side goes stale (/ready 503) when they stop, and clears when one arrives', async () => {
    sys = await startSystem({ env: INTERVAL });
    const s = sys;
    const beat = await startResponseBeat(s.rt);
    await startRequestBeat(s.rt);
    const heartbeatFile = path.join(s.env.config.exchangeDir, HEARTBEAT_FILE);
    const syncStatus = async () =>
      (await s.request.inject({ url: '/sync/status', headers: bearer(await requestToken(s)) })).json();

    // One heartbeat each interval: created_at moves on, twice.
    const seen = new Set<string>();
    await waitFor(
      async () => {
        const hb = await readHeartbeat(heartbeatFile, trustedOf(s.env)).catch(() => undefined);
        if (hb) seen.add(hb.created_at);
        return seen.size >= 3;
      },
      EVENT_DEADLINE_MS,
      'three heartbeats',
    );
    await waitFor(async () => (await syncStatus()).heartbeat_status === 'ok', EVENT_DEADLINE_MS, 'a heartbeat applied');
    expect((await s.request.inject({ url: '/ready' })).statusCode).toBe(200);
    expect(await scrape(s.request, 'netsync_request_stale')).toBe(0);
    expect(await scrape(s.request, 'netsync_request_heartbeat_age_seconds')).toBeGreaterThanOrEqual(0);

    // The heartbeats stop (as when the copy step stops): stale within a few intervals.
    await beat.removeJobScheduler('export-heartbeat-every-minute');
    await waitFor(async () => (await syncStatus()).stale === true, EVENT_DEADLINE_MS, 'stale');
    const ready = await s.request.inject({ url: '/ready' });
    expect(ready.statusCode).toBe(503);
    expect(ready.json().checks).toMatchObject({ heartbeat: 'failed', exchange_folder: 'ok' });
    expect(await scrape(s.request, 'netsync_request_stale')).toBe(1);
    expect(await scrape(s.request, 'netsync_request_heartbeat_age_seconds')).toBeGreaterThan(3);
    expect((await syncStatus()).stale_reasons).toEqual([expect.stringMatching(/the copy step may have stopped/)]);

    // One arrives again: cleared.
    const signed = await currentGenerationOf(s);
    await writeHeartbeat(
      s.env.config.exchangeDir,
      { generation: signed, created_at: new Date().toISOString(), streams: {} },
      signerOf(s.env),
    );
    await waitFor(async () => (await syncStatus()).stale === false, EVENT_DEADLINE_MS, 'fresh again');
    expect((await s.request.inject({ url: '/ready' })).statusCode).toBe(200);
  });
});

async function currentGenerationOf(sys: TestSystem): Promise<string> {
  const db = await openResponseDb(sys.env);
  try {
    return (await currentGeneration(db.kysely)).generation;
  } finally {
    await db.close();
  }
}

/** The Request API takes the admin's credentials once they are synced. */
async function requestToken(sys: TestSystem): Promise<string> {
  let token = '';
  await waitFor(async () => {
    const res = await sys.request.inject({
      method: 'POST',
      url: '/auth/login',
      payload: { username: 'admin', password: 'Admin-pass-1' },
    });
    if (res.statusCode === 200) token = res.json().access_token;
    return res.statusCode === 200;
  });
  return token;
}
