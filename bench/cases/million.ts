import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { hash } from '@node-rs/bcrypt';
import SQLite from 'better-sqlite3';
import type { Job, Queue } from 'bullmq';
import { sql } from 'kysely';
import pg from 'pg';
import { peekHeader } from '../../src/exchange/index.js';
import { type Db, migrate, openDb } from '../../src/platform/db.js';
import { createQueue } from '../../src/platform/queue.js';
import { redisConnection } from '../../src/platform/redis.js';
import { requestMigrations } from '../../src/request/db/migrations.js';
import type { RequestDatabase } from '../../src/request/db/schema.js';
import { REQUEST_QUEUE } from '../../src/request/tasks/registry.js';
import type { ResponseDatabase } from '../../src/response/db/schema.js';
import { RESPONSE_QUEUE } from '../../src/response/tasks/registry.js';
import { ADMIN, Cluster, cpuSecondsOf, memoryOf, waitUntil } from '../lib/cluster.js';
import { call, login } from '../lib/http.js';
import { type Summary, summarize } from '../lib/stats.js';
import { fileFloor } from './floor.js';
import { measureResets } from './latency.js';

/**
 * Case 8, a million (issue 13, item 1): `n` users and `n` settings put straight into the Response database
 * (SQL, one precomputed bcrypt hash; no outbox rows), on SQLite and on PostgreSQL. Measured, as deployed
 * (separate API and worker processes, the Request worker woken by the folder watcher):
 * - a scheduled export run with nothing changed (`snapshot: true`; its result must say `unchanged`),
 * - the full snapshot export of both streams (`rewrite: true`), against an fsync'd write of the same bytes,
 * - their import into the (all but empty) Request database, against raw inserts of the same rows into a
 *   fresh one, in one transaction with prepared statements,
 * - each worker's peak RSS growth (VmHWM after minus VmHWM before),
 * - the latency of a password reset reaching the Request side, before the rows are put in and after.
 * Seconds are the jobs' own run times (BullMQ's processedOn → finishedOn).
 */
export interface MillionResult {
  readonly dialect: 'sqlite' | 'postgres';
  readonly n: number;
  readonly seed_s: number;
  /** Sizes of users_latest.json and settings_latest.json together. */
  readonly bytes: number;
  /** One scheduled run of each snapshot task with nothing changed, in ms. */
  readonly unchanged_ms: Summary;
  readonly export_s: number;
  /** CPU seconds the Response worker spent on it (less noisy than seconds on a shared machine). */
  readonly export_cpu_s: number;
  readonly floor_export_s: number;
  readonly import_s: number;
  /** CPU seconds the Request worker spent from the resume to both snapshots applied. */
  readonly import_cpu_s: number;
  readonly floor_import_s: number;
  readonly export_rss_growth_mb: number;
  readonly import_rss_growth_mb: number;
  readonly latency_empty_ms: Summary;
  readonly latency_big_ms: Summary;
}

const UNCHANGED_RUNS = 5;
const RESETS = 10;

export async function runMillion(opts: {
  redisUrl: string;
  postgresUrl?: string;
  n: number;
  say: (s: string) => void;
}): Promise<MillionResult[]> {
  const results: MillionResult[] = [];
  results.push(await runOn('sqlite', opts));
  if (opts.postgresUrl && (await answers(opts.postgresUrl))) results.push(await runOn('postgres', opts));
  else opts.say('7: PostgreSQL not reachable, SQLite only');
  return results;
}

