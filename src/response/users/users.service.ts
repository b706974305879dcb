/**
 * The users' use cases. Each change commits together with its outbox record and its audit row, in a
 * transaction opened here; the caller enqueues the export after the commit.
 */
import type { Kysely } from 'kysely';
import { normalizeUsername, type PasswordChangeRecord, usernameProblem } from '../../exchange/index.js';
import { nowIso } from '../../platform/db.js';
import { translateConstraints } from '../../platform/db-errors.js';
import { Conflict, InvalidField, NotFound } from '../../platform/errors.js';
import { hashPassword, passwordProblem } from '../../platform/passwords.js';
import { type AuditContext, recordAudit, SYSTEM_AUDIT } from '../audit/audit.service.js';
import type { ResponseDatabase } from '../db/schema.js';
import { appendOutbox } from '../outbox.js';
import { holdLiveProfileType } from '../profile-types/profile-types.repository.js';
import {
  findUser,
  findUserByName,
  insertUser,
  type NewUser,
  type UserPatch,
  type UserRow,
  updatePassword,
  updateUser,
  userRecord,
} from './users.repository.js';

const usernameTaken = (username: string | undefined) => new Conflict(`username "${username}" is taken`);

/**
 * A username given in a request body, in the form it is stored in.
 * @throws InvalidField naming why the name cannot be a username (exchange/usernames.ts)
 */
function acceptableUsername(username: string): string {
  const problem = usernameProblem(username);
  if (problem) throw new InvalidField(['body', 'username'], `username ${problem}`);
  return normalizeUsername(username);
}
const noSuchProfileType = () => new InvalidField(['body', 'profile_type_id'], 'no such profile type');

/** Holds the profile type a user is being given (see holdLiveProfileType); refuses one that is not live. */
async function holdProfileType(trx: Kysely<ResponseDatabase>, id: string): Promise<void> {
  if (!(await holdLiveProfileType(trx, id))) throw noSuchProfileType();
}

/**
 * Creates a user whose password is already hashed, with its export record and audit row.
 * @param audit who creates it; by default netsync itself (the first admin at start-up)
 * @throws Conflict when the username is taken; InvalidField when the profile type is not a live one
 */
export async function createUser(
  db: Kysely<ResponseDatabase>,
  input: NewUser,
  audit: AuditContext = SYSTEM_AUDIT,
): Promise<UserRow> {
  return translateConstraints(
    () =>
      db.transaction().execute(async (trx) => {
        const row = await insertUser(trx, input);
        if (row.profile_type_id !== null) await holdProfileType(trx, row.profile_type_id);
        await appendOutbox(trx, 'users', userRecord(row));
        await recordAudit(trx, audit, {
          action: 'user.create',
          target: { type: 'user', id: row.id },
          details: {
            username: row.username,
            email: row.email,
            is_admin: row.is_admin === 1,
            is_active: row.is_active === 1,
            profile_type_id: row.profile_type_id,
            password: 'set',
          },
        });
        return row;
      }),
    { unique: () => usernameTaken(input.username), foreign_key: noSuchProfileType },
  );
}

export interface NewUserWithPassword extends Omit<NewUser, 'hashedPassword'> {
  password: string;
}

/**
 * Creates a user from its plaintext password, which must be strong enough. A taken name is refused
 * before the (deliberately slow) hash is made.
 */
export async function createUserWithPassword(
  db: Kysely<ResponseDatabase>,
  { password, ...given }: NewUserWithPassword,
  bcryptCost: number,
  audit: AuditContext = SYSTEM_AUDIT,
): Promise<UserRow> {
  const input = { ...given, username: acceptableUsername(given.username) };
  const weak = passwordProblem(password, input.username);
  if (weak) throw new InvalidField(['body', 'password'], `password ${weak}`);
  if (await findUserByName(db, input.username)) throw usernameTaken(input.username);
  return createUser(db, { ...input, hashedPassword: await hashPassword(password, bcryptCost) }, audit);
}

