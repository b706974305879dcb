import { randomUUID } from 'node:crypto';
import type { Kysely, Selectable } from 'kysely';
import type { ProfileTypeRecord } from '../../exchange/index.js';
import { nowIso } from '../../platform/db.js';
import { PAGE_ROWS, pagesOf } from '../../platform/pages.js';
import { type KeyOf, keyset, type PageRequest } from '../../platform/pagination.js';
import { containsIgnoringCase } from '../../platform/sql.js';
import type { ProfileTypesTable, ResponseDatabase } from '../db/schema.js';

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

/** Profile types are listed by name, then id (platform/pagination.ts). */
export const PROFILE_TYPE_ORDER = keyset('profile-types', ['text', 'text']);
export const profileTypeKey = (p: Pick<ProfileTypeRow, 'name' | 'id'>): KeyOf<typeof PROFILE_TYPE_ORDER.parts> => [
  p.name,
  p.id,
];

/** One page of live profile types in name order, `page.limit + 1` rows at most; `name`: names containing it. */
export function listProfileTypesQuery(
  db: Kysely<ResponseDatabase>,
  f: { name?: string | undefined },
  page: PageRequest<KeyOf<typeof PROFILE_TYPE_ORDER.parts>>,
) {
  let q = db.selectFrom('profile_types').selectAll().where('deleted_at', 'is', null);
  if (f.name) q = q.where(containsIgnoringCase('name', f.name));
  const { after } = page;
  if (after) q = q.where((eb) => eb(eb.refTuple('name', 'id'), '>', eb.tuple(after[0], after[1])));
  return q
    .orderBy('name')
    .orderBy('id')
    .limit(page.limit + 1)
    .offset(page.offset);
}

export const listProfileTypes = (...args: Parameters<typeof listProfileTypesQuery>) =>
  listProfileTypesQuery(...args).execute();

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
 * Inserts a new profile type (version 1) and returns its row.
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
  await db.insertInto('profile_types').values(row).execute();
  return row;
}

export interface ProfileTypePatch {
  name?: string;
  description?: string | null;
}

/**
 * Changes a live profile type (or, with `deleted`, turns it into a tombstone) and bumps its version.
 * @returns the row as it now is, or undefined when no live type has that id
 * @throws the database's unique violation when the new name is taken
 */
export function updateProfileType(
  db: Kysely<ResponseDatabase>,
  id: string,
  change: ProfileTypePatch | { deleted: true },
): Promise<ProfileTypeRow | undefined> {
  const now = nowIso();
  const set: Partial<ProfileTypeRow> =
    'deleted' in change
      ? { deleted_at: now }
      : {
          ...(change.name !== undefined ? { name: change.name } : {}),
          ...(change.description !== undefined ? { description: change.description } : {}),
        };
  return db
    .updateTable('profile_types')
    .set((eb) => ({ ...set, updated_at: now, version: eb('version', '+', 1) }))
    .where('id', '=', id)
    .where('deleted_at', 'is', null)
    .returningAll()
    .executeTakeFirst();
}

/** How many live users have the profile type `id`. */
export async function countUsersOfType(db: Kysely<ResponseDatabase>, id: string): Promise<number> {
  const { n } = await db
    .selectFrom('users')
    .select((eb) => eb.fn.countAll<number | string>().as('n'))
    .where('profile_type_id', '=', id)
    .where('deleted_at', 'is', null)
    .executeTakeFirstOrThrow();
  return Number(n);
}

/** Every profile type, tombstones included, as exchange-record lines, a page of them at a time. */
export async function* profileTypeLines(db: Kysely<ResponseDatabase>): AsyncGenerator<string[]> {
  yield* pagesOf(db.selectFrom('profile_types').selectAll().orderBy('id').stream(PAGE_ROWS), (r) =>
    JSON.stringify(profileTypeRecord(r)),
  );
}
