import type { Kysely, Selectable } from 'kysely';
import { startsWith } from '../../platform/sql.js';
import type { RequestDatabase, SettingsTable } from '../db/schema.js';

const COLUMNS = ['id', 'key', 'value', 'version', 'created_at', 'updated_at', 'synced_at'] as const;

/** A live synced setting; `value` is the JSON text as synced. */
export type SyncedSettingRow = Pick<Selectable<SettingsTable>, (typeof COLUMNS)[number]>;

/** One page of live settings in key order, only those whose key starts with `prefix` when given. */
export function listSettings(
  db: Kysely<RequestDatabase>,
  opts: { limit: number; offset: number; prefix?: string },
): Promise<SyncedSettingRow[]> {
  let q = db.selectFrom('settings').select(COLUMNS).where('deleted_at', 'is', null);
  if (opts.prefix) q = q.where(startsWith('key', opts.prefix));
  return q.orderBy('key').orderBy('id').limit(opts.limit).offset(opts.offset).execute();
}

/** The live setting with this key. */
export const findSetting = (db: Kysely<RequestDatabase>, key: string): Promise<SyncedSettingRow | undefined> =>
  db
    .selectFrom('settings')
    .select(COLUMNS)
    .where('key', '=', key)
    .where('deleted_at', 'is', null)
    // Newest first: while a key moves from a deleted setting to a new one, both rows may be held.
    .orderBy('updated_at', 'desc')
    .executeTakeFirst();
