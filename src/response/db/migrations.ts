import { type Kysely, type Migration, sql } from 'kysely';
import { newGeneration, STREAMS, usernameKey } from '../../exchange/index.js';
import type { Dialect } from '../../platform/db.js';

// Migrations are plain objects kept in code, so the compiled package carries them and both dialects
// run the same definitions. Names sort in the order they run.
export const responseMigrations = (dialect: Dialect): Record<string, Migration> => ({
  '0001_initial': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('profile_types')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('description', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addColumn('deleted_at', 'text')
        .addColumn('version', 'integer', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('users')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('username', 'text', (c) => c.notNull())
        .addColumn('email', 'text')
        .addColumn('hashed_password', 'text', (c) => c.notNull())
        .addColumn('is_admin', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('is_active', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('profile_type_id', 'text', (c) => c.references('profile_types.id'))
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addColumn('deleted_at', 'text')
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('password_version', 'integer', (c) => c.notNull())
        .addColumn('password_changed_at', 'text', (c) => c.notNull())
        .execute();
      // A username is unique among live users; a deleted user's name may be taken again.
      await sql`CREATE UNIQUE INDEX users_username_live ON users (username) WHERE deleted_at IS NULL`.execute(db);
      await db.schema
        .createTable('settings')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('key', 'text', (c) => c.notNull())
        .addColumn('value', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addColumn('deleted_at', 'text')
        .addColumn('version', 'integer', (c) => c.notNull())
        .execute();
      await sql`CREATE UNIQUE INDEX settings_key_live ON settings (key) WHERE deleted_at IS NULL`.execute(db);
      await db.schema
        .createTable('outbox')
        .addColumn('id', 'integer', (c) =>
          dialect === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey().generatedByDefaultAsIdentity(),
        )
        .addColumn('stream', 'text', (c) => c.notNull())
        .addColumn('payload', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('batch_seq', 'integer')
        .execute();
      await db.schema.createIndex('outbox_stream_batch').on('outbox').columns(['stream', 'batch_seq', 'id']).execute();
      await db.schema
        .createTable('export_streams')
        .addColumn('stream', 'text', (c) => c.primaryKey())
        .addColumn('last_seq', 'integer', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('export_batches')
        .addColumn('stream', 'text', (c) => c.notNull())
        .addColumn('seq', 'integer', (c) => c.notNull())
        .addColumn('count', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('written_at', 'text')
        .addPrimaryKeyConstraint('export_batches_pk', ['stream', 'seq'])
        .execute();
      await db.schema
        .createIndex('export_batches_unwritten')
        .on('export_batches')
        .columns(['stream', 'written_at'])
        .execute();
      await db
        .insertInto('export_streams' as never)
        .values(STREAMS.map((stream) => ({ stream, last_seq: 0 })) as never)
        .execute();
    },
  },
  '0002_profile_type_names': {
    async up(db: Kysely<unknown>) {
      // A profile type's name is unique among live types; users are counted by type before a delete.
      await sql`CREATE UNIQUE INDEX profile_types_name_live ON profile_types (name) WHERE deleted_at IS NULL`.execute(
        db,
      );
      await db.schema.createIndex('users_profile_type').on('users').column('profile_type_id').execute();
    },
  },
  '0003_batch_requires': {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('export_batches').addColumn('requires', 'text').execute();
    },
  },
  '0004_generation': {
    async up(db: Kysely<unknown>) {
      // One row: this database's generation (exchange/generation.ts), made with the database. A restore
      // from a backup brings back an old row, which is why `netsync generation new` (or the exporter,
      // when it finds its own files ahead of its counters) replaces it. `snapshots_at` is null while a new
      // generation's snapshots are still to be written, before any of its batches: a fresh database has
      // nothing to re-base on, so it starts with them done.
      await db.schema
        .createTable('exchange_generation')
        .addColumn('generation', 'text', (c) => c.primaryKey())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('snapshots_at', 'text')
        .execute();
      const now = new Date();
      await db
        .insertInto('exchange_generation' as never)
        .values({
          generation: newGeneration(now),
          created_at: now.toISOString(),
          snapshots_at: now.toISOString(),
        } as never)
        .execute();
    },
  },
  '0005_export_counters': {
    async up(db: Kysely<unknown>) {
      // Pruning deletes export_batches rows; these keep what it removed, for `netsync sync status`.
      // SQLite adds one column per statement.
      await db.schema
        .alterTable('export_streams')
        .addColumn('pruned_count', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
      await db.schema.alterTable('export_streams').addColumn('pruned_through', 'integer').execute();
    },
  },
  '0006_audit': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('audit_log')
        .addColumn('id', 'integer', (c) =>
          dialect === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey().generatedByDefaultAsIdentity(),
        )
        .addColumn('at', 'text', (c) => c.notNull())
        .addColumn('actor_id', 'text')
        .addColumn('actor_username', 'text')
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('target_type', 'text', (c) => c.notNull())
        .addColumn('target_id', 'text')
        .addColumn('details', 'text')
        .addColumn('ip', 'text')
        .addColumn('request_id', 'text')
        .execute();
      // Newest first, and pruning by age; the filters an investigation starts from: who, and on what.
      await db.schema.createIndex('audit_log_at').on('audit_log').columns(['at', 'id']).execute();
      await db.schema.createIndex('audit_log_actor').on('audit_log').columns(['actor_id', 'at']).execute();
      await db.schema
        .createIndex('audit_log_target')
        .on('audit_log')
        .columns(['target_type', 'target_id', 'at'])
        .execute();
    },
  },
  '0007_username_key': {
    async up(db: Kysely<unknown>) {
      // Usernames become unique without regard to case or Unicode form (exchange/usernames.ts): each row
      // gets its comparison key, computed here as the application computes it, and the unique index
      // moves from the name to the key. Live names that already clash ("John" and "john") stop the
      // upgrade, naming them: which account keeps the name is for an operator to decide.
      await db.schema.alterTable('users').addColumn('username_key', 'text').execute();
      const users = db as unknown as Kysely<{ users: { id: string; username: string; deleted_at: string | null } }>;
      const rows = await users.selectFrom('users').select(['id', 'username', 'deleted_at']).execute();
      const live = new Map<string, string>();
      const clashes: string[] = [];
      for (const row of rows) {
        const key = usernameKey(row.username);
        if (row.deleted_at === null) {
          const other = live.get(key);
          if (other !== undefined) clashes.push(`"${other}" and "${row.username}"`);
          live.set(key, row.username);
        }
        await db
          .updateTable('users' as never)
          .set({ username_key: key } as never)
          .where('id' as never, '=', row.id as never)
          .execute();
      }
      if (clashes.length > 0) {
        throw new Error(
          `live users whose names differ only in case or form: ${clashes.join(', ')}; rename or delete one of each with the previous version, then upgrade`,
        );
      }
      await sql`DROP INDEX users_username_live`.execute(db);
      await sql`CREATE UNIQUE INDEX users_username_key_live ON users (username_key) WHERE deleted_at IS NULL`.execute(
        db,
      );
    },
  },
  '0009_keyset_indexes': {
    async up(db: Kysely<unknown>) {
      // Lists are read by key (platform/pagination.ts): each order and each filter a list offers is an
      // index whose columns end with the list's sort key, so any page is an index range, never a scan
      // or a sort. Users are listed by name, settings by key, audit rows newest first (at, id). A live
      // user's username key is unique, so it alone orders users (its unique index serves the whole
      // list) and the filters' indexes end with it. On PostgreSQL the text keys compare in code point order ("C"), as SQLite's
      // BINARY does: both dialects page alike, and a prefix is a range of the index.
      if (dialect === 'postgres') {
        await sql`ALTER TABLE users ALTER COLUMN username_key TYPE text COLLATE "C"`.execute(db);
        await sql`ALTER TABLE settings ALTER COLUMN key TYPE text COLLATE "C"`.execute(db);
      }
      const live = 'WHERE deleted_at IS NULL';
      for (const [name, columns] of [
        ['users_live_by_email', 'lower(email), username_key'],
        ['users_live_by_type', 'profile_type_id, username_key'],
        ['users_live_by_active', 'is_active, username_key'],
      ] as const) {
        await sql`CREATE INDEX ${sql.raw(name)} ON users (${sql.raw(columns)}) ${sql.raw(live)}`.execute(db);
      }
      await sql`CREATE INDEX profile_types_live_by_name ON profile_types (name, id) WHERE deleted_at IS NULL`.execute(
        db,
      );
      // The actor and target indexes gain the id, so they give the (at, id) order on PostgreSQL too
      // (SQLite's already end with the rowid, which id is).
      await sql`DROP INDEX audit_log_actor`.execute(db);
      await sql`DROP INDEX audit_log_target`.execute(db);
      for (const [name, columns] of [
        ['audit_log_actor', 'actor_id, at, id'],
        ['audit_log_actor_name', 'actor_username, at, id'],
        ['audit_log_target', 'target_type, target_id, at, id'],
        ['audit_log_target_type', 'target_type, at, id'],
        ['audit_log_action', 'action, at, id'],
      ] as const) {
        await sql`CREATE INDEX ${sql.raw(name)} ON audit_log (${sql.raw(columns)})`.execute(db);
      }
    },
  },
  '0010_export_snapshots': {
    async up(db: Kysely<unknown>) {
      // Per snapshot stream, the snapshot last written: a scheduled export whose stream has not changed
      // since (same generation, same stamps, same key, the same file still in place) writes nothing.
      await db.schema
        .createTable('export_snapshots')
        .addColumn('stream', 'text', (c) => c.primaryKey())
        .addColumn('generation', 'text', (c) => c.notNull())
        .addColumn('covers', 'text', (c) => c.notNull())
        .addColumn('key_id', 'text', (c) => c.notNull())
        .addColumn('identity', 'text', (c) => c.notNull())
        .addColumn('written_at', 'text', (c) => c.notNull())
        .execute();
    },
  },
});
