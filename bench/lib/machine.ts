import { execFileSync } from 'node:child_process';
import os from 'node:os';
import SQLite from 'better-sqlite3';
import { Redis } from 'ioredis';
import pg from 'pg';

export interface MachineInfo {
  readonly cpus: number;
  readonly cpu_model: string;
  readonly memory_gib: number;
  readonly os: string;
  readonly node: string;
  readonly redis: string;
  readonly sqlite: string;
  readonly postgres: string | null;
  readonly load_average: readonly number[];
  readonly commit: string | null;
  readonly dirty: boolean;
}

/** The Redis server's version, from INFO server. */
export async function redisVersion(url: string): Promise<string> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    const info = await redis.info('server');
    return /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown';
  } finally {
    redis.disconnect();
  }
}

export function sqliteVersion(): string {
  const db = new SQLite(':memory:');
  try {
    return (db.prepare('select sqlite_version() as v').get() as { v: string }).v;
  } finally {
    db.close();
  }
}

/** The PostgreSQL server's version, or null when none answers within a second. */
export async function postgresVersion(url: string): Promise<string | null> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const r = await client.query<{ server_version: string }>('show server_version');
    return r.rows[0]?.server_version ?? null;
  } catch {
    return null;
  } finally {
    await client.end().catch(() => undefined);
  }
}

function git(args: string[]): string | null {
  try {
    return execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

export async function machineInfo(redisUrl: string, postgresUrl: string): Promise<MachineInfo> {
  return {
    cpus: os.availableParallelism(),
    cpu_model: os.cpus()[0]?.model.trim() ?? 'unknown',
    memory_gib: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    redis: await redisVersion(redisUrl),
    sqlite: sqliteVersion(),
    postgres: await postgresVersion(postgresUrl),
    load_average: os.loadavg().map((l) => Math.round(l * 100) / 100),
    commit: git(['rev-parse', '--short', 'HEAD']),
    dirty: (git(['status', '--porcelain', '--untracked-files=no', 'src']) ?? '') !== '',
  };
}
