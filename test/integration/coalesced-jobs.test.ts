import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, inject, it, vi } from 'vitest';
import { addCoalesced } from '../../src/platform/coalescing.js';
import { redisConnection } from '../../src/platform/redis.js';
import { type RunningWorker, startWorker } from '../../src/platform/worker.js';
import { EVENT_DEADLINE_MS, uniqueName, waitFor } from '../helpers/system.js';

const logger = pino({ level: 'silent' });

/** A handler whose runs can be held open, recording when each started and ended. */
function gatedHandler() {
  const runs: { id: string; start: number; end?: number }[] = [];
  let open: () => void = () => undefined;
  const gate = new Promise<void>((r) => {
    open = r;
  });
  let running = 0;
  let mostAtOnce = 0;
  return {
    runs,
    mostAtOnce: () => mostAtOnce,
    release() {
      open();
    },
    async handle(job: { id?: string }, busyMs = 0) {
      const run: { id: string; start: number; end?: number } = { id: job.id as string, start: performance.now() };
      runs.push(run);
      running++;
      mostAtOnce = Math.max(mostAtOnce, running);
      await gate;
      await new Promise((r) => setTimeout(r, busyMs));
      running--;
      run.end = performance.now();
      return { ok: true };
    },
  };
}

describe('coalesced jobs (addCoalesced + startWorker)', () => {
  let prefix: string;
  let redis: Redis;
  let queue: Queue;
  const workers: RunningWorker[] = [];

  beforeEach(() => {
    prefix = uniqueName('coalesce');
    redis = redisConnection(inject('redisUrl'));
    queue = new Queue('q', { connection: redis, prefix });
  });
  afterEach(async () => {
    for (const w of workers.splice(0)) await w.close(1000);
    await queue.obliterate({ force: true });
    await queue.close();
    redis.disconnect();
  });

  const start = (handle: (job: { id?: string }) => Promise<unknown>, concurrency = 4) => {
    const w = startWorker({
      queue: 'q',
      prefix,
      connection: redisConnection(inject('redisUrl')),
      logger,
      concurrency,
      handle,
    });
    workers.push(w);
    return w;
  };

  it('callers adding at once in one process share round trips, and all get the job that carries them', async () => {
    const add = vi.spyOn(queue, 'add');
    const ask = vi.spyOn(queue, 'getDeduplicationJobId');
    const ids = await Promise.all(Array.from({ length: 20 }, () => addCoalesced(queue, 'export', {}, 'export')));
    // The first goes out at once and adds the job; the other 19 arrive while it is in flight and share
    // the next round trip, which finds that job waiting (a plain read: no second add).
    expect(ask).toHaveBeenCalledTimes(2);
    expect(add).toHaveBeenCalledTimes(1);
    expect(new Set(ids).size).toBe(1);
    expect(await queue.getJobState(ids[0] as string)).toBe('waiting');
    add.mockRestore();
    ask.mockRestore();
  });

  it('adds while a job waits return that job; once it runs, the next add is a new job that runs after it', async () => {
    const first = await addCoalesced(queue, 'export', {}, 'export');
    expect(await addCoalesced(queue, 'export', {}, 'export')).toBe(first);
    expect(await addCoalesced(queue, 'export', {}, 'export')).toBe(first);

    const h = gatedHandler();
    start(h.handle);
    await waitFor(async () => h.runs.length === 1, EVENT_DEADLINE_MS, 'the first run');
    expect(h.runs[0]?.id).toBe(first);
    // The first run has started (it may have read everything already): a change now needs a new run.
    const second = await addCoalesced(queue, 'export', {}, 'export');
    expect(second).not.toBe(first);
    expect(await addCoalesced(queue, 'export', {}, 'export')).toBe(second);
    // The second waits for the first even though the worker has free slots, still absorbing adds.
    await new Promise((r) => setTimeout(r, 100));
    expect(h.runs).toHaveLength(1);
    expect(await addCoalesced(queue, 'export', {}, 'export')).toBe(second);

    h.release();
    await waitFor(async () => h.runs.length === 2 && h.runs[1]?.end !== undefined, EVENT_DEADLINE_MS, 'the second run');
    expect(h.runs.map((r) => r.id)).toEqual([first, second]);
    expect(h.runs[1]?.start).toBeGreaterThanOrEqual(h.runs[0]?.end as number);
    expect(await queue.getJobState(first)).toBe('completed');
    expect(await queue.getJobState(second)).toBe('completed');
  });

  it('runs of one key never overlap across workers, and every id handed out is a job that ran', async () => {
    const h = gatedHandler();
    h.release();
    const slow = (job: { id?: string }) => h.handle(job, 5);
    // Three workers as three processes would have them: each its own connection.
    for (let i = 0; i < 3; i++) start(slow);
    const ids = new Set<string>();
    for (let i = 0; i < 60; i++) {
      ids.add(await addCoalesced(queue, 'export', {}, 'export'));
      await new Promise((r) => setTimeout(r, 2));
    }
    await waitFor(
      async () => h.runs.length >= ids.size && h.runs.every((r) => r.end !== undefined),
      EVENT_DEADLINE_MS,
      'runs',
    );
    expect(h.mostAtOnce()).toBe(1);
    // Every id handed out was a job that ran.
    expect(new Set(h.runs.map((r) => r.id))).toEqual(ids);
  });

  // A worker killed (SIGKILL) at the wrong moment leaves its job's key or its run lock behind.
  it('a key left by a job that never started lapses after 2 s, and a dead run lock after 5 s', async () => {
    const stuck = await addCoalesced(queue, 'export', {}, 'export');
    // The key is held for at most 2 s (read from Redis rather than slept through: a loaded machine's
    // sleep can overrun it); meanwhile adds join the stuck job, and once it lapses they make a new one.
    const key = `${prefix}:q:de:export`;
    const ttl = await redis.pttl(key);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(2000);
    expect(await addCoalesced(queue, 'export', {}, 'export')).toBe(stuck);
    await waitFor(async () => (await redis.exists(key)) === 0, EVENT_DEADLINE_MS, 'the key to lapse');
    const next = await addCoalesced(queue, 'export', {}, 'export');
    expect(next).not.toBe(stuck);

    await redis.set(`${prefix}:q:run:export`, 'a-dead-worker', 'PX', 5000);
    const h = gatedHandler();
    h.release();
    const started = performance.now();
    start(h.handle);
    await waitFor(
      async () => h.runs.length === 2 && h.runs.every((r) => r.end !== undefined),
      EVENT_DEADLINE_MS,
      'both runs',
    );
    expect((h.runs[0]?.start ?? 0) - started).toBeGreaterThan(4000);
    expect(new Set(h.runs.map((r) => r.id))).toEqual(new Set([stuck, next]));
  }, 30_000);
});
