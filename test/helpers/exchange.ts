import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Kysely } from 'kysely';
import pino from 'pino';
import {
  batchFileName,
  FORMAT,
  FORMAT_VERSION,
  generateSigningKey,
  HEADER_LINE_BYTES,
  type Header,
  headerLine,
  openExchangeFile,
  type PasswordChangeRecord,
  parseSigningKey,
  RECORDS_CLOSE,
  RECORDS_OPEN,
  type RecordOf,
  type SigningKey,
  type Stream,
  seqOfBatchName,
  signatureLine,
  signatureOf,
  streamDir,
  type TrustedKeys,
  type UserRecord,
  writeExchangeFile,
} from '../../src/exchange/index.js';
import { type Db, migrate, openDb } from '../../src/platform/db.js';
import { createLogger, type Logger } from '../../src/platform/logger.js';
import { requestMigrations } from '../../src/request/db/migrations.js';
import type { RequestDatabase } from '../../src/request/db/schema.js';
import { Importer } from '../../src/request/importer/importer.js';
import { responseMigrations } from '../../src/response/db/migrations.js';
import type { ResponseDatabase } from '../../src/response/db/schema.js';
import type { ExportContext, SnapshotSource } from '../../src/response/exporter.js';
import { sideEnv, type TestEnv } from './system.js';

/**
 * The generation the helpers' hand-made files carry. A test that mixes them with files the real exporter
 * writes (which carry its database's generation) must pass that one instead.
 */
export const TEST_GENERATION = '20260101T000000Z-00000000';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * A well-formed bcrypt string, unique per seed. Exchange records must look like bcrypt; the tests compare
 * hashes as values and never log in with them, so real (slow) hashing would only cost time.
 */
export const fakeHash = (seed: string): string =>
  `$2b$04$${createHash('sha256').update(seed).digest('hex').slice(0, 53)}`;

export async function openResponseDb(env: TestEnv): Promise<Db<ResponseDatabase>> {
  const db = await openDb<ResponseDatabase>(env.config.responseDatabaseUrl);
  await migrate(db, responseMigrations(db.dialect));
  return db;
}

export async function openRequestDb(env: TestEnv): Promise<Db<RequestDatabase>> {
  const db = await openDb<RequestDatabase>(env.config.requestDatabaseUrl);
  await migrate(db, requestMigrations);
  return db;
}

/** The private key the environment's Response side signs with (testEnv makes one per environment). */
export function signerOf(env: TestEnv): SigningKey {
  const key = env.config.exchangeSigningKey;
  if (!key) throw new Error('this test environment has no EXCHANGE_SIGNING_KEY');
  return key;
}

/** The public keys the environment's Request side trusts. */
export function trustedOf(env: TestEnv): TrustedKeys {
  const keys = env.config.exchangeTrustedKeys;
  if (!keys) throw new Error('this test environment has no EXCHANGE_TRUSTED_KEYS');
  return keys;
}

/** A key pair nobody trusts: what a forger could make. */
export const freshSigningKey = (): SigningKey => parseSigningKey(generateSigningKey());

export function exportCtx(env: TestEnv, db: Kysely<ResponseDatabase>, batchSize = 5000): ExportContext {
  return {
    db,
    exchangeDir: env.config.exchangeDir,
    signingKey: signerOf(env),
    batchSize,
    logger: createLogger(env.config.logLevel),
  };
}

export function importerFor(
  env: TestEnv,
  db: Kysely<RequestDatabase>,
  opts: { logger?: Logger; maxFileBytes?: number; exchangeDir?: string } = {},
): Importer {
  return new Importer({
    db,
    exchangeDir: opts.exchangeDir ?? env.config.exchangeDir,
    quarantineDir: env.config.quarantineDir,
    trustedKeys: trustedOf(env),
    maxFileBytes: opts.maxFileBytes ?? env.config.maxFileBytes,
    maxAccountRemovals: env.config.maxAccountRemovals,
    logger: opts.logger ?? createLogger(env.config.logLevel),
    exportIntervalS: env.config.exportIntervalS,
  });
}

/**
 * Wraps a snapshot source so that the export, once it has read its stamps and asks for rows, waits until
 * `release()`: a test can commit and export between the two, as another worker would.
 */
export function heldSnapshotSource(source: SnapshotSource) {
  let stampsRead!: () => void;
  const read = new Promise<void>((resolve) => {
    stampsRead = resolve;
  });
  let release!: () => void;
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  const held: SnapshotSource = async function* (trx) {
    stampsRead();
    await released;
    yield* source(trx);
  };
  return { source: held, read, release };
}

