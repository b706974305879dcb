/**
 * The settings' use cases. Each change commits together with its outbox record and its audit row, in a
 * transaction opened here; the caller enqueues the export after the commit.
 */
import type { Kysely } from 'kysely';
import { translateConstraints } from '../../platform/db-errors.js';
import { Conflict, NotFound } from '../../platform/errors.js';
import type { AuditAction } from '../audit/audit.schemas.js';
import { type AuditContext, recordAudit, SYSTEM_AUDIT } from '../audit/audit.service.js';
import type { ResponseDatabase } from '../db/schema.js';
import { appendOutbox } from '../outbox.js';
import { findSetting, insertSetting, type SettingRow, settingRecord, updateSetting } from './settings.repository.js';

const keyTaken = (key: string) => new Conflict(`setting "${key}" already exists; change it with PUT`);

/** Creates a setting. @throws Conflict when a live setting has that key */
export async function createSetting(
  db: Kysely<ResponseDatabase>,
  key: string,
  value: unknown,
  audit: AuditContext = SYSTEM_AUDIT,
): Promise<SettingRow> {
  if (await findSetting(db, key)) throw keyTaken(key);
  return translateConstraints(
    () =>
      db.transaction().execute(async (trx) => {
        const row = await insertSetting(trx, key, value);
        await appendOutbox(trx, 'settings', settingRecord(row));
        await auditSetting(trx, audit, 'setting.create', key, { value });
        return row;
      }),
    { unique: () => keyTaken(key) },
  );
}

/** Replaces a live setting's value. @throws NotFound */
export async function changeSetting(
  db: Kysely<ResponseDatabase>,
  key: string,
  value: unknown,
  audit: AuditContext = SYSTEM_AUDIT,
): Promise<SettingRow> {
  return db.transaction().execute(async (trx) => {
    const row = await recordSettingChange(trx, key, await updateSetting(trx, key, { value }));
    await auditSetting(trx, audit, 'setting.change', key, { value });
    return row;
  });
}

/** Turns a live setting into a tombstone. @throws NotFound */
export async function deleteSetting(
  db: Kysely<ResponseDatabase>,
  key: string,
  audit: AuditContext = SYSTEM_AUDIT,
): Promise<SettingRow> {
  return db.transaction().execute(async (trx) => {
    const row = await recordSettingChange(trx, key, await updateSetting(trx, key, { deleted: true }));
    await auditSetting(trx, audit, 'setting.delete', key, null);
    return row;
  });
}

async function recordSettingChange(
  trx: Kysely<ResponseDatabase>,
  key: string,
  row: SettingRow | undefined,
): Promise<SettingRow> {
  if (!row) throw new NotFound(`setting "${key}"`);
  await appendOutbox(trx, 'settings', settingRecord(row));
  return row;
}

/** A setting is named by its key in the audit log: the name an admin uses for it. */
const auditSetting = (
  trx: Kysely<ResponseDatabase>,
  audit: AuditContext,
  action: AuditAction,
  key: string,
  details: Record<string, unknown> | null,
) => recordAudit(trx, audit, { action, target: { type: 'setting', id: key }, details });
