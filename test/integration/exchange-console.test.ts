import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STREAMS } from '../../src/exchange/index.js';
import type { Db } from '../../src/platform/db.js';
import type { ResponseDatabase } from '../../src/response/db/schema.js';
import { exportActivity } from '../../src/response/exchange-console/exchange-console.service.js';
import { openResponseDb } from '../helpers/exchange.js';
import {
  bearer,
  dialects,
  login,
  startSystem,
  type TestEnv,
  type TestSystem,
  testEnv,
  uniqueName,
  waitFor,
} from '../helpers/system.js';

/** The console's Exchange page on the Response API: GET /exchange/status, /exchange/runs, /exchange/activity. */
describe.each(dialects())('the exchange routes (%s)', (dialect) => {
  let sys: TestSystem;
  let plain: string;
  const admin = () => bearer(sys.adminToken);

  beforeAll(async () => {
    sys = await startSystem({ dialect, watch: false });
    const username = uniqueName('plain');
    const res = await sys.response.inject({
      method: 'POST',
      url: '/users',
      headers: admin(),
      payload: { username, password: 'Plain-pass-42' },
    });
    expect(res.statusCode).toBe(201);
    plain = await login(sys.response, username, 'Plain-pass-42');
  });
  afterAll(() => sys?.stop());

  const get = (url: string, headers = admin()) => sys.response.inject({ url, headers });

  /** Runs the task now and waits for its end; returns its id. */
  async function runTask(name: string): Promise<string> {
    const run = await sys.response.inject({ method: 'POST', url: `/tasks/${name}/run`, headers: admin() });
    expect(run.statusCode).toBe(202);
    const id = run.json().task_id as string;
    await waitFor(async () => (await get(`/tasks/${id}`)).json().state === 'SUCCESS', undefined, `${name} to finish`);
    return id;
  }

  it('is for admins only', async () => {
    for (const url of ['/exchange/status', '/exchange/runs', '/exchange/activity']) {
      expect((await get(url, bearer(plain))).statusCode, url).toBe(403);
      expect((await get(url, {} as ReturnType<typeof admin>)).statusCode, url).toBe(401);
    }
  });

  it('shows per stream the newest batch written, the snapshot, and an outbox left empty by the export', async () => {
    const id = await runTask('export_users');
    const res = await get('/exchange/status');
    expect(res.statusCode).toBe(200);
    const status = res.json();
    expect(status.generation).toBeTypeOf('string');
    expect(status.streams.map((s: { stream: string }) => s.stream)).toEqual([...STREAMS]);
    const users = status.streams.find((s: { stream: string }) => s.stream === 'users');
    // The admin and the plain user, exported by the worker's catch-up or the task just run.
    expect(users.newest_seq_written).toBeGreaterThanOrEqual(1);
    expect(Date.parse(users.newest_written_at)).not.toBeNaN();
    expect(users.files_in_folder).toBeGreaterThanOrEqual(1);
    expect(users.outbox_waiting).toBe(0);
    expect(users.oldest_waiting_at).toBeNull();
    expect(users.snapshot).toMatchObject({ file: 'users/users_latest.json', seq: users.newest_seq_written });
    expect(Date.parse(users.snapshot.written_at)).not.toBeNaN();
    expect(status.export_tasks).toContain('export_users');
    expect(status.export_tasks).toContain('export_settings_to_request_network');
    expect(status.export_tasks).not.toContain('prune_audit_log');

    const runs = (await get('/exchange/runs?limit=200')).json();
    expect(runs.map((r: { id: string }) => r.id)).toContain(id);
  });

  it('lists recent export runs newest first, with state, duration and error', async () => {
    const first = await runTask('export_profile_types');
    const second = await runTask('export_settings_to_request_network');
    const res = await get('/exchange/runs?limit=50');
    expect(res.statusCode).toBe(200);
    const runs = res.json() as { id: string; task: string; state: string; created_at: string }[];
    const ids = runs.map((r) => r.id);
    expect(ids.indexOf(second)).toBeGreaterThanOrEqual(0);
    expect(ids.indexOf(second)).toBeLessThan(ids.indexOf(first));
    const created = runs.map((r) => Date.parse(r.created_at));
    expect(created).toEqual([...created].sort((a, b) => b - a));
    expect(runs.find((r) => r.id === second)).toMatchObject({
      task: 'export_settings_to_request_network',
      state: 'SUCCESS',
      error: null,
    });
    const done = runs.find((r) => r.id === second) as unknown as { duration_ms: number; finished_at: string };
    expect(done.duration_ms).toBeGreaterThanOrEqual(0);
    expect(Date.parse(done.finished_at)).not.toBeNaN();
    expect(runs.every((r) => r.task !== 'prune_audit_log')).toBe(true);

    expect((await get('/exchange/runs?limit=1')).json()).toHaveLength(1);
    const bad = await get('/exchange/runs?limit=0');
    expect(bad.statusCode).toBe(422);
    expect(bad.json().detail[0].loc).toEqual(['querystring', 'limit']);
  });

  it('counts changes exported per minute over the window, zeros included', async () => {
    const before = (await get('/exchange/activity?minutes=5')).json() as { minute: string; changes: number }[];
    for (const name of ['a', 'b', 'c'])
      await sys.response.inject({
        method: 'POST',
        url: '/settings',
        headers: admin(),
        payload: { key: `activity.${name}`, value: 1 },
      });
    await runTask('export_settings_to_request_network');
    const thisMinute = () => new Date(Math.floor(Date.now() / 60_000) * 60_000).toISOString();
    const asked = thisMinute();
    const res = await get('/exchange/activity?minutes=5');
    const answered = thisMinute();
    expect(res.statusCode).toBe(200);
    const after = res.json() as { minute: string; changes: number }[];
    expect(after).toHaveLength(5);
    const minutes = after.map((m) => Date.parse(m.minute));
    for (let i = 1; i < minutes.length; i++) expect((minutes[i] as number) - (minutes[i - 1] as number)).toBe(60_000);
    expect([asked, answered]).toContain(after.at(-1)?.minute);
    const total = (ms: { changes: number }[]) => ms.reduce((n, m) => n + m.changes, 0);
    // The three settings at least (the window may have moved a minute on since `before`).
    expect(total(after)).toBeGreaterThanOrEqual(3);
    expect(total(after)).toBeGreaterThanOrEqual(total(before.slice(1)) + 3);
    expect((await get('/exchange/activity?minutes=0')).statusCode).toBe(422);
    expect((await get('/exchange/activity?minutes=1441')).statusCode).toBe(422);
  });
});

