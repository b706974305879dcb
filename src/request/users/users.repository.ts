import type { Kysely, Selectable } from 'kysely';
import { usernameKey } from '../../exchange/index.js';
import { type KeyOf, keyset, type PageRequest } from '../../platform/pagination.js';
import { precompiled } from '../../platform/precompiled.js';
import type { CredentialsTable, ProfileTypesTable, RequestDatabase, UsersTable } from '../db/schema.js';

const USER_FIELDS = [
  'id',
  'username',
  'email',
  'is_active',
  'is_admin',
  'profile_type_id',
  'created_at',
  'updated_at',
  'synced_at',
] as const;

/** A live synced user, with the name of its profile type when that type is synced and live. */
export type SyncedUserRow = Pick<Selectable<UsersTable>, (typeof USER_FIELDS)[number]> & {
  profile_type_name: Selectable<ProfileTypesTable>['name'] | null;
};

/** What login needs of an account: the user and its synced password hash. */
export type AccountRow = Pick<Selectable<UsersTable>, 'id' | 'username' | 'is_admin' | 'version'> &
  Pick<Selectable<CredentialsTable>, 'hashed_password' | 'password_version'>;

/**
 * The account's session version (platform/sessions.ts), derived from what is synced: it changes with
 * every applied change of the user's record (`version`: deletion, the active and admin flags, ...) and
 * of its password (`password_version`), as the Response side's does.
 */
export const sessionVersion = (row: Pick<AccountRow, 'version' | 'password_version'>) =>
  row.version + row.password_version;

/** The session version of a live, active user with a synced password; null for any other id. */
export async function sessionVersionOf(db: Kysely<RequestDatabase>, id: string): Promise<number | null> {
  const row = await db
    .selectFrom('users')
    .innerJoin('credentials', 'credentials.user_id', 'users.id')
    .select(['users.version', 'credentials.password_version'])
    .where('users.id', '=', id)
    .where('users.deleted_at', 'is', null)
    .where('users.is_active', '=', 1)
    .executeTakeFirst();
  return row ? sessionVersion(row) : null;
}

// A type deleted (or not yet synced) shows as no type; the id stays visible in profile_type_id.
const liveUsersWithType = (db: Kysely<RequestDatabase>) =>
  db
    .selectFrom('users')
    .leftJoin('profile_types', (j) =>
      j.onRef('profile_types.id', '=', 'users.profile_type_id').on('profile_types.deleted_at', 'is', null),
    )
    .select([...USER_FIELDS.map((f) => `users.${f}` as const), 'profile_types.name as profile_type_name'])
    .where('users.deleted_at', 'is', null);

/** Users are listed by name: their username key, then id (platform/pagination.ts). */
export const USER_ORDER = keyset('users', ['text', 'text']);

/**
 * One page of live users in name order, `page.limit + 1` rows at most (the extra one says another page
 * follows); only the user `onlyId` when given. A range of the live-name index (migration 0008).
 */
export function listUsersQuery(
  db: Kysely<RequestDatabase>,
  page: PageRequest<KeyOf<typeof USER_ORDER.parts>>,
  onlyId?: string,
) {
  let q = liveUsersWithType(db).select('users.username_key');
  if (onlyId !== undefined) q = q.where('users.id', '=', onlyId);
  const { after } = page;
  if (after) q = q.where((eb) => eb(eb.refTuple('users.username_key', 'users.id'), '>', eb.tuple(after[0], after[1])));
  return q
    .orderBy('users.username_key')
    .orderBy('users.id')
    .limit(page.limit + 1)
    .offset(page.offset);
}

export const listUsers = (...args: Parameters<typeof listUsersQuery>) => listUsersQuery(...args).execute();

const liveUserById = precompiled((db: Kysely<RequestDatabase>, id: string) =>
  liveUsersWithType(db).where('users.id', '=', id),
);

/** The live user of that id (compiled once: `GET /users/{id}` is a hot read). */
export const findUser = async (db: Kysely<RequestDatabase>, id: string): Promise<SyncedUserRow | undefined> =>
  (await liveUserById(db, id)).rows[0];

/**
 * The account logging in as `username`, in any case or Unicode form (see usernameKey): live, active and
 * with a synced password. Rows are not unique by name while a rename syncs; the newest live one is the
 * account.
 */
export const findAccount = (db: Kysely<RequestDatabase>, username: string): Promise<AccountRow | undefined> =>
  db
    .selectFrom('users')
    .innerJoin('credentials', 'credentials.user_id', 'users.id')
    .select([
      'users.id',
      'users.username',
      'users.is_admin',
      'users.version',
      'credentials.hashed_password',
      'credentials.password_version',
    ])
    .where('users.username_key', '=', usernameKey(username))
    .where('users.deleted_at', 'is', null)
    .where('users.is_active', '=', 1)
    .orderBy('users.updated_at', 'desc')
    .executeTakeFirst();
