import type { Kysely } from 'kysely';
import {
  type PasswordChangeRecord,
  type ProfileTypeRecord,
  type RecordOf,
  type SettingRecord,
  type Stream,
  type UserRecord,
  usernameKey,
} from '../../exchange/index.js';
import type { RequestDatabase } from '../db/schema.js';

type Trx = Kysely<RequestDatabase>;

type Table = 'users' | 'credentials' | 'settings' | 'profile_types';

/**
 * How records are applied. `newer`: a held row is replaced only by a higher version, the one rule that
 * makes every apply idempotent and never moves a record back. `replace`: the incoming row wins whatever
 * its version, for the snapshot a stream re-bases on when the Response database starts a new generation
 * (a restored database may hold lower versions than the ones applied from the old generation).
 */
export type ApplyMode = 'newer' | 'replace';

/**
 * Inserts rows, or replaces a held row where the incoming `version` column is higher (or always, in
 * `replace` mode). Rows are first cut to the newest per key, since one multi-row upsert may not touch a
 * row twice (PostgreSQL refuses) and the older would lose anyway. Table and column names come from the
 * callers below, never from input.
 */
async function upsertNewer<T extends Record<string, unknown>>(
  trx: Trx,
  table: Table,
  key: keyof T & string,
  version: keyof T & string,
  rows: readonly T[],
  mode: ApplyMode,
): Promise<void> {
  const newest = new Map<unknown, T>();
  for (const r of rows) {
    const seen = newest.get(r[key]);
    if (!seen || (seen[version] as number) < (r[version] as number)) newest.set(r[key], r);
  }
  const first = newest.values().next().value;
  if (first === undefined) return;
  const columns = Object.keys(first).filter((c) => c !== key);
  // Kysely cannot type a table chosen at run time; the names above are fixed by each caller.
  const db = trx as unknown as Kysely<Record<string, Record<string, unknown>>>;
  await db
    .insertInto(table)
    .values([...newest.values()])
    .onConflict((oc) => {
      const update = oc
        .column(key)
        .doUpdateSet((eb) => Object.fromEntries(columns.map((c) => [c, eb.ref(`excluded.${c}`)])));
      return mode === 'replace' ? update : update.whereRef(`${table}.${version}`, '<', `excluded.${version}`);
    })
    .execute();
}

const credentialOf = (
  userId: string,
  hashedPassword: string,
  passwordVersion: number,
  changedAt: string,
  syncedAt: string,
) => ({
  user_id: userId,
  hashed_password: hashedPassword,
  password_version: passwordVersion,
  changed_at: changedAt,
  synced_at: syncedAt,
});

async function applyPasswordChanges(
  trx: Trx,
  records: readonly PasswordChangeRecord[],
  syncedAt: string,
  mode: ApplyMode,
) {
  const rows = records.map((r) =>
    credentialOf(r.user_id, r.hashed_password, r.password_version, r.changed_at, syncedAt),
  );
  await upsertNewer(trx, 'credentials', 'user_id', 'password_version', rows, mode);
}

async function applyUsers(trx: Trx, records: readonly UserRecord[], syncedAt: string, mode: ApplyMode) {
  const users = records.map((r) => ({
    id: r.id,
    username: r.username,
    username_key: usernameKey(r.username),
    email: r.email,
    is_active: r.is_active ? 1 : 0,
    is_admin: r.is_admin ? 1 : 0,
    profile_type_id: r.profile_type_id,
    created_at: r.created_at,
    updated_at: r.updated_at,
    deleted_at: r.deleted_at,
    version: r.version,
    synced_at: syncedAt,
  }));
  await upsertNewer(trx, 'users', 'id', 'version', users, mode);
  // A user record also carries the password it had; the password's own version decides.
  const credentials = records.map((r) =>
    credentialOf(r.id, r.hashed_password, r.password_version, r.password_changed_at, syncedAt),
  );
  await upsertNewer(trx, 'credentials', 'user_id', 'password_version', credentials, mode);
}

