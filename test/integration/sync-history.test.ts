import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STREAMS } from '../../src/exchange/index.js';
import type { Db } from '../../src/platform/db.js';
import type { App } from '../../src/platform/http.js';
import { createLogger } from '../../src/platform/logger.js';
import type { RequestDatabase } from '../../src/request/db/schema.js';
import type { Importer } from '../../src/request/importer/importer.js';
import { startRequestApi, startRequestWorker } from '../../src/request/start.js';
import {
  pruneSamples,
  readSyncHistory,
  recordSamples,
  SyncHistorySampler,
} from '../../src/request/sync/sync-history.js';
import { startResponseApi, startResponseWorker } from '../../src/response/start.js';
import { openRequestDb } from '../helpers/exchange.js';
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

interface Entry {
  minute: string;
  stream: string;
  lag_s: number | null;
  behind: number;
}

describe.each(dialects())('sync lag samples (%s)', (dialect) => {
  let env: TestEnv;
  let db: Db<RequestDatabase>;
  beforeAll(async () => {
    env = testEnv(dialect);
    db = await openRequestDb(env);
  });
  afterAll(async () => {
    await db?.close();
    await env?.cleanup();
  });

  it("keeps the worst sample of each stream's minute, reads a window and prunes old minutes", async () => {
    const m = (hhmm: string) => `2026-12-03T${hhmm}:00.000Z`;
    await recordSamples(db.kysely, m('10:00'), [
      { stream: 'users', lag_s: 2.5, behind: 1 },
      { stream: 'settings', lag_s: null, behind: 0 },
    ]);
    // Later in the same minute: a lower lag keeps the higher one; a known lag replaces an unknown one.
    await recordSamples(db.kysely, m('10:00'), [
      { stream: 'users', lag_s: 0, behind: 3 },
      { stream: 'settings', lag_s: 1, behind: 0 },
    ]);
    // An unknown lag does not hide a known one.
    await recordSamples(db.kysely, m('10:00'), [{ stream: 'users', lag_s: null, behind: 0 }]);
    await recordSamples(db.kysely, m('10:02'), [{ stream: 'users', lag_s: 0, behind: 0 }]);
    await recordSamples(db.kysely, m('09:50'), [{ stream: 'users', lag_s: 9, behind: 9 }]);

    const now = Date.parse('2026-12-03T10:02:30.000Z');
    expect(await readSyncHistory(db.kysely, 3, now)).toEqual([
      { minute: m('10:00'), stream: 'settings', lag_s: 1, behind: 0 },
      { minute: m('10:00'), stream: 'users', lag_s: 2.5, behind: 3 },
      { minute: m('10:02'), stream: 'users', lag_s: 0, behind: 0 },
    ]);
    expect((await readSyncHistory(db.kysely, 13, now)).map((e) => e.minute)).toContain(m('09:50'));

    await pruneSamples(db.kysely, m('10:00'));
    expect((await readSyncHistory(db.kysely, 60, now)).map((e) => e.minute)).not.toContain(m('09:50'));
    expect(await readSyncHistory(db.kysely, 60, now)).toHaveLength(3);
  });

  it('samples at most every few seconds, always at a new minute, and prunes what is a day old', async () => {
    let clock = Date.parse('2026-12-04T08:00:10.000Z');
    const old = new Date(clock - 25 * 3_600_000).toISOString().replace(/:\d\d\.\d{3}Z$/, ':00.000Z');
    await recordSamples(db.kysely, old, [{ stream: 'users', lag_s: 1, behind: 1 }]);
    const sampler = new SyncHistorySampler(db.kysely, env.config.exchangeDir, 60, createLogger('silent'), () => clock);
    await sampler.afterPass();
    const minute = (iso: string) => (e: Entry) => e.minute === iso;
    const first = await readSyncHistory(db.kysely, 1440, clock);
    expect(first.filter(minute('2026-12-04T08:00:00.000Z')).map((e) => e.stream)).toEqual([...STREAMS].sort());
    expect(first.some(minute(old))).toBe(false);

    // A second later: no sample (the rows stay as they were); in the next minute: one.
    await db.kysely.deleteFrom('sync_history').execute();
    clock += 1000;
    await sampler.afterPass();
    expect(await readSyncHistory(db.kysely, 1440, clock)).toEqual([]);
    clock += 59_000;
    await sampler.afterPass();
    expect((await readSyncHistory(db.kysely, 1440, clock)).map((e) => e.minute)).toContain('2026-12-04T08:01:00.000Z');
  });
});

describe('GET /sync/history', () => {
  let env: TestEnv;
  let rt: ReturnType<typeof testRuntime>;
  let response: App;
  let request: App;
  let importer: Importer;
  let db: Db<RequestDatabase>;

  beforeAll(async () => {
    env = testEnv('sqlite');
    rt = testRuntime(env.config);
    response = await startResponseApi(rt, { listen: false });
    // Its catch-up exports the admin account; the importer runs only when the test says.
    await startResponseWorker(rt);
    ({ importer } = await startRequestWorker(rt, { watch: false }));
    request = await startRequestApi(rt, { listen: false });
    db = await openRequestDb(env);
  });
  afterAll(async () => {
    await db?.close();
    await rt?.lifecycle.stop();
    await env?.cleanup();
  });

  it('answers the samples the importer records after its passes; any logged-in user may read', async () => {
    const admin = bearer(await login(response, 'admin', 'Admin-pass-1'));
    const username = uniqueName('reader');
    const created = await response.inject({
      method: 'POST',
      url: '/users',
      headers: admin,
      payload: { username, password: 'Reader-pass-42' },
    });
    expect(created.statusCode).toBe(201);
    await waitFor(
      async () => {
        const users = (await response.inject({ url: '/exchange/status', headers: admin }))
          .json()
          .streams.find((s: { stream: string }) => s.stream === 'users');
        return users.newest_seq_written >= 1 && users.outbox_waiting === 0;
      },
      undefined,
      'the users to be exported',
    );

    // Nothing sampled before the importer's first pass; its passes sample.
    expect(await readSyncHistory(db.kysely, 1440)).toEqual([]);
    await waitFor(async () => (await importer.importAll()) && canLogin(request, username, 'Reader-pass-42'));

    const reader = bearer(await login(request, username, 'Reader-pass-42'));
    const res = await request.inject({ url: '/sync/history?minutes=5', headers: reader });
    expect(res.statusCode).toBe(200);
    const history = res.json() as Entry[];
    expect(history.every((e) => e.lag_s === null || e.lag_s >= 0)).toBe(true);
    // The importer's own sample of every stream, in the newest minute.
    const newest = history.at(-1)?.minute;
    expect(
      history
        .filter((e) => e.minute === newest)
        .map((e) => e.stream)
        .sort(),
    ).toEqual([...STREAMS].sort());
    // And now it is caught up, as /sync/status says.
    const status = (await request.inject({ url: '/sync/status', headers: reader })).json();
    expect(status.streams.users.behind).toBe(0);

    expect((await request.inject({ url: '/sync/history' })).statusCode).toBe(401);
    const bad = await request.inject({ url: '/sync/history?minutes=1441', headers: reader });
    expect(bad.statusCode).toBe(422);
    expect(bad.json().detail[0].loc).toEqual(['querystring', 'minutes']);
  });
});
