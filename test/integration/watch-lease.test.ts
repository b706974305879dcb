import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { STREAMS } from '../../src/exchange/index.js';
import { redisConnection } from '../../src/platform/redis.js';
import { watchExchange } from '../../src/request/tasks/watcher.js';
import { EVENT_DEADLINE_MS, uniqueName, waitFor } from '../helpers/system.js';

const logger = pino({ level: 'silent' });

/**
 * Several Request workers each watch the exchange folder; only the one holding the watch lease enqueues
 * imports for files landing, and another takes over when it stops.
 */
describe('the exchange watcher with several Request workers', () => {
  let dir: string;
  let redis: Redis;
  let queue: Queue;
  const closers: (() => Promise<void>)[] = [];

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'netsync-lease-'));
    for (const s of STREAMS) fs.mkdirSync(path.join(dir, s), { recursive: true });
    redis = redisConnection(inject('redisUrl'));
    queue = new Queue('request', { connection: redis, prefix: uniqueName('lease') });
  });
  afterEach(async () => {
    for (const close of closers.splice(0)) await close();
    await queue.obliterate({ force: true });
    await queue.close();
    redis.disconnect();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const jobs = async () => (await queue.getJobs(['waiting', 'prioritized', 'delayed'])).length;
  const watcher = async () => {
    const w = await watchExchange(dir, queue, redisConnection(inject('redisUrl')), logger);
    closers.push(() => w.close());
    return w;
  };
  const land = (name: string) => fs.writeFileSync(path.join(dir, 'settings', name), '{}');

  it('enqueues one import per file landing, not one per watcher; the other takes over when the holder stops', async () => {
    const first = await watcher();
    await waitFor(
      async () => (await jobs()) === 1,
      EVENT_DEADLINE_MS,
      'the first watcher to enqueue its start-up import',
    );
    await watcher();
    await waitFor(
      async () => (await jobs()) === 2,
      EVENT_DEADLINE_MS,
      'the second watcher to enqueue its start-up import',
    );

    land('0000000000000001.json');
    await waitFor(async () => (await jobs()) === 3, EVENT_DEADLINE_MS, 'an import for the file');
    // The holder stops: the other takes the lease at its next look and enqueues an import of its own
    // (files may have landed while nobody led). An add by it for the first file would have come long
    // before, so the count shows it made none.
    const closedAt = Date.now();
    await first.close();
    await waitFor(async () => (await jobs()) >= 4, EVENT_DEADLINE_MS, 'the import of the watcher taking over');
    const all = await queue.getJobs(['waiting', 'prioritized', 'delayed']);
    expect(all).toHaveLength(4);
    expect(all.filter((j) => j.timestamp >= closedAt)).toHaveLength(1);

    land('0000000000000002.json');
    await waitFor(
      async () => (await jobs()) === 5,
      EVENT_DEADLINE_MS,
      'an import for the next file, by the new holder',
    );
  });
});
