import { type Kysely, type Migration, PostgresAdapter, sql } from 'kysely';
import { STREAMS, usernameKey } from '../../exchange/index.js';

export const requestMigrations: Record<string, Migration> = {
  '0001_initial': {
    async up(db: Kysely<unknown>) {
      const common = <B extends ReturnType<Kysely<unknown>['schema']['createTable']>>(t: B) =>
        t
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .addColumn('deleted_at', 'text')
          .addColumn('version', 'integer', (c) => c.notNull())
          .addColumn('synced_at', 'text', (c) => c.notNull());
      await common(
        db.schema
          .createTable('users')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('username', 'text', (c) => c.notNull())
          .addColumn('email', 'text')
          .addColumn('is_active', 'integer', (c) => c.notNull())
          .addColumn('is_admin', 'integer', (c) => c.notNull())
          .addColumn('profile_type_id', 'text'),
      ).execute();
      // Not unique: during a rename two synced rows may briefly share a name; login takes the live one.
      await db.schema.createIndex('users_username').on('users').column('username').execute();
      await db.schema
        .createTable('credentials')
        .addColumn('user_id', 'text', (c) => c.primaryKey())
        .addColumn('hashed_password', 'text', (c) => c.notNull())
        .addColumn('password_version', 'integer', (c) => c.notNull())
        .addColumn('changed_at', 'text', (c) => c.notNull())
        .addColumn('synced_at', 'text', (c) => c.notNull())
        .execute();
      await common(
        db.schema
          .createTable('profile_types')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('description', 'text'),
      ).execute();
      await common(
        db.schema
          .createTable('settings')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('key', 'text', (c) => c.notNull())
          .addColumn('value', 'text', (c) => c.notNull()),
      ).execute();
      await db.schema.createIndex('settings_key').on('settings').column('key').execute();
      await db.schema
        .createTable('import_streams')
        .addColumn('stream', 'text', (c) => c.primaryKey())
        .addColumn('last_seq', 'integer', (c) => c.notNull())
        .addColumn('snapshot_seq', 'integer', (c) => c.notNull())
        .addColumn('last_file', 'text')
        .addColumn('last_applied_at', 'text')
        .addColumn('waiting_for', 'integer')
        .addColumn('waiting_since', 'text')
        .addColumn('newest_seen', 'integer', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('quarantine_log')
        .addColumn('file', 'text', (c) => c.notNull())
        .addColumn('stream', 'text', (c) => c.notNull())
        .addColumn('code', 'text', (c) => c.notNull())
        .addColumn('reason', 'text', (c) => c.notNull())
        .addColumn('quarantined_at', 'text', (c) => c.notNull())
        .execute();
      await db
        .insertInto('import_streams' as never)
        .values(STREAMS.map((stream) => ({ stream, last_seq: 0, snapshot_seq: 0, newest_seen: 0 })) as never)
        .execute();
    },
  },
  '0002_refused_files': {
    async up(db: Kysely<unknown>) {
      // The exchange folder is read-only to the Request side, so a refused file stays where it is: it is
      // recorded by its name in its stream folder and its identity (device, inode, size, times), and that
      // very file is not read again. One row per file, so two importers refusing it at once log it once.
      // SQLite adds one column per statement.
      await db.schema.alterTable('quarantine_log').addColumn('name', 'text').execute();
      await db.schema.alterTable('quarantine_log').addColumn('identity', 'text').execute();
      await db.schema
        .createIndex('quarantine_log_refused')
        .on('quarantine_log')
        .columns(['stream', 'name', 'identity'])
        .unique()
        .execute();
    },
  },
  '0003_generation_and_heartbeat': {
    async up(db: Kysely<unknown>) {
      // The Response database's generation each stream follows (null until it applies its first file),
      // and a newer one seen, whose snapshot the stream waits for to re-base on (importer/generation.ts).
      await db.schema.alterTable('import_streams').addColumn('generation', 'text').execute();
      await db.schema.alterTable('import_streams').addColumn('rebase_to', 'text').execute();
      // One row: the newest heartbeat accepted (importer/heartbeat.ts) and what staleness is judged from.
      await db.schema
        .createTable('exchange_heartbeat')
        .addColumn('id', 'integer', (c) => c.primaryKey())
        .addColumn('generation', 'text')
        .addColumn('created_at', 'text')
        .addColumn('key_id', 'text')
        .addColumn('streams', 'text')
        .addColumn('seen_at', 'text')
        .addColumn('watching_since', 'text')
        .addColumn('missing', 'text')
        .addColumn('stale', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
      await db
        .insertInto('exchange_heartbeat' as never)
        .values({ id: 1 } as never)
        .execute();
    },
  },
  '0004_held_files': {
    async up(db: Kysely<unknown>) {
      // The safety valve: a users file that would remove more accounts than MAX_ACCOUNT_REMOVALS is held
      // here, not applied, until an operator confirms it. One row per file name in its stream folder (a
      // snapshot's name is reused by the next snapshot, which takes over the row and its confirmation).
      await db.schema
        .createTable('held_files')
        .addColumn('stream', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('seq', 'integer', (c) => c.notNull())
        .addColumn('identity', 'text', (c) => c.notNull())
        .addColumn('position', 'integer', (c) => c.notNull())
        .addColumn('removals', 'integer', (c) => c.notNull())
        .addColumn('max_removals', 'integer', (c) => c.notNull())
        .addColumn('held_at', 'text', (c) => c.notNull())
        .addColumn('confirmed_at', 'text')
        .addPrimaryKeyConstraint('held_files_pk', ['stream', 'name'])
        .execute();
    },
  },
  '0005_last_key_id': {
    async up(db: Kysely<unknown>) {
      // Which key signed the last file applied per stream: after a rotation it shows whether the new key
      // is in use. Null until a file is applied.
      await db.schema.alterTable('import_streams').addColumn('last_key_id', 'text').execute();
    },
  },
  '0006_username_key': {
    async up(db: Kysely<unknown>) {
      // Logins find the account by its name's comparison key (exchange/usernames.ts), in any case or
      // Unicode form. The key is this side's own, computed on import, so it is not in the exchange
      // format. Not unique, as the name was not: while a rename syncs, two rows may share it.
      await db.schema.alterTable('users').addColumn('username_key', 'text').execute();
      const users = db as unknown as Kysely<{ users: { id: string; username: string; username_key: string } }>;
      for (const row of await users.selectFrom('users').select(['id', 'username']).execute()) {
        await users
          .updateTable('users')
          .set({ username_key: usernameKey(row.username) })
          .where('id', '=', row.id)
          .execute();
      }
      await db.schema.dropIndex('users_username').execute();
      await db.schema.createIndex('users_username_key').on('users').column('username_key').execute();
    },
  },
  '0007_sync_history': {
    async up(db: Kysely<unknown>) {
      // Samples of each stream's sync lag, at most one per stream and minute (request/sync/sync-history.ts),
      // for the console's chart; rows older than a day are pruned by the importer.
      await db.schema
        .createTable('sync_history')
        .addColumn('minute', 'text', (c) => c.notNull())
        .addColumn('stream', 'text', (c) => c.notNull())
        .addColumn('lag_s', 'double precision')
        .addColumn('behind', 'integer', (c) => c.notNull())
        .addPrimaryKeyConstraint('sync_history_pk', ['minute', 'stream'])
        .execute();
    },
  },
  '0008_keyset_indexes': {
    async up(db: Kysely<unknown>) {
      // Lists are read by key (platform/pagination.ts): users by name (username_key, id), settings by
      // key, profile types by name, each with the id as the tie-break (synced rows may briefly share a
      // name or key), from an index over live rows, so any page is an index range. On PostgreSQL the
      // text keys compare in code point order ("C"), as SQLite's BINARY does.
      if (db.getExecutor().adapter instanceof PostgresAdapter) {
        await sql`ALTER TABLE users ALTER COLUMN username_key TYPE text COLLATE "C"`.execute(db);
        await sql`ALTER TABLE settings ALTER COLUMN key TYPE text COLLATE "C"`.execute(db);
      }
      // They replace the indexes of the name and key alone, which also served logins and reads of one
      // setting (both ask for live rows only): beside them PostgreSQL read by the shorter index and
      // sorted each name's rows by id.
      await sql`DROP INDEX users_username_key`.execute(db);
      await sql`DROP INDEX settings_key`.execute(db);
      await sql`CREATE INDEX users_live_by_name ON users (username_key, id) WHERE deleted_at IS NULL`.execute(db);
      await sql`CREATE INDEX settings_live_by_key ON settings (key, id) WHERE deleted_at IS NULL`.execute(db);
      await sql`CREATE INDEX profile_types_live_by_name ON profile_types (name, id) WHERE deleted_at IS NULL`.execute(
        db,
      );
    },
  },
};
