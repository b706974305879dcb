import { randomUUID } from 'node:crypto';
import type { Kysely, Selectable } from 'kysely';
import type { SettingRecord } from '../../exchange/index.js';
import { nowIso } from '../../platform/db.js';
import { PAGE_ROWS, pagesOf } from '../../platform/pages.js';
import { type KeyOf, keyset, type PageRequest, prefixBound } from '../../platform/pagination.js';
import type { ResponseDatabase, SettingsTable } from '../db/schema.js';

export type SettingRow = Selectable<SettingsTable>;

/** The exchange record of a setting: its whole current state, deletion included. */
export function settingRecord(row: SettingRow): SettingRecord {
  return {
    id: row.id,
    key: row.key,
    value: JSON.parse(row.value) as unknown,
    created_at: row.created_at,
    updated_at: row.updated_at,
    deleted_at: row.deleted_at,
    version: row.version,
  };
}

export const findSetting = (db: Kysely<ResponseDatabase>, key: string) =>
  db.selectFrom('settings').selectAll().where('key', '=', key).where('deleted_at', 'is', null).executeTakeFirst();

/** Settings are listed by key, which is unique among live settings (platform/pagination.ts). */
export const SETTING_ORDER = keyset('settings', ['text']);
export const settingKey = (s: Pick<SettingRow, 'key'>): KeyOf<typeof SETTING_ORDER.parts> => [s.key];

/**
 * One page of live settings in key order, `page.limit + 1` rows at most (the extra one says another page
 * follows); only keys starting with `prefix` when given. Both are ranges of the live-key index.
 */
export function listSettingsQuery(
  db: Kysely<ResponseDatabase>,
  f: { prefix?: string | undefined },
  page: PageRequest<KeyOf<typeof SETTING_ORDER.parts>>,
) {
  let q = db.selectFrom('settings').selectAll().where('deleted_at', 'is', null);
  if (f.prefix) {
    const to = prefixBound(f.prefix);
    // One lower bound only: SQLite ranges an index by one of them and filters by the other.
    if (!page.after || page.after[0] < f.prefix) q = q.where('key', '>=', f.prefix);
    if (to !== undefined) q = q.where('key', '<', to);
  }
  if (page.after) q = q.where('key', '>', page.after[0]);
  return q
    .orderBy('key')
    .limit(page.limit + 1)
    .offset(page.offset);
}

export const listSettings = (...args: Parameters<typeof listSettingsQuery>) => listSettingsQuery(...args).execute();

/**
 * Inserts a new setting (version 1) and returns its row.
 * @throws the database's unique violation when a live setting has that key
 */
export async function insertSetting(db: Kysely<ResponseDatabase>, key: string, value: unknown): Promise<SettingRow> {
  const now = nowIso();
  const row: SettingRow = {
    id: randomUUID(),
    key,
    value: JSON.stringify(value),
    created_at: now,
    updated_at: now,
    deleted_at: null,
    version: 1,
  };
  await db.insertInto('settings').values(row).execute();
  return row;
}

/**
 * Changes a live setting's value (or, with `deleted`, turns it into a tombstone) and bumps its version.
 * Called first in its transaction, the update holds the row's lock before anything is read.
 * @returns the row as it now is, or undefined when no live setting has that key
 */
export function updateSetting(
  db: Kysely<ResponseDatabase>,
  key: string,
  change: { value: unknown } | { deleted: true },
): Promise<SettingRow | undefined> {
  const now = nowIso();
  return db
    .updateTable('settings')
    .set((eb) => ({
      ...('value' in change ? { value: JSON.stringify(change.value) } : { deleted_at: now }),
      updated_at: now,
      version: eb('version', '+', 1),
    }))
    .where('key', '=', key)
    .where('deleted_at', 'is', null)
    .returningAll()
    .executeTakeFirst();
}

/** Every setting, tombstones included, as exchange-record lines, a page of them at a time. */
export async function* settingLines(db: Kysely<ResponseDatabase>): AsyncGenerator<string[]> {
  yield* pagesOf(db.selectFrom('settings').selectAll().orderBy('id').stream(PAGE_ROWS), (r) =>
    JSON.stringify(settingRecord(r)),
  );
}
