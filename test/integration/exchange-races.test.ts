import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { type Job, Queue } from 'bullmq';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  batchFileName,
  isTempName,
  openExchangeFile,
  type PasswordChangeRecord,
  RefusedFile,
  streamDir,
  writeExchangeFile,
} from '../../src/exchange/index.js';
import type { Db } from '../../src/platform/db.js';
import { createQueue } from '../../src/platform/queue.js';
import { redisConnection, spawnRedis } from '../../src/platform/redis.js';
import type { RequestDatabase } from '../../src/request/db/schema.js';
import type { Importer } from '../../src/request/importer/importer.js';
import { startRequestApi, startRequestWorker } from '../../src/request/start.js';
import { REQUEST_QUEUE } from '../../src/request/tasks/registry.js';
import type { ResponseDatabase } from '../../src/response/db/schema.js';
import { exportChanges } from '../../src/response/exporter.js';
import { startResponseApi, startResponseBeat, startResponseWorker } from '../../src/response/start.js';
import { RESPONSE_QUEUE, runResponseTask } from '../../src/response/tasks/registry.js';
import { changePassword, createUser } from '../../src/response/users/users.service.js';
import {
  batchNames,
  ChildPart,
  exportCtx,
  fakeHash,
  importerFor,
  MonotonicCheck,
  openRequestDb,
  openResponseDb,
  outOfSync,
  pcRecord,
  readBatches,
  requestCredentials,
  signerOf,
  TEST_GENERATION,
  unappliedBatches,
  userRec,
  writeBatch,
  writeUsersSnapshot,
} from '../helpers/exchange.js';
import {
  bearer,
  canLogin,
  dialects,
  EVENT_DEADLINE_MS,
  login,
  type TestEnv,
  testEnv,
  testRuntime,
  waitFor,
} from '../helpers/system.js';

// Child processes and 2-core CI machines: wait on conditions, with room for a slow start.
vi.setConfig({ testTimeout: 180_000, hookTimeout: 120_000 });

const credentialOf = async (db: Db<RequestDatabase>, id: string) => (await requestCredentials(db.kysely)).get(id);

