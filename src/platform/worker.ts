import { hostname } from 'node:os';
import { type Job, type Queue, UnrecoverableError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { beginCoalescedRun } from './coalescing.js';
import { type Logger, withLogContext } from './logger.js';
import type { NetworkMetrics } from './metrics.js';
import { within } from './within.js';
import { announceWorker } from './worker-presence.js';

export interface WorkerOptions {
  readonly queue: string;
  readonly prefix: string;
  readonly connection: Redis;
  readonly logger: Logger;
  readonly concurrency: number;
  /** Runs one job; throw UnrecoverableError for input that will never become valid. */
  readonly handle: (job: Job, log: Logger) => Promise<unknown>;
  /** Where job durations and outcomes are counted; omitted, they are not. */
  readonly metrics?: NetworkMetrics;
}

export interface RunningWorker {
  readonly worker: Worker;
  /** Stops taking jobs and waits up to `graceMs` for running ones; past that they return to the queue. */
  close(graceMs?: number): Promise<void>;
}

/** A BullMQ worker that logs as a Celery worker does: received, succeeded in N s, failed. */
export function startWorker(opts: WorkerOptions): RunningWorker {
  const name = `${opts.queue}@${hostname()}:${process.pid}`;
  // Jobs running now, with the lock token that lets us hand them back at shutdown.
  const inFlight = new Map<string, { job: Job; token: string }>();
  let closing = false;
  const worker = new Worker(
    opts.queue,
    async (job, token) => {
      if (job.id && token) inFlight.set(job.id, { job, token });
      const log = opts.logger.child({ task_id: job.id, task: job.name });
      log.info(`Received task: ${job.name}[${job.id}]${job.repeatJobKey ? ` (schedule ${job.repeatJobKey})` : ''}`);
      const started = performance.now();
      let release: (() => Promise<void>) | undefined;
      try {
        // Before the handler reads anything: a coalesced job waits its turn, then stops absorbing adds
        // (the rules are in coalescing.ts).
        release = await beginCoalescedRun(job, opts.connection, () => closing);
        const result = await withLogContext({ task_id: job.id, task: job.name }, () => opts.handle(job, log));
        const s = ((performance.now() - started) / 1000).toFixed(3);
        log.info({ result }, `Task ${job.name}[${job.id}] succeeded in ${s}s`);
        observe('success');
        return result;
      } catch (err) {
        observe('failure');
        log.error(
          { err, attempt: job.attemptsMade + 1 },
          `Task ${job.name}[${job.id}] raised: ${(err as Error).message}`,
        );
        throw err;
      } finally {
        if (job.id) inFlight.delete(job.id);
        await release?.().catch(() => undefined);
      }
      function observe(outcome: 'success' | 'failure') {
        const seconds = (performance.now() - started) / 1000;
        opts.metrics?.jobDuration.observe({ queue: opts.queue, task: job.name, outcome }, seconds);
      }
    },
    { connection: opts.connection, prefix: opts.prefix, concurrency: opts.concurrency, name, autorun: true },
  );
  // Without an 'error' listener a lost connection would crash the process; BullMQ reconnects itself.
  worker.on('error', (err) => opts.logger.warn({ err: err.message }, 'worker connection error; retrying'));
  opts.logger.info({ queue: opts.queue, concurrency: opts.concurrency }, `worker ${name} ready`);
  const presence = announceWorker(opts.connection, opts.prefix, opts.queue, name, opts.concurrency);
  /**
   * Moves each running job back to waiting (releasing its lock), so another worker takes it at once
   * instead of after its lock lapses. True when every one went back.
   */
  const returnInFlight = async () => {
    let all = true;
    for (const { job, token } of inFlight.values()) {
      const moved = await within(
        job.moveToWait(token).then(() => true),
        1000,
      ).catch(() => false);
      if (moved) opts.logger.info({ task_id: job.id }, `Task ${job.name}[${job.id}] returned to the queue`);
      all &&= moved === true;
    }
    return all;
  };
  return {
    worker,
    async close(graceMs = 10_000) {
      closing = true;
      await presence.stop();
      const done = await within(
        worker.close().then(() => true),
        graceMs,
      );
      if (done) return;
      opts.logger.warn(`jobs still running after ${graceMs} ms: returning them to the queue`);
      // BullMQ's close(true) after close() only returns the close already waiting for the handlers, so
      // once every job is back in the queue there is nothing left to wait for.
      if (await returnInFlight()) return;
      // worker.close() has no timeout of its own: with Redis gone even a forced close can wait forever.
      // Past this the caller disconnects the connection; a job whose lock lapses is retried elsewhere.
      if (
        !(await within(
          worker.close(true).then(() => true),
          2000,
        ))
      ) {
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
