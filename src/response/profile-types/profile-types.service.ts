/**
 * The profile types' use cases. Each change commits together with its outbox record and its audit row,
 * in a transaction opened here; the caller enqueues the export after the commit.
 */
import type { Kysely } from 'kysely';
import { translateConstraints } from '../../platform/db-errors.js';
import { Conflict, NotFound } from '../../platform/errors.js';
import { type AuditContext, recordAudit, SYSTEM_AUDIT } from '../audit/audit.service.js';
import type { ResponseDatabase } from '../db/schema.js';
import { appendOutbox } from '../outbox.js';
import {
  countUsersOfType,
  insertProfileType,
  type ProfileTypePatch,
  type ProfileTypeRow,
  profileTypeRecord,
  updateProfileType,
} from './profile-types.repository.js';

const nameTaken = (name: string) => new Conflict(`a profile type named "${name}" already exists`);

async function recordProfileTypeChange(
  trx: Kysely<ResponseDatabase>,
  row: ProfileTypeRow | undefined,
): Promise<ProfileTypeRow> {
  if (!row) throw new NotFound('profile type');
  await appendOutbox(trx, 'profile_types', profileTypeRecord(row));
  return row;
}

/** Creates a profile type. @throws Conflict when a live type has that name */
export async function createProfileType(
  db: Kysely<ResponseDatabase>,
  input: { name: string; description?: string | null },
  audit: AuditContext = SYSTEM_AUDIT,
): Promise<ProfileTypeRow> {
  return translateConstraints(
    () =>
      db.transaction().execute(async (trx) => {
        const row = await insertProfileType(trx, input);
        await appendOutbox(trx, 'profile_types', profileTypeRecord(row));
        await recordAudit(trx, audit, {
          action: 'profile_type.create',
          target: { type: 'profile_type', id: row.id },
          details: { name: row.name, description: row.description },
        });
        return row;
      }),
    { unique: () => nameTaken(input.name) },
  );
}

/** Changes a live profile type's name or description. @throws NotFound; Conflict when the name is taken */
export async function changeProfileType(
  db: Kysely<ResponseDatabase>,
  id: string,
  patch: ProfileTypePatch,
  audit: AuditContext = SYSTEM_AUDIT,
): Promise<ProfileTypeRow> {
  const { name } = patch;
  return translateConstraints(
    () =>
      db.transaction().execute(async (trx) => {
        const row = await recordProfileTypeChange(trx, await updateProfileType(trx, id, patch));
        await recordAudit(trx, audit, {
          action: 'profile_type.change',
          target: { type: 'profile_type', id },
          details: { ...patch },
        });
        return row;
      }),
    name === undefined ? {} : { unique: () => nameTaken(name) },
  );
}

/**
 * Turns a profile type into a tombstone unless a live user has it. The type's row is written before the
 * users are counted, so no concurrent change can give it to a user between the count and the commit
 * (giving a type holds its row first: see holdLiveProfileType).
 * @throws NotFound; Conflict when a live user has the type, after rolling the tombstone back
 */
export async function deleteProfileType(
  db: Kysely<ResponseDatabase>,
  id: string,
  audit: AuditContext = SYSTEM_AUDIT,
): Promise<ProfileTypeRow> {
  return db.transaction().execute(async (trx) => {
    const row = await updateProfileType(trx, id, { deleted: true });
    if (!row) throw new NotFound('profile type');
    const n = await countUsersOfType(trx, id);
    // Thrown inside the transaction, so the tombstone is rolled back.
    if (n > 0)
      throw new Conflict(
        `profile type is in use by ${n} user${n === 1 ? '' : 's'}; give them another type (or none) first`,
      );
    await recordAudit(trx, audit, {
      action: 'profile_type.delete',
      target: { type: 'profile_type', id },
      details: { name: row.name },
    });
    return recordProfileTypeChange(trx, row);
  });
}
