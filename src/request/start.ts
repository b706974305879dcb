import { UnrecoverableError } from 'bullmq';
import { type Db, migrate, openDb } from '../platform/db.js';
import { networkMetrics, streamOfPath } from '../platform/metrics.js';
import { createQueue } from '../platform/queue.js';
import { openRedis, type Runtime, requireTrustedKeys } from '../platform/runtime.js';
import { SessionSignals, Sessions } from '../platform/sessions.js';
import { startWorker, upsertSchedules } from '../platform/worker.js';
import { buildRequestApp } from './app.js';
import { requestMigrations } from './db/migrations.js';
import type { RequestDatabase } from './db/schema.js';
import { Importer } from './importer/importer.js';
import { IMPORT_TASK, REQUEST_QUEUE, requestSchedule } from './tasks/registry.js';
import { watchExchange } from './tasks/watcher.js';
import { sessionVersionOf } from './users/users.repository.js';

export async function openRequestDb(rt: Runtime): Promise<Db<RequestDatabase>> {
  const db = await openDb<RequestDatabase>(rt.config.requestDatabaseUrl);
  rt.lifecycle.add({ name: 'request database', stop: () => db.close() });
  await migrate(db, requestMigrations);
  return db;
}

/** `consoleRoot`: where the built web console is (tests give a folder of their own). */
export async function startRequestApi(rt: Runtime, opts: { listen: boolean; consoleRoot?: string } = { listen: true }) {
  const logger = rt.logger.child({ component: 'request-api' });
  const db = await openRequestDb(rt);
  const { redis, ping } = openRedis(rt, rt.config.requestRedisUrl, 'request api redis');
  const queue = createQueue(REQUEST_QUEUE, rt.config.queuePrefix, redis);
  const app = await buildRequestApp({
    config: rt.config,
    db,
    queue,
    jwtSecret: rt.secrets.requestJwtSecret,
    logger,
    pingRedis: ping,
    metrics: networkMetrics(rt, 'request'),
    sessions: new Sessions(redis, `${rt.config.queuePrefix}:${REQUEST_QUEUE}`, logger, (id) =>
      sessionVersionOf(db.kysely, id),
    ),
    ...(opts.consoleRoot && { consoleRoot: opts.consoleRoot }),
  });
  rt.lifecycle.add({ name: 'request api', stop: () => app.close() });
  if (opts.listen) await app.listen({ host: rt.config.host, port: rt.config.requestPort });
  return app;
}

/** The importer's worker, plus the watcher that wakes it when a file lands. */
export async function startRequestWorker(rt: Runtime, opts: { watch: boolean } = { watch: true }) {
  const logger = rt.logger.child({ component: 'request-worker' });
  const trustedKeys = requireTrustedKeys(rt);
  const db = await openRequestDb(rt);
  const { redis } = openRedis(rt, rt.config.requestRedisUrl, 'request worker redis');
  const importer = new Importer({
    db: db.kysely,
    exchangeDir: rt.config.exchangeDir,
    quarantineDir: rt.config.quarantineDir,
    trustedKeys,
    maxFileBytes: rt.config.maxFileBytes,
    maxAccountRemovals: rt.config.maxAccountRemovals,
    logger,
    exportIntervalS: rt.config.exportIntervalS,
    sessions: new SessionSignals(redis, `${rt.config.queuePrefix}:${REQUEST_QUEUE}`, logger),
  });
  const metrics = networkMetrics(rt, 'request');
  // One import at a time per process: imports in several processes are still safe (each batch is
  // claimed by compare-and-set), but within one there is nothing to gain.
  const running = startWorker({
    queue: REQUEST_QUEUE,
    prefix: rt.config.queuePrefix,
    connection: redis,
    logger,
    concurrency: 1,
    metrics,
    handle: async (job) => {
      if (job.name !== IMPORT_TASK) throw new UnrecoverableError(`unknown task ${job.name}`);
      const result = await importer.importAll();
      for (const file of result.files) metrics.exchangeFiles.inc({ direction: 'imported', stream: streamOfPath(file) });
      return result;
    },
  });
  rt.lifecycle.add({ name: 'request worker', stop: () => running.close(rt.config.shutdownGraceS * 1000) });
  if (opts.watch) {
    const queue = createQueue(REQUEST_QUEUE, rt.config.queuePrefix, redis);
    const watcher = await watchExchange(rt.config.exchangeDir, queue, logger);
    rt.lifecycle.add({ name: 'exchange watcher', stop: () => watcher.close() });
  }
  return { running, importer };
}

export async function startRequestBeat(rt: Runtime) {
  const logger = rt.logger.child({ component: 'request-beat' });
  const { redis } = openRedis(rt, rt.config.requestRedisUrl, 'request beat redis');
  const queue = createQueue(REQUEST_QUEUE, rt.config.queuePrefix, redis);
  rt.lifecycle.add({ name: 'request beat', stop: () => queue.close() });
  await upsertSchedules(queue, requestSchedule(rt.config.importIntervalS), logger);
  return queue;
}