async function answers(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function runOn(
  dialect: 'sqlite' | 'postgres',
  opts: { redisUrl: string; postgresUrl?: string; n: number; say: (s: string) => void },
): Promise<MillionResult> {
  const tag = Math.random().toString(36).slice(2, 8);
  const schemas = [`nsb_mresp_${tag}`, `nsb_mreq_${tag}`, `nsb_mfloor_${tag}`];
  const pgUrl = (schema: string) => `${opts.postgresUrl}?schema=${schema}`;
  const env: Record<string, string> = {
    // The users snapshot takes ~400 bytes an account: 405 MB at a million, over the 256 MiB default.
    MAX_EXCHANGE_FILE_BYTES: String(2 ** 31),
    ...(dialect === 'postgres'
      ? { RESPONSE_DATABASE_URL: pgUrl(schemas[0] as string), REQUEST_DATABASE_URL: pgUrl(schemas[1] as string) }
      : {}),
  };
  const cluster = await Cluster.create({ name: `million-${dialect}`, redisUrl: opts.redisUrl, env });
  const redis = redisConnection(cluster.redisUrl);
  const respQueue = createQueue(RESPONSE_QUEUE, cluster.prefix, redis);
  const reqQueue = createQueue(REQUEST_QUEUE, cluster.prefix, redis);
  let resp: Db<ResponseDatabase> | undefined;
  let req: Db<RequestDatabase> | undefined;
  try {
    await cluster.startAll([
      ['response', 'api'],
      ['response', 'worker'],
      ['request', 'api'],
      ['request', 'worker'],
    ]);
    const R = cluster.responseUrl;
    const Q = cluster.requestUrl;
    const latencyEmpty = await measureResets(R, Q, { resets: RESETS, pollMs: 2, username: 'bench_empty' });
    opts.say(`8 (${dialect}): latency with an empty database ${latencyEmpty.sync_ms.median} ms (median)`);

    resp = await openDb<ResponseDatabase>(cluster.responseDbUrl);
    req = await openDb<RequestDatabase>(cluster.requestDbUrl);
    let t = performance.now();
    await seed(resp, opts.n, await hash('Bench-user-1', 4));
    // One change through the API: the settings stream gets a batch, so its snapshot's stamp is newer than
    // anything the Request side applied (a snapshot stamped as applied is skipped).
    const admin = await login(R, ADMIN.username, ADMIN.password);
    const made = await call(`${R}/settings`, { token: admin, body: { key: 'bench.marker', value: 1 } });
    if (made.status !== 201) throw new Error(`POST /settings: ${made.status} ${JSON.stringify(made.body)}`);
    const seedS = (performance.now() - t) / 1000;
    opts.say(`8 (${dialect}): ${opts.n.toLocaleString('en-US')} users and settings put in, ${seedS.toFixed(1)} s`);

    // The Request worker waits (its queue paused) until both snapshots are written, so the export and
    // the import do not share the two cores; the watcher's wake-ups queue up meanwhile.
    await reqQueue.pause();
    const exporter = cluster.find('response-worker-1');
    const exportBefore = memoryOf(exporter.pid)?.peak_rss_mb ?? Number.NaN;
    let exportS = 0;
    const exportCpu = cpuSecondsOf(exporter.pid);
    for (const task of ['export_users', 'export_settings_to_request_network']) {
      const job = await runJob(respQueue, task, { snapshot: true, rewrite: true }, 600_000);
      exportS += runSeconds(job);
    }
    const exportCpuS = cpuSecondsOf(exporter.pid) - exportCpu;
    const exportGrowth = (memoryOf(exporter.pid)?.peak_rss_mb ?? Number.NaN) - exportBefore;
    const files = ['users/users_latest.json', 'settings/settings_latest.json'].map((f) =>
      path.join(cluster.exchangeDir, f),
    );
    const bytes = files.reduce((sum, f) => sum + fs.statSync(f).size, 0);
    opts.say(`8 (${dialect}): full export ${exportS.toFixed(1)} s (${(bytes / 2 ** 20).toFixed(0)} MB)`);

    const unchanged: number[] = [];
    for (let i = 0; i < UNCHANGED_RUNS; i++) {
      for (const task of ['export_users', 'export_settings_to_request_network']) {
        const job = await runJob(respQueue, task, { snapshot: true }, 60_000);
        const said = (job.returnvalue as { snapshot?: string } | null)?.snapshot;
        if (said !== 'unchanged') throw new Error(`a scheduled ${task} with nothing changed said ${said}`);
        unchanged.push(runSeconds(job) * 1000);
      }
    }

    const importer = cluster.find('request-worker-1');
    const importBefore = memoryOf(importer.pid)?.peak_rss_mb ?? Number.NaN;
    const stamps = await Promise.all(files.map(async (f) => (await peekHeader(f))?.seq ?? 0));
    const reqK = req.kysely;
    const applied = async () => {
      const rows = await reqK.selectFrom('import_streams').select(['stream', 'snapshot_seq']).execute();
      const at = (s: string) => rows.find((r) => r.stream === s)?.snapshot_seq ?? 0;
      return at('users') >= (stamps[0] ?? 0) && at('settings') >= (stamps[1] ?? 0);
    };
    if (await applied()) throw new Error('the snapshots were applied while the Request queue was paused');
    // From the resume to both snapshots applied (polled every 50 ms): the import jobs' pick-up included.
    const resumed = performance.now();
    const importCpu = cpuSecondsOf(importer.pid);
    await reqQueue.resume();
    await waitUntil(applied, 'the snapshots to be applied', 900_000, 50);
    const importS = (performance.now() - resumed) / 1000;
    const importCpuS = cpuSecondsOf(importer.pid) - importCpu;
    const importGrowth = (memoryOf(importer.pid)?.peak_rss_mb ?? Number.NaN) - importBefore;
    const held = await reqK
      .selectFrom('settings')
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .executeTakeFirstOrThrow();
    if (Number(held.n) !== opts.n + 1) throw new Error(`the Request side holds ${held.n} settings, not ${opts.n + 1}`);
    opts.say(`8 (${dialect}): import ${importS.toFixed(1)} s`);

    const latencyBig = await measureResets(R, Q, { resets: RESETS, pollMs: 2, username: 'bench_big' });
    t = performance.now();
    const floorExport = await exportFloor(bytes);
    const floorImport =
      dialect === 'sqlite'
        ? await sqliteInsertFloor(opts.n)
        : await postgresInsertFloor(pgUrl(schemas[2] as string), opts.n);
    opts.say(`8 (${dialect}): floors measured in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    return {
      dialect,
      n: opts.n,
      seed_s: seedS,
      bytes,
      unchanged_ms: summarize(unchanged),
      export_s: exportS,
      export_cpu_s: exportCpuS,
      floor_export_s: floorExport,
      import_s: importS,
      import_cpu_s: importCpuS,
      floor_import_s: floorImport,
      export_rss_growth_mb: exportGrowth,
      import_rss_growth_mb: importGrowth,
      latency_empty_ms: latencyEmpty.sync_ms,
      latency_big_ms: latencyBig.sync_ms,
    };
  } finally {
    await respQueue.close().catch(() => undefined);
    await reqQueue.close().catch(() => undefined);
    redis.disconnect();
    await resp?.close();
    await req?.close();
    await cluster.stop();
    if (dialect === 'postgres' && opts.postgresUrl) await dropSchemas(opts.postgresUrl, schemas);
  }
}

const runSeconds = (job: Job) => ((job.finishedOn as number) - (job.processedOn as number)) / 1000;

/** Enqueues `task` and waits for its run to finish; throws if it failed. */
async function runJob(queue: Queue, task: string, data: object, timeoutMs: number): Promise<Job> {
  const added = await queue.add(task, data);
  let job: Job | undefined;
  await waitUntil(
    async () => {
      job = await queue.getJob(added.id as string);
      if (job?.failedReason) throw new Error(`${task} failed: ${job.failedReason}`);
      return Boolean(job?.finishedOn);
    },
    task,
    timeoutMs,
    5,
  );
  return job as Job;
}

const USER_ID = (i: string) => `printf('00000001-0000-4000-8000-%012x', ${i})`;
const SETTING_ID = (i: string) => `printf('00000002-0000-4000-8000-%012x', ${i})`;

/** `n` users and `n` settings, straight into the tables in one statement each (no outbox rows). */
export async function seed(db: Db<ResponseDatabase>, n: number, hashed: string): Promise<void> {
  const now = new Date().toISOString();
  const k = db.kysely;
  if (db.dialect === 'sqlite') {
    const series = sql.raw(`WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i + 1 < ${n})`);
    await sql`${series} INSERT INTO users (id, username, username_key, email, hashed_password, is_admin, is_active,
        profile_type_id, created_at, updated_at, deleted_at, version, password_version, password_changed_at)
      SELECT ${sql.raw(USER_ID('i'))}, printf('bench_%07d', i), printf('bench_%07d', i), NULL, ${hashed}, 0, 1,
        NULL, ${now}, ${now}, NULL, 1, 1, ${now} FROM s`.execute(k);
    await sql`${series} INSERT INTO settings (id, key, value, created_at, updated_at, deleted_at, version)
      SELECT ${sql.raw(SETTING_ID('i'))}, printf('bench.setting.%07d', i),
        printf('{"enabled":%s,"limit":%d,"label":"value %d"}', CASE WHEN i % 2 = 0 THEN 'true' ELSE 'false' END,
          i % 1000, i),
        ${now}, ${now}, NULL, 1 FROM s`.execute(k);
    return;
  }
  const id = (prefix: string) => sql.raw(`'${prefix}-0000-4000-8000-' || lpad(to_hex(i), 12, '0')`);
  await sql`INSERT INTO users (id, username, username_key, email, hashed_password, is_admin, is_active,
      profile_type_id, created_at, updated_at, deleted_at, version, password_version, password_changed_at)
    SELECT ${id('00000001')}, 'bench_' || lpad(i::text, 7, '0'), 'bench_' || lpad(i::text, 7, '0'), NULL,
      ${hashed}, 0, 1, NULL, ${now}, ${now}, NULL, 1, 1, ${now}
    FROM generate_series(0, ${n - 1}) AS i`.execute(k);
  await sql`INSERT INTO settings (id, key, value, created_at, updated_at, deleted_at, version)
    SELECT ${id('00000002')}, 'bench.setting.' || lpad(i::text, 7, '0'),
      '{"enabled":' || CASE WHEN i % 2 = 0 THEN 'true' ELSE 'false' END || ',"limit":' || (i % 1000)
        || ',"label":"value ' || i || '"}',
      ${now}, ${now}, NULL, 1
    FROM generate_series(0, ${n - 1}) AS i`.execute(k);
  await sql`ANALYZE users`.execute(k);
  await sql`ANALYZE settings`.execute(k);
}

/** fsync'd write + rename of a file of `bytes`, the median of 3. */
async function exportFloor(bytes: number): Promise<number> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'netsync-bench-millionfloor-'));
  try {
    return (await fileFloor(dir, bytes, 3)).median / 1000;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The rows the import writes: users, their credentials and settings, as the importer stores them. */
function* floorRows(n: number) {
  const now = new Date().toISOString();
  const hashed = `$2b$04$${'a'.repeat(53)}`;
  for (let i = 0; i < n; i++) {
    const hex = i.toString(16).padStart(12, '0');
    const name = `bench_${String(i).padStart(7, '0')}`;
    const value = `{"enabled":${i % 2 === 0},"limit":${i % 1000},"label":"value ${i}"}`;
    yield {
      user: [`00000001-0000-4000-8000-${hex}`, name, name, null, 1, 0, null, now, now, null, 1, now],
      credential: [`00000001-0000-4000-8000-${hex}`, hashed, 1, now, now],
      setting: [`00000002-0000-4000-8000-${hex}`, `bench.setting.${i}`, value, now, now, null, 1, now],
    };
  }
}
const INSERTS = {
  users:
    'INSERT INTO users (id, username, username_key, email, is_active, is_admin, profile_type_id, created_at, updated_at, deleted_at, version, synced_at)',
  credentials: 'INSERT INTO credentials (user_id, hashed_password, password_version, changed_at, synced_at)',
  settings: 'INSERT INTO settings (id, key, value, created_at, updated_at, deleted_at, version, synced_at)',
};

/** The rows inserted into a fresh, migrated Request database on SQLite: one transaction, one prepared statement each. */
async function sqliteInsertFloor(n: number): Promise<number> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'netsync-bench-millionfloor-'));
  try {
    const file = path.join(dir, 'floor.sqlite');
    const db = await openDb<RequestDatabase>(`sqlite:${file}`);
    await migrate(db, requestMigrations);
    await db.close();
    const raw = new SQLite(file);
    raw.pragma('journal_mode = WAL');
    raw.pragma('synchronous = NORMAL');
    const q = (head: string, cols: number) => raw.prepare(`${head} VALUES (${Array(cols).fill('?').join(', ')})`);
    const users = q(INSERTS.users, 12);
    const credentials = q(INSERTS.credentials, 5);
    const settings = q(INSERTS.settings, 8);
    const t = performance.now();
    raw.transaction(() => {
      for (const r of floorRows(n)) {
        users.run(r.user);
        credentials.run(r.credential);
        settings.run(r.setting);
      }
    })();
    const s = (performance.now() - t) / 1000;
    raw.close();
    return s;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The same on PostgreSQL: one transaction, prepared multi-row statements of 1,000 rows. */
async function postgresInsertFloor(url: string, n: number): Promise<number> {
  const db = await openDb<RequestDatabase>(url);
  await migrate(db, requestMigrations);
  await db.close();
  const u = new URL(url);
  const schema = u.searchParams.get('schema') as string;
  u.searchParams.delete('schema');
  const client = new pg.Client({ connectionString: u.toString(), options: `-c search_path=${schema}` });
  await client.connect();
  const ROWS = 1000;
  const statement = (head: string, cols: number, rows: number) =>
    `${head} VALUES ${Array.from({ length: rows }, (_, r) => `(${Array.from({ length: cols }, (_, c) => `$${r * cols + c + 1}`).join(', ')})`).join(', ')}`;
  try {
    const t = performance.now();
    await client.query('BEGIN');
    let chunk: { user: unknown[]; credential: unknown[]; setting: unknown[] }[] = [];
    const flush = async () => {
      if (chunk.length === 0) return;
      const full = chunk.length === ROWS;
      for (const [name, head, cols, pick] of [
        ['u', INSERTS.users, 12, (r: (typeof chunk)[number]) => r.user],
        ['c', INSERTS.credentials, 5, (r: (typeof chunk)[number]) => r.credential],
        ['s', INSERTS.settings, 8, (r: (typeof chunk)[number]) => r.setting],
      ] as const) {
        await client.query({
          ...(full ? { name: `floor_${name}` } : {}),
          text: statement(head, cols, chunk.length),
          values: chunk.flatMap(pick),
        });
      }
      chunk = [];
    };
    for (const r of floorRows(n)) {
      chunk.push(r);
      if (chunk.length === ROWS) await flush();
    }
    await flush();
    await client.query('COMMIT');
    return (performance.now() - t) / 1000;
  } finally {
    await client.end();
  }
}

async function dropSchemas(url: string, schemas: readonly string[]): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  try {
    await client.connect();
    for (const s of schemas) await client.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
  } finally {
    await client.end().catch(() => undefined);
  }
}
