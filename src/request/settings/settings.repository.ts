import type { Kysely, Selectable } from 'kysely';
import { type KeyOf, keyset, type PageRequest, prefixBound } from '../../platform/pagination.js';
import type { RequestDatabase, SettingsTable } from '../db/schema.js';

const COLUMNS = ['id', 'key', 'value', 'version', 'created_at', 'updated_at', 'synced_at'] as const;

/** A live synced setting; `value` is the JSON text as synced. */
export type SyncedSettingRow = Pick<Selectable<SettingsTable>, (typeof COLUMNS)[number]>;

/** Settings are listed by key, then id: while a key moves to a new setting both rows may be held. */
export const SETTING_ORDER = keyset('settings', ['text', 'text']);
export const settingKey = (s: Pick<SyncedSettingRow, 'key' | 'id'>): KeyOf<typeof SETTING_ORDER.parts> => [s.key, s.id];

/**
 * One page of live settings in key order, `page.limit + 1` rows at most (the extra one says another page
 * follows); only those whose key starts with `prefix` when given. Both are ranges of the live-key index
 * (migration 0008).
 */
export function listSettingsQuery(
  db: Kysely<RequestDatabase>,
  f: { prefix?: string | undefined },
  page: PageRequest<KeyOf<typeof SETTING_ORDER.parts>>,
) {
  let q = db.selectFrom('settings').select(COLUMNS).where('deleted_at', 'is', null);
  if (f.prefix) {
    const to = prefixBound(f.prefix);
    // One lower bound only: SQLite ranges an index by one of them and filters by the other.
    if (!page.after || page.after[0] < f.prefix) q = q.where('key', '>=', f.prefix);
    if (to !== undefined) q = q.where('key', '<', to);
  }
  const { after } = page;
  if (after) q = q.where((eb) => eb(eb.refTuple('key', 'id'), '>', eb.tuple(after[0], after[1])));
  return q
    .orderBy('key')
    .orderBy('id')
    .limit(page.limit + 1)
    .offset(page.offset);
}

export const listSettings = (...args: Parameters<typeof listSettingsQuery>) => listSettingsQuery(...args).execute();

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
