import { Type } from 'typebox';
import { NotFound } from '../../platform/errors.js';
import { type App, AUTH_ERRORS, authenticate, ErrorResponse } from '../../platform/http.js';
import { containsIgnoringCase } from '../../platform/sql.js';
import type { RequestDeps } from '../deps.js';

const SyncedProfileType = Type.Object({
  id: Type.String(),
  name: Type.String(),
  description: Type.Union([Type.String(), Type.Null()]),
  version: Type.Integer(),
  created_at: Type.String(),
  updated_at: Type.String(),
  synced_at: Type.String(),
});

const Query = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
  offset: Type.Integer({ minimum: 0, default: 0 }),
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 100, description: 'Names containing this, any case' })),
});

const COLUMNS = ['id', 'name', 'description', 'version', 'created_at', 'updated_at', 'synced_at'] as const;

/** The synced profile types, read-only. Deleted types are not shown. */
export function registerSyncedProfileTypeRoutes(app: App, deps: RequestDeps): void {
  const db = deps.db.kysely;
  app.get(
    '/profile-types',
    {
      preHandler: [authenticate],
      schema: {
        tags: ['profile-types'],
        summary: 'One page of synced profile types in name order',
        security: [{ bearer: [] }],
        querystring: Query,
        response: { 200: Type.Array(SyncedProfileType), ...AUTH_ERRORS },
      },
    },
    async (req) => {
      let q = db.selectFrom('profile_types').select(COLUMNS).where('deleted_at', 'is', null);
      if (req.query.name) q = q.where(containsIgnoringCase('name', req.query.name));
      return q.orderBy('name').orderBy('id').limit(req.query.limit).offset(req.query.offset).execute();
    },
  );
  app.get(
    '/profile-types/:id',
    {
      preHandler: [authenticate],
      schema: {
        tags: ['profile-types'],
        security: [{ bearer: [] }],
        params: Type.Object({ id: Type.String({ format: 'uuid' }) }),
        response: { 200: SyncedProfileType, 404: ErrorResponse, ...AUTH_ERRORS },
      },
    },
    async (req) => {
      const row = await db
        .selectFrom('profile_types')
        .select(COLUMNS)
        .where('id', '=', req.params.id)
        .where('deleted_at', 'is', null)
        .executeTakeFirst();
      if (!row) throw new NotFound('profile type');
      return row;
    },
  );
}