/** A logger that keeps its JSON lines in memory, for tests that check what was logged. */
export function memoryLogger(): { logger: Logger; entries: Record<string, unknown>[] } {
  const entries: Record<string, unknown>[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void entries.push(JSON.parse(line)) });
  return { logger, entries };
}

export const pcRecord = (
  user_id: string,
  password_version: number,
  hash = fakeHash(`${user_id}:${password_version}`),
) =>
  ({
    user_id,
    hashed_password: hash,
    changed_at: new Date(Date.UTC(2026, 0, 1, 0, 0, password_version)).toISOString(),
    password_version,
  }) satisfies PasswordChangeRecord;

export function userRec(id: string, username: string, passwordVersion: number, version = 1): UserRecord {
  const at = new Date(Date.UTC(2026, 0, 1)).toISOString();
  return {
    id,
    username,
    email: null,
    is_active: true,
    is_admin: false,
    profile_type_id: null,
    created_at: at,
    updated_at: at,
    deleted_at: null,
    version,
    hashed_password: fakeHash(`${id}:${passwordVersion}`),
    password_version: passwordVersion,
    password_changed_at: at,
  };
}

/** Writes a genuine batch file of `stream` with the writer the Response Network uses. */
export async function writeBatch<S extends Stream>(
  env: TestEnv,
  stream: S,
  seq: number,
  records: readonly RecordOf[S][],
  key = signerOf(env),
  generation = TEST_GENERATION,
): Promise<string> {
  const written = await writeExchangeFile(
    streamDir(env.config.exchangeDir, stream),
    batchFileName(seq),
    { kind: 'batch', stream, seq, generation, created_at: new Date().toISOString() },
    records.map((r) => JSON.stringify(r)),
    key,
  );
  return written.path;
}

/** Writes `users_latest.json`, stamped with `covers` (the newest batch it reflects, per stream). */
export async function writeUsersSnapshot(
  env: TestEnv,
  records: readonly UserRecord[],
  covers: { users: number; password_changes: number },
  key = signerOf(env),
  generation = TEST_GENERATION,
): Promise<string> {
  const written = await writeExchangeFile(
    streamDir(env.config.exchangeDir, 'users'),
    'users_latest.json',
    {
      kind: 'snapshot',
      stream: 'users',
      seq: covers.users,
      generation,
      covers,
      created_at: new Date().toISOString(),
    },
    records.map((r) => JSON.stringify(r)),
    key,
  );
  return written.path;
}

/**
 * Lays out a file by hand with the format's own pieces, so a test can sign what the writer never would
 * (a future version, a bad header) or break one layer while keeping the others valid.
 */
export function craftFile(
  header: Partial<Header> & Pick<Header, 'stream' | 'seq'>,
  lines: readonly string[],
  key: SigningKey,
): string {
  const sha = createHash('sha256');
  for (const l of lines) sha.update(`${l}\n`);
  const full = {
    format: FORMAT,
    version: FORMAT_VERSION,
    kind: 'batch',
    generation: TEST_GENERATION,
    created_at: new Date().toISOString(),
    count: lines.length,
    sha256: sha.digest('hex'),
    key_id: key.id,
    ...header,
  } as Header;
  const records = lines.length === 0 ? '' : `${lines.join(',\n')}\n`;
  return `${headerLine(full)}${RECORDS_OPEN}\n${records}${RECORDS_CLOSE}\n${signatureLine(signatureOf(key, full))}`;
}

export { HEADER_LINE_BYTES };

/** Every record of every batch file of `stream` in the exchange folder, authenticated; by sequence. */
export async function readBatches<S extends Stream>(env: TestEnv, stream: S): Promise<Map<number, RecordOf[S][]>> {
  const dir = streamDir(env.config.exchangeDir, stream);
  const out = new Map<number, RecordOf[S][]>();
  for (const name of await fs.readdir(dir)) {
    const seq = seqOfBatchName(name);
    if (seq === undefined) continue;
    const file = await openExchangeFile(path.join(dir, name), stream, trustedOf(env), { maxBytes: 1 << 30 });
    if (file.header.seq !== seq) throw new Error(`${name} holds seq ${file.header.seq}`);
    const records: RecordOf[S][] = [];
    for await (const r of file.records()) records.push(r);
    out.set(seq, records);
  }
  return out;
}

export const batchNames = async (env: TestEnv, stream: Stream): Promise<string[]> =>
  (await fs.readdir(streamDir(env.config.exchangeDir, stream)).catch(() => [] as string[]))
    .filter((n) => seqOfBatchName(n) !== undefined)
    .sort();

