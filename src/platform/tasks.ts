import { randomUUID } from 'node:crypto';
import { type Job, type JobsOptions, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { Unavailable } from './errors.js';

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

/** The seed's result TTL: finished results stay one hour. Retries: the seed's max_retries=3. */
export const RESULT_TTL_S = 3600;
export const DEFAULT_JOB_OPTIONS: JobsOptions = {
  attempts: 4,
  backoff: { type: 'exponential', delay: 1000 },
  removeOnComplete: { age: RESULT_TTL_S, count: 50_000 },
  removeOnFail: { age: RESULT_TTL_S, count: 50_000 },
};

export function createQueue(name: string, prefix: string, connection: Redis): Queue {
  const queue = new Queue(name, { connection, prefix, defaultJobOptions: DEFAULT_JOB_OPTIONS });
  // Without a listener BullMQ prints every reconnect attempt of an outage to stderr; the outage shows in
  // /health and /ready, and each call that needs Redis fails on its own.
  queue.on('error', () => undefined);
  return queue;
}

const iso = (ms: number | undefined) => (ms ? new Date(ms).toISOString() : null);

/** The queue's Redis connection (BullMQ 6 keeps it behind its backend). */
export const queueClient = (queue: Queue) => queue.getBackend().client;

/** Redis is down or not answering: the HTTP layer answers 503, and the caller may retry. */
export class RedisUnavailable extends Unavailable {
  constructor() {
    super('Redis is unavailable; try again shortly');
    this.name = 'RedisUnavailable';
  }
}

/**
 * Runs `op` on the queue's Redis, failing fast with RedisUnavailable while the connection is down or
 * the answer takes longer than `ms`. The connections wait through outages instead of failing
 * (`maxRetriesPerRequest: null`, which workers need), so without this a request would hang.
 */
export async function withRedis<T>(queue: Queue, op: () => Promise<T>, ms = 2000): Promise<T> {
  const client = await within(queueClient(queue), ms);
  if (client?.status !== 'ready') throw new RedisUnavailable();
  const answer = await within(
    op().then((value) => ({ value })),
    ms,
  );
  if (!answer) throw new RedisUnavailable();
  return answer.value;
}

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
    started_at: iso(job.processedOn),
    finished_at: iso(job.finishedOn),
  };
}

const COALESCE_MS = 2000;

/** Per queue and key, in this process: whether an add is in flight, and the add that will follow it. */
interface Lane {
  busy: boolean;
  next?: Promise<string>;
  sendNext?: () => void;
}
const lanes = new WeakMap<Queue, Map<string, Lane>>();

/**
 * Adds a job meaning "run `name` soon", coalesced on `key`: while a job with that key is waiting, adding
 * another returns the waiting one instead. startWorker drops the key when a job starts, before it reads
 * anything, so the job returned always starts after the caller's add, and so after the caller's commit.
 * Under load this turns one job per change into one job per run, each carrying every change committed
 * before it started.
 *
 * In one process, callers arriving while an add of the same key is in flight share the add that follows
 * it, sent when it returns, so after each of their commits: one round trip for all of them.
 * @returns the id of the job that will carry the caller's change
 */
export function addCoalesced(queue: Queue, name: string, data: object, key: string): Promise<string> {
  const keys = lanes.get(queue) ?? new Map<string, Lane>();
  lanes.set(queue, keys);
  const theLane = keys.get(key) ?? { busy: false };
  keys.set(key, theLane);
  const send = (): Promise<string> => {
    theLane.busy = true;
    const sent = sendCoalesced(queue, name, data, key);
    const after = () => {
      theLane.busy = false;
      const sendNext = theLane.sendNext;
      theLane.next = undefined;
      theLane.sendNext = undefined;
      sendNext?.();
    };
    sent.then(after, after);
    return sent;
  };
  if (!theLane.busy) return send();
  theLane.next ??= new Promise<string>((resolve, reject) => {
    theLane.sendNext = () => send().then(resolve, reject);
  });
  return theLane.next;
}

async function sendCoalesced(queue: Queue, name: string, data: object, key: string): Promise<string> {
  // A job with this key waits (has not dropped the key, so has read nothing): it carries the caller's
  // change. Asking is a plain GET, where the add it saves builds a job and runs a script.
  const waiting = await queue.getDeduplicationJobId(key);
  if (waiting) return waiting;
  // The key lapses after COALESCE_MS even if its job never starts (its worker was killed before it
  // could drop the key): adds then make a new job instead of joining one that waits for BullMQ's stall
  // check. A job that merely waits longer is joined by no one after that and runs all the same.
  const job = await queue.add(name, data, { jobId: randomUUID(), deduplication: { id: key, ttl: COALESCE_MS } });
  return job.id as string;
}

/** Resolves with `promise`, or with undefined once `ms` pass (the promise may still settle later). */
export async function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<undefined>((r) => {
        timer = setTimeout(() => r(undefined), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