describe.each(dialects())('changes exported per minute (%s)', (dialect) => {
  let env: TestEnv;
  let db: Db<ResponseDatabase>;
  beforeAll(async () => {
    env = testEnv(dialect);
    db = await openResponseDb(env);
  });
  afterAll(async () => {
    await db?.close();
    await env?.cleanup();
  });

  it('sums written batches by the minute they were written; unwritten and older batches are not counted', async () => {
    const now = Date.parse('2026-12-03T10:30:20.000Z');
    const rows = [
      { stream: 'users', seq: 1, count: 4, written_at: '2026-12-03T10:30:05.120Z' },
      { stream: 'settings', seq: 1, count: 2, written_at: '2026-12-03T10:30:59.999Z' },
      { stream: 'users', seq: 2, count: 7, written_at: '2026-12-03T10:28:00.000Z' },
      // Just before the window of 3 minutes (10:28, 10:29, 10:30).
      { stream: 'users', seq: 3, count: 100, written_at: '2026-12-03T10:27:59.999Z' },
      // Claimed, not written.
      { stream: 'users', seq: 4, count: 50, written_at: null },
    ] as const;
    for (const r of rows)
      await db.kysely
        .insertInto('export_batches')
        .values({ ...r, created_at: '2026-12-03T10:00:00.000Z', requires: null })
        .execute();
    expect(await exportActivity(db.kysely, 3, now)).toEqual([
      { minute: '2026-12-03T10:28:00.000Z', changes: 7 },
      { minute: '2026-12-03T10:29:00.000Z', changes: 0 },
      { minute: '2026-12-03T10:30:00.000Z', changes: 6 },
    ]);
  });
});
