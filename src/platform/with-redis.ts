import type { Queue } from 'bullmq';
import { Unavailable } from './errors.js';
import { queueClient } from './queue.js';
import { within } from './within.js';

/** Redis is down or not answering: the HTTP layer answers 503, and the caller may retry. */
export class RedisUnavailable extends Unavailable {
  constructor() {
    super('Redis is unavailable; try again shortly');
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