describe('atomic writes', () => {
  let env: TestEnv;
  beforeEach(() => {
    env = testEnv('sqlite');
  });
  afterEach(() => env.cleanup());

  it('a reader polling the folder during many writes never sees a partial file', async () => {
    const dir = streamDir(env.config.exchangeDir, 'users');
    const key = signerOf(env);
    const trusted = [key.publicKey];
    const lines = (n: number, tag: number) =>
      Array.from({ length: n }, (_, i) => JSON.stringify(userRec(randomUUID(), `u${tag}-${i}`, 1 + (i % 3))));
    let writing = true;
    let opened = 0;
    let replacedWhileOpen = 0;
    const writer = (async () => {
      for (let i = 0; i < 120; i++) {
        // Rewrites the same names with new content of another size: the snapshot as the scheduled export
        // does, and a few batch names.
        const snapshot = i % 2 === 0;
        const n = 1 + ((i * 397) % 1200);
        await writeExchangeFile(
          dir,
          snapshot ? 'users_latest.json' : batchFileName(1 + (i % 3)),
          snapshot
            ? {
                kind: 'snapshot',
                stream: 'users',
                seq: i,
                generation: TEST_GENERATION,
                covers: { users: i },
                created_at: new Date().toISOString(),
              }
            : {
                kind: 'batch',
                stream: 'users',
                seq: 1 + (i % 3),
                generation: TEST_GENERATION,
                created_at: new Date().toISOString(),
              },
          lines(n, i),
          key,
        );
      }
    })().finally(() => {
      writing = false;
    });
    const reader = (async () => {
      await fs.mkdir(dir, { recursive: true });
      while (writing) {
        for (const name of await fs.readdir(dir)) {
          if (isTempName(name)) continue;
          try {
            const file = await openExchangeFile(path.join(dir, name), 'users', trusted, { maxBytes: 1 << 30 });
            let n = 0;
            for await (const _ of file.records()) n++;
            expect(n).toBe(file.header.count);
            opened++;
          } catch (err) {
            // A file replaced between its check and its records is reported as gone, never as damaged.
            if (err instanceof RefusedFile && err.code === 'vanished') {
              replacedWhileOpen++;
              continue;
            }
            throw err;
          }
        }
      }
    })();
    await Promise.all([writer, reader]);
    expect(opened).toBeGreaterThan(20);
    console.log(`[atomic write] ${opened} files read whole during 120 writes; ${replacedWhileOpen} replaced mid-read`);
  });

  it('an import racing snapshot rewrites never quarantines a good snapshot', async () => {
    const db = await openRequestDb(env);
    try {
      const importer = importerFor(env, db.kysely);
      const ids = Array.from({ length: 800 }, () => randomUUID());
      let writing = true;
      const writer = (async () => {
        for (let i = 1; i <= 30; i++) {
          await writeUsersSnapshot(
            env,
            ids.map((id, j) => userRec(id, `user${j}`, i)),
            { users: i, password_changes: 0 },
          );
        }
      })().finally(() => {
        writing = false;
      });
      let passes = 0;
      const reader = (async () => {
        while (writing) {
          const r = await importer.importAll();
          expect(r.quarantined).toEqual([]);
          passes++;
        }
      })();
      await Promise.all([writer, reader]);
      await importer.importAll();
      expect(await db.kysely.selectFrom('quarantine_log').selectAll().execute()).toEqual([]);
      expect((await credentialOf(db, ids[0] as string))?.password_version).toBe(30);
      expect(passes).toBeGreaterThan(2);
    } finally {
      await db.close();
    }
  });

  it('ignores a leftover temporary file (a writer killed before its rename)', async () => {
    const db = await openRequestDb(env);
    try {
      const importer = importerFor(env, db.kysely);
      const dir = streamDir(env.config.exchangeDir, 'password_changes');
      await fs.mkdir(dir, { recursive: true });
      const user = randomUUID();
      const whole = await fs.readFile(await writeBatch(env, 'password_changes', 1, [pcRecord(user, 2)]));
      await fs.rm(path.join(dir, batchFileName(1)));
      const leftovers = [`.${batchFileName(1)}.4242.deadbeef.tmp`, `${batchFileName(1)}.tmp`];
      for (const name of leftovers) await fs.writeFile(path.join(dir, name), whole.subarray(0, 700));
      const result = await importer.importAll();
      expect(result).toMatchObject({ files: [], quarantined: [], waiting: {} });
      expect((await fs.readdir(dir)).sort()).toEqual([...leftovers].sort());
      expect(await db.kysely.selectFrom('quarantine_log').selectAll().execute()).toEqual([]);
      expect(await credentialOf(db, user)).toBeUndefined();
      // The real file, when its rename lands, is applied as usual.
      await writeBatch(env, 'password_changes', 1, [pcRecord(user, 2)]);
      expect((await importer.importAll()).files).toHaveLength(1);
      expect((await credentialOf(db, user))?.password_version).toBe(2);
    } finally {
      await db.close();
    }
  });
});