/**
 * Changes a live user's username, email, profile type, active or admin flag. A new profile type is held
 * before the user's row is written.
 * @param actorId the admin making the change, who may not deactivate their own account nor drop their
 *   own admin flag (the last admin could otherwise lock everyone out)
 */
export async function changeUser(
  db: Kysely<ResponseDatabase>,
  id: string,
  given: UserPatch,
  actorId: string,
  audit: AuditContext = SYSTEM_AUDIT,
): Promise<UserRow> {
  if (given.is_active === false && id === actorId) throw new Conflict('you cannot deactivate your own account');
  if (given.is_admin === false && id === actorId) throw new Conflict('you cannot remove your own admin rights');
  const patch = given.username === undefined ? given : { ...given, username: acceptableUsername(given.username) };
  return translateConstraints(
    () =>
      db.transaction().execute(async (trx) => {
        if (patch.profile_type_id) await holdProfileType(trx, patch.profile_type_id);
        const row = await recordUserChange(trx, await updateUser(trx, id, patch));
        await recordAudit(trx, audit, { action: 'user.change', target: { type: 'user', id }, details: { ...patch } });
        return row;
      }),
    { unique: () => usernameTaken(patch.username) },
  );
}

/** Turns a live user into a tombstone: it can no longer log in on either network. */
export async function deleteUser(
  db: Kysely<ResponseDatabase>,
  id: string,
  actorId: string,
  audit: AuditContext = SYSTEM_AUDIT,
): Promise<UserRow> {
  if (id === actorId) throw new Conflict('you cannot delete your own account');
  return db.transaction().execute(async (trx) => {
    const row = await recordUserChange(trx, await updateUser(trx, id, { deleted: true }));
    // The name too: the row is a tombstone now, and the name may be given to someone else.
    await recordAudit(trx, audit, {
      action: 'user.delete',
      target: { type: 'user', id },
      details: { username: row.username },
    });
    return row;
  });
}

async function recordUserChange(trx: Kysely<ResponseDatabase>, row: UserRow | undefined): Promise<UserRow> {
  if (!row) throw new NotFound('user');
  await appendOutbox(trx, 'users', userRecord(row));
  return row;
}

/**
 * Sets a new password hash and records the change for export and in the audit log (as "changed", never
 * the hash), in one transaction. The update is its first statement, so it holds the user's row lock
 * before anything is read.
 * @returns the export record, or undefined when no live user has that id
 */
export async function changePassword(
  db: Kysely<ResponseDatabase>,
  id: string,
  hashedPassword: string,
  audit: AuditContext = SYSTEM_AUDIT,
): Promise<PasswordChangeRecord | undefined> {
  return db.transaction().execute(async (trx) => {
    const changedAt = nowIso();
    const version = await updatePassword(trx, id, hashedPassword, changedAt);
    if (version === undefined) return undefined;
    const record = { user_id: id, hashed_password: hashedPassword, changed_at: changedAt, password_version: version };
    await appendOutbox(trx, 'password_changes', record);
    await recordAudit(trx, audit, {
      action: 'user.password_reset',
      target: { type: 'user', id },
      details: { password: 'changed' },
    });
    return record;
  });
}

/**
 * Gives a live user a new password, which must be strong enough for that user.
 * @returns the export record of the change
 */
export async function resetPassword(
  db: Kysely<ResponseDatabase>,
  id: string,
  newPassword: string,
  bcryptCost: number,
  audit: AuditContext = SYSTEM_AUDIT,
): Promise<PasswordChangeRecord> {
  const user = await findUser(db, id);
  if (!user) throw new NotFound('user');
  const weak = passwordProblem(newPassword, user.username);
  if (weak) throw new InvalidField(['body', 'new_password'], `password ${weak}`);
  const change = await changePassword(db, user.id, await hashPassword(newPassword, bcryptCost), audit);
  if (!change) throw new NotFound('user');
  return change;
}