async function applySettings(trx: Trx, records: readonly SettingRecord[], syncedAt: string, mode: ApplyMode) {
  const rows = records.map((r) => ({ ...r, value: JSON.stringify(r.value ?? null), synced_at: syncedAt }));
  await upsertNewer(trx, 'settings', 'id', 'version', rows, mode);
}

async function applyProfileTypes(trx: Trx, records: readonly ProfileTypeRecord[], syncedAt: string, mode: ApplyMode) {
  await upsertNewer(
    trx,
    'profile_types',
    'id',
    'version',
    records.map((r) => ({ ...r, synced_at: syncedAt })),
    mode,
  );
}

const APPLY: {
  [S in Stream]: (trx: Trx, records: readonly RecordOf[S][], syncedAt: string, mode: ApplyMode) => Promise<void>;
} = {
  users: applyUsers,
  password_changes: applyPasswordChanges,
  settings: applySettings,
  profile_types: applyProfileTypes,
};

/** Applies records of one stream; in `newer` mode each only where it is newer than what is held (idempotent). */
export function applyRecords<S extends Stream>(
  trx: Trx,
  stream: S,
  records: readonly RecordOf[S][],
  syncedAt: string,
  mode: ApplyMode = 'newer',
) {
  return APPLY[stream](trx, records, syncedAt, mode);
}

/** The key of a record of `stream`: what a snapshot that replaces the stream's data keeps. */
export function keyOf<S extends Stream>(stream: S, record: RecordOf[S]): string {
  if (stream === 'password_changes') return (record as PasswordChangeRecord).user_id;
  return (record as UserRecord | SettingRecord | ProfileTypeRecord).id;
}

/** The tables a stream's snapshot holds whole, each with the column its records' keys are in. */
const HELD_BY: Readonly<Record<Stream, readonly [Table, string][]>> = {
  users: [
    ['users', 'id'],
    ['credentials', 'user_id'],
  ],
  password_changes: [],
  settings: [['settings', 'id']],
  profile_types: [['profile_types', 'id']],
};

/**
 * Removes the rows of `stream`'s tables whose keys are not in `kept`: a snapshot a stream re-bases on
 * holds the whole set, so what it lacks did not exist in that generation (created after the backup the
 * Response database was restored from). Gone rather than tombstoned: in the new generation they never
 * existed, so a password change naming one is refused as it would be on a Request side started afresh.
 * @returns how many rows went
 */
export async function removeAbsent(trx: Trx, stream: Stream, kept: ReadonlySet<string>): Promise<number> {
  // Table and column names are fixed above, never from input.
  const db = trx as unknown as Kysely<Record<string, Record<string, string>>>;
  let removed = 0;
  for (const [table, column] of HELD_BY[stream]) {
    const held = await db.selectFrom(table).select(column).execute();
    const absent = held.map((r) => r[column] as string).filter((k) => !kept.has(k));
    for (let i = 0; i < absent.length; i += APPLY_CHUNK) {
      const r = await db
        .deleteFrom(table)
        .where(column, 'in', absent.slice(i, i + APPLY_CHUNK))
        .executeTakeFirst();
      removed += Number(r.numDeletedRows);
    }
  }
  return removed;
}

/**
 * The first id a chunk of records refers to that the Request database has never held (a deleted user
 * is still held, as a tombstone), or undefined. Only password changes refer to another record.
 */
export async function unknownReferences<S extends Stream>(
  trx: Trx,
  stream: S,
  records: readonly RecordOf[S][],
): Promise<string | undefined> {
  if (stream !== 'password_changes' || records.length === 0) return undefined;
  const ids = [...new Set((records as readonly PasswordChangeRecord[]).map((r) => r.user_id))];
  const known = new Set((await trx.selectFrom('users').select('id').where('id', 'in', ids).execute()).map((r) => r.id));
  return ids.find((id) => !known.has(id));
}

/** Rows per multi-row upsert: well under SQLite's bound-parameter limit for the widest table. */
export const APPLY_CHUNK = 500;
