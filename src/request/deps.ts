import type { Queue } from 'bullmq';
import type { Config } from '../platform/config.js';
import type { Db } from '../platform/db.js';
import type { Logger } from '../platform/logger.js';
import type { NetworkMetrics } from '../platform/metrics.js';
import type { Sessions } from '../platform/sessions.js';
import type { RequestDatabase } from './db/schema.js';

/** Everything the Request API needs. It reads its own database only; nothing of the Response side. */
export interface RequestDeps {
  readonly config: Config;
  readonly db: Db<RequestDatabase>;
  readonly queue: Queue;
  readonly jwtSecret: string;
  readonly logger: Logger;
  readonly pingRedis: () => Promise<boolean>;
  /** This network's metrics registry, served at GET /metrics. */
  readonly metrics: NetworkMetrics;
  /** Checks each token's session against the synced account (the importer signals its changes). */
  readonly sessions: Sessions;
  /** The built web console's folder (index.html, assets/); default `<repo>/dist/web/request/`. */
  readonly consoleRoot?: string;
}
