import { Type } from 'typebox';
import { type App, AUTH_ERRORS, authenticate, ErrorResponse, requireAdmin } from '../../platform/http.js';
import type { ResponseDeps } from '../deps.js';
import { ActivityOut, ActivityQuery, ExchangeStatusOut, ExportRunOut, RunsQuery } from './exchange-console.schemas.js';
import { exchangeStatus, exportActivity, exportRuns } from './exchange-console.service.js';

/** What the console's Exchange page shows (admin only): the folder per stream, the recent runs, the activity. */
export function registerExchangeConsoleRoutes(app: App, deps: ResponseDeps): void {
  const guard = { preHandler: [authenticate, requireAdmin], security: [{ bearer: [] }] };
  app.get(
    '/exchange/status',
    {
      preHandler: guard.preHandler,
      schema: {
        tags: ['exchange'],
        summary: 'Per stream: newest batch written, files in the folder, the snapshot, changes waiting in the outbox',
        security: guard.security,
        response: { 200: ExchangeStatusOut, ...AUTH_ERRORS },
      },
    },
    async () => exchangeStatus(deps.db.kysely, deps.config.exchangeDir),
  );

  app.get(
    '/exchange/runs',
    {
      preHandler: guard.preHandler,
      schema: {
        tags: ['exchange'],
        summary: 'Recent runs of the export tasks (kept 1 hour), newest first',
        security: guard.security,
        querystring: RunsQuery,
        response: { 200: Type.Array(ExportRunOut), 503: ErrorResponse, ...AUTH_ERRORS },
      },
    },
    async (req) => exportRuns(deps.queue, req.query.limit),
  );

  app.get(
    '/exchange/activity',
    {
      preHandler: guard.preHandler,
      schema: {
        tags: ['exchange'],
        summary: 'Changes written to batch files per minute over the window, zeros included',
        security: guard.security,
        querystring: ActivityQuery,
        response: { 200: Type.Array(ActivityOut), ...AUTH_ERRORS },
      },
    },
    async (req) => exportActivity(deps.db.kysely, req.query.minutes),
  );
}
