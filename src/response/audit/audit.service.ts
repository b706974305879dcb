/**
 * The audit trail: who changed what, when and from where. A write's row goes through the write's own
 * transaction (the use cases pass theirs), so a change is never committed without its row and a refused
 * write (rolled back) leaves none. Refused logins change nothing, so their row is written alone.
 */
import type { Kysely } from 'kysely';
import { nowIso } from '../../platform/db.js';
import type { PageRequest } from '../../platform/pagination.js';
import type { ResponseDatabase } from '../db/schema.js';
import { findUserByName } from '../users/users.repository.js';
import {
  type AuditFilter,
  type AuditKey,
  deleteAuditRowsBefore,
  insertAuditRow,
  listAuditRows,
} from './audit.repository.js';
import type { AuditAction, AuditEntryOut, AuditTargetType } from './audit.schemas.js';

/** Who is acting and from where: made from the HTTP request by the route (auditContextOf). */
export interface AuditContext {
  /** The authenticated user; null when nobody is (a refused login, a write netsync makes itself). */
  readonly actor: { readonly id: string; readonly username: string } | null;
  readonly ip: string | null;
  readonly requestId: string | null;
}

/** Writes netsync makes itself, outside any request: the first admin at start-up, tools and tests. */
export const SYSTEM_AUDIT: AuditContext = Object.freeze({ actor: null, ip: null, requestId: null });

export interface AuditEntry {
  action: AuditAction;
  target: { type: AuditTargetType; id: string | null };
  /** The fields written and their new values; a password field only as "set" or "changed". */
  details?: Record<string, unknown> | null;
}

// Fields under these names are never kept, at any depth, whatever the caller passed.
const SECRET_FIELD = /password|hash/i;
// A value longer than this (as JSON) is noted by its size: a 16 MB setting need not be copied into every row.
const MAX_VALUE_CHARS = 4096;

function scrubbed(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(scrubbed);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [k, SECRET_FIELD.test(k) ? (v === 'set' ? 'set' : 'changed') : scrubbed(v)]),
  );
}

function detailsText(details: Record<string, unknown> | null | undefined): string | null {
  if (!details) return null;
  const bounded = Object.fromEntries(
    Object.entries(scrubbed(details) as Record<string, unknown>).map(([k, v]) => {
      const text = JSON.stringify(v) ?? 'null';
      return [k, text.length > MAX_VALUE_CHARS ? { omitted: `${text.length} characters of JSON` } : v];
    }),
  );
  return JSON.stringify(bounded);
}

/** Records one write through `db`, which is the write's own transaction. */
export async function recordAudit(db: Kysely<ResponseDatabase>, ctx: AuditContext, entry: AuditEntry): Promise<void> {
  await insertAuditRow(db, {
    at: nowIso(),
    actor_id: ctx.actor?.id ?? null,
    actor_username: ctx.actor?.username ?? null,
    action: entry.action,
    target_type: entry.target.type,
    target_id: entry.target.id,
    details: detailsText(entry.details),
    ip: ctx.ip,
    request_id: ctx.requestId,
  });
}

/**
 * Records a login that failed (wrong password, unknown or inactive account) or was throttled: by nobody,
 * on the account of that name when there is one, with the username tried (never the password).
 */
export async function recordRefusedLogin(
  db: Kysely<ResponseDatabase>,
  ctx: AuditContext,
  username: string,
  reason: 'failed' | 'throttled',
): Promise<void> {
  const account = await findUserByName(db, username);
  await recordAudit(db, ctx, {
    action: reason === 'failed' ? 'login.failed' : 'login.throttled',
    target: { type: 'user', id: account?.id ?? null },
    details: { username },
  });
}

/** The filters as the rows are compared: times in ISO-8601 UTC, whatever offset the caller wrote. */
export function auditFilter(filter: AuditFilter): AuditFilter {
  const utc = (t: string | undefined) => (t === undefined ? undefined : new Date(t).toISOString());
  return {
    actor: filter.actor,
    target_type: filter.target_type,
    target_id: filter.target_id,
    action: filter.action,
    since: utc(filter.since),
    until: utc(filter.until),
  };
}

/**
 * One page of the audit log, newest first, as GET /audit and `netsync audit` show it: up to
 * `page.limit + 1` rows (see listAuditRows).
 */
export async function readAudit(
  db: Kysely<ResponseDatabase>,
  filter: AuditFilter,
  page: PageRequest<AuditKey>,
): Promise<AuditEntryOut[]> {
  const rows = await listAuditRows(db, auditFilter(filter), page);
  return rows.map((r) => ({
    id: Number(r.id),
    at: r.at,
    actor_id: r.actor_id,
    actor_username: r.actor_username,
    action: r.action,
    target_type: r.target_type,
    target_id: r.target_id,
    details: r.details === null ? null : (JSON.parse(r.details) as Record<string, unknown>),
    ip: r.ip,
    request_id: r.request_id,
  }));
}

/** How many rows one delete removes: a large backlog goes in short statements, never one long lock. */
const PRUNE_BATCH = 5000;

/**
 * Deletes the audit rows older than `retentionDays` (AUDIT_RETENTION_DAYS); 0 keeps them all.
 * @returns how many it deleted
 */
export async function pruneAuditLog(
  db: Kysely<ResponseDatabase>,
  retentionDays: number,
  now = Date.now(),
): Promise<number> {
  if (retentionDays === 0) return 0;
  const cutoff = new Date(now - retentionDays * 86_400_000).toISOString();
  let total = 0;
  for (;;) {
    const n = await deleteAuditRowsBefore(db, cutoff, PRUNE_BATCH);
    total += n;
    if (n < PRUNE_BATCH) return total;
  }
}
