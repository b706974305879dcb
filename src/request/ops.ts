import { STREAMS } from '../exchange/index.js';
import type { App } from '../platform/http.js';
import { registerOps } from '../platform/ops.js';
import type { RequestDeps } from './deps.js';
import { listHeldFiles } from './importer/held-files.js';
import { pendingBatches } from './sync/pending.js';
import { readStaleness } from './sync/staleness.js';
import { listImportStreams, quarantineCounts } from './sync/sync.repository.js';

/**
 * The Request API's operator surface: GET /ready (database, Redis, a readable exchange folder, and not
 * stale: a heartbeat fresh enough and no batch it names missing) and GET /metrics, with the quarantine
 * count, the held files, the sync lag and the staleness read on scrape.
 */
export function registerRequestOps(app: App, deps: RequestDeps): void {
  const db = deps.db.kysely;
  const exchangeDir = deps.config.exchangeDir;
  const staleness = () => readStaleness(db, deps.config.exportIntervalS);
  registerOps(app, deps, 'read', { heartbeat: async () => !(await staleness()).stale });

  deps.metrics.gaugeOnScrape(
    {
      name: 'netsync_request_stale',
      help: '1 while this Request side is stale (its newest heartbeat is over 3 export intervals old, or names a batch missing here), else 0',
    },
    async (set) => set({}, (await staleness()).stale ? 1 : 0),
    app.log,
  );

  deps.metrics.gaugeOnScrape(
    {
      name: 'netsync_request_heartbeat_age_seconds',
      help: "Age of the newest heartbeat accepted from the Response side (by the Response side's clock); absent before the first",
    },
    async (set) => {
      const { heartbeat } = await staleness();
      if (heartbeat) set({}, heartbeat.age_s);
    },
    app.log,
  );

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
      name: 'netsync_held_files',
      help: 'Exchange files the safety valve holds (each removes more than MAX_ACCOUNT_REMOVALS accounts) until `netsync sync confirm`, by stream',
      labelNames: ['stream'],
    },
    async (set) => {
      for (const stream of STREAMS) set({ stream }, 0);
      const held = new Map<string, number>();
      for (const h of await listHeldFiles(db)) held.set(h.stream, (held.get(h.stream) ?? 0) + 1);
      for (const [stream, n] of held) set({ stream }, n);
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
