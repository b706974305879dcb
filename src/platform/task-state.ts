import type { Job, Queue } from 'bullmq';
import { isoFromMs } from './time.js';
import { withRedis } from './with-redis.js';

/** Celery's task states, which the seed's users know. RETRY is a failed attempt waiting to run again. */
export type TaskState = 'PENDING' | 'STARTED' | 'RETRY' | 'SUCCESS' | 'FAILURE';

export interface TaskInfo {
  task_id: string;
  name: string;
  state: TaskState;
  result: unknown;
  error: string | null;
  traceback: string | null;
  attempts: number;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
}

/**
 * A job as the seed's `AsyncResult` shows a task (GET /tasks/{id}, `netsync result`), or undefined when
 * the queue holds no such job (never added, or its result expired: see RESULT_TTL_S). Throws
 * RedisUnavailable while Redis does not answer.
 */
export async function taskInfo(queue: Queue, id: string): Promise<TaskInfo | undefined> {
  // State first, then the job: a job read before it finished and judged after would show SUCCESS with
  // no result. Read in this order, a finished state always comes with its result.
  const raw = await withRedis(queue, () => queue.getJobState(id));
  if (raw === 'unknown') return undefined;
  const job: Job | undefined = await withRedis(queue, () => queue.getJob(id));
  if (!job) return undefined;
  let state: TaskState;
  if (raw === 'completed') state = 'SUCCESS';
  else if (raw === 'failed') state = 'FAILURE';
  else if (raw === 'active') state = 'STARTED';
  else if (job.attemptsMade > 0) state = 'RETRY';
  else state = 'PENDING';
  return {
    task_id: id,
    name: job.name,
    state,
    result: state === 'SUCCESS' ? (job.returnvalue ?? null) : null,
    error: job.failedReason ? job.failedReason : null,
    traceback: state === 'FAILURE' || state === 'RETRY' ? (job.stacktrace?.at(-1) ?? null) : null,
    attempts: job.attemptsMade,
    created_at: new Date(job.timestamp).toISOString(),
    started_at: isoFromMs(job.processedOn),
    finished_at: isoFromMs(job.finishedOn),
  };
}
