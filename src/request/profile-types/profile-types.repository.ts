import type { Kysely, Selectable } from 'kysely';
import { containsIgnoringCase } from '../../platform/sql.js';
import type { ProfileTypesTable, RequestDatabase } from '../db/schema.js';

const COLUMNS = ['id', 'name', 'description', 'version', 'created_at', 'updated_at', 'synced_at'] as const;

/** A live synced profile type. */
export type SyncedProfileTypeRow = Pick<Selectable<ProfileTypesTable>, (typeof COLUMNS)[number]>;

/** One page of live profile types in name order, only those whose name contains `name` (any case) when given. */
export function listProfileTypes(
  db: Kysely<RequestDatabase>,
  opts: { limit: number; offset: number; name?: string },
): Promise<SyncedProfileTypeRow[]> {
  let q = db.selectFrom('profile_types').select(COLUMNS).where('deleted_at', 'is', null);
  if (opts.name) q = q.where(containsIgnoringCase('name', opts.name));
  return q.orderBy('name').orderBy('id').limit(opts.limit).offset(opts.offset).execute();
}

export const findProfileType = (db: Kysely<RequestDatabase>, id: string): Promise<SyncedProfileTypeRow | undefined> =>
  db
    .selectFrom('profile_types')
    .select(COLUMNS)
    .where('id', '=', id)
    .where('deleted_at', 'is', null)
    .executeTakeFirst();
