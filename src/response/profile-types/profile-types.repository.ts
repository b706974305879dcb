import { randomUUID } from 'node:crypto';
import type { Kysely, Selectable } from 'kysely';
import type { ProfileTypeRecord } from '../../exchange/index.js';
import { nowIso } from '../../platform/db.js';
import { containsIgnoringCase } from '../../platform/sql.js';
import type { ProfileTypesTable, ResponseDatabase } from '../db/schema.js';
import { appendOutbox } from '../exporter.js';

export type ProfileTypeRow = Selectable<ProfileTypesTable>;

/** The exchange record of a profile type: its whole current state, deletion included. */
export const profileTypeRecord = (row: ProfileTypeRow): ProfileTypeRecord => ({
  id: row.id,
  name: row.name,
  description: row.description,
  created_at: row.created_at,
  updated_at: row.updated_at,
  deleted_at: row.deleted_at,
  version: row.version,
});

export const findProfileType = (db: Kysely<ResponseDatabase>, id: string) =>
  db.selectFrom('profile_types').selectAll().where('id', '=', id).where('deleted_at', 'is', null).executeTakeFirst();

export function listProfileTypes(db: Kysely<ResponseDatabase>, opts: { limit: number; offset: number; name?: string }) {
  let q = db.selectFrom('profile_types').selectAll().where('deleted_at', 'is', null);
  if (opts.name) q = q.where(containsIgnoringCase('name', opts.name));
  return q.orderBy('name').orderBy('id').limit(opts.limit).offset(opts.offset).execute();
}

/**
 * Inside a transaction: true when `id` is a live profile type, which then stays live until the
 * transaction ends. The no-op update takes the row's write lock (SQLite has no SELECT ... FOR SHARE),
 * so a user cannot be given a type that a concurrent delete is removing: one of the two waits and
 * then sees the other's outcome.
 */
export async function holdLiveProfileType(trx: Kysely<ResponseDatabase>, id: string): Promise<boolean> {
  const held = await trx
    .updateTable('profile_types')
    .set((eb) => ({ version: eb.ref('version') }))
    .where('id', '=', id)
    .where('deleted_at', 'is', null)
    .executeTakeFirst();
  return Number(held.numUpdatedRows) === 1;
}

/**
 * Inserts a profile type and its export record in one transaction.
 * @throws the database's unique violation when a live type has that name
 */
export async function insertProfileType(
  db: Kysely<ResponseDatabase>,
  input: { name: string; description?: string | null },
): Promise<ProfileTypeRow> {
  const now = nowIso();
  const row: ProfileTypeRow = {
    id: randomUUID(),
    name: input.name,
    description: input.description ?? null,
    created_at: now,
    updated_at: now,
    deleted_at: null,
    version: 1,
  };
  await db.transaction().execute(async (trx) => {
    await trx.insertInto('profile_types').values(row).execute();
    await appendOutbox(trx, 'profile_types', profileTypeRecord(row));
  });
  return row;
}

/**
 * Changes a live profile type, bumps its version and records the change for export, in one transaction.
 * @returns the row as it now is, or undefined when no live type has that id
 */
export async function updateProfileType(
  db: Kysely<ResponseDatabase>,
  id: string,
  patch: { name?: string; description?: string | null },
): Promise<ProfileTypeRow | undefined> {
  return db.transaction().execute(async (trx) => {
    const row = await trx
      .updateTable('profile_types')
      .set((eb) => ({
        ...(patch.name !== undefined ? { name: patch.name } : {}),
        ...(patch.description !== undefined ? { description: patch.description } : {}),
        updated_at: nowIso(),
        version: eb('version', '+', 1),
      }))
      .where('id', '=', id)
      .where('deleted_at', 'is', null)
      .returningAll()
      .executeTakeFirst();
    if (row) await appendOutbox(trx, 'profile_types', profileTypeRecord(row));
    return row;
  });
}

class InUse extends Error {
  constructor(readonly users: number) {
    super('profile type in use');
  }
}

export type DeleteOutcome = { deleted: ProfileTypeRow } | { inUseBy: number } | undefined;

/**
 * Turns a profile type into a tombstone unless a live user has it. The type's row is written first, so
 * no concurrent change can give it to a user between the count and the commit.
 * @returns the tombstone; or how many live users have the type (nothing changed); or undefined when no
 *   live type has that id
 */
export async function deleteProfileType(db: Kysely<ResponseDatabase>, id: string): Promise<DeleteOutcome> {
  try {
    return await db.transaction().execute(async (trx) => {
      const now = nowIso();
      const row = await trx
        .updateTable('profile_types')
        .set((eb) => ({ deleted_at: now, updated_at: now, version: eb('version', '+', 1) }))
        .where('id', '=', id)
        .where('deleted_at', 'is', null)
        .returningAll()
        .executeTakeFirst();
      if (!row) return undefined;
      const { n } = await trx
        .selectFrom('users')
        .select((eb) => eb.fn.countAll<number | string>().as('n'))
        .where('profile_type_id', '=', id)
        .where('deleted_at', 'is', null)
        .executeTakeFirstOrThrow();
      if (Number(n) > 0) throw new InUse(Number(n)); // rolls the delete back
      await appendOutbox(trx, 'profile_types', profileTypeRecord(row));
      return { deleted: row };
    });
  } catch (err) {
    if (err instanceof InUse) return { inUseBy: err.users };
    throw err;
  }
}

/** Every profile type, tombstones included, as exchange-record lines, read 1000 rows at a time. */
export async function* profileTypeLines(db: Kysely<ResponseDatabase>): AsyncGenerator<string> {
  for await (const row of db.selectFrom('profile_types').selectAll().orderBy('id').stream(1000)) {
    yield JSON.stringify(profileTypeRecord(row));
  }
}
