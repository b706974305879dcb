import { STREAMS } from '../exchange/index.js';
import type { App } from '../platform/http.js';
import { registerOps } from '../platform/ops.js';
import type { RequestDeps } from './deps.js';
import { pendingBatches } from './sync/pending.js';
import { listImportStreams, quarantineCounts } from './sync/sync.repository.js';

/**
 * The Request API's operator surface: GET /ready (database, Redis and a readable exchange folder) and
 * GET /metrics, with the quarantine count and the sync lag read on scrape.
 */
export function registerRequestOps(app: App, deps: RequestDeps): void {
  const db = deps.db.kysely;
  const exchangeDir = deps.config.exchangeDir;
  registerOps(app, deps, 'read');

  deps.metrics.gaugeOnScrape(
    {
      name: 'netsync_quarantined_files',
      help: 'Exchange files refused (and copied to quarantine), by stream (rows of quarantine_log)',
      labelNames: ['stream'],
    },
    async (set) => {
      const counts = await quarantineCounts(db);
      for (const stream of STREAMS) set({ stream }, 0);
      for (const [stream, n] of counts) set({ stream }, n);
    },
    app.log,
  );

  deps.metrics.gaugeOnScrape(
    {
      name: 'netsync_sync_lag_seconds',
      help: 'How long the oldest batch file not yet applied has waited in the exchange folder, by stream (0 when none)',
      labelNames: ['stream'],
    },
    async (set) => {
      const states = await listImportStreams(db);
      const lastSeq = new Map(states.map((s) => [s.stream, s.last_seq]));
      for (const stream of STREAMS) {
        const landed = (await pendingBatches(exchangeDir, stream, lastSeq.get(stream) ?? 0)).oldestAt;
        set({ stream }, landed === undefined ? 0 : Math.max(0, (Date.now() - landed) / 1000));
      }
    },
    app.log,
  );
}
