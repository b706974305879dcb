/**
 * A worker process for the shutdown tests: the platform's worker, Lifecycle and signal handling, with a
 * task that sleeps `data.ms`, so a test can signal it with a job in flight. Queue: SLOW_QUEUE.
 */
import { loadConfig } from '../../src/platform/config.js';
import { createLogger } from '../../src/platform/logger.js';
import { redisConnection } from '../../src/platform/redis.js';
import { Lifecycle } from '../../src/platform/shutdown.js';
import { startWorker } from '../../src/platform/worker.js';

const config = loadConfig();
const logger = createLogger(config.logLevel);
const lifecycle = new Lifecycle(logger, config.shutdownGraceS);
lifecycle.handleSignals();
const redis = redisConnection(config.redisUrl);
redis.on('error', () => undefined);
lifecycle.add({ name: 'redis', stop: async () => void redis.disconnect() });
const running = startWorker({
  queue: process.env.SLOW_QUEUE ?? 'slow',
  prefix: config.queuePrefix,
  connection: redis,
  logger,
  concurrency: 1,
  handle: async (job) => {
    const ms = (job.data as { ms: number }).ms;
    await new Promise((r) => setTimeout(r, ms));
    return { slept: ms };
  },
});
lifecycle.add({ name: 'worker', stop: () => running.close(config.shutdownGraceS * 1000) });
