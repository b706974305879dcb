import type { App } from '../platform/http.js';
import { networkLoginThrottle } from '../platform/login-throttle.js';
import { registerOps } from '../platform/ops.js';
import { registerDashboard } from './dashboard.js';
import type { ResponseDeps } from './deps.js';
import { oldestUnexportedChange } from './outbox.js';

/**
 * The Response API's operator surface: GET /ready, GET /metrics and the queue dashboard. /health stays
 * as it is (database and Redis); /ready also needs the exchange folder, without which nothing exports.
 */
export async function registerResponseOps(app: App, deps: ResponseDeps): Promise<void> {
  const db = deps.db.kysely;
  registerOps(app, deps, 'write');

  deps.metrics.gaugeOnScrape(
    {
      name: 'netsync_export_lag_seconds',
      help: 'Age of the oldest change not yet written to the exchange folder (0 when none waits)',
    },
    async (set) => {
      const oldest = await oldestUnexportedChange(db);
      set({}, oldest === undefined ? 0 : Math.max(0, (Date.now() - Date.parse(oldest)) / 1000));
    },
    app.log,
  );

  await registerDashboard(app, {
    db,
    queue: deps.queue,
    pingRedis: deps.pingRedis,
    throttle: networkLoginThrottle(deps, 'response'),
  });
}
