import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { Redis } from 'ioredis';
import pg from 'pg';
import { freePort, waitUntil } from '../lib/cluster.js';
import { type LoadResult, load } from '../lib/load.js';
import { type Summary, summarize, timeEach } from '../lib/stats.js';

/**
 * Case 5, the floor: what the parts underneath allow on this machine, measured in the same run. Each other
 * case is printed as a ratio to the floor it is built on.
 */
export interface FloorResult {
  /** One PING to Redis and its answer (ioredis, one connection, sequential). */
  readonly redis_rtt_ms: Summary;
  /** Write a file the size of a one-record batch to a temp name, fsync, rename, fsync the folder. */
  readonly file_small_ms: Summary & { bytes: number };
  /** The same for a full batch of 5,000 password changes. */
  readonly file_batch_ms: Summary & { bytes: number };
  /** One single-row INSERT transaction, SQLite opened as netsync opens it (WAL, synchronous=NORMAL). */
  readonly sqlite_commit_ms: Summary;
  /** One single-row INSERT committed on PostgreSQL (fsync'd WAL), when one answers. */
  readonly postgres_commit_ms: Summary | null;
  /** A bare node:http server answering a fixed small JSON, under the same load as case 4. */
  readonly http_bare: LoadResult;
}

/** A record line of the password_changes stream, as the exporter writes it (~180 bytes). */
const CHANGE_LINE = JSON.stringify({
  user_id: '0c6f1d0e-3f55-4c1c-9b1a-2f0a7d5e8c11',
  hashed_password: '$2b$04$abcdefghijklmnopqrstuuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0',
  changed_at: '2026-01-01T00:00:00.000Z',
  password_version: 2,
});
/** Header line (1,024 bytes), framing and signature line (102 bytes), around `n` record lines. */
export const batchBytes = (n: number) => 1024 + 14 + n * (CHANGE_LINE.length + 2) + 102;

/** write + fsync + rename + fsync(dir) of `bytes` bytes, `n` times (the exchange writer's durable step). */
export async function fileFloor(dir: string, bytes: number, n: number): Promise<Summary & { bytes: number }> {
  const buf = Buffer.alloc(bytes, 0x61);
  const samples = await timeEach(n, async (i) => {
    const tmp = path.join(dir, `.floor-${i}.tmp`);
    const fh = await fs.promises.open(tmp, 'wx', 0o600);
    await fh.write(buf, 0, buf.length, 0);
    await fh.sync();
    await fh.close();
    await fs.promises.rename(tmp, path.join(dir, `floor-${i % 4}.json`));
    const d = await fs.promises.open(dir, 'r');
    await d.sync();
    await d.close();
  });
  return { ...summarize(samples), bytes };
}

async function redisFloor(url: string, n: number): Promise<Summary> {
  const redis = new Redis(url);
  try {
    await redis.ping();
    return summarize(await timeEach(n, () => redis.ping()));
  } finally {
    redis.disconnect();
  }
}

function sqliteFloor(dir: string, n: number): Summary {
  const db = new SQLite(path.join(dir, 'floor.sqlite'));
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.exec('create table t (id integer primary key, payload text not null)');
    const insert = db.prepare('insert into t (payload) values (?)');
    const commit = db.transaction((p: string) => insert.run(p));
    const samples: number[] = [];
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      commit(CHANGE_LINE);
      samples.push(performance.now() - t);
    }
    return summarize(samples);
  } finally {
    db.close();
  }
}

async function postgresFloor(url: string, n: number): Promise<Summary | null> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch {
    return null;
  }
  const schema = `nsbench_${randomBytes(5).toString('hex')}`;
  try {
    await client.query(`create schema ${schema}`);
    await client.query(`create table ${schema}.t (id bigserial primary key, payload text not null)`);
    return summarize(
      await timeEach(n, () => client.query(`insert into ${schema}.t (payload) values ($1)`, [CHANGE_LINE])),
    );
  } finally {
    await client.query(`drop schema if exists ${schema} cascade`).catch(() => undefined);
    await client.end();
  }
}

const BARE_SERVER = `
const http = require('node:http');
const body = JSON.stringify({ ok: true });
http.createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}).listen(Number(process.argv[1]), '127.0.0.1');
`;

/** A bare node:http server in its own process, loaded as case 4 loads netsync's APIs. */
export async function httpFloor(connections: number, durationS: number): Promise<LoadResult> {
  const port = await freePort();
  const child = spawn(process.execPath, ['-e', BARE_SERVER, String(port)], { stdio: 'ignore' });
  try {
    await waitUntil(
      async () => (await fetch(`http://127.0.0.1:${port}/`).catch(() => undefined))?.status === 200,
      'the bare HTTP server',
      10_000,
    );
    return await load({ url: `http://127.0.0.1:${port}`, paths: ['/'], connections, durationS });
  } finally {
    child.kill('SIGTERM');
  }
}

export async function runFloor(opts: {
  redisUrl: string;
  postgresUrl: string;
  quick: boolean;
  connections: number;
  durationS: number;
}): Promise<FloorResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'netsync-bench-floor-'));
  try {
    const n = opts.quick ? 200 : 1000;
    return {
      redis_rtt_ms: await redisFloor(opts.redisUrl, n * 2),
      file_small_ms: await fileFloor(dir, batchBytes(1), n / 2),
      file_batch_ms: await fileFloor(dir, batchBytes(5000), opts.quick ? 20 : 100),
      sqlite_commit_ms: sqliteFloor(dir, n * 2),
      postgres_commit_ms: await postgresFloor(opts.postgresUrl, n),
      http_bare: await httpFloor(opts.connections, opts.durationS),
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
