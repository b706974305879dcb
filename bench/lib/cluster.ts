import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { generateSigningKey, parseSigningKey } from '../../src/exchange/keys.js';

export const ROOT = path.resolve(import.meta.dirname, '../..');
const MAIN = path.join(ROOT, 'src/cli/main.ts');
const TSX = import.meta.resolve('tsx');

export const ADMIN = { username: 'admin', password: 'Bench-admin-1' } as const;

/** A TCP port nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `check` every `everyMs` until it is true; throws after `timeoutMs`. Returns the ms it took. */
export async function waitUntil(
  check: () => Promise<boolean> | boolean,
  what: string,
  timeoutMs = 60_000,
  everyMs = 20,
): Promise<number> {
  const start = performance.now();
  for (;;) {
    if (await check()) return performance.now() - start;
    if (performance.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** Resident memory of a process from /proc: now, and the peak since it started (Linux only). */
export function memoryOf(pid: number): { rss_mb: number; peak_rss_mb: number } | undefined {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? Number.NaN);
    return { rss_mb: kb('VmRSS') / 1024, peak_rss_mb: kb('VmHWM') / 1024 };
  } catch {
    return undefined;
  }
}

export type Side = 'response' | 'request';
export type Part = 'api' | 'worker' | 'beat';

/** One `netsync <side> <part>` child process, its output going to a log file. */
export class Proc {
  private exitCode: number | string | undefined;
  readonly exited: Promise<number | string>;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
    readonly logFile: string,
  ) {
    this.exited = new Promise((resolve) =>
      child.on('exit', (code, signal) => {
        this.exitCode = code ?? signal ?? 'unknown';
        resolve(this.exitCode);
      }),
    );
  }

  get pid(): number {
    return this.child.pid as number;
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  log(): string {
    try {
      return fs.readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }

  /** Waits until the log shows `re`, failing early when the process exits. */
  async waitForLog(re: RegExp, timeoutMs = 60_000): Promise<void> {
    await waitUntil(
      () => {
        if (!this.running) throw new Error(`${this.name} exited (${this.exitCode}) while starting:\n${this.tail()}`);
        return re.test(this.log());
      },
      `${this.name} to log ${re}`,
      timeoutMs,
      50,
    );
  }

  tail(lines = 20): string {
    return this.log().trimEnd().split('\n').slice(-lines).join('\n');
  }

  /** SIGTERM (the part shuts down cleanly), then SIGKILL after `graceMs`. */
  async stop(graceMs = 8000): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

export interface ClusterOptions {
  /** Short name for folders and logs. */
  readonly name: string;
  readonly redisUrl: string;
  /** Extra or overriding environment for every part. */
  readonly env?: Record<string, string>;
  /**
   * A PostgreSQL server to keep both networks' databases in (a schema each, dropped at stop) instead of
   * SQLite files.
   */
  readonly postgresUrl?: string;
}

/** Every cluster not yet stopped, so an interrupted bench can still stop what it started. */
const live = new Set<Cluster>();

export async function stopAllClusters(): Promise<void> {
  await Promise.all([...live].map((c) => c.stop()));
}

/**
 * A private netsync installation: its own temp folder (SQLite databases, exchange folder, logs), queue
 * prefix, ports and keys. Parts are started as separate processes, as an operator runs them.
 */
export class Cluster {
  readonly procs: Proc[] = [];
  private stopped = false;

  private constructor(
    readonly name: string,
    readonly dir: string,
    readonly env: Record<string, string>,
    readonly redisUrl: string,
    /** The PostgreSQL server and the schemas to drop at stop (none on SQLite). */
    private readonly pgSchemas: string[],
  ) {}

  static async create(opts: ClusterOptions): Promise<Cluster> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `netsync-bench-${opts.name}-`));
    const prefix = `nsbench_${randomBytes(5).toString('hex')}`;
    const signingKey = generateSigningKey();
    // Schemas named after the queue prefix: unique, and told apart from other users of the server.
    const pg = opts.postgresUrl;
    const dbUrl = (side: string) =>
      pg
        ? `${pg}${pg.includes('?') ? '&' : '?'}schema=${prefix}_${side}`
        : `sqlite:${path.join(dir, 'data', `${side}.sqlite`)}`;
    const env: Record<string, string> = {
      REDIS_URL: opts.redisUrl,
      DATA_DIR: path.join(dir, 'data'),
      EXPORT_DIR: path.join(dir, 'exports'),
      QUARANTINE_DIR: path.join(dir, 'quarantine'),
      RESPONSE_DATABASE_URL: dbUrl('response'),
      REQUEST_DATABASE_URL: dbUrl('request'),
      QUEUE_PREFIX: prefix,
      // One key pair per cluster: Response parts sign with the private half, Request parts trust the public one.
      EXCHANGE_SIGNING_KEY: signingKey,
      EXCHANGE_TRUSTED_KEYS: parseSigningKey(signingKey).publicKey.text,
      RESPONSE_JWT_SECRET: randomBytes(32).toString('hex'),
      REQUEST_JWT_SECRET: randomBytes(32).toString('hex'),
      ADMIN_USERNAME: ADMIN.username,
      ADMIN_PASSWORD: ADMIN.password,
      // Cheap hashes, so a login used to observe a sync costs ~1 ms instead of ~250 ms. Hashing is not
      // part of the sync path; the reset's own hash is made before its commit, outside what is timed.
      BCRYPT_COST: '4',
      // The latency case observes a sync by logging in until the new password works: no throttle.
      LOGIN_MAX_FAILURES: '0',
      LOGIN_MAX_FAILURES_PER_CLIENT: '0',
      LOGIN_MAX_FAILURES_PER_ACCOUNT: '0',
      HOST: '127.0.0.1',
      RESPONSE_PORT: String(await freePort()),
      REQUEST_PORT: String(await freePort()),
      LOG_LEVEL: 'info',
      SHUTDOWN_GRACE_S: '3',
      EXPORT_INTERVAL_S: '60',
      IMPORT_INTERVAL_S: '60',
      ...opts.env,
    };
    fs.mkdirSync(env.DATA_DIR as string, { recursive: true, mode: 0o700 });
    const cluster = new Cluster(
      opts.name,
      dir,
      env,
      opts.redisUrl,
      pg ? [pg, `${prefix}_response`, `${prefix}_request`] : [],
    );
    live.add(cluster);
    return cluster;
  }

  get prefix(): string {
    return this.env.QUEUE_PREFIX as string;
  }
  get responseUrl(): string {
    return `http://127.0.0.1:${this.env.RESPONSE_PORT}`;
  }
  get requestUrl(): string {
    return `http://127.0.0.1:${this.env.REQUEST_PORT}`;
  }
  get responseDbUrl(): string {
    return this.env.RESPONSE_DATABASE_URL as string;
  }
  get requestDbUrl(): string {
    return this.env.REQUEST_DATABASE_URL as string;
  }
  get exchangeDir(): string {
    return this.env.EXPORT_DIR as string;
  }

  /** Starts `netsync <side> <part>` and waits until it is ready to work. */
  async start(side: Side, part: Part, extraArgs: string[] = [], extraEnv: Record<string, string> = {}): Promise<Proc> {
    const n = this.procs.filter((p) => p.name.startsWith(`${side}-${part}`)).length;
    const name = `${side}-${part}-${n + 1}`;
    const logFile = path.join(this.dir, `${name}.log`);
    const fd = fs.openSync(logFile, 'a');
    // BENCH_CPU_PROF=<dir>: every part writes a V8 CPU profile there when it stops (open in Chrome DevTools).
    const prof = process.env.BENCH_CPU_PROF;
    const profArgs = prof ? ['--cpu-prof', `--cpu-prof-dir=${path.join(prof, `${this.name}-${name}`)}`] : [];
    // A Request part refuses to start holding the private key, as on a real Request machine.
    const { EXCHANGE_SIGNING_KEY: _private, ...requestEnv } = this.env;
    const sideEnv = side === 'request' ? requestEnv : this.env;
    const child = spawn(process.execPath, ['--import', TSX, ...profArgs, ...extraArgs, MAIN, side, part], {
      cwd: this.dir,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? os.tmpdir(), ...sideEnv, ...extraEnv },
      stdio: ['ignore', fd, fd],
    });
    fs.closeSync(fd);
    const proc = new Proc(name, child, logFile);
    this.procs.push(proc);
    if (part === 'api') {
      const url = side === 'response' ? this.responseUrl : this.requestUrl;
      await waitUntil(
        async () => {
          if (!proc.running) throw new Error(`${name} exited while starting:\n${proc.tail()}`);
          return (await fetch(`${url}/health`).catch(() => undefined))?.status === 200;
        },
        `${name} to answer /health`,
        60_000,
        50,
      );
    } else if (part === 'worker') {
      await proc.waitForLog(/worker \S+ ready/);
    } else {
      await proc.waitForLog(/Schedule entry/);
    }
    return proc;
  }

  /** Starts several parts at once (each process starts in parallel). */
  async startAll(parts: readonly [Side, Part][]): Promise<Proc[]> {
    return Promise.all(parts.map(([side, part]) => this.start(side, part)));
  }

  find(name: string): Proc {
    const p = this.procs.find((x) => x.name === name);
    if (!p) throw new Error(`no process ${name}`);
    return p;
  }

  /**
   * Stops every part (reverse start order), deletes its Redis keys and its temp folder (kept, with the
   * parts' logs, when BENCH_KEEP_DIRS is set).
   */
  async stop(opts: { keepDir?: boolean } = { keepDir: process.env.BENCH_KEEP_DIRS !== undefined }): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    live.delete(this);
    await Promise.all([...this.procs].reverse().map((p) => p.stop()));
    await deleteKeys(this.redisUrl, `${this.prefix}:*`);
    await dropSchemas(this.pgSchemas);
    if (!opts.keepDir) fs.rmSync(this.dir, { recursive: true, force: true });
    else process.stderr.write(`bench: kept ${this.dir}\n`);
  }
}

/** Drops the schemas `[url, ...names]` names (best effort, as the keys are deleted). */
async function dropSchemas([url, ...names]: string[]): Promise<void> {
  if (!url || names.length === 0) return;
  const client = new pg.Client({ connectionString: url });
  try {
    await client.connect();
    for (const name of names) await client.query(`DROP SCHEMA IF EXISTS ${name} CASCADE`);
  } catch {
    // Left behind (uniquely named) when the server does not answer any more.
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Deletes the keys matching `pattern` (SCAN, so Redis is never blocked by one big KEYS). */
async function deleteKeys(url: string, pattern: string): Promise<void> {
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  redis.on('error', () => undefined);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await redis.unlink(...keys);
    } while (cursor !== '0');
  } catch {
    // Best effort: a bench that cannot reach Redis any more leaves its (uniquely prefixed) keys behind.
  } finally {
    redis.disconnect();
  }
}

/** CPU seconds (user + system) a process has used so far, from /proc (Linux only). */
export function cpuSecondsOf(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after "pid (comm) ".
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return Number.NaN;
  }
}
const CLOCK_TICKS = 100;