/**
 * The batch files of `stream` the Request side has not applied yet (past its position): applied ones stay
 * in the folder, since the Request side never deletes anything there.
 */
export async function unappliedBatches(env: TestEnv, db: Kysely<RequestDatabase>, stream: Stream): Promise<string[]> {
  const position = await db
    .selectFrom('import_streams')
    .select('last_seq')
    .where('stream', '=', stream)
    .executeTakeFirstOrThrow();
  return (await batchNames(env, stream)).filter((n) => (seqOfBatchName(n) ?? 0) > Number(position.last_seq));
}

export interface Credential {
  hashed_password: string;
  password_version: number;
}

export async function requestCredentials(db: Kysely<RequestDatabase>): Promise<Map<string, Credential>> {
  const rows = await db.selectFrom('credentials').select(['user_id', 'hashed_password', 'password_version']).execute();
  return new Map(
    rows.map((r) => [r.user_id, { hashed_password: r.hashed_password, password_version: r.password_version }]),
  );
}

export async function responsePasswords(db: Kysely<ResponseDatabase>): Promise<Map<string, Credential>> {
  const rows = await db.selectFrom('users').select(['id', 'hashed_password', 'password_version']).execute();
  return new Map(
    rows.map((r) => [r.id, { hashed_password: r.hashed_password, password_version: Number(r.password_version) }]),
  );
}

/** Users whose Request credentials differ from the Response Network's newest state (empty when in sync). */
export async function outOfSync(
  response: Kysely<ResponseDatabase>,
  request: Kysely<RequestDatabase>,
): Promise<string[]> {
  const want = await responsePasswords(response);
  const have = await requestCredentials(request);
  const bad: string[] = [];
  for (const [id, w] of want) {
    const h = have.get(id);
    if (h?.hashed_password !== w.hashed_password || Number(h.password_version) !== w.password_version) bad.push(id);
  }
  return bad;
}

/**
 * Every synced record of both networks in one comparable shape (Request side first, Response side
 * second): users, passwords, settings and profile types, tombstones included. Equal when in sync.
 */
export async function syncedState(response: Kysely<ResponseDatabase>, request: Kysely<RequestDatabase>) {
  const byId = <T extends { id: string }>(rows: T[]) => rows.sort((a, b) => a.id.localeCompare(b.id));
  const read = async (db: Kysely<ResponseDatabase> | Kysely<RequestDatabase>) => {
    // The four tables have the same names and these columns on both sides.
    const k = db as unknown as Kysely<ResponseDatabase>;
    const users = await k
      .selectFrom('users')
      .select(['id', 'username', 'email', 'is_active', 'is_admin', 'profile_type_id', 'deleted_at', 'version'])
      .execute();
    const settings = await k.selectFrom('settings').select(['id', 'key', 'value', 'deleted_at', 'version']).execute();
    const types = await k
      .selectFrom('profile_types')
      .select(['id', 'name', 'description', 'deleted_at', 'version'])
      .execute();
    return {
      users: byId(users.map((u) => ({ ...u, is_active: Number(u.is_active), is_admin: Number(u.is_admin) }))),
      settings: byId(settings.map((r) => ({ ...r, value: JSON.parse(r.value) as unknown }))),
      profile_types: byId(types),
    };
  };
  const passwords = (m: Map<string, Credential>) => Object.fromEntries([...m].sort(([a], [b]) => a.localeCompare(b)));
  return [
    { ...(await read(request)), passwords: passwords(await requestCredentials(request)) },
    { ...(await read(response)), passwords: passwords(await responsePasswords(response)) },
  ] as const;
}

/**
 * Watches Request credentials and fails on any step back: a password_version that goes down, or a hash
 * that is not the one the Response Network committed for that version.
 */
export class MonotonicCheck {
  private readonly seen = new Map<string, number>();
  /** Hash committed per `${user}:${version}`; filled by the test as it commits. */
  readonly committed = new Map<string, string>();
  checks = 0;

  /**
   * @param strict also fail on a version missing from `committed`: only for tests that record each commit
   *   before anything can export it.
   */
  constructor(private readonly strict = false) {}

  async check(request: Kysely<RequestDatabase>): Promise<void> {
    this.checks++;
    for (const [id, c] of await requestCredentials(request)) {
      const v = Number(c.password_version);
      const before = this.seen.get(id) ?? 0;
      if (v < before) throw new Error(`user ${id}: password_version went back from ${before} to ${v}`);
      this.seen.set(id, v);
      const want = this.committed.get(`${id}:${v}`);
      if (want === undefined && this.strict) throw new Error(`user ${id}: version ${v} was never committed`);
      if (want !== undefined && want !== c.hashed_password) {
        throw new Error(`user ${id}: version ${v} holds a hash the Response Network never committed for it`);
      }
    }
  }
}

