import type { Job, JobType, Queue } from 'bullmq';
import type { Kysely } from 'kysely';
import { STREAMS } from '../../exchange/index.js';
import type { TaskState } from '../../platform/task-state.js';
import { isoFromMs } from '../../platform/time.js';
import { withRedis } from '../../platform/with-redis.js';
import type { ResponseDatabase } from '../db/schema.js';
import { readExportStatus } from '../export-status.js';
import { RESPONSE_TASKS, type ResponseTaskName } from '../tasks/registry.js';
import { changesPerMinute, currentGeneration, newestWrittenAt } from './exchange-console.repository.js';

/** The tasks that write to the exchange folder (not the audit log's pruning): the console's "Run now". */
export const EXPORT_TASKS = (Object.keys(RESPONSE_TASKS) as ResponseTaskName[]).filter((name) => {
  const spec: { streams: readonly string[]; heartbeat?: true } = RESPONSE_TASKS[name];
  return spec.streams.length > 0 || spec.heartbeat === true;
});

/** GET /exchange/status: response/export-status.ts (what `netsync sync status` shows), as a list. */
export async function exchangeStatus(db: Kysely<ResponseDatabase>, exchangeDir: string) {
  const status = await readExportStatus(db, exchangeDir);
  const streams = [];
  for (const stream of STREAMS) {
    const s = status.streams[stream];
    streams.push({
      stream,
      newest_seq_written: s.newest_written_seq,
      newest_written_at: await newestWrittenAt(db, stream),
      files_in_folder: s.batches_in_folder,
      oldest_in_folder_seq: s.oldest_in_folder_seq,
      pruned_count: s.pruned_count,
      snapshot: s.snapshot && { file: s.snapshot.file, seq: s.snapshot.seq, written_at: s.snapshot.created_at },
      outbox_waiting: s.unexported_rows,
      oldest_waiting_at: s.oldest_unexported_at,
    });
  }
  return {
    generation: await currentGeneration(db),
    checked_at: status.checked_at,
    streams,
    export_tasks: [...EXPORT_TASKS],
  };
}

/** Every state a kept job may be in; finished ones are kept an hour (platform/queue.ts). */
const JOB_TYPES: JobType[] = ['active', 'waiting', 'prioritized', 'delayed', 'completed', 'failed'];
/** How many jobs of each state are read: the export tasks' runs among them, newest first, are kept. */
const READ_PER_STATE = 500;

/** Celery's name for the job's state, as platform/task-state.ts gives it for GET /tasks/{id}. */
async function stateOf(queue: Queue, job: Job): Promise<TaskState> {
  const raw = await queue.getJobState(job.id as string);
  if (raw === 'completed') return 'SUCCESS';
  if (raw === 'failed') return 'FAILURE';
  if (raw === 'active') return 'STARTED';
  return job.attemptsMade > 0 ? 'RETRY' : 'PENDING';
}

/**
 * GET /exchange/runs: the newest `limit` runs of the export tasks the queue still keeps (finished ones
 * for an hour), newest first by when they were queued. Throws RedisUnavailable (503) while Redis is down.
 */
export async function exportRuns(queue: Queue, limit: number) {
  const names = new Set<string>(EXPORT_TASKS);
  const jobs = await withRedis(queue, () => queue.getJobs(JOB_TYPES, 0, READ_PER_STATE - 1, false));
  const runs = (jobs as Job[])
    .filter((job) => job?.id && names.has(job.name))
    .sort((a, b) => b.timestamp - a.timestamp)
    .slice(0, limit);
  return withRedis(queue, () =>
    Promise.all(
      runs.map(async (job) => ({
        id: job.id as string,
        task: job.name,
        state: await stateOf(queue, job),
        created_at: new Date(job.timestamp).toISOString(),
        started_at: isoFromMs(job.processedOn),
        finished_at: isoFromMs(job.finishedOn),
        duration_ms: job.processedOn && job.finishedOn ? Math.max(0, job.finishedOn - job.processedOn) : null,
        error: job.failedReason ? job.failedReason : null,
      })),
    ),
  );
}

const MINUTE_MS = 60_000;

/** GET /exchange/activity: one entry per minute of the last `minutes` (the current one last), zeros included. */
export async function exportActivity(db: Kysely<ResponseDatabase>, minutes: number, now = Date.now()) {
  const first = Math.floor(now / MINUTE_MS) * MINUTE_MS - (minutes - 1) * MINUTE_MS;
  const counted = new Map(
    (await changesPerMinute(db, new Date(first).toISOString())).map((r) => [r.minute, r.changes] as const),
  );
  return Array.from({ length: minutes }, (_, i) => {
    const minute = new Date(first + i * MINUTE_MS).toISOString();
    return { minute, changes: counted.get(minute.slice(0, 16)) ?? 0 };
  });
}