describe.each(dialects())('version guard (%s)', (dialect) => {
  let env: TestEnv;
  let db: Db<RequestDatabase>;
  let importer: Importer;
  beforeEach(async () => {
    env = testEnv(dialect);
    db = await openRequestDb(env);
    importer = importerFor(env, db.kysely);
  });
  afterEach(async () => {
    await db.close();
    await env.cleanup();
  });

  it('applying the same file twice changes nothing the second time', async () => {
    const user = randomUUID();
    const file = await writeBatch(env, 'password_changes', 1, [pcRecord(user, 3)]);
    const bytes = await fs.readFile(file);
    expect((await importer.importAll()).count).toBe(1);
    await writeBatch(env, 'password_changes', 2, [pcRecord(user, 4)]);
    await importer.importAll();
    const before = await credentialOf(db, user);
    expect(before?.password_version).toBe(4);
    await fs.writeFile(file, bytes);
    const again = await importer.importAll();
    expect(again.count).toBe(0);
    expect(await credentialOf(db, user)).toEqual(before);
    const row = await db.kysely.selectFrom('credentials').selectAll().where('user_id', '=', user).executeTakeFirst();
    expect(row?.hashed_password).toBe(pcRecord(user, 4).hashed_password);
  });

  it('an older change after a newer one never moves a password back', async () => {
    const user = randomUUID();
    // Newer first (batch 1), then an older one in a later batch (2), then both orders inside one batch (3),
    // then a users batch and a snapshot that carry the user's older password.
    const steps: number[] = [];
    const batches = [
      [pcRecord(user, 5)],
      [pcRecord(user, 2)],
      [pcRecord(user, 7), pcRecord(user, 6), pcRecord(user, 1)],
    ];
    for (const [i, records] of batches.entries()) {
      await writeBatch(env, 'password_changes', i + 1, records);
      expect((await importer.importAll()).applied).toEqual({ password_changes: 1 });
      steps.push(Number((await credentialOf(db, user))?.password_version));
    }
    expect(steps).toEqual([5, 5, 7]);
    await writeBatch(env, 'users', 1, [userRec(user, 'dora', 4)]);
    await writeUsersSnapshot(env, [userRec(user, 'dora', 3)], { users: 1, password_changes: 3 });
    await importer.importAll();
    const c = await credentialOf(db, user);
    expect(c?.password_version).toBe(7);
    expect(c?.hashed_password).toBe(pcRecord(user, 7).hashed_password);
    // And a newer one still applies.
    await writeBatch(env, 'password_changes', 4, [pcRecord(user, 8)]);
    await importer.importAll();
    expect((await credentialOf(db, user))?.password_version).toBe(8);
  });

  it.skipIf(dialect === 'sqlite')(
    'two importers racing over the same folder apply each batch exactly once',
    async () => {
      // PostgreSQL only: two importers in one process need two connections, and a SQLite connection that
      // waits for the other's write lock blocks this process's event loop (the holder could never finish).
      const second = await openRequestDb(env);
      try {
        const other = importerFor(env, second.kysely);
        const users = Array.from({ length: 10 }, () => randomUUID());
        let expected = 0;
        for (let seq = 1; seq <= 60; seq++) {
          const records = users.map((u) => pcRecord(u, seq));
          expected += records.length;
          await writeBatch(env, 'password_changes', seq, records);
        }
        const [a, b] = await Promise.all([importer.importAll(), other.importAll()]);
        expect(a.count + b.count).toBe(expected);
        expect(a.files.length + b.files.length).toBe(60);
        expect(a.files.length).toBeGreaterThan(0);
        for (const u of users) expect((await credentialOf(db, u))?.password_version).toBe(60);
        console.log(`[two importers] ${a.files.length} + ${b.files.length} batches of 60`);
      } finally {
        await second.close();
      }
    },
  );
});

