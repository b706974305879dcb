import { hostname } from 'node:os';
import type { Redis } from 'ioredis';

/**
 * What `netsync inspect workers` shows beside BullMQ's own list of connected workers, which knows a
 * worker's name and address but not its concurrency. Each worker keeps its entry in a hash per queue;
 * the hash expires when no worker of that queue refreshed it for `TTL_S`, and entries of workers that
 * died without removing theirs are ignored because BullMQ no longer lists them.
 */
export interface WorkerEntry {
  readonly name: string;
  readonly host: string;
  readonly pid: number;
  readonly concurrency: number;
  readonly started_at: string;
}

const TTL_S = 60;
const REFRESH_MS = 20_000;

export const workerPresenceKey = (prefix: string, queue: string): string => `${prefix}:${queue}:netsync-workers`;

/** Records this worker and keeps the record fresh until `stop()`. Redis errors are ignored: it is advisory. */
export function announceWorker(
  redis: Redis,
  prefix: string,
  queue: string,
  name: string,
  concurrency: number,
): { stop(): Promise<void> } {
  const key = workerPresenceKey(prefix, queue);
  const entry: WorkerEntry = {
    name,
    host: hostname(),
    pid: process.pid,
    concurrency,
    started_at: new Date().toISOString(),
  };
  const refresh = () => {
    redis
      .multi()
      .hset(key, name, JSON.stringify(entry))
      .expire(key, TTL_S)
      .exec()
      .catch(() => undefined);
  };
  refresh();
  const timer = setInterval(refresh, REFRESH_MS).unref();
  return {
    async stop() {
      clearInterval(timer);
      if (redis.status === 'ready') await redis.hdel(key, name).catch(() => undefined);
    },
  };
}

/** Every recorded worker of `queue`, by name. */
export async function readWorkerPresence(
  redis: Redis,
  prefix: string,
  queue: string,
): Promise<Map<string, WorkerEntry>> {
  const raw = await redis.hgetall(workerPresenceKey(prefix, queue));
  const entries = new Map<string, WorkerEntry>();
  for (const [name, json] of Object.entries(raw)) {
    try {
      entries.set(name, JSON.parse(json) as WorkerEntry);
    } catch {}
  }
  return entries;
}
