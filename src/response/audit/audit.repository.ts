import type { Insertable, Kysely, Selectable } from 'kysely';
import { type KeyOf, keyset, type PageRequest } from '../../platform/pagination.js';
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

/** Audit rows are listed newest first: by `at`, then id, both descending (platform/pagination.ts). */
export const AUDIT_ORDER = keyset('audit', ['text', 'integer']);
export type AuditKey = KeyOf<typeof AUDIT_ORDER.parts>;

export interface AuditFilter {
  /** The acting user's id or username. */
  actor?: string | undefined;
  target_type?: string | undefined;
  target_id?: string | undefined;
  action?: string | undefined;
  /** ISO-8601 UTC, as the rows' `at`: rows at or after `since` and before `until`. */
  since?: string | undefined;
  until?: string | undefined;
}

/**
 * One page of audit rows, newest first, `page.limit + 1` rows at most (the extra one says another page
 * follows). Every filter has an index ending with (at, id) (migration 0009), so a page is an index
 * range read backwards. An actor is an id or a username, two indexes: each gives its newest rows and
 * the page is the newest of both, a merge of at most twice the page.
 */
export function listAuditRowsQuery(db: Kysely<ResponseDatabase>, f: AuditFilter, page: PageRequest<AuditKey>) {
  const n = page.limit + 1;
  const rows = (actorColumn?: 'actor_id' | 'actor_username') => {
    let q = db.selectFrom('audit_log').selectAll();
    if (actorColumn !== undefined) q = q.where(actorColumn, '=', f.actor as string);
    if (f.target_type !== undefined) q = q.where('target_type', '=', f.target_type);
    if (f.target_id !== undefined) q = q.where('target_id', '=', f.target_id);
    if (f.action !== undefined) q = q.where('action', '=', f.action);
    if (f.since !== undefined) q = q.where('at', '>=', f.since);
    const { after } = page;
    // One upper bound only: SQLite ranges an index by one of them and filters by the other.
    if (f.until !== undefined && !(after && after[0] < f.until)) q = q.where('at', '<', f.until);
    if (after) q = q.where((eb) => eb(eb.refTuple('at', 'id'), '<', eb.tuple(after[0], after[1])));
    return q.orderBy('at', 'desc').orderBy('id', 'desc');
  };
  if (f.actor === undefined) return rows().limit(n).offset(page.offset);
  // Each side reads as far as the page could reach into it.
  const reach = n + page.offset;
  return db
    .selectFrom(rows('actor_id').limit(reach).as('by_id'))
    .selectAll()
    .union(db.selectFrom(rows('actor_username').limit(reach).as('by_name')).selectAll())
    .orderBy('at', 'desc')
    .orderBy('id', 'desc')
    .limit(n)
    .offset(page.offset);
}

export const listAuditRows = (...args: Parameters<typeof listAuditRowsQuery>) => listAuditRowsQuery(...args).execute();

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
