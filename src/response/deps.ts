import type { Queue } from 'bullmq';
import { addCoalescedWithin } from '../platform/coalescing.js';
import type { Config } from '../platform/config.js';
import type { Db } from '../platform/db.js';
import type { Logger } from '../platform/logger.js';
import type { NetworkMetrics } from '../platform/metrics.js';
import type { Sessions } from '../platform/sessions.js';
import type { ResponseDatabase } from './db/schema.js';
import type { ExportTaskData, ResponseTaskName } from './tasks/registry.js';

/** Everything the Response API needs; tests build it with their own database, queue and folders. */
export interface ResponseDeps {
  readonly config: Config;
  readonly db: Db<ResponseDatabase>;
  readonly queue: Queue;
  readonly jwtSecret: string;
  readonly logger: Logger;
  readonly pingRedis: () => Promise<boolean>;
  /** This network's metrics registry, served at GET /metrics. */
  readonly metrics: NetworkMetrics;
  /** Checks each token's session; told after every commit that changes an account. */
  readonly sessions: Sessions;
  /** The built web console's folder (index.html, assets/); default `<repo>/dist/web/response/`. */
  readonly consoleRoot?: string;
  /**
   * Enqueues a task after a commit and returns the id of the task that will carry the change (changes
   * committed while a run waits share it), or null when Redis does not take it within 2 s: the change is
   * already in the outbox, and the scheduled export carries it.
   */
  readonly enqueue: (name: ResponseTaskName, data: ExportTaskData, log: Logger) => Promise<string | null>;
}

/** How long a request waits, after its commit, for Redis to take the export task. */
const ENQUEUE_DEADLINE_MS = 2000;

export function queueEnqueuer(queue: Queue): ResponseDeps['enqueue'] {
  return async (name, data, log) => {
    try {
      // Coalesced (platform/coalescing.ts): changes committed while a run of this task waits share that
      // run and its id. A run that also writes the snapshot is a kind of its own.
      const key = data.snapshot ? `${name}.snapshot` : name;
      const id = await addCoalescedWithin(queue, name, data, key, ENQUEUE_DEADLINE_MS);
      if (id) return id;
      log.warn(
        { task: name },
        `Redis did not take the task within ${ENQUEUE_DEADLINE_MS / 1000} s; the scheduled export will carry the change`,
      );
    } catch (err) {
      log.warn(
        { task: name, err: (err as Error).message },
        'could not enqueue; the scheduled export will carry the change',
      );
    }
    return null;
  };
}
