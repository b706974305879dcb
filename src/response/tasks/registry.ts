import { REQUIRES, type Stream } from '../../exchange/index.js';
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
  /** Also write the whole-set snapshot (the scheduled run does; the fast path after a change does not). */
  snapshot?: boolean;
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
} as const satisfies Record<string, TaskSpec>;

export type ResponseTaskName = keyof typeof RESPONSE_TASKS;
export const isResponseTask = (name: string): name is ResponseTaskName => Object.hasOwn(RESPONSE_TASKS, name);

export async function runResponseTask(
  ctx: ExportContext,
  name: ResponseTaskName,
  data: ExportTaskData,
): Promise<ExportResult> {
  const spec: TaskSpec = RESPONSE_TASKS[name];
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
  const snap = await exportSnapshot(ctx, spec.snapshot.stream, spec.snapshot.source);
  return { ...snap, count: snap.count, files: [...rebase, ...changes.files, ...snap.files] };
}

/** Every stream's snapshot: what a new generation writes before any of its batches. */
async function snapshotEveryStream(ctx: ExportContext): Promise<string[]> {
  const files: string[] = [];
  for (const spec of Object.values(RESPONSE_TASKS) as TaskSpec[]) {
    if (spec.snapshot) files.push(...(await exportSnapshot(ctx, spec.snapshot.stream, spec.snapshot.source)).files);
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
];
