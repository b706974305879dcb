import type { Kysely } from 'kysely';
import type {
  PasswordChangeRecord,
  ProfileTypeRecord,
  RecordOf,
  SettingRecord,
  Stream,
  UserRecord,
} from '../../exchange/index.js';
import type { RequestDatabase } from '../db/schema.js';

type Trx = Kysely<RequestDatabase>;

/**
 * Inserts rows, or replaces a held row only where the incoming `version` column is higher: the one rule
 * that makes every apply idempotent and never moves a record back. Rows are first cut to the newest per
 * key, since one multi-row upsert may not touch a row twice (PostgreSQL refuses) and the older would lose
 * anyway. Table and column names come from the callers below, never from input.
 */
async function upsertNewer<T extends Record<string, unknown>>(
  trx: Trx,
  table: 'users' | 'credentials' | 'settings' | 'profile_types',
  key: keyof T & string,
  version: keyof T & string,
  rows: readonly T[],
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
    .onConflict((oc) =>
      oc
        .column(key)
        .doUpdateSet((eb) => Object.fromEntries(columns.map((c) => [c, eb.ref(`excluded.${c}`)])))
        .whereRef(`${table}.${version}`, '<', `excluded.${version}`),
    )
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

async function applyPasswordChanges(trx: Trx, records: readonly PasswordChangeRecord[], syncedAt: string) {
  const rows = records.map((r) =>
    credentialOf(r.user_id, r.hashed_password, r.password_version, r.changed_at, syncedAt),
  );
  await upsertNewer(trx, 'credentials', 'user_id', 'password_version', rows);
}

async function applyUsers(trx: Trx, records: readonly UserRecord[], syncedAt: string) {
  const users = records.map((r) => ({
    id: r.id,
    username: r.username,
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
  await upsertNewer(trx, 'users', 'id', 'version', users);
  // A user record also carries the password it had; the password's own version decides.
  const credentials = records.map((r) =>
    credentialOf(r.id, r.hashed_password, r.password_version, r.password_changed_at, syncedAt),
  );
  await upsertNewer(trx, 'credentials', 'user_id', 'password_version', credentials);
}

async function applySettings(trx: Trx, records: readonly SettingRecord[], syncedAt: string) {
  const rows = records.map((r) => ({ ...r, value: JSON.stringify(r.value ?? null), synced_at: syncedAt }));
  await upsertNewer(trx, 'settings', 'id', 'version', rows);
}

async function applyProfileTypes(trx: Trx, records: readonly ProfileTypeRecord[], syncedAt: string) {
  await upsertNewer(
    trx,
    'profile_types',
    'id',
    'version',
    records.map((r) => ({ ...r, synced_at: syncedAt })),
  );
}

const APPLY: { [S in Stream]: (trx: Trx, records: readonly RecordOf[S][], syncedAt: string) => Promise<void> } = {
  users: applyUsers,
  password_changes: applyPasswordChanges,
  settings: applySettings,
  profile_types: applyProfileTypes,
};

/** Applies records of one stream; each only where it is newer than what is held. Idempotent. */
export function applyRecords<S extends Stream>(trx: Trx, stream: S, records: readonly RecordOf[S][], syncedAt: string) {
  return APPLY[stream](trx, records, syncedAt);
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
