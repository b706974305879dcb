import fs from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import {
  CompiledQuery,
  type DatabaseConnection,
  Kysely,
  type Migration,
  Migrator,
  PostgresDialect,
  SqliteAdapter,
  type SqliteDatabase,
  SqliteDialect,
  SqliteDriver,
  sql,
} from 'kysely';
import pg from 'pg';
import Cursor from 'pg-cursor';
import { within } from './within.js';

export type Dialect = 'sqlite' | 'postgres';

export interface Db<Schema> {
  readonly kysely: Kysely<Schema>;
  readonly dialect: Dialect;
  /** A short description safe to log (no password). */
  readonly describe: string;
  /** The PostgreSQL schema the tables live in, when the URL named one. */
  readonly schema?: string;
  close(): Promise<void>;
}

/**
 * Opens `sqlite:<file>` or `postgres://...`. A `?schema=name` on a PostgreSQL URL puts every table in
 * that schema (created if missing), which is how tests and side-by-side suites stay apart.
 */
export async function openDb<Schema>(url: string): Promise<Db<Schema>> {
  if (url.startsWith('sqlite:')) return openSqlite<Schema>(url.slice('sqlite:'.length));
  return openPostgres<Schema>(url);
}

function openSqlite<Schema>(file: string): Db<Schema> {
  if (file !== ':memory:') fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const database = new SQLite(file);
  // WAL lets readers run beside one writer; busy_timeout makes writers from several processes queue
  // instead of failing. Every write transaction starts with a write, so the timeout always applies.
  database.pragma('busy_timeout = 10000');
  useWal(database);
  database.pragma('synchronous = NORMAL');
  database.pragma('foreign_keys = ON');
  const kysely = new Kysely<Schema>({ dialect: new SqliteDialect({ database: withStatementCache(database) }) });
  const db: Db<Schema> = { kysely, dialect: 'sqlite', describe: `sqlite:${file}`, close: () => kysely.destroy() };
  sqliteOf.set(db, database);
  return db;
}

/**
 * Kysely prepares every query it runs, and better-sqlite3 compiles the SQL on every prepare: a quarter
 * of a password change's cost. Kysely writes the same text for the same query shape, so prepared
 * statements are kept by their text (the most recently used `size`). A statement still being iterated
 * (a stream) is busy; a query of the same text meanwhile gets a statement of its own.
 */
function withStatementCache(database: SQLite.Database, size = 500): SqliteDatabase {
  const cache = new Map<string, SQLite.Statement>();
  return {
    close: () => database.close(),
    prepare(text: string) {
      const kept = cache.get(text);
      if (kept?.busy) return database.prepare(text);
      if (kept) {
        cache.delete(text); // re-inserted: the map's order is the order of use
        cache.set(text, kept);
        return kept;
      }
      const statement = database.prepare(text);
      cache.set(text, statement);
      if (cache.size > size) cache.delete(cache.keys().next().value as string);
      return statement;
    },
  };
}

/**
 * Switching a file to WAL needs it to itself, and SQLite answers SQLITE_BUSY at once rather than wait
 * (busy_timeout does not apply), so processes opening a new file together would now and then fail with
 * "database is locked". WAL, once set, stays with the file, so a few short retries always settle it.
 */
function useWal(database: SQLite.Database): void {
  for (let attempt = 1; ; attempt++) {
    try {
      database.pragma('journal_mode = WAL');
      return;
    } catch (err) {
      if ((err as { code?: string }).code !== 'SQLITE_BUSY' || attempt >= 200) throw err;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5); // a 5 ms pause; only at open
    }
  }
}

/** The SQLite connection under each SQLite Db, for migrate(). */
const sqliteOf = new WeakMap<object, SQLite.Database>();

/**
 * For migrations on SQLite: Kysely runs them outside any transaction there (its adapter says SQLite has
 * no transactional DDL, which it has), so two processes starting at once both read "none ran" and both
 * run them ("table already exists"). This dialect runs the whole migration in one transaction that
 * takes the write lock at BEGIN: the second process waits (busy_timeout), then finds nothing to do.
 */
class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }
}

class TransactionalDdlSqliteAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true;
  }
}

class MigrationSqliteDialect extends SqliteDialect {
  constructor(private readonly database: SQLite.Database) {
    super({ database });
  }
  override createDriver() {
    return new ImmediateSqliteDriver({ database: this.database });
  }
  override createAdapter() {
    return new TransactionalDdlSqliteAdapter();
  }
}

async function openPostgres<Schema>(url: string): Promise<Db<Schema>> {
  const u = new URL(url);
  const schema = u.searchParams.get('schema');
  u.searchParams.delete('schema');
  if (schema !== null && !/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
    throw new Error(`database URL: schema "${schema}" must be lower-case letters, digits and "_"`);
  }
  if (schema) {
    const admin = new pg.Client({ connectionString: u.toString() });
    await admin.connect();
    try {
      await admin.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    } finally {
      await admin.end();
    }
  }
  const pool = new pg.Pool({
    connectionString: u.toString(),
    max: 10,
    ...(schema ? { options: `-c search_path=${schema}` } : {}),
  });
  // An idle client that loses its server emits 'error'; without a listener the process would die.
  pool.on('error', () => undefined);
  const kysely = new Kysely<Schema>({ dialect: new PostgresDialect({ pool, cursor: Cursor }) });
  u.password = u.password ? '***' : '';
  return {
    kysely,
    dialect: 'postgres',
    describe: u.toString(),
    ...(schema ? { schema } : {}),
    close: () => kysely.destroy(),
  };
}

/**
 * Runs the given migrations in name order; safe to call from several processes at once.
 *
 * Kysely's migrator lists every table of the whole PostgreSQL database and resolves each by name
 * (`pg_get_serial_sequence`): a schema that someone else drops at that moment (another netsync on a shared
 * server, a test suite cleaning up) fails the listing with 3F000 "schema does not exist", though nothing of
 * ours is wrong. That listing is retried; any other error is not.
 */
export async function migrate<Schema>(db: Db<Schema>, migrations: Record<string, Migration>): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await migrateOnce(db, migrations);
    } catch (err) {
      if ((err as { code?: string }).code !== '3F000' || attempt >= 5) throw err;
    }
  }
}

async function migrateOnce<Schema>(db: Db<Schema>, migrations: Record<string, Migration>): Promise<void> {
  const database = sqliteOf.get(db);
  // Never destroyed: that would close the connection it shares with db.kysely.
  const migrationDb = database ? new Kysely<unknown>({ dialect: new MigrationSqliteDialect(database) }) : db.kysely;
  const migrator = new Migrator({
    db: migrationDb,
    provider: { getMigrations: async () => migrations },
    // Named explicitly: Kysely would otherwise find another schema's migration tables and skip its own.
    ...(db.schema ? { migrationTableSchema: db.schema } : {}),
  });
  const { error } = await migrator.migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error(String(error));
}

/** `SELECT 1`: true when the database answers within the time given. */
export async function pingDb<Schema>(db: Db<Schema>, timeoutMs = 1000): Promise<boolean> {
  try {
    return (
      (await within(
        sql`select 1`.execute(db.kysely).then(() => true),
        timeoutMs,
      )) ?? false
    );
  } catch {
    return false;
  }
}

export { nowIso } from './time.js';