describe.each(dialects())('a missing sequence (%s)', (dialect) => {
  let env: TestEnv;
  let response: Db<ResponseDatabase>;
  let request: Db<RequestDatabase>;
  beforeEach(async () => {
    env = testEnv(dialect);
    response = await openResponseDb(env);
    request = await openRequestDb(env);
  });
  afterEach(async () => {
    await response.close();
    await request.close();
    await env.cleanup();
  });

  it('waits for a missing batch, resumes when it appears, and a snapshot heals a gap', async () => {
    const ctx = exportCtx(env, response.kysely);
    const importer = importerFor(env, request.kysely);
    const users = [];
    for (const name of ['ann', 'ben'])
      users.push(await createUser(response.kysely, { username: name, hashedPassword: fakeHash(name) }));
    const [ann] = users.map((u) => u.id) as [string];
    await runResponseTask(ctx, 'export_users', { snapshot: true });
    await importer.importAll();
    const state = () =>
      request.kysely
        .selectFrom('import_streams')
        .selectAll()
        .where('stream', '=', 'password_changes')
        .executeTakeFirstOrThrow();
    const change = async () => {
      await changePassword(response.kysely, ann, fakeHash(randomUUID()));
      await runResponseTask(ctx, 'sync_password_to_request_network', {});
    };
    const dir = streamDir(env.config.exchangeDir, 'password_changes');
    for (let i = 0; i < 3; i++) await change();
    expect(await batchNames(env, 'password_changes')).toEqual([1, 2, 3].map(batchFileName));

    // Batch 2 is late (still being copied, say).
    const aside = path.join(env.dir, 'late.json');
    await fs.rename(path.join(dir, batchFileName(2)), aside);
    const waiting = await importer.importAll();
    expect(waiting.waiting).toEqual({ password_changes: 2 });
    expect(await state()).toMatchObject({ last_seq: 1, waiting_for: 2 });
    expect((await state()).waiting_since).toBeTruthy();
    // Batch 1, applied, stays where it is: the Request side never deletes anything in the folder.
    expect(await batchNames(env, 'password_changes')).toEqual([1, 3].map(batchFileName));
    expect(await outOfSync(response.kysely, request.kysely)).toEqual([ann]);

    await fs.rename(aside, path.join(dir, batchFileName(2)));
    const resumed = await importer.importAll();
    expect(resumed.applied).toEqual({ password_changes: 2 });
    expect(await state()).toMatchObject({ last_seq: 3, waiting_for: null, waiting_since: null });
    expect(await outOfSync(response.kysely, request.kysely)).toEqual([]);

    // Batch 4 is lost for good. Only passwords changed, so the next snapshot's users stamp is the same as
    // the last one applied; it must still heal the password_changes gap.
    await change();
    await change();
    await fs.rm(path.join(dir, batchFileName(4)));
    expect((await importer.importAll()).waiting).toEqual({ password_changes: 4 });
    expect(await outOfSync(response.kysely, request.kysely)).toEqual([ann]);
    const snap = await runResponseTask(ctx, 'export_users', { snapshot: true });
    expect(snap.count).toBe(2);
    const healed = await importer.importAll();
    expect(healed.waiting).toEqual({});
    expect(await state()).toMatchObject({ last_seq: 5, waiting_for: null });
    expect(await unappliedBatches(env, request.kysely, 'password_changes')).toEqual([]);
    expect(await batchNames(env, 'password_changes')).toEqual([1, 2, 3, 5].map(batchFileName));
    expect(await outOfSync(response.kysely, request.kysely)).toEqual([]);
    expect(await request.kysely.selectFrom('quarantine_log').selectAll().execute()).toEqual([]);
  });
});

