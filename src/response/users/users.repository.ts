import { randomUUID } from 'node:crypto';
import type { Kysely, Selectable } from 'kysely';
import { normalizeUsername, type UserRecord, usernameKey } from '../../exchange/index.js';
import { nowIso } from '../../platform/db.js';
import { PAGE_ROWS, pagesOf } from '../../platform/pages.js';
import { type KeyOf, keyset, type PageRequest, prefixBound } from '../../platform/pagination.js';
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

const liveUserById = precompiled((db: Kysely<ResponseDatabase>, id: string) =>
  db.selectFrom('users').selectAll().where('id', '=', id).where('deleted_at', 'is', null),
);

/** The live user of that id (compiled once: `GET /users/{id}` is a hot read). */
export const findUser = async (db: Kysely<ResponseDatabase>, id: string): Promise<UserRow | undefined> =>
  (await liveUserById(db, id)).rows[0];

/** The live user `username` names, in any case or Unicode form (see usernameKey). */
export const findUserByName = (db: Kysely<ResponseDatabase>, username: string) =>
  db
    .selectFrom('users')
    .selectAll()
    .where('username_key', '=', usernameKey(username))
    .where('deleted_at', 'is', null)
    .executeTakeFirst();

/**
 * Users are listed by name: their username key, unique among live users, so it is the whole sort key
 * (platform/pagination.ts).
 */
export const USER_ORDER = keyset('users', ['text']);
export const userKey = (u: Pick<UserRow, 'username_key'>): KeyOf<typeof USER_ORDER.parts> => [u.username_key];

export interface UserFilter {
  /** The user of that name, in any case or Unicode form. */
  username?: string;
  /** Users whose name starts with this, in any case or Unicode form. */
  q?: string;
  /** The users with this email, in any ASCII case. */
  email?: string;
  is_active?: boolean;
  /** A type's id, or "none" for users without one. */
  profile_type_id?: string;
}

/**
 * One page of live users in name order, `page.limit + 1` rows at most (the extra one says another page
 * follows). Each filter has an index ending with the sort key (migration 0009), so a page is one range.
 */
export function listUsersQuery(
  db: Kysely<ResponseDatabase>,
  f: UserFilter,
  page: PageRequest<KeyOf<typeof USER_ORDER.parts>>,
) {
  let q = db.selectFrom('users').selectAll().where('deleted_at', 'is', null);
  if (f.username !== undefined) q = q.where('username_key', '=', usernameKey(f.username));
  if (f.q !== undefined) {
    const from = usernameKey(f.q);
    const to = prefixBound(from);
    // One lower bound only: SQLite ranges an index by one of them and filters by the other.
    if (!page.after || page.after[0] < from) q = q.where('username_key', '>=', from);
    if (to !== undefined) q = q.where('username_key', '<', to);
  }
  const { email } = f;
  if (email !== undefined) q = q.where((eb) => eb(eb.fn('lower', ['email']), '=', eb.fn('lower', [eb.val(email)])));
  if (f.is_active !== undefined) q = q.where('is_active', '=', f.is_active ? 1 : 0);
  if (f.profile_type_id === 'none') q = q.where('profile_type_id', 'is', null);
  else if (f.profile_type_id !== undefined) q = q.where('profile_type_id', '=', f.profile_type_id);
  const { after } = page;
  if (after) q = q.where('username_key', '>', after[0]);
  return q
    .orderBy('username_key')
    .limit(page.limit + 1)
    .offset(page.offset);
}

export const listUsers = (...args: Parameters<typeof listUsersQuery>) => listUsersQuery(...args).execute();

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

/** Every user, tombstones included, as exchange-record lines, a page of them at a time. */
export async function* userLines(db: Kysely<ResponseDatabase>): AsyncGenerator<string[]> {
  yield* pagesOf(db.selectFrom('users').selectAll().orderBy('id').stream(PAGE_ROWS), (r) =>
    JSON.stringify(userRecord(r)),
  );
}
