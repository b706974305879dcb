import { REQUIRES, type Stream } from '../../exchange/index.js';
import { pruneAuditLog } from '../audit/audit.service.js';
import {
  type ExportContext,
  type ExportResult,
  exportChanges,
  exportSnapshot,
  type SnapshotSource,
} from '../exporter.js';
import { settleGeneration } from '../generation.js';
import { exportHeartbeat } from '../heartbeat.js';
import { profileTypeLines } from '../profile-types/profile-types.repository.js';
import { settingLines } from '../settings/settings.repository.js';
import { userLines } from '../users/users.repository.js';

/** The Response Network's queue (BullMQ appends it to the key prefix). */
export const RESPONSE_QUEUE = 'response';

export interface ExportTaskData {
  /**
   * Also write the whole-set snapshot (the scheduled run does; the fast path after a change does not),
   * when its streams changed since the one in place (exporter.ts: the result says `unchanged` otherwise).
   */
  snapshot?: boolean;
  /**
   * With `snapshot`: write it even when nothing changed. Manual runs (`netsync run`, `POST /tasks/{name}`)
   * do: an operator heals a Request side that refused the snapshot in place with one.
   */
  rewrite?: boolean;
  /** For the log only: which user's change asked for this run (the first, when changes share a run). */
  user_id?: string;
}

interface TaskSpec {
  /** The change streams this task flushes. */
  readonly streams: readonly Stream[];
  /** The snapshot it writes when asked, and where its rows come from. */
  readonly snapshot?: { stream: Stream; source: SnapshotSource };
  /** Writes the signed heartbeat (response/heartbeat.ts) instead of changes. */
  readonly heartbeat?: true;
  /** Prunes the audit log (response/audit/) instead: no exchange file. */
  readonly pruneAudit?: true;
}

/** What a task runs with: the exporter's context, and how long audit rows are kept. */
export interface TaskContext extends ExportContext {
  /** AUDIT_RETENTION_DAYS (0 keeps every row). Undefined: `prune_audit_log` removes nothing. */
  readonly auditRetentionDays?: number;
}

/**
 * Every task the Response worker runs, by the seed's names. Adding a name here without a spec is a
 * compile error, and the worker refuses names that are not here.
 */
export const RESPONSE_TASKS = {
  sync_password_to_request_network: { streams: ['password_changes'] },
  export_users: { streams: ['users', 'password_changes'], snapshot: { stream: 'users', source: userLines } },
  export_settings_to_request_network: { streams: ['settings'], snapshot: { stream: 'settings', source: settingLines } },
  export_profile_types: {
    streams: ['profile_types'],
    snapshot: { stream: 'profile_types', source: profileTypeLines },
  },
  export_heartbeat: { streams: [], heartbeat: true },
  prune_audit_log: { streams: [], pruneAudit: true },
} as const satisfies Record<string, TaskSpec>;

export type ResponseTaskName = keyof typeof RESPONSE_TASKS;
export const isResponseTask = (name: string): name is ResponseTaskName => Object.hasOwn(RESPONSE_TASKS, name);

export async function runResponseTask(
  ctx: TaskContext,
  name: ResponseTaskName,
  data: ExportTaskData,
): Promise<ExportResult> {
  const spec: TaskSpec = RESPONSE_TASKS[name];
  if (spec.pruneAudit) {
    const pruned = ctx.auditRetentionDays === undefined ? 0 : await pruneAuditLog(ctx.db, ctx.auditRetentionDays);
    if (pruned > 0) ctx.logger.info({ pruned, retention_days: ctx.auditRetentionDays }, 'pruned old audit rows');
    // The seed's result shape, as every Response task's: no file, `count` and `pruned` the rows removed.
    return { status: 'success', count: pruned, file: null, files: [], exported_at: new Date().toISOString(), pruned };
  }
  if (spec.heartbeat) {
    // Every interval, even when nothing changes: a restore is noticed (and re-based on) without a change.
    const rebase = await settleGeneration(ctx.db, ctx.exchangeDir, ctx.logger, () => snapshotEveryStream(ctx));
    return { ...(await exportHeartbeat(ctx)), files: rebase };
  }
  // What the task writes: its streams, and the streams their batches refer to (claimed with them).
  const writes = [...new Set(spec.streams.flatMap((s) => [s, ...(REQUIRES[s] ?? [])]))];
  const rebase = await settleGeneration(ctx.db, ctx.exchangeDir, ctx.logger, () => snapshotEveryStream(ctx), writes);
  const changes = await exportChanges(ctx, spec.streams);
  if (!data.snapshot || !spec.snapshot) return { ...changes, files: [...rebase, ...changes.files] };
  const snap = await exportSnapshot(ctx, spec.snapshot.stream, spec.snapshot.source, { always: data.rewrite === true });
  return { ...snap, count: snap.count, files: [...rebase, ...changes.files, ...snap.files] };
}

/** Every stream's snapshot, written whatever changed: what a new generation writes before any of its batches. */
async function snapshotEveryStream(ctx: ExportContext): Promise<string[]> {
  const files: string[] = [];
  for (const spec of Object.values(RESPONSE_TASKS) as TaskSpec[]) {
    if (spec.snapshot)
      files.push(...(await exportSnapshot(ctx, spec.snapshot.stream, spec.snapshot.source, { always: true })).files);
  }
  return files;
}

export interface ScheduleEntry {
  readonly id: string;
  readonly task: ResponseTaskName;
  readonly everyMs: number;
  readonly data: ExportTaskData;
}

/** The seed's beat schedule, as data. */
export const responseSchedule = (exportIntervalS: number): ScheduleEntry[] => [
  { id: 'export-users-every-minute', task: 'export_users', everyMs: exportIntervalS * 1000, data: { snapshot: true } },
  {
    id: 'export-settings-every-minute',
    task: 'export_settings_to_request_network',
    everyMs: exportIntervalS * 1000,
    data: { snapshot: true },
  },
  {
    id: 'export-profile-types-every-minute',
    task: 'export_profile_types',
    everyMs: exportIntervalS * 1000,
    data: { snapshot: true },
  },
  // The signed heartbeat (response/heartbeat.ts): Request sides judge staleness by 3 of these intervals.
  { id: 'export-heartbeat-every-minute', task: 'export_heartbeat', everyMs: exportIntervalS * 1000, data: {} },
  // Retention is counted in days; hourly keeps each run's delete small.
  { id: 'prune-audit-log-every-hour', task: 'prune_audit_log', everyMs: 3_600_000, data: {} },
];
