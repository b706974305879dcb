import { Type } from 'typebox';
import { NotFound } from '../../platform/errors.js';
import { type App, AUTH_ERRORS, authenticate, ErrorResponse } from '../../platform/http.js';
import { startsWith } from '../../platform/sql.js';
import type { RequestDeps } from '../deps.js';

const SyncedSetting = Type.Object({
  id: Type.String(),
  key: Type.String(),
  value: Type.Unknown({ description: 'Any JSON value, as the Response Network holds it' }),
  version: Type.Integer(),
  created_at: Type.String(),
  updated_at: Type.String(),
  synced_at: Type.String(),
});

const Query = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
  offset: Type.Integer({ minimum: 0, default: 0 }),
  prefix: Type.Optional(
    Type.String({
      pattern: '^[a-z0-9_.-]*$',
      maxLength: 255,
      description: 'Only keys starting with this, e.g. "app."',
    }),
  ),
});

const COLUMNS = ['id', 'key', 'value', 'version', 'created_at', 'updated_at', 'synced_at'] as const;
const out = <R extends { value: string }>(r: R) => ({ ...r, value: JSON.parse(r.value) as unknown });

/** The synced settings, read-only. Deleted settings are not shown. */
export function registerSyncedSettingRoutes(app: App, deps: RequestDeps): void {
  const db = deps.db.kysely;
  app.get(
    '/settings',
    {
      preHandler: [authenticate],
      schema: {
        tags: ['settings'],
        summary: 'One page of synced settings in key order',
        security: [{ bearer: [] }],
        querystring: Query,
        response: { 200: Type.Array(SyncedSetting), ...AUTH_ERRORS },
      },
    },
    async (req) => {
      let q = db.selectFrom('settings').select(COLUMNS).where('deleted_at', 'is', null);
      if (req.query.prefix) q = q.where(startsWith('key', req.query.prefix));
      const rows = await q.orderBy('key').orderBy('id').limit(req.query.limit).offset(req.query.offset).execute();
      return rows.map(out);
    },
  );
  app.get(
    '/settings/:key',
    {
      preHandler: [authenticate],
      schema: {
        tags: ['settings'],
        security: [{ bearer: [] }],
        params: Type.Object({ key: Type.String({ minLength: 1, maxLength: 255 }) }),
        response: { 200: SyncedSetting, 404: ErrorResponse, ...AUTH_ERRORS },
      },
    },
    async (req) => {
      // Newest first: while a key moves from a deleted setting to a new one, both rows may be held.
      const row = await db
        .selectFrom('settings')
        .select(COLUMNS)
        .where('key', '=', req.params.key)
        .where('deleted_at', 'is', null)
        .orderBy('updated_at', 'desc')
        .executeTakeFirst();
      if (!row) throw new NotFound(`setting "${req.params.key}"`);
      return out(row);
    },
  );
}
