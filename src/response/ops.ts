import { pingDb } from '../platform/db.js';
import type { App } from '../platform/http.js';
import { folderUsable, registerOps } from '../platform/observability.js';
import { registerDashboard } from './dashboard.js';
import type { ResponseDeps } from './deps.js';

/**
 * The Response API's operator surface: GET /ready, GET /metrics and the queue dashboard. /health stays
 * as it is (database and Redis); /ready also needs the exchange folder, without which nothing exports.
 */
export async function registerResponseOps(app: App, deps: ResponseDeps): Promise<void> {
  const db = deps.db.kysely;
  registerOps(app, {
    metrics: deps.metrics,
    queues: [deps.queue],
    ready: {
      database: () => pingDb(deps.db),
      redis: deps.pingRedis,
      exchange_folder: () => folderUsable(deps.config.exportDir),
    },
  });

  deps.metrics.gaugeOnScrape(
    {
      name: 'netsync_export_lag_seconds',
      help: 'Age of the oldest change not yet written to the exchange folder (0 when none waits)',
    },
    async (set) => {
      const unclaimed = await db
        .selectFrom('outbox')
        .select((eb) => eb.fn.min('created_at').as('oldest'))
        .where('batch_seq', 'is', null)
        .executeTakeFirst();
      const unwritten = await db
        .selectFrom('export_batches')
        .select((eb) => eb.fn.min('created_at').as('oldest'))
        .where('written_at', 'is', null)
        .executeTakeFirst();
      const oldest = [unclaimed?.oldest, unwritten?.oldest]
        .filter((v): v is string => typeof v === 'string')
        .map((v) => Date.parse(v))
        .sort((a, b) => a - b)[0];
      set({}, oldest === undefined ? 0 : Math.max(0, (Date.now() - oldest) / 1000));
    },
    app.log,
  );

  await registerDashboard(app, { db, queue: deps.queue, pingRedis: deps.pingRedis });
}
