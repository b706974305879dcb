import { type App, AUTH_ERRORS, authenticate } from '../../platform/http.js';
import type { RequestDeps } from '../deps.js';
import { readSyncStatus, SyncStatus } from './sync-status.js';

/** GET /sync/status: per stream, how far the importer got and how far behind the Response Network it is. */
export function registerSyncStatusRoute(app: App, deps: RequestDeps): void {
  app.get(
    '/sync/status',
    {
      preHandler: [authenticate],
      schema: {
        tags: ['sync'],
        summary:
          'Per stream: last file applied, newest sequence applied, how far behind, quarantined files; ' +
          'the files the safety valve holds; whether this side is stale',
        security: [{ bearer: [] }],
        response: { 200: SyncStatus, ...AUTH_ERRORS },
      },
    },
    () => readSyncStatus(deps.db.kysely, deps.config.exchangeDir, deps.config.exportIntervalS),
  );
}
