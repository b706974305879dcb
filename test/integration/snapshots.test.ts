import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RecordOf, SNAPSHOT_OF, type Stream, seqOfBatchName, streamDir } from '../../src/exchange/index.js';
import { encodeCursor } from '../../src/platform/pagination.js';
import { SETTING_ORDER } from '../../src/response/settings/settings.repository.js';
import { runResponseTask } from '../../src/response/tasks/registry.js';
import {
  exportsSettled,
  lastSeq,
  makeUser,
  openHandles,
  readExchange,
  type SyncHandles,
} from '../helpers/sync-data.js';
import { bearer, dialects, startSystem, type TestSystem } from '../helpers/system.js';

type Kind = 'settings' | 'profile_types' | 'users';
const TASK = {
  settings: 'export_settings_to_request_network',
  profile_types: 'export_profile_types',
  users: 'export_users',
} as const;

/**
 * The importer is driven by hand here (no watcher), so each test decides which files the Request side
 * sees and when: a snapshot taken before a change, a batch lost on the way.
 */
describe.each(dialects())('snapshots and batch files (%s)', (dialect) => {
  let sys: TestSystem;
  let h: SyncHandles;
  const admin = () => bearer(sys.adminToken);
  let n = 0;

  beforeAll(async () => {
    sys = await startSystem({ dialect, watch: false });
    h = await openHandles(sys);
  });
  afterAll(async () => {
    await h?.close();
    await sys?.stop();
  });

  const dir = (stream: Stream) => streamDir(sys.env.config.exchangeDir, stream);
  const snapshotFile = (kind: Kind) => path.join(dir(kind), SNAPSHOT_OF[kind]!.file);
  const batchFiles = async (stream: Stream) =>
    (await fs.readdir(dir(stream)))
      .filter((f) => seqOfBatchName(f) !== undefined)
      .sort()
      .map((f) => path.join(dir(stream), f));
  const snapshot = (kind: Kind) => runResponseTask(h.exportCtx, TASK[kind], { snapshot: true });

  /** One record of each kind, made, changed and deleted through the API. */
  const api = {
    settings: {
      create: async () => {
        const key = `snap.k${++n}`;
        const res = await sys.response.inject({
          method: 'POST',
          url: '/settings',
          headers: admin(),
          payload: { key, value: 'v1' },
        });
        return { id: res.json().id as string, key };
      },
      change: (r: { key: string }) =>
        sys.response.inject({ method: 'PUT', url: `/settings/${r.key}`, headers: admin(), payload: { value: 'v2' } }),
      remove: (r: { key: string }) =>
        sys.response.inject({ method: 'DELETE', url: `/settings/${r.key}`, headers: admin() }),
      synced: async (r: { id: string }) => {
        const row = await h.request.kysely.selectFrom('settings').selectAll().where('id', '=', r.id).executeTakeFirst();
        return (
          row && { deleted: row.deleted_at !== null, changed: JSON.parse(row.value) === 'v2', version: row.version }
        );
      },
    },
    profile_types: {
      create: async () => {
        const res = await sys.response.inject({
          method: 'POST',
          url: '/profile-types',
          headers: admin(),
          payload: { name: `Snap ${++n}` },
        });
        return { id: res.json().id as string, key: '' };
      },
      change: (r: { id: string }) =>
        sys.response.inject({
          method: 'PATCH',
          url: `/profile-types/${r.id}`,
          headers: admin(),
          payload: { description: 'v2' },
        }),
      remove: (r: { id: string }) =>
        sys.response.inject({ method: 'DELETE', url: `/profile-types/${r.id}`, headers: admin() }),
      synced: async (r: { id: string }) => {
        const row = await h.request.kysely
          .selectFrom('profile_types')
          .selectAll()
          .where('id', '=', r.id)
          .executeTakeFirst();
        return row && { deleted: row.deleted_at !== null, changed: row.description === 'v2', version: row.version };
      },
    },
    users: {
      create: async () => ({ id: (await makeUser(sys, `snap-${++n}`)).id, key: '' }),
      change: (r: { id: string }) =>
        sys.response.inject({
          method: 'PATCH',
          url: `/users/${r.id}`,
          headers: admin(),
          payload: { email: 'v2@example.org' },
        }),
      remove: (r: { id: string }) => sys.response.inject({ method: 'DELETE', url: `/users/${r.id}`, headers: admin() }),
      synced: async (r: { id: string }) => {
        const row = await h.request.kysely.selectFrom('users').selectAll().where('id', '=', r.id).executeTakeFirst();
        return (
          row && { deleted: row.deleted_at !== null, changed: row.email === 'v2@example.org', version: row.version }
        );
      },
    },
  };

  const tables = { settings: 'settings', profile_types: 'profile_types', users: 'users' } as const;
  const currentRecord = async (kind: Kind, id: string): Promise<RecordOf[Kind]> => {
    const row = await h.response.kysely
      .selectFrom(tables[kind])
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    if (kind === 'settings') {
      const s = row as { value: string } & Record<string, unknown>;
      return { ...s, value: JSON.parse(s.value) } as RecordOf[Kind];
    }
    if (kind === 'users') {
      // username_key is the Response side's own lookup column, not part of the record.
      const { username_key: _, ...u } = row as { is_active: number; is_admin: number } & Record<string, unknown>;
      return { ...u, is_active: u.is_active === 1, is_admin: u.is_admin === 1 } as RecordOf[Kind];
    }
    return row as RecordOf[Kind];
  };

  it.each(['settings', 'profile_types', 'users'] as const)(
    'batch files of %s hold each change in order, exactly as the outbox recorded it, ending in the current row',
    async (kind) => {
      // Every batch file in the folder (applied ones stay there) is compared with the outbox rows it holds.
      const r = await api[kind].create();
      await api[kind].change(r);
      await api[kind].remove(r);
      await exportsSettled(h.response.kysely, [kind]);
      const files = await batchFiles(kind);
      expect(files.length).toBeGreaterThan(0);
      const records: RecordOf[Kind][] = [];
      for (const file of files) {
        const { header, records: rs } = await readExchange(file, kind, h.trustedKeys);
        expect(header).toMatchObject({ kind: 'batch', stream: kind, seq: seqOfBatchName(path.basename(file)) });
        expect(header.count).toBe(rs.length);
        records.push(...rs);
      }
      const seqs = files.map((f) => seqOfBatchName(path.basename(f))!);
      const outbox = await h.response.kysely
        .selectFrom('outbox')
        .select('payload')
        .where('stream', '=', kind)
        .where('batch_seq', 'in', seqs)
        .orderBy('id')
        .execute();
      expect(records).toEqual(outbox.map((o) => JSON.parse(o.payload)));
      const mine = records.filter((x) => x.id === r.id);
      expect(mine.map((x) => x.version)).toEqual([mine[0]!.version, mine[0]!.version + 1, mine[0]!.version + 2]);
      expect(mine.at(-1)).toEqual(await currentRecord(kind, r.id));
      expect(mine.at(-1)!.deleted_at).not.toBeNull();
    },
  );

  it.each(['settings', 'profile_types', 'users'] as const)(
    'a %s snapshot taken before a change never undoes the change once it is applied',
    async (kind) => {
      const r = await api[kind].create();
      await exportsSettled(h.response.kysely, [kind]);
      const old = await snapshot(kind);
      const aside = path.join(sys.env.dir, `old-${kind}-snapshot.json`);
      await fs.rename(String(old.file), aside);

      await api[kind].change(r);
      await exportsSettled(h.response.kysely, [kind]);
      await h.importer.importAll();
      const applied = await api[kind].synced(r);
      expect(applied).toMatchObject({ changed: true, deleted: false });

      await fs.rename(aside, snapshotFile(kind)); // the older snapshot arrives late
      const result = await h.importer.importAll();
      expect(result.files).toContain(snapshotFile(kind)); // it was applied, not skipped...
      expect(result.quarantined).toEqual([]);
      expect(await api[kind].synced(r)).toEqual(applied); // ...and changed nothing
    },
  );

  it.each(['settings', 'profile_types', 'users'] as const)(
    'a %s snapshot heals a deletion whose batch file was lost, and later batches apply again',
    async (kind) => {
      const r = await api[kind].create();
      await exportsSettled(h.response.kysely, [kind]);
      await h.importer.importAll();
      expect(await api[kind].synced(r)).toMatchObject({ deleted: false });

      expect((await api[kind].remove(r)).statusCode).toBe(204);
      await exportsSettled(h.response.kysely, [kind]);
      const lost = await batchFiles(kind);
      expect(lost.length).toBeGreaterThan(0);
      for (const f of lost) await fs.rm(f);
      await h.importer.importAll();
      expect(await api[kind].synced(r)).toMatchObject({ deleted: false }); // the loss is real

      await snapshot(kind);
      await h.importer.importAll();
      expect(await api[kind].synced(r)).toMatchObject({ deleted: true });
      const state = await h.request.kysely
        .selectFrom('import_streams')
        .selectAll()
        .where('stream', '=', kind)
        .executeTakeFirstOrThrow();
      expect(state.last_seq).toBe(await lastSeq(h.response.kysely, kind));
      expect(state.waiting_for).toBeNull();

      const next = await api[kind].create();
      await exportsSettled(h.response.kysely, [kind]);
      await h.importer.importAll();
      expect(await api[kind].synced(next)).toMatchObject({ deleted: false, version: 1 });
    },
  );

  it('exports 100,000 settings to settings_latest.json without holding them in memory', async () => {
    const COUNT = 100_000;
    const filler = 'x'.repeat(400);
    const t0 = performance.now();
    const now = new Date().toISOString();
    await h.response.kysely.transaction().execute(async (trx) => {
      for (let i = 0; i < COUNT; i += 1000) {
        const rows = Array.from({ length: 1000 }, (_, j) => ({
          id: crypto.randomUUID(),
          key: `bulk.k${String(i + j).padStart(6, '0')}`,
          value: JSON.stringify({ n: i + j, filler }),
          created_at: now,
          updated_at: now,
          deleted_at: null,
          version: 1,
        }));
        await trx.insertInto('settings').values(rows).execute();
      }
    });
    const insertS = (performance.now() - t0) / 1000;

    const rssBefore = process.memoryUsage().rss;
    let rssPeak = rssBefore;
    const sampler = setInterval(() => {
      rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
    }, 5);
    const t1 = performance.now();
    // Rows put in without outbox rows are no change to the stream: only a full export (a manual run's) writes them.
    const result = await runResponseTask(h.exportCtx, TASK.settings, { snapshot: true, rewrite: true });
    const exportS = (performance.now() - t1) / 1000;
    clearInterval(sampler);
    rssPeak = Math.max(rssPeak, process.memoryUsage().rss);

    const { size } = await fs.stat(String(result.file));
    const total = await h.response.kysely
      .selectFrom('settings')
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .executeTakeFirstOrThrow();
    expect(result.count).toBe(Number(total.n));
    expect(result.count).toBeGreaterThanOrEqual(COUNT);
    const growth = rssPeak - rssBefore;
    console.log(
      `[${dialect}] 100k settings: insert ${insertS.toFixed(1)} s, export ${exportS.toFixed(1)} s, ` +
        `file ${(size / 2 ** 20).toFixed(1)} MiB, RSS growth at peak ${(growth / 2 ** 20).toFixed(1)} MiB`,
    );
    expect(size).toBeGreaterThan(50 * 2 ** 20);
    expect(growth).toBeLessThan(size / 3);

    // The file reads back whole and checks out (signature, checksum, every record against the schema).
    let seen = 0;
    const opened = await readExchange(String(result.file), 'settings', h.trustedKeys);
    seen = opened.records.filter((r) => r.key.startsWith('bulk.')).length;
    expect(seen).toBe(COUNT);

    // A page from the far end of the list (by its cursor: offsets stop at 10,000) reads one page, not the table.
    const cursor = encodeCursor(SETTING_ORDER, { prefix: 'bulk.' }, ['bulk.k098999']);
    const t2 = performance.now();
    const page = await sys.response.inject({
      url: `/settings?prefix=bulk.&limit=1000&cursor=${cursor}`,
      headers: admin(),
    });
    const pageMs = performance.now() - t2;
    expect(page.statusCode).toBe(200);
    expect(page.json()).toHaveLength(1000);
    expect(page.json()[0].key).toBe('bulk.k099000');
    console.log(`[${dialect}] GET /settings?limit=1000 from bulk.k099000: ${pageMs.toFixed(0)} ms`);
    await fs.rm(String(result.file)); // not for the importer of later tests
  }, 60_000);
});
