import fs from 'node:fs/promises';
import type { Queue } from 'bullmq';
import { Type } from 'typebox';
import { type Db, pingDb } from './db.js';
import { type App, registerHealth } from './http.js';
import type { NetworkMetrics } from './metrics.js';
import { queueClient } from './queue.js';

/** What either network's dependencies hold for its operator surface. */
export interface OpsDeps<Schema> {
  readonly metrics: NetworkMetrics;
  /** The network's database and Redis, which /health and /ready check. */
  readonly db: Db<Schema>;
  readonly pingRedis: () => Promise<boolean>;
  /** The exchange folder, which /ready also checks (see FolderAccess): without it nothing is exported or imported. */
  readonly config: { readonly exchangeDir: string };
  /** The queue whose depths /metrics reports. */
  readonly queue: Queue;
}

/** Job states reported as queue depths, as `queue length` shows them. */
export const DEPTH_STATES = ['waiting', 'active', 'delayed', 'failed', 'completed', 'prioritized'] as const;

/**
 * How each network uses the exchange folder: the Response side writes it; the Request side only reads it
 * (it may be a read-only mount or a mirror), so it must not be reported unready for lacking write access.
 */
export type FolderAccess = 'read' | 'write';

/** True when `dir` is a folder this process can list and read, and write when `access` is 'write'. */
export async function folderUsable(dir: string, access: FolderAccess): Promise<boolean> {
  const { R_OK, W_OK, X_OK } = fs.constants;
  try {
    if (!(await fs.stat(dir)).isDirectory()) return false;
    await fs.access(dir, access === 'write' ? R_OK | W_OK | X_OK : R_OK | X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * GET /health (database and Redis), GET /ready (and the exchange folder), GET /metrics, and the HTTP
 * request metrics of every route. /metrics is unauthenticated, as Prometheus expects: it shows counts,
 * never data, and the API listens on loopback by default.
 */
export function registerOps<Schema>(
  app: App,
  opts: OpsDeps<Schema>,
  exchangeAccess: FolderAccess,
  /** More checks /ready makes, by name (the Request side's: not stale). */
  readyChecks: Record<string, () => Promise<boolean>> = {},
): void {
  const { metrics } = opts;
  const health = { database: () => pingDb(opts.db), redis: opts.pingRedis };
  registerHealth(app, health);
  app.addHook('onResponse', async (req, reply) => {
    // The route pattern, not the URL: ids in paths must not explode the label set.
    const labels = { method: req.method, route: req.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) };
    metrics.httpRequests.inc(labels);
    metrics.httpDuration.observe(labels, reply.elapsedTime / 1000);
  });

  metrics.gaugeOnScrape(
    { name: 'netsync_queue_jobs', help: 'Jobs in each queue by state, read on scrape', labelNames: ['queue', 'state'] },
    async (set) => {
      const { queue } = opts;
      if ((await queueClient(queue)).status !== 'ready') return;
      const counts = await queue.getJobCounts(...DEPTH_STATES);
      for (const state of DEPTH_STATES) set({ queue: queue.name, state }, counts[state] ?? 0);
    },
    app.log,
  );

  const exchangeFolder = () => folderUsable(opts.config.exchangeDir, exchangeAccess);
  registerHealth(app, { ...health, exchange_folder: exchangeFolder, ...readyChecks }, '/ready');

  app.get(
    '/metrics',
    {
      schema: {
        tags: ['ops'],
        summary: 'Prometheus metrics of this network (text exposition format)',
        produces: ['text/plain'],
        response: { 200: Type.String({ description: 'text/plain; version=0.0.4' }) },
      },
    },
    async (_req, reply) => {
      const body = await metrics.registry.metrics();
      return reply.type(metrics.registry.contentType).send(body);
    },
  );
}