describe.each(dialects())('exporters in two processes and an importer racing (%s)', (dialect) => {
  let env: TestEnv;
  let response: Db<ResponseDatabase>;
  let request: Db<RequestDatabase>;
  let redis: ReturnType<typeof redisConnection>;
  let queue: Queue;
  let workers: ChildPart[] = [];
  const users: string[] = [];
  const committed: PasswordChangeRecord[] = [];
  const monotonic = new MonotonicCheck();

  beforeAll(async () => {
    env = testEnv(dialect);
    response = await openResponseDb(env);
    request = await openRequestDb(env);
    for (let i = 0; i < 20; i++) {
      const u = await createUser(response.kysely, { username: `racer${i}`, hashedPassword: fakeHash(`racer${i}`) });
      users.push(u.id);
      monotonic.committed.set(`${u.id}:1`, u.hashed_password);
    }
    redis = redisConnection(env.config.redisUrl);
    queue = createQueue(RESPONSE_QUEUE, env.config.queuePrefix, redis);
    workers = [new ChildPart(env.env, 'response', 'worker'), new ChildPart(env.env, 'response', 'worker')];
    await Promise.all(workers.map((w) => w.ready()));
  });
  afterAll(async () => {
    await Promise.all(workers.map((w) => w.stop()));
    await queue.close();
    redis.disconnect();
    await response.close();
    await request.close();
    await env.cleanup();
  });

  /** Commits `n` password changes to random users, `concurrency` at a time, each followed by its sync job. */
  async function commitChanges(n: number, concurrency: number, opts: { enqueue: boolean } = { enqueue: true }) {
    let left = n;
    const one = async () => {
      while (left > 0) {
        left--;
        const user = users[Math.floor(Math.random() * users.length)] as string;
        const hash = fakeHash(randomUUID());
        const rec = await changePassword(response.kysely, user, hash);
        if (!rec) throw new Error(`no user ${user}`);
        committed.push(rec);
        monotonic.committed.set(`${user}:${rec.password_version}`, hash);
        if (opts.enqueue)
          await queue.add('sync_password_to_request_network', { user_id: user }, { jobId: randomUUID() });
      }
    };
    await Promise.all(Array.from({ length: concurrency }, one));
  }

  const countOf = async (q: Promise<{ n: string | number | bigint }>) => Number((await q).n);

  /** Until no job is queued or running and every change is claimed into a written batch. */
  async function exportsSettled() {
    await waitFor(
      async () => {
        const jobs = await queue.getJobCounts('active', 'waiting', 'delayed', 'prioritized');
        if (Object.values(jobs).some((c) => c > 0)) return false;
        const unclaimed = await countOf(
          response.kysely
            .selectFrom('outbox')
            .select((eb) => eb.fn.countAll().as('n'))
            .where('batch_seq', 'is', null)
            .executeTakeFirstOrThrow(),
        );
        const unwritten = await countOf(
          response.kysely
            .selectFrom('export_batches')
            .select((eb) => eb.fn.countAll().as('n'))
            .where('written_at', 'is', null)
            .executeTakeFirstOrThrow(),
        );
        return unclaimed === 0 && unwritten === 0;
      },
      60_000,
      'every change exported',
    );
  }

  /** Sequences 1..N with no gap, one file each, and every committed change in exactly one of them. */
  async function expectEveryChangeInExactlyOneBatch(): Promise<number> {
    const files = await readBatches(env, 'password_changes');
    const rows = await response.kysely
      .selectFrom('export_batches')
      .selectAll()
      .where('stream', '=', 'password_changes')
      .orderBy('seq')
      .execute();
    const seqs = rows.map((r) => Number(r.seq));
    expect(seqs).toEqual(seqs.map((_, i) => i + 1));
    expect([...files.keys()].sort((a, b) => a - b)).toEqual(seqs);
    for (const r of rows) {
      expect(r.written_at).not.toBeNull();
      expect(files.get(Number(r.seq))).toHaveLength(Number(r.count));
    }
    const seen = new Map<string, string>();
    for (const [seq, records] of files) {
      for (const rec of records) {
        const k = `${rec.user_id}:${rec.password_version}`;
        expect(seen.has(k), `change ${k} again in batch ${seq}`).toBe(false);
        seen.set(k, rec.hashed_password);
      }
    }
    expect(seen.size).toBe(committed.length);
    for (const c of committed) expect(seen.get(`${c.user_id}:${c.password_version}`)).toBe(c.hashed_password);
    return rows.length;
  }

  it('two worker processes exporting while changes commit: unique, contiguous batches holding each change once', async () => {
    await queue.add('export_users', {}, { jobId: randomUUID() });
    await commitChanges(300, 8);
    await exportsSettled();
    const batches = await expectEveryChangeInExactlyOneBatch();
    const runs = workers.map(
      (w) => w.messages().filter((m) => /^Task sync_password_to_request_network\[.*succeeded/.test(m)).length,
    );
    for (const r of runs) expect(r).toBeGreaterThan(0);
    console.log(
      `[two processes, ${dialect}] 300 changes -> ${batches} batches; sync jobs per worker: ${runs.join(', ')}`,
    );
  });

  it.skipIf(dialect === 'sqlite')(
    'four exportChanges on separate connections racing the writes: the same holds',
    async () => {
      // PostgreSQL only: on SQLite one process cannot hold two write transactions across awaits (the
      // second connection's busy wait blocks the event loop the first needs); the test above covers SQLite.
      const conns = await Promise.all([1, 2, 3, 4].map(() => openResponseDb(env)));
      try {
        let writing = true;
        const exporters = conns.map(async (c) => {
          let runs = 0;
          while (writing) {
            await exportChanges(exportCtx(env, c.kysely, 7), ['password_changes']);
            runs++;
          }
          await exportChanges(exportCtx(env, c.kysely, 7), ['password_changes']);
          return runs;
        });
        await commitChanges(200, 8, { enqueue: false });
        writing = false;
        const runs = await Promise.all(exporters);
        await exportsSettled();
        const batches = await expectEveryChangeInExactlyOneBatch();
        console.log(`[four connections] ${batches} batches in all; export runs per connection: ${runs.join(', ')}`);
      } finally {
        await Promise.all(conns.map((c) => c.close()));
      }
    },
  );

  it('an importer looping while they export applies every change exactly once and never goes back', async () => {
    const importer = importerFor(env, request.kysely);
    let writing = true;
    let applied = 0;
    let passes = 0;
    const loop = (async () => {
      for (;;) {
        const last = !writing;
        const r = await importer.importAll();
        applied += r.count;
        passes++;
        expect(r.quarantined).toEqual([]);
        await monotonic.check(request.kysely);
        const left = [
          ...(await unappliedBatches(env, request.kysely, 'password_changes')),
          ...(await unappliedBatches(env, request.kysely, 'users')),
        ];
        if (last && r.files.length === 0 && left.length === 0) return;
      }
    })();
    // Watches the Request side while everything runs, not only between import passes.
    const watcher = (async () => {
      while (writing) {
        await monotonic.check(request.kysely);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    await commitChanges(300, 6);
    await exportsSettled();
    writing = false;
    await Promise.all([loop, watcher]);
    expect(await outOfSync(response.kysely, request.kysely)).toEqual([]);
    // Every record written was applied once: none skipped (a file removed unapplied would leave its
    // stream stuck and the count short), none twice.
    expect(applied).toBe(users.length + committed.length);
    const exported = await response.kysely.selectFrom('export_streams').selectAll().execute();
    const imported = await request.kysely.selectFrom('import_streams').selectAll().execute();
    for (const s of ['users', 'password_changes'] as const) {
      expect(imported.find((r) => r.stream === s)?.last_seq).toBe(exported.find((r) => r.stream === s)?.last_seq);
    }
    expect(await request.kysely.selectFrom('quarantine_log').selectAll().execute()).toEqual([]);
    console.log(
      `[import racing, ${dialect}] ${committed.length} changes applied over ${passes} import passes; ${monotonic.checks} monotonic checks`,
    );
  });
});

/** A port nothing listens on right now. */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('Redis down at reset time', () => {
  it('answers without waiting for Redis, with sync_task_id null, commits the change, and the scheduled export carries it', async () => {
    const url = `redis://127.0.0.1:${await freePort()}/0`;
    const redisDir = await fs.mkdtemp(path.join(os.tmpdir(), 'netsync-redis-down-'));
    let redis = await spawnRedis(url, redisDir);
    const env = testEnv('sqlite', { REDIS_URL: url, EXPORT_INTERVAL_S: '1' });
    const workers = testRuntime(env.config);
    // The Response API runs in its own runtime so it can be stopped while Redis is down: its offline queue
    // then cannot deliver the fast-path job late, and only the scheduled sweep can carry the change.
    const api = testRuntime(env.config);
    const response = await openResponseDb(env);
    try {
      await startRequestWorker(workers, { watch: true });
      const requestApi = await startRequestApi(workers, { listen: false });
      await startResponseWorker(workers);
      const responseApi = await startResponseApi(api, { listen: false });
      const admin = await login(responseApi, 'admin', 'Admin-pass-1');
      const created = await responseApi.inject({
        method: 'POST',
        url: '/users',
        headers: bearer(admin),
        payload: { username: 'eve', password: 'Before123' },
      });
      expect(created.statusCode).toBe(201);
      const id = created.json().id as string;
      await waitFor(() => canLogin(requestApi, 'eve', 'Before123'), EVENT_DEADLINE_MS, 'eve on the Request Network');

      await redis.stop();
      const started = performance.now();
      const reset = await responseApi.inject({
        method: 'POST',
        url: `/users/${id}/reset-password`,
        headers: bearer(admin),
        payload: { new_password: 'During456' },
      });
      const took = performance.now() - started;
      expect(reset.statusCode).toBe(200);
      expect(reset.json()).toEqual({ success: true, sync_task_id: null });
      // The enqueue gives up after 2 s rather than wait for Redis (the margin is for a loaded machine).
      expect(took).toBeLessThan(10_000);
      const row = await response.kysely.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
      expect(row.password_version).toBe(2);
      const pending = await response.kysely
        .selectFrom('outbox')
        .selectAll()
        .where('stream', '=', 'password_changes')
        .where('batch_seq', 'is', null)
        .execute();
      expect(pending.map((p) => JSON.parse(p.payload).user_id)).toEqual([id]);
      await api.lifecycle.stop();

      redis = await spawnRedis(url, redisDir);
      const back = performance.now();
      await startResponseBeat(workers);
      const carried = await waitFor(
        () => canLogin(requestApi, 'eve', 'During456'),
        EVENT_DEADLINE_MS,
        'the sweep to carry it',
      );
      expect(await canLogin(requestApi, 'eve', 'Before123')).toBe(false);
      // It was the schedule's export_users that carried it: the fast-path job never reached Redis. The
      // login works once the import commits, which can be before the export job's result is recorded.
      const conn = redisConnection(url);
      const q = new Queue(RESPONSE_QUEUE, { connection: conn, prefix: env.config.queuePrefix });
      const carriedPasswords = (j: Job) =>
        j.name === 'export_users' &&
        (j.returnvalue?.files as string[] | undefined)?.some((f) =>
          f.includes(`${path.sep}password_changes${path.sep}`),
        );
      let jobs: Job[] = [];
      await waitFor(
        async () => {
          jobs = await q.getJobs(['completed', 'failed', 'active', 'waiting', 'delayed']);
          return jobs.some(carriedPasswords);
        },
        EVENT_DEADLINE_MS,
        'the carrying export to record its result',
      );
      await q.close();
      conn.disconnect();
      expect(jobs.filter((j) => j.name === 'sync_password_to_request_network')).toEqual([]);
      const carrier = jobs.find(carriedPasswords);
      expect(carrier?.repeatJobKey).toBeTruthy();
      console.log(
        `[redis down] reset answered in ${took.toFixed(0)} ms; after Redis came back the schedule carried it in ${(performance.now() - back).toFixed(0)} ms (${carried.toFixed(0)} ms of polling)`,
      );
    } finally {
      await api.lifecycle.stop();
      await workers.lifecycle.stop();
      await response.close();
      await env.cleanup();
      await redis.stop();
      await fs.rm(redisDir, { recursive: true, force: true });
    }
  });
});

describe('the exchange folder watcher', () => {
  it('imports a file dropped into the folder by itself, without calling the importer', async () => {
    const env = testEnv('sqlite');
    const rt = testRuntime(env.config);
    const db = await openRequestDb(env);
    try {
      await startRequestWorker(rt, { watch: true });
      const user = randomUUID();
      const times: number[] = [];
      for (let seq = 1; seq <= 4; seq++) {
        const started = performance.now();
        await writeBatch(env, 'password_changes', seq, [pcRecord(user, seq)]);
        // The first file also waits for the watcher to attach; the next three are the measure.
        await waitFor(
          async () => (await credentialOf(db, user))?.password_version === seq,
          EVENT_DEADLINE_MS,
          `batch ${seq}`,
        );
        if (seq > 1) times.push(performance.now() - started);
      }
      times.sort((a, b) => a - b);
      console.log(`[watcher] file to applied: ${times.map((t) => t.toFixed(0)).join(', ')} ms`);
      // No beat runs here and each file landed after the worker started: only the watcher could have
      // asked for these imports. (How fast it is, is the bench's to measure.)
      const conn = redisConnection(env.config.redisUrl);
      const queue = new Queue(REQUEST_QUEUE, { connection: conn, prefix: env.config.queuePrefix });
      expect(await queue.getJobSchedulers()).toEqual([]);
      await queue.close();
      conn.disconnect();
    } finally {
      await rt.lifecycle.stop();
      await db.close();
      await env.cleanup();
    }
  });
});
