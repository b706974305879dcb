import { Type } from 'typebox';
import { NotFound } from '../../platform/errors.js';
import { type App, AUTH_ERRORS, authenticate, ErrorResponse } from '../../platform/http.js';
import { listPage, NEXT_CURSOR_HEADER } from '../../platform/pagination.js';
import type { RequestDeps } from '../deps.js';
import { findProfileType, listProfileTypes, PROFILE_TYPE_ORDER, profileTypeKey } from './profile-types.repository.js';
import { ProfileTypeIdParams, ProfileTypesQuery, SyncedProfileType } from './profile-types.schemas.js';

/** The synced profile types, read-only. Deleted types are not shown. */
export function registerSyncedProfileTypeRoutes(app: App, deps: RequestDeps): void {
  const db = deps.db.kysely;
  app.get(
    '/profile-types',
    {
      preHandler: [authenticate],
      schema: {
        tags: ['profile-types'],
        summary: `One page of synced profile types in name order (the next page: ${NEXT_CURSOR_HEADER})`,
        security: [{ bearer: [] }],
        querystring: ProfileTypesQuery,
        response: { 200: Type.Array(SyncedProfileType), ...AUTH_ERRORS },
      },
    },
    async (req, reply) => {
      const filters = { name: req.query.name };
      return listPage(
        reply,
        PROFILE_TYPE_ORDER,
        req.query,
        filters,
        (page) => listProfileTypes(db, filters, page),
        profileTypeKey,
      );
    },
  );
  app.get(
    '/profile-types/:id',
    {
      preHandler: [authenticate],
      schema: {
        tags: ['profile-types'],
        security: [{ bearer: [] }],
        params: ProfileTypeIdParams,
        response: { 200: SyncedProfileType, 404: ErrorResponse, ...AUTH_ERRORS },
      },
    },
    async (req) => {
      const row = await findProfileType(db, req.params.id);
      if (!row) throw new NotFound('profile type');
      return row;
    },
  );
}
