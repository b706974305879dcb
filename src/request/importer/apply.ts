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
 * Keeps, per key, only the newest record: one multi-row upsert may not touch a row twice
 * (PostgreSQL refuses), and the older record would lose to the newer anyway.
 */
function newestPerKey<T>(records: readonly T[], key: (r: T) => string, version: (r: T) => number): T[] {
  const newest = new Map<string, T>();
  for (const r of records) {
    const seen = newest.get(key(r));
    if (!seen || version(seen) < version(r)) newest.set(key(r), r);
  }
  return [...newest.values()];
}

async function upsertCredentials(
  trx: Trx,
  rows: readonly { user_id: string; hashed_password: string; password_version: number; changed_at: string }[],
  syncedAt: string,
): Promise<void> {
  const newest = newestPerKey(
    rows,
    (r) => r.user_id,
    (r) => r.password_version,
  );
  if (newest.length === 0) return;
  await trx
    .insertInto('credentials')
    .values(newest.map((r) => ({ ...r, synced_at: syncedAt })))
    .onConflict((oc) =>
      oc
        .column('user_id')
        .doUpdateSet((eb) => ({
          hashed_password: eb.ref('excluded.hashed_password'),
          password_version: eb.ref('excluded.password_version'),
          changed_at: eb.ref('excluded.changed_at'),
          synced_at: eb.ref('excluded.synced_at'),
        }))
        .whereRef('credentials.password_version', '<', 'excluded.password_version'),
    )
    .execute();
}

async function applyPasswordChanges(trx: Trx, records: readonly PasswordChangeRecord[], syncedAt: string) {
  await upsertCredentials(
    trx,
    records.map((r) => ({
      user_id: r.user_id,
      hashed_password: r.hashed_password,
      password_version: r.password_version,
      changed_at: r.changed_at,
    })),
    syncedAt,
  );
}

async function applyUsers(trx: Trx, records: readonly UserRecord[], syncedAt: string) {
  const newest = newestPerKey(
    records,
    (r) => r.id,
    (r) => r.version,
  );
  if (newest.length > 0) {
    await trx
      .insertInto('users')
      .values(
        newest.map((r) => ({
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
        })),
      )
      .onConflict((oc) =>
        oc
          .column('id')
          .doUpdateSet((eb) => ({
            username: eb.ref('excluded.username'),
            email: eb.ref('excluded.email'),
            is_active: eb.ref('excluded.is_active'),
            is_admin: eb.ref('excluded.is_admin'),
            profile_type_id: eb.ref('excluded.profile_type_id'),
            created_at: eb.ref('excluded.created_at'),
            updated_at: eb.ref('excluded.updated_at'),
            deleted_at: eb.ref('excluded.deleted_at'),
            version: eb.ref('excluded.version'),
            synced_at: eb.ref('excluded.synced_at'),
          }))
          .whereRef('users.version', '<', 'excluded.version'),
      )
      .execute();
  }
  // A user record also carries the password it had; the password's own version decides.
  await upsertCredentials(
    trx,
    records.map((r) => ({
      user_id: r.id,
      hashed_password: r.hashed_password,
      password_version: r.password_version,
      changed_at: r.password_changed_at,
    })),
    syncedAt,
  );
}

async function applySettings(trx: Trx, records: readonly SettingRecord[], syncedAt: string) {
  const newest = newestPerKey(
    records,
    (r) => r.id,
    (r) => r.version,
  );
  if (newest.length === 0) return;
  await trx
    .insertInto('settings')
    .values(newest.map((r) => ({ ...r, value: JSON.stringify(r.value ?? null), synced_at: syncedAt })))
    .onConflict((oc) =>
      oc
        .column('id')
        .doUpdateSet((eb) => ({
          key: eb.ref('excluded.key'),
          value: eb.ref('excluded.value'),
          created_at: eb.ref('excluded.created_at'),
          updated_at: eb.ref('excluded.updated_at'),
          deleted_at: eb.ref('excluded.deleted_at'),
          version: eb.ref('excluded.version'),
          synced_at: eb.ref('excluded.synced_at'),
        }))
        .whereRef('settings.version', '<', 'excluded.version'),
    )
    .execute();
}

async function applyProfileTypes(trx: Trx, records: readonly ProfileTypeRecord[], syncedAt: string) {
  const newest = newestPerKey(
    records,
    (r) => r.id,
    (r) => r.version,
  );
  if (newest.length === 0) return;
  await trx
    .insertInto('profile_types')
    .values(newest.map((r) => ({ ...r, synced_at: syncedAt })))
    .onConflict((oc) =>
      oc
        .column('id')
        .doUpdateSet((eb) => ({
          name: eb.ref('excluded.name'),
          description: eb.ref('excluded.description'),
          created_at: eb.ref('excluded.created_at'),
          updated_at: eb.ref('excluded.updated_at'),
          deleted_at: eb.ref('excluded.deleted_at'),
          version: eb.ref('excluded.version'),
          synced_at: eb.ref('excluded.synced_at'),
        }))
        .whereRef('profile_types.version', '<', 'excluded.version'),
    )
    .execute();
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
