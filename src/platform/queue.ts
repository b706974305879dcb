import { type JobsOptions, Queue } from 'bullmq';
import type { Redis } from 'ioredis';

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

/** The queue's Redis connection (BullMQ 6 keeps it behind its backend). */
export const queueClient = (queue: Queue) => queue.getBackend().client;
