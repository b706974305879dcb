import fs from 'node:fs/promises';
import { UnrecoverableError } from 'bullmq';
import type { Kysely } from 'kysely';
import { STREAMS, streamDir } from '../exchange/index.js';
import { type Db, migrate, openDb } from '../platform/db.js';
import { networkMetrics, streamOfPath } from '../platform/metrics.js';
import { hashPassword } from '../platform/passwords.js';
import { createQueue } from '../platform/queue.js';
import { openRedis, type Runtime, requireSigningKey } from '../platform/runtime.js';
import { Sessions } from '../platform/sessions.js';
import { startWorker, upsertSchedules } from '../platform/worker.js';
import { buildResponseApp } from './app.js';
import { responseMigrations } from './db/migrations.js';
import type { ResponseDatabase } from './db/schema.js';
import { queueEnqueuer } from './deps.js';
import { exportWhatWaits } from './tasks/catch-up.js';
import { isResponseTask, RESPONSE_QUEUE, responseSchedule, runResponseTask } from './tasks/registry.js';
import { findUserByName, sessionVersionOf } from './users/users.repository.js';
import { createUser } from './users/users.service.js';

/** Opens and migrates the Response database, registered for shutdown. */
export async function openResponseDb(rt: Runtime): Promise<Db<ResponseDatabase>> {
  const db = await openDb<ResponseDatabase>(rt.config.responseDatabaseUrl);
  rt.lifecycle.add({ name: 'response database', stop: () => db.close() });
  await migrate(db, responseMigrations(db.dialect));
  return db;
}

/** Creates the admin account on first start (from ADMIN_USERNAME/ADMIN_PASSWORD or the kept secrets). */
export async function ensureAdmin(db: Kysely<ResponseDatabase>, rt: Runtime): Promise<void> {
  const { adminUsername, adminPassword } = rt.secrets;
  if (await findUserByName(db, adminUsername)) return;
  const hashedPassword = await hashPassword(adminPassword, rt.config.bcryptCost);
  try {
    await createUser(db, { username: adminUsername, hashedPassword, isAdmin: true });
    rt.logger.info({ username: adminUsername }, 'created the admin account');
  } catch (err) {
    // Another process created it at the same moment.
    if (!(await findUserByName(db, adminUsername))) throw err;
  }
}

const queuePrefix = (rt: Runtime) => rt.config.queuePrefix;

/** `consoleRoot`: where the built web console is (tests give a folder of their own). */
export async function startResponseApi(
  rt: Runtime,
  opts: { listen: boolean; consoleRoot?: string } = { listen: true },
) {
  const logger = rt.logger.child({ component: 'response-api' });
  const db = await openResponseDb(rt);
  await ensureAdmin(db.kysely, rt);
  const { redis, ping } = openRedis(rt, rt.config.responseRedisUrl, 'response api redis');
  const queue = createQueue(RESPONSE_QUEUE, queuePrefix(rt), redis);
  const app = await buildResponseApp({
    config: rt.config,
    db,
    queue,
    jwtSecret: rt.secrets.responseJwtSecret,
    logger,
    pingRedis: ping,
    metrics: networkMetrics(rt, 'response'),
    enqueue: queueEnqueuer(queue),
    sessions: new Sessions(redis, `${queuePrefix(rt)}:${RESPONSE_QUEUE}`, logger, (id) =>
      sessionVersionOf(db.kysely, id),
    ),
    ...(opts.consoleRoot && { consoleRoot: opts.consoleRoot }),
  });
  rt.lifecycle.add({ name: 'response api', stop: () => app.close() });
  if (opts.listen) await app.listen({ host: rt.config.host, port: rt.config.responsePort });
  return app;
}

export async function startResponseWorker(rt: Runtime, concurrency = 4) {
  const logger = rt.logger.child({ component: 'response-worker' });
  const signingKey = requireSigningKey(rt);
  const db = await openResponseDb(rt);
  const { redis } = openRedis(rt, rt.config.responseRedisUrl, 'response worker redis');
  const ctx = { db: db.kysely, exchangeDir: rt.config.exchangeDir, signingKey, batchSize: 5000, logger };
  const metrics = networkMetrics(rt, 'response');
  // The snapshot export prunes batch files older than this that it carries (response/retention.ts).
  const retentionS = rt.config.exchangeRetentionS;
  // The exchange folder and its stream folders are the Response side's to make (the Request side only
  // reads them): made now, they are there for /ready and the Request side's watcher before the first export.
  for (const stream of STREAMS)
    await fs.mkdir(streamDir(rt.config.exchangeDir, stream), { recursive: true, mode: 0o700 });
  const running = startWorker({
    queue: RESPONSE_QUEUE,
    prefix: queuePrefix(rt),
    connection: redis,
    logger,
    concurrency,
    metrics,
    handle: async (job) => {
      if (!isResponseTask(job.name)) throw new UnrecoverableError(`unknown task ${job.name}`);
      const result = await runResponseTask(
        { ...ctx, retentionS, auditRetentionDays: rt.config.auditRetentionDays },
        job.name,
        job.data ?? {},
      );
      for (const file of result.files) metrics.exchangeFiles.inc({ direction: 'exported', stream: streamOfPath(file) });
      return result;
    },
  });
  rt.lifecycle.add({ name: 'response worker', stop: () => running.close(rt.config.shutdownGraceS * 1000) });
  // What a crash interrupted (changes committed but not in the folder) goes out now, not in 30-60 s.
  // Not awaited: with Redis down the add waits for it, and the worker must start all the same.
  const queue = createQueue(RESPONSE_QUEUE, queuePrefix(rt), redis);
  rt.lifecycle.add({ name: 'response catch-up queue', stop: () => queue.close() });
  exportWhatWaits(db.kysely, queue, logger).catch((err: Error) => {
    logger.warn({ err: err.message }, 'could not enqueue the exports waiting at start; the schedule will carry them');
  });
  return running;
}

export async function startResponseBeat(rt: Runtime) {
  const logger = rt.logger.child({ component: 'response-beat' });
  const { redis } = openRedis(rt, rt.config.responseRedisUrl, 'response beat redis');
  const queue = createQueue(RESPONSE_QUEUE, queuePrefix(rt), redis);
  rt.lifecycle.add({ name: 'response beat', stop: () => queue.close() });
  await upsertSchedules(queue, responseSchedule(rt.config.exportIntervalS), logger);
  return queue;
}
