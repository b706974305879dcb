import { hostname } from 'node:os';
import { type Job, type Queue, UnrecoverableError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from './logger.js';
import { within } from './tasks.js';

export interface WorkerOptions {
  readonly queue: string;
  readonly prefix: string;
  readonly connection: Redis;
  readonly logger: Logger;
  readonly concurrency: number;
  /** Runs one job; throw UnrecoverableError for input that will never become valid. */
  readonly handle: (job: Job, log: Logger) => Promise<unknown>;
}

export interface RunningWorker {
  readonly worker: Worker;
  /** Stops taking jobs and waits up to `graceMs` for running ones; past that they return to the queue. */
  close(graceMs?: number): Promise<void>;
}

/** A BullMQ worker that logs as a Celery worker does: received, succeeded in N s, failed. */
export function startWorker(opts: WorkerOptions): RunningWorker {
  const name = `${opts.queue}@${hostname()}:${process.pid}`;
  const worker = new Worker(
    opts.queue,
    async (job) => {
      const log = opts.logger.child({ task_id: job.id, task: job.name });
      log.info(`Received task: ${job.name}[${job.id}]${job.repeatJobKey ? ` (schedule ${job.repeatJobKey})` : ''}`);
      const started = performance.now();
      try {
        const result = await opts.handle(job, log);
        const s = ((performance.now() - started) / 1000).toFixed(3);
        log.info({ result }, `Task ${job.name}[${job.id}] succeeded in ${s}s`);
        return result;
      } catch (err) {
        log.error(
          { err, attempt: job.attemptsMade + 1 },
          `Task ${job.name}[${job.id}] raised: ${(err as Error).message}`,
        );
        throw err;
      }
    },
    { connection: opts.connection, prefix: opts.prefix, concurrency: opts.concurrency, name, autorun: true },
  );
  // Without an 'error' listener a lost connection would crash the process; BullMQ reconnects itself.
  worker.on('error', (err) => opts.logger.warn({ err: err.message }, 'worker connection error; retrying'));
  opts.logger.info({ queue: opts.queue, concurrency: opts.concurrency }, `worker ${name} ready`);
  return {
    worker,
    async close(graceMs = 10_000) {
      const done = await within(
        worker.close().then(() => true),
        graceMs,
      );
      if (done) return;
      opts.logger.warn(`jobs still running after ${graceMs} ms: returning them to the queue`);
      // worker.close() has no timeout of its own: with Redis gone even a forced close can wait forever.
      // Past this the caller disconnects the connection; a job whose lock lapses is retried elsewhere.
      if (!(await within(worker.close(true).then(() => true), 2000))) {
        opts.logger.warn('worker did not close (Redis unreachable?); leaving it to the connection shutdown');
      }
    },
  };
}

export { UnrecoverableError };

export interface Schedule {
  readonly id: string;
  readonly task: string;
  readonly everyMs: number;
  readonly data: object;
}

/**
 * The beat: upserts each schedule entry (idempotent: several beats never double an entry) and logs
 * them as celery beat does at start.
 */
export async function upsertSchedules(queue: Queue, entries: readonly Schedule[], logger: Logger): Promise<void> {
  for (const e of entries) {
    await queue.upsertJobScheduler(e.id, { every: e.everyMs }, { name: e.task, data: e.data });
    logger.info(`Schedule entry '${e.id}': ${e.task} ${(e.everyMs / 1000).toFixed(2)}s`);
  }
}