/** One `netsync <side> <part>` child process running the TypeScript source, with its log lines kept. */
export class ChildPart {
  readonly child: ChildProcess;
  readonly lines: string[] = [];
  readonly exited: Promise<number | null>;
  private waiters: (() => void)[] = [];

  /**
   * @param env the test's environment; the part logs at `PART_LOG_LEVEL` (default info: what the tests
   *   wait for), not at the test's own LOG_LEVEL
   * @param wrap a command the part runs under, given node's command line as its last arguments (for
   *   example `unshare -m sh -c '… exec "$@"' sh`)
   */
  constructor(
    env: Record<string, string>,
    readonly side: 'response' | 'request',
    readonly part: 'api' | 'worker' | 'beat',
    wrap: readonly string[] = [],
  ) {
    const [command, ...args] = [...wrap, process.execPath, '--import', 'tsx', 'src/cli/main.ts', side, part];
    this.child = spawn(command as string, args, {
      cwd: REPO_ROOT,
      env: { ...process.env, ...sideEnv(env, side), LOG_LEVEL: env.PART_LOG_LEVEL ?? 'info', NODE_ENV: 'test' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let buffered = '';
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      const parts = buffered.split('\n');
      buffered = parts.pop() ?? '';
      for (const p of parts) if (p.trim() !== '') this.lines.push(p);
      for (const w of this.waiters.splice(0)) w();
    };
    this.child.stdout?.on('data', onData);
    this.child.stderr?.on('data', onData);
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
  }

  get pid(): number {
    return this.child.pid as number;
  }

  /** The `msg` of each JSON log line (other lines as they are). */
  messages(from = 0): string[] {
    return this.lines.slice(from).map((l) => {
      try {
        return String((JSON.parse(l) as { msg?: unknown }).msg ?? l);
      } catch {
        return l;
      }
    });
  }

  /** Resolves with the index of the first line from `from` whose message matches `re`. */
  async waitForLine(re: RegExp, timeoutMs = 20_000, from = 0): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.messages(from).findIndex((m) => re.test(m));
      if (i >= 0) return from + i;
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new Error(`netsync ${this.side} ${this.part} exited before logging ${re}:\n${this.lines.join('\n')}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        const tail = this.lines.slice(-15).join('\n');
        throw new Error(
          `netsync ${this.side} ${this.part} did not log ${re} within ${timeoutMs} ms; its last lines:\n${tail}`,
        );
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Generous: on a loaded 2-core machine a tsx start-up can take many seconds. */
  ready(timeoutMs = 60_000): Promise<number> {
    return this.waitForLine(/ ready$/, timeoutMs);
  }

  /** SIGKILL: no shutdown code runs, as in a power cut or an OOM kill. */
  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited;
  }

  /** SIGTERM and wait for the clean exit. */
  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    await this.exited;
  }
}

/** The Response tables a backup holds, in an order that inserts what a row refers to first. */
const RESPONSE_TABLES = [
  'profile_types',
  'users',
  'settings',
  'outbox',
  'export_streams',
  'export_batches',
  'exchange_generation',
] as const;

export type ResponseBackup = Record<(typeof RESPONSE_TABLES)[number], Record<string, unknown>[]>;

/** Every row of the Response database: a backup, as pg_dump or a copy of the SQLite file would take it. */
export async function backupResponse(db: Kysely<ResponseDatabase>): Promise<ResponseBackup> {
  const backup = {} as ResponseBackup;
  for (const table of RESPONSE_TABLES) backup[table] = await db.selectFrom(table).selectAll().execute();
  return backup;
}

/**
 * Puts a backup back, in one transaction: the Response database goes back in time, generation id and
 * counters included, as after restoring a dump or the SQLite file.
 */
export async function restoreResponse(db: Kysely<ResponseDatabase>, backup: ResponseBackup): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const k = trx as unknown as Kysely<Record<string, Record<string, unknown>>>;
    for (const table of [...RESPONSE_TABLES].reverse()) await k.deleteFrom(table).execute();
    for (const table of RESPONSE_TABLES) {
      const rows = backup[table];
      for (let i = 0; i < rows.length; i += 200)
        await k
          .insertInto(table)
          .values(rows.slice(i, i + 200))
          .execute();
    }
  });
}
