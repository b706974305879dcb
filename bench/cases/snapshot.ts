import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { hash } from '@node-rs/bcrypt';
import SQLite from 'better-sqlite3';
import type { Job } from 'bullmq';
import { type Db, openDb } from '../../src/platform/db.js';
import { createQueue } from '../../src/platform/queue.js';
import { redisConnection } from '../../src/platform/redis.js';
import type { RequestDatabase } from '../../src/request/db/schema.js';
import { REQUEST_QUEUE } from '../../src/request/tasks/registry.js';
import type { ResponseDatabase } from '../../src/response/db/schema.js';
import { RESPONSE_QUEUE } from '../../src/response/tasks/registry.js';
import { ADMIN, type Cluster, memoryOf, waitUntil } from '../lib/cluster.js';
import { call, login } from '../lib/http.js';
import { seedSettings, seedUsers, settingValue } from '../lib/seed.js';
import { fileFloor } from './floor.js';

/**
 * Case 3, snapshot: `settings` settings written to `settings_latest.json` by the Response worker (the
 * task `export_settings_to_request_network` with `snapshot: true`, as the schedule runs it) and applied by
 * the Request worker, which the exchange-folder watcher wakes. Seconds are the two jobs' own run times
 * (BullMQ's processedOn → finishedOn); memory is each worker process's peak RSS (VmHWM).
 *
 * The settings are put straight into the Response database, without outbox rows: the state in which a
 * snapshot is how they reach the Request side (a new or healed Request Network), so the import inserts
 * every row. One setting changed through the API first gives the stream a batch number to stamp.
 */
export interface SnapshotResult {
  readonly settings: number;
  readonly bytes: number;
  readonly export_s: number;
  readonly import_s: number;
  /** From enqueueing the export to the Request side having applied the snapshot. */
  readonly end_to_end_s: number;
  readonly export_peak_rss_mb: number;
  readonly import_peak_rss_mb: number;
  /** Each worker's peak RSS before the snapshot, after start-up and a first small sync. */
  readonly export_rss_before_mb: number;
  readonly import_rss_before_mb: number;
  /** fsync'd write + rename of a file of the snapshot's size. */
  readonly floor_export_s: number;
  /** The same rows inserted into an empty SQLite table in one transaction with one prepared statement. */
  readonly floor_import_s: number;
}

/** Starts the processes cases 3 and 4 share and seeds what both read. */
export async function prepareSnapshotCluster(cluster: Cluster, opts: { settings: number; users: number }) {
  await cluster.startAll([
    ['response', 'api'],
    ['response', 'worker'],
    ['request', 'api'],
    ['request', 'worker'],
  ]);
  const resp = await openDb<ResponseDatabase>(cluster.responseDbUrl);
  try {
    await seedSettings(resp.kysely, opts.settings);
    const userIds = await seedUsers(resp.kysely, opts.users, await hash('Bench-user-1', 4));
    return { userIds };
  } finally {
    await resp.close();
  }
}

async function finished(job: Job | undefined, what: string): Promise<Job> {
  if (!job) throw new Error(`${what}: job not found`);
  return job;
}

