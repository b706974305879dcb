import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SpawnedRedis, spawnRedis } from '../../src/platform/redis.js';
import { RESPONSE_QUEUE } from '../../src/response/tasks/registry.js';
import { freePort, type RunningCli, runCli, runScript } from '../helpers/cli.js';
import {
  bearer,
  canLogin,
  EVENT_DEADLINE_MS,
  startSystem,
  type TestEnv,
  type TestSystem,
  testEnv,
  waitFor,
} from '../helpers/system.js';

type Child = RunningCli;

/** test/helpers/slow-worker.ts in a child process: the platform's worker and signal handling. */
const slowWorker = (env: Record<string, string>): Child =>
  runScript('test/helpers/slow-worker.ts', [], { ...env, LOG_LEVEL: 'info' });

describe('shutdown on SIGTERM/SIGINT', () => {
  let env: TestEnv;
  let redis: Redis;
  const queues: Queue[] = [];
  const children: Child[] = [];
  beforeAll(() => {
    env = testEnv();
    redis = new Redis(env.config.redisUrl, { maxRetriesPerRequest: null });
  });
  afterAll(async () => {
    for (const c of children) if (c.child.exitCode === null) c.child.kill('SIGKILL');
    for (const q of queues) {
      await q.obliterate({ force: true }).catch(() => undefined);
      await q.close();
    }
    redis.disconnect();
    await env.cleanup();
  });

  /** A worker process on a queue of its own, with one job of `ms` in flight once this resolves. */
  async function workerWithJob(name: string, graceS: number, ms: number) {
    const queue = new Queue(name, { connection: redis, prefix: env.config.queuePrefix });
    queues.push(queue);
    const child = slowWorker({ ...env.env, SLOW_QUEUE: name, SHUTDOWN_GRACE_S: String(graceS) });
    children.push(child);
    const job = await queue.add('sleep', { ms }, { attempts: 3 });
    await child.waitForOutput(new RegExp(`Received task: sleep\\[${job.id}\\]`));
    return { queue, child, job };
  }

  // The three cases run side by side: each child needs ~2 s to start, and they share nothing.
  it('finishes an in-flight job within the grace period, returns one past it, and a second signal exits at once', async () => {
    const [finishing, overrunning, impatient] = await Promise.all([
      workerWithJob('finishing', 10, 1500),
      workerWithJob('overrunning', 1, 60_000),
      workerWithJob('impatient', 30, 60_000),
    ]);

    // 1. The job ends inside the grace period: it completes, then the process exits 0.
    finishing.child.child.kill('SIGTERM');
    // 2. The job outlives a 1 s grace period: it goes back to the queue, and the process exits 0.
    const signalledAt = Date.now();
    overrunning.child.child.kill('SIGTERM');
    // 3. The first signal starts a 30 s grace period; the second exits at once.
    impatient.child.child.kill('SIGINT');
    await impatient.child.waitForOutput(/SIGINT: stopping \(jobs get 30 s to finish/);
    const againAt = Date.now();
    impatient.child.child.kill('SIGINT');

    const finished = await finishing.child.ended;
    expect(finished.code).toBe(0);
    expect(await finishing.job.getState()).toBe('completed');
    expect((await finishing.queue.getJob(finishing.job.id as string))?.returnvalue).toEqual({ slept: 1500 });
    expect(finishing.child.output()).toMatch(/Task sleep\[\S+\] succeeded in 1\.\d+s/);

    const returned = await overrunning.child.ended;
    expect(returned.code).toBe(0);
    // After the 1 s grace, not after the job's 60 s (the margin is for a loaded machine).
    expect(returned.at - signalledAt).toBeLessThan(20_000);
    expect(overrunning.child.output()).toContain(`Task sleep[${overrunning.job.id}] returned to the queue`);
    expect(await overrunning.job.getState()).toBe('waiting');
    // Nothing lost: another worker takes it straight away, without waiting for a stalled-job check.
    const taker = new Worker('overrunning', null, { connection: redis.duplicate(), prefix: env.config.queuePrefix });
    try {
      const again = await taker.getNextJob('taker');
      expect(again?.id).toBe(overrunning.job.id);
      expect(again?.data).toEqual({ ms: 60_000 });
    } finally {
      await taker.close();
    }

    const aborted = await impatient.child.ended;
    expect(aborted.code).toBe(130);
    // At once, not at the end of the 30 s grace.
    expect(aborted.at - againAt).toBeLessThan(15_000);
    expect(impatient.child.output()).toContain('SIGINT again: exiting now');
  });

  it('`netsync up` stops everything on SIGTERM and exits 0', async () => {
    const up = runCli(['up'], { ...env.env, LOG_LEVEL: 'info' });
    await up.waitForOutput(/netsync is up\. Press Ctrl-C to stop\./);
    up.child.kill('SIGTERM');
    expect(await up.exited).toBe(0);
    expect(up.output()).toMatch(/SIGTERM: stopping \(jobs get 2 s to finish/);
  });
});

describe('losing Redis', () => {
  let server: SpawnedRedis;
  let dir: string;
  let url: string;
  let sys: TestSystem;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'netsync-redis-outage-'));
    url = `redis://127.0.0.1:${await freePort()}/0`;
    server = await spawnRedis(url, dir);
    sys = await startSystem({ env: { REDIS_URL: url } });
  });
  afterAll(async () => {
    await sys?.stop();
    await server?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const admin = () => bearer(sys.adminToken);
  const basicAdmin = { authorization: `Basic ${Buffer.from('admin:Admin-pass-1').toString('base64')}` };

  it('answers 503 on what needs Redis while it is down, recovers by itself, and loses no job or change', async () => {
    // Ready once its Redis connection is up (connecting takes a moment on a loaded machine).
    await waitFor(
      async () => (await sys.response.inject({ url: '/ready' })).statusCode === 200,
      EVENT_DEADLINE_MS,
      'ready',
    );
    const run = await sys.response.inject({ method: 'POST', url: '/tasks/export_users/run', headers: admin() });
    const doneBefore = run.json().task_id as string;
    await waitFor(
      async () =>
        (await sys.response.inject({ url: `/tasks/${doneBefore}`, headers: admin() })).json().state === 'SUCCESS',
    );

    // A job that comes due while Redis is down: it must run once Redis is back.
    const client = new Redis(url, { maxRetriesPerRequest: null });
    client.on('error', () => undefined);
    const queue = new Queue(RESPONSE_QUEUE, { connection: client, prefix: sys.env.config.queuePrefix });
    await queue.add('export_users', { snapshot: true }, { jobId: 'due-during-outage', delay: 2000 });
    await queue.close();
    client.disconnect();

    await server.stop();

    const started = Date.now();
    const task = await sys.response.inject({ url: `/tasks/${doneBefore}`, headers: admin() });
    expect(task.statusCode).toBe(503);
    expect(task.headers['retry-after']).toBe('5');
    expect(task.json()).toEqual({ detail: 'Redis is unavailable; try again shortly' });
    // Fails fast (a 2 s deadline) instead of waiting for Redis to come back.
    expect(Date.now() - started).toBeLessThan(10_000);
    for (const app of [sys.response, sys.request]) {
      const ready = await app.inject({ url: '/ready' });
      expect(ready.statusCode).toBe(503);
      expect(ready.json().checks).toMatchObject({ database: 'ok', redis: 'failed', exchange_folder: 'ok' });
      expect((await app.inject({ url: '/health' })).statusCode).toBe(503);
      // Metrics still answer: the queue depths are left out until Redis is back.
      const metrics = await app.inject({ url: '/metrics' });
      expect(metrics.statusCode).toBe(200);
      expect(metrics.body).not.toMatch(/^netsync_queue_jobs\{/m);
    }
    expect((await sys.response.inject({ url: '/admin/queues', headers: basicAdmin })).statusCode).toBe(503);
    // A change does not need Redis: it commits with its outbox record, and an export carries it later.
    const created = await sys.response.inject({
      method: 'POST',
      url: '/users',
      headers: admin(),
      payload: { username: 'nomad', password: 'Travel-pass-7' },
    });
    expect(created.statusCode).toBe(201);

    server = await spawnRedis(url, dir);

    await waitFor(
      async () =>
        (await sys.response.inject({ url: '/ready' })).statusCode === 200 &&
        (await sys.request.inject({ url: '/ready' })).statusCode === 200,
      EVENT_DEADLINE_MS,
      'both APIs ready again',
    );
    // The job survived the restart (Redis keeps its append-only file) and the workers reconnected to run it.
    await waitFor(
      async () =>
        (await sys.response.inject({ url: '/tasks/due-during-outage', headers: admin() })).json().state === 'SUCCESS',
      EVENT_DEADLINE_MS,
      'the delayed job to run after the restart',
    );
    await waitFor(
      () => canLogin(sys.request, 'nomad', 'Travel-pass-7'),
      EVENT_DEADLINE_MS,
      'the change made offline synced',
    );
    expect((await sys.response.inject({ url: `/tasks/${doneBefore}`, headers: admin() })).json().state).toBe('SUCCESS');
  });
});
