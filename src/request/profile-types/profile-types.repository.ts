import type { Kysely, Selectable } from 'kysely';
import { type KeyOf, keyset, type PageRequest } from '../../platform/pagination.js';
import { containsIgnoringCase } from '../../platform/sql.js';
import type { ProfileTypesTable, RequestDatabase } from '../db/schema.js';

const COLUMNS = ['id', 'name', 'description', 'version', 'created_at', 'updated_at', 'synced_at'] as const;

/** A live synced profile type. */
export type SyncedProfileTypeRow = Pick<Selectable<ProfileTypesTable>, (typeof COLUMNS)[number]>;

/** Profile types are listed by name, then id (platform/pagination.ts). */
export const PROFILE_TYPE_ORDER = keyset('profile-types', ['text', 'text']);
export const profileTypeKey = (
  p: Pick<SyncedProfileTypeRow, 'name' | 'id'>,
): KeyOf<typeof PROFILE_TYPE_ORDER.parts> => [p.name, p.id];

/**
 * One page of live profile types in name order, `page.limit + 1` rows at most (the extra one says
 * another page follows); only those whose name contains `name` (any case) when given.
 */
export function listProfileTypesQuery(
  db: Kysely<RequestDatabase>,
  f: { name?: string | undefined },
  page: PageRequest<KeyOf<typeof PROFILE_TYPE_ORDER.parts>>,
) {
  let q = db.selectFrom('profile_types').select(COLUMNS).where('deleted_at', 'is', null);
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

export const findProfileType = (db: Kysely<RequestDatabase>, id: string): Promise<SyncedProfileTypeRow | undefined> =>
  db
    .selectFrom('profile_types')
    .select(COLUMNS)
    .where('id', '=', id)
    .where('deleted_at', 'is', null)
    .executeTakeFirst();