export async function runSnapshot(cluster: Cluster, opts: { settings: number }): Promise<SnapshotResult> {
  const redis = redisConnection(cluster.redisUrl);
  const respQueue = createQueue(RESPONSE_QUEUE, cluster.prefix, redis);
  const reqQueue = createQueue(REQUEST_QUEUE, cluster.prefix, redis);
  let resp: Db<ResponseDatabase> | undefined;
  let req: Db<RequestDatabase> | undefined;
  try {
    resp = await openDb<ResponseDatabase>(cluster.responseDbUrl);
    req = await openDb<RequestDatabase>(cluster.requestDbUrl);
    const respK = resp.kysely;
    const reqK = req.kysely;
    const position = async (stream: 'users' | 'settings') => ({
      exported: (
        await respK
          .selectFrom('export_streams')
          .select('last_seq')
          .where('stream', '=', stream)
          .executeTakeFirstOrThrow()
      ).last_seq,
      imported: await reqK
        .selectFrom('import_streams')
        .selectAll()
        .where('stream', '=', stream)
        .executeTakeFirstOrThrow(),
    });

    // The users (and the admin) reach the Request side, so case 4 can log in there.
    await respQueue.add('export_users', {}, { jobId: 'bench-users' });
    await waitUntil(async () => {
      const p = await position('users');
      return p.exported > 0 && p.imported.last_seq >= p.exported;
    }, 'the users to sync');
    // One change through the API: batch 1 of the settings stream, which the snapshot is stamped with.
    const admin = await login(cluster.responseUrl, ADMIN.username, ADMIN.password);
    const made = await call(`${cluster.responseUrl}/settings`, {
      token: admin,
      body: { key: 'bench.marker', value: settingValue(-1) },
    });
    if (made.status !== 201) throw new Error(`POST /settings: ${made.status} ${JSON.stringify(made.body)}`);
    await waitUntil(async () => (await position('settings')).imported.last_seq >= 1, 'the first settings batch');

    const exporter = cluster.find('response-worker-1');
    const importer = cluster.find('request-worker-1');
    const exportBefore = memoryOf(exporter.pid)?.peak_rss_mb ?? Number.NaN;
    const importBefore = memoryOf(importer.pid)?.peak_rss_mb ?? Number.NaN;
    const snapshotBefore = (await position('settings')).imported.snapshot_seq;

    const t0 = performance.now();
    await respQueue.add('export_settings_to_request_network', { snapshot: true }, { jobId: 'bench-snapshot' });
    let exportJob: Job | undefined;
    await waitUntil(
      async () => {
        exportJob = await respQueue.getJob('bench-snapshot');
        if (exportJob?.failedReason) throw new Error(`snapshot export failed: ${exportJob.failedReason}`);
        return Boolean(exportJob?.finishedOn);
      },
      'the snapshot export',
      120_000,
    );
    await waitUntil(
      async () => (await position('settings')).imported.snapshot_seq > snapshotBefore,
      'the snapshot import',
      120_000,
      10,
    );
    const endToEnd = (performance.now() - t0) / 1000;
    const ex = await finished(exportJob, 'export');

    // The import job that applied it: a completed import whose result lists settings_latest.json.
    let importJob: Job | undefined;
    await waitUntil(
      async () => {
        const done = await reqQueue.getCompleted(0, 50);
        importJob = done.find((j) =>
          (j.returnvalue as { files?: string[] } | null)?.files?.some((f) => f.endsWith('settings_latest.json')),
        );
        return importJob !== undefined;
      },
      'the import job to finish',
      30_000,
    );
    const im = await finished(importJob, 'import');

    const held = await reqK
      .selectFrom('settings')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    if (Number(held.n) !== opts.settings + 1) {
      throw new Error(`the Request side holds ${held.n} settings, expected ${opts.settings + 1}`);
    }
    const file = path.join(cluster.exchangeDir, 'settings', 'settings_latest.json');
    const bytes = fs.statSync(file).size;
    const floor = await snapshotFloors(bytes, opts.settings);
    return {
      settings: opts.settings,
      bytes,
      export_s: ((ex.finishedOn as number) - (ex.processedOn as number)) / 1000,
      import_s: ((im.finishedOn as number) - (im.processedOn as number)) / 1000,
      end_to_end_s: endToEnd,
      export_peak_rss_mb: memoryOf(exporter.pid)?.peak_rss_mb ?? Number.NaN,
      import_peak_rss_mb: memoryOf(importer.pid)?.peak_rss_mb ?? Number.NaN,
      export_rss_before_mb: exportBefore,
      import_rss_before_mb: importBefore,
      floor_export_s: floor.write,
      floor_import_s: floor.insert,
    };
  } finally {
    await respQueue.close().catch(() => undefined);
    await reqQueue.close().catch(() => undefined);
    redis.disconnect();
    await resp?.close();
    await req?.close();
  }
}

/** What the disk and SQLite allow for the same amount of data, in seconds. */
async function snapshotFloors(bytes: number, rows: number): Promise<{ write: number; insert: number }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'netsync-bench-snapfloor-'));
  try {
    const write = (await fileFloor(dir, bytes, 3)).median / 1000;
    const db = new SQLite(path.join(dir, 'floor.sqlite'));
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.exec(`create table settings (id text primary key, key text not null, value text not null,
      created_at text not null, updated_at text not null, deleted_at text, version integer not null,
      synced_at text not null)`);
    db.exec('create index settings_key on settings (key)');
    const insert = db.prepare('insert into settings values (?, ?, ?, ?, ?, ?, ?, ?)');
    const now = new Date().toISOString();
    const t = performance.now();
    db.transaction(() => {
      for (let i = 0; i < rows; i++) {
        const id = `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
        insert.run(id, `bench.setting.${i}`, JSON.stringify(settingValue(i)), now, now, null, 1, now);
      }
    })();
    const insertS = (performance.now() - t) / 1000;
    db.close();
    return { write, insert: insertS };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
