import cluster, { type Worker } from 'node:cluster';
import type { Runtime } from './runtime.js';

/** A replacement for a process that died is forked at most this often, so a crash loop cannot spin. */
const RESPAWN_MIN_INTERVAL_MS = 1000;

/**
 * Runs an API as `API_PROCESSES` processes sharing its port (node:cluster: the first process accepts the
 * connections and hands them to the others in turn), or in this process when it is 1 (the default).
 *
 * Each API process is the same program (`netsync <side> api`, started again by cluster) with the same
 * configuration: its own database connection and Redis connections, the one login throttle and session
 * channel in Redis (platform/login-throttle.ts, platform/sessions.ts), so what one process decides the
 * others see. The first process serves no request itself: it starts the others, replaces one that
 * dies, and on SIGTERM/SIGINT stops them (each finishes its requests, as a lone API does) before it
 * exits. Node 20 has no `reusePort`, hence cluster.
 */
export async function startApiProcesses(rt: Runtime, startOne: (rt: Runtime) => Promise<unknown>): Promise<void> {
  const n = rt.config.apiProcesses;
  if (n <= 1 || cluster.isWorker) {
    await startOne(rt);
    return;
  }
  const { logger } = rt;
  const workers = new Set<Worker>();
  let stopping = false;
  let lastSpawn = 0;

  const fork = (): Promise<void> =>
    new Promise((resolve, reject) => {
      lastSpawn = Date.now();
      const worker = cluster.fork();
      workers.add(worker);
      worker.once('listening', () => resolve());
      worker.once('exit', (code, signal) => {
        workers.delete(worker);
        if (stopping) return;
        const why = signal ?? `code ${code}`;
        reject(new Error(`an API process exited while starting (${why})`));
        logger.error({ pid: worker.process.pid, exit: why }, 'an API process died: starting another');
        const wait = Math.max(0, lastSpawn + RESPAWN_MIN_INTERVAL_MS - Date.now());
        setTimeout(() => {
          if (!stopping)
            fork().catch((err: Error) => logger.error({ err: err.message }, 'restarting an API process failed'));
        }, wait).unref();
      });
    });

  rt.lifecycle.add({
    name: `${n} API processes`,
    stop: async () => {
      stopping = true;
      await Promise.all(
        [...workers].map(
          (w) =>
            new Promise<void>((resolve) => {
              if (w.isDead()) return resolve();
              w.once('exit', () => resolve());
              w.process.kill('SIGTERM');
            }),
        ),
      );
    },
  });
  await Promise.all(Array.from({ length: n }, fork));
  logger.info({ processes: n }, `API serving from ${n} processes`);
}
