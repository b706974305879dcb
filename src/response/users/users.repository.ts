import { randomUUID } from 'node:crypto';
import type { Kysely, Selectable } from 'kysely';
import { normalizeUsername, type UserRecord, usernameKey } from '../../exchange/index.js';
import { nowIso } from '../../platform/db.js';
import { precompiled } from '../../platform/precompiled.js';
import type { ResponseDatabase, UsersTable } from '../db/schema.js';

export type UserRow = Selectable<UsersTable>;

/** A user to create, its password already hashed. */
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

/**
 * The account's session version (platform/sessions.ts): it changes with every change of the row
 * (`version`) and of its password (`password_version`); both only grow, so it never comes back.
 */
export const sessionVersion = (row: Pick<UserRow, 'version' | 'password_version'>) =>
  row.version + row.password_version;

/** The session version of a live, active user; null for any other id (its tokens are refused). */
export async function sessionVersionOf(db: Kysely<ResponseDatabase>, id: string): Promise<number | null> {
  const row = await db
    .selectFrom('users')
    .select(['version', 'password_version'])
    .where('id', '=', id)
    .where('deleted_at', 'is', null)
    .where('is_active', '=', 1)
    .executeTakeFirst();
  return row ? sessionVersion(row) : null;
}

export const findUser = (db: Kysely<ResponseDatabase>, id: string) =>
  db.selectFrom('users').selectAll().where('id', '=', id).where('deleted_at', 'is', null).executeTakeFirst();

/** The live user `username` names, in any case or Unicode form (see usernameKey). */
export const findUserByName = (db: Kysely<ResponseDatabase>, username: string) =>
  db
    .selectFrom('users')
    .selectAll()
    .where('username_key', '=', usernameKey(username))
    .where('deleted_at', 'is', null)
    .executeTakeFirst();

export interface UserFilter {
  limit: number;
  offset: number;
  /** The user of that name, in any case or Unicode form. */
  username?: string;
  is_active?: boolean;
  /** A type's id, or "none" for users without one. */
  profile_type_id?: string;
}

export function listUsers(db: Kysely<ResponseDatabase>, opts: UserFilter) {
  let q = db.selectFrom('users').selectAll().where('deleted_at', 'is', null);
  if (opts.username !== undefined) q = q.where('username_key', '=', usernameKey(opts.username));
  if (opts.is_active !== undefined) q = q.where('is_active', '=', opts.is_active ? 1 : 0);
  if (opts.profile_type_id === 'none') q = q.where('profile_type_id', 'is', null);
  else if (opts.profile_type_id !== undefined) q = q.where('profile_type_id', '=', opts.profile_type_id);
  return q.orderBy('created_at').orderBy('id').limit(opts.limit).offset(opts.offset).execute();
}

/** Inserts a new user (version 1) and returns its row; its export record is the caller's (createUser). */
export async function insertUser(db: Kysely<ResponseDatabase>, input: NewUser): Promise<UserRow> {
  const now = nowIso();
  const row: UserRow = {
    id: randomUUID(),
    username: normalizeUsername(input.username),
    username_key: usernameKey(input.username),
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
  await db.insertInto('users').values(row).execute();
  return row;
}

export interface UserPatch {
  username?: string;
  email?: string | null;
  profile_type_id?: string | null;
  is_active?: boolean;
  is_admin?: boolean;
}

/**
 * Changes a live user (or, with `deleted`, turns it into a tombstone) and bumps its version.
 * @returns the row as it now is, or undefined when no live user has that id
 * @throws the database's unique violation when the new username is taken
 */
export async function updateUser(
  db: Kysely<ResponseDatabase>,
  id: string,
  change: UserPatch | { deleted: true },
): Promise<UserRow | undefined> {
  const now = nowIso();
  const set: Partial<UserRow> =
    'deleted' in change
      ? { deleted_at: now }
      : {
          ...(change.username !== undefined
            ? { username: normalizeUsername(change.username), username_key: usernameKey(change.username) }
            : {}),
          ...(change.email !== undefined ? { email: change.email } : {}),
          ...(change.profile_type_id !== undefined ? { profile_type_id: change.profile_type_id } : {}),
          ...(change.is_active !== undefined ? { is_active: change.is_active ? 1 : 0 } : {}),
          ...(change.is_admin !== undefined ? { is_admin: change.is_admin ? 1 : 0 } : {}),
        };
  return db
    .updateTable('users')
    .set((eb) => ({ ...set, updated_at: now, version: eb('version', '+', 1) }))
    .where('id', '=', id)
    .where('deleted_at', 'is', null)
    .returningAll()
    .executeTakeFirst();
}

// The statement of every password change: built once (platform/precompiled.ts), not per change.
const setPassword = precompiled((db: Kysely<ResponseDatabase>, hashedPassword: string, changedAt: string, id: string) =>
  db
    .updateTable('users')
    .set((eb) => ({
      hashed_password: hashedPassword,
      password_version: eb('password_version', '+', 1),
      password_changed_at: changedAt,
    }))
    .where('id', '=', id)
    .where('deleted_at', 'is', null)
    .returning('password_version'),
);

/**
 * Sets a live user's password hash and bumps its password version. Called first in its transaction,
 * the update takes the row's lock before anything is read.
 * @returns the new password version, or undefined when no live user has that id
 */
export async function updatePassword(
  db: Kysely<ResponseDatabase>,
  id: string,
  hashedPassword: string,
  changedAt: string,
): Promise<number | undefined> {
  const { rows } = await setPassword(db, hashedPassword, changedAt, id);
  return rows[0]?.password_version;
}

/** Every user, tombstones included, as exchange-record lines, read 1000 rows at a time. */
export async function* userLines(db: Kysely<ResponseDatabase>): AsyncGenerator<string> {
  for await (const row of db.selectFrom('users').selectAll().orderBy('id').stream(1000)) {
    yield JSON.stringify(userRecord(row));
  }
}
