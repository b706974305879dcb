import { randomUUID } from 'node:crypto';
import type { Kysely, Selectable } from 'kysely';
import type { PasswordChangeRecord, UserRecord } from '../../exchange/index.js';
import { nowIso } from '../../platform/db.js';
import type { ResponseDatabase, UsersTable } from '../db/schema.js';
import { appendOutbox } from '../exporter.js';
import { holdLiveProfileType } from '../profile-types/profile-types.repository.js';

export type UserRow = Selectable<UsersTable>;

export interface NewUser {
  username: string;
  hashedPassword: string;
  email?: string | null;
  isAdmin?: boolean;
  isActive?: boolean;
  profileTypeId?: string | null;
}

/** The exchange record of a user: its whole current state, deletion included. */
export function userRecord(row: UserRow): UserRecord {
  return {
    id: row.id,
    username: row.username,
    email: row.email,
    is_active: row.is_active === 1,
    is_admin: row.is_admin === 1,
    profile_type_id: row.profile_type_id,
    created_at: row.created_at,
    updated_at: row.updated_at,
    deleted_at: row.deleted_at,
    version: row.version,
    hashed_password: row.hashed_password,
    password_version: row.password_version,
    password_changed_at: row.password_changed_at,
  };
}

export const findUser = (db: Kysely<ResponseDatabase>, id: string) =>
  db.selectFrom('users').selectAll().where('id', '=', id).where('deleted_at', 'is', null).executeTakeFirst();

export const findUserByName = (db: Kysely<ResponseDatabase>, username: string) =>
  db
    .selectFrom('users')
    .selectAll()
    .where('username', '=', username)
    .where('deleted_at', 'is', null)
    .executeTakeFirst();

export interface UserFilter {
  limit: number;
  offset: number;
  username?: string;
  is_active?: boolean;
  /** A type's id, or "none" for users without one. */
  profile_type_id?: string;
}

export function listUsers(db: Kysely<ResponseDatabase>, opts: UserFilter) {
  let q = db.selectFrom('users').selectAll().where('deleted_at', 'is', null);
  if (opts.username !== undefined) q = q.where('username', '=', opts.username);
  if (opts.is_active !== undefined) q = q.where('is_active', '=', opts.is_active ? 1 : 0);
  if (opts.profile_type_id === 'none') q = q.where('profile_type_id', 'is', null);
  else if (opts.profile_type_id !== undefined) q = q.where('profile_type_id', '=', opts.profile_type_id);
  return q.orderBy('created_at').orderBy('id').limit(opts.limit).offset(opts.offset).execute();
}

/** The profile type a user was to be given is not a live one. */
export class NoSuchProfileType extends Error {
  constructor() {
    super('no such profile type');
    this.name = 'NoSuchProfileType';
  }
}

/** Inserts a user and its export record in one transaction. */
export async function insertUser(db: Kysely<ResponseDatabase>, input: NewUser): Promise<UserRow> {
  const now = nowIso();
  const row: UserRow = {
    id: randomUUID(),
    username: input.username,
    email: input.email ?? null,
    hashed_password: input.hashedPassword,
    is_admin: input.isAdmin ? 1 : 0,
    is_active: input.isActive === false ? 0 : 1,
    profile_type_id: input.profileTypeId ?? null,
    created_at: now,
    updated_at: now,
    deleted_at: null,
    version: 1,
    password_version: 1,
    password_changed_at: now,
  };
  await db.transaction().execute(async (trx) => {
    await trx.insertInto('users').values(row).execute();
    if (row.profile_type_id !== null && !(await holdLiveProfileType(trx, row.profile_type_id)))
      throw new NoSuchProfileType();
    await appendOutbox(trx, 'users', userRecord(row));
  });
  return row;
}

export interface UserPatch {
  username?: string;
  email?: string | null;
  profile_type_id?: string | null;
  is_active?: boolean;
}

/**
 * Changes a live user (or, with `deleted`, turns it into a tombstone), bumps its version and records the
 * change for export, in one transaction. A new profile type is held first (see holdLiveProfileType).
 * @returns the row as it now is, or undefined when no live user has that id
 * @throws NoSuchProfileType; the database's unique violation when the new username is taken
 */
export async function changeUser(
  db: Kysely<ResponseDatabase>,
  id: string,
  change: UserPatch | { deleted: true },
): Promise<UserRow | undefined> {
  return db.transaction().execute(async (trx) => {
    const now = nowIso();
    let set: Partial<UserRow>;
    if ('deleted' in change) {
      set = { deleted_at: now };
    } else {
      if (change.profile_type_id && !(await holdLiveProfileType(trx, change.profile_type_id)))
        throw new NoSuchProfileType();
      set = {
        ...(change.username !== undefined ? { username: change.username } : {}),
        ...(change.email !== undefined ? { email: change.email } : {}),
        ...(change.profile_type_id !== undefined ? { profile_type_id: change.profile_type_id } : {}),
        ...(change.is_active !== undefined ? { is_active: change.is_active ? 1 : 0 } : {}),
      };
    }
    const row = await trx
      .updateTable('users')
      .set((eb) => ({ ...set, updated_at: now, version: eb('version', '+', 1) }))
      .where('id', '=', id)
      .where('deleted_at', 'is', null)
      .returningAll()
      .executeTakeFirst();
    if (row) await appendOutbox(trx, 'users', userRecord(row));
    return row;
  });
}

/**
 * Sets a new password hash and records the change for export, in one transaction. The first statement
 * is the update, so it takes the row's lock before anything is read.
 * @returns the export record, or undefined when no live user has that id
 */
export async function setPassword(
  db: Kysely<ResponseDatabase>,
  id: string,
  hashedPassword: string,
): Promise<PasswordChangeRecord | undefined> {
  return db.transaction().execute(async (trx) => {
    const changedAt = nowIso();
    const row = await trx
      .updateTable('users')
      .set((eb) => ({
        hashed_password: hashedPassword,
        password_version: eb('password_version', '+', 1),
        password_changed_at: changedAt,
      }))
      .where('id', '=', id)
      .where('deleted_at', 'is', null)
      .returning(['id', 'password_version'])
      .executeTakeFirst();
    if (!row) return undefined;
    const record: PasswordChangeRecord = {
      user_id: row.id,
      hashed_password: hashedPassword,
      changed_at: changedAt,
      password_version: row.password_version,
    };
    await appendOutbox(trx, 'password_changes', record);
    return record;
  });
}
