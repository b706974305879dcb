import { Type } from 'typebox';
import { type App, AUTH_ERRORS, authenticate } from '../../platform/http.js';
import type { RequestDeps } from '../deps.js';
import { HistoryQuery, readSyncHistory, SyncHistoryEntry } from './sync-history.js';
import { readSyncStatus, SyncStatus } from './sync-status.js';

/** GET /sync/status (per stream, how far the importer got and how far behind it is) and GET /sync/history. */
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

  app.get(
    '/sync/history',
    {
      preHandler: [authenticate],
      schema: {
        tags: ['sync'],
        summary: "Per stream and minute over the window: the minute's highest sync lag and backlog (kept 24 h)",
        security: [{ bearer: [] }],
        querystring: HistoryQuery,
        response: { 200: Type.Array(SyncHistoryEntry), ...AUTH_ERRORS },
      },
    },
    async (req) => readSyncHistory(deps.db.kysely, req.query.minutes),
  );
}
