import type { Insertable, Kysely, Selectable } from 'kysely';
import { precompiled } from '../../platform/precompiled.js';
import type { AuditLogTable, ResponseDatabase } from '../db/schema.js';

export type AuditRow = Selectable<AuditLogTable>;

type Text = string | null;

// Every write commits one of these: built once (platform/precompiled.ts), not per row.
const insertAudit = precompiled(
  (
    db: Kysely<ResponseDatabase>,
    at: string,
    actorId: Text,
    actorUsername: Text,
    action: string,
    targetType: string,
    targetId: Text,
    details: Text,
    ip: Text,
    requestId: Text,
  ) =>
    db.insertInto('audit_log').values({
      at,
      actor_id: actorId,
      actor_username: actorUsername,
      action,
      target_type: targetType,
      target_id: targetId,
      details,
      ip,
      request_id: requestId,
    }),
);

export const insertAuditRow = (db: Kysely<ResponseDatabase>, row: Insertable<AuditLogTable>) =>
  insertAudit(
    db,
    row.at,
    row.actor_id ?? null,
    row.actor_username ?? null,
    row.action,
    row.target_type,
    row.target_id ?? null,
    row.details ?? null,
    row.ip ?? null,
    row.request_id ?? null,
  );

export interface AuditFilter {
  limit: number;
  offset: number;
  /** The acting user's id or username. */
  actor?: string;
  target_type?: string;
  target_id?: string;
  action?: string;
  /** ISO-8601 UTC, as the rows' `at`: rows at or after `since` and before `until`. */
  since?: string;
  until?: string;
}

/** One page of audit rows, newest first. */
export function listAuditRows(db: Kysely<ResponseDatabase>, f: AuditFilter): Promise<AuditRow[]> {
  let q = db.selectFrom('audit_log').selectAll();
  const { actor } = f;
  if (actor !== undefined) q = q.where((eb) => eb.or([eb('actor_id', '=', actor), eb('actor_username', '=', actor)]));
  if (f.target_type !== undefined) q = q.where('target_type', '=', f.target_type);
  if (f.target_id !== undefined) q = q.where('target_id', '=', f.target_id);
  if (f.action !== undefined) q = q.where('action', '=', f.action);
  if (f.since !== undefined) q = q.where('at', '>=', f.since);
  if (f.until !== undefined) q = q.where('at', '<', f.until);
  return q.orderBy('at', 'desc').orderBy('id', 'desc').limit(f.limit).offset(f.offset).execute();
}

/**
 * Deletes up to `batch` of the oldest rows written before `cutoff` (ISO-8601 UTC).
 * @returns how many it deleted
 */
export async function deleteAuditRowsBefore(
  db: Kysely<ResponseDatabase>,
  cutoff: string,
  batch: number,
): Promise<number> {
  const res = await db
    .deleteFrom('audit_log')
    .where('id', 'in', (eb) =>
      eb.selectFrom('audit_log').select('id').where('at', '<', cutoff).orderBy('at').orderBy('id').limit(batch),
    )
    .executeTakeFirst();
  return Number(res.numDeletedRows);
}
