import { Type } from 'typebox';
import { NotFound } from '../../platform/errors.js';
import { type App, AUTH_ERRORS, authenticate, ErrorResponse, requireAdmin } from '../../platform/http.js';
import { listPage, NEXT_CURSOR_HEADER } from '../../platform/pagination.js';
import { auditContextOf } from '../audit/audit.routes.js';
import type { ResponseDeps } from '../deps.js';
import {
  findProfileType,
  listProfileTypes,
  PROFILE_TYPE_ORDER,
  type ProfileTypeRow,
  profileTypeKey,
} from './profile-types.repository.js';
import {
  ProfileTypeCreate,
  ProfileTypeIdParams,
  ProfileTypeOut,
  ProfileTypePatch,
  ProfileTypesQuery,
} from './profile-types.schemas.js';
import { changeProfileType, createProfileType, deleteProfileType } from './profile-types.service.js';

export const profileTypeOut = (p: ProfileTypeRow) => ({
  id: p.id,
  name: p.name,
  description: p.description,
  version: p.version,
  created_at: p.created_at,
  updated_at: p.updated_at,
});

/** Profile types: admin only. Every change is exported to the Request Network within a second. */
export function registerProfileTypeRoutes(app: App, deps: ResponseDeps): void {
  const db = deps.db.kysely;
  const guard = { preHandler: [authenticate, requireAdmin] };
  const tags = ['profile-types'];
  const security = [{ bearer: [] }];
  const exportNow = (log: typeof app.log) => deps.enqueue('export_profile_types', {}, log);

  app.post(
    '/profile-types',
    {
      ...guard,
      schema: {
        tags,
        security,
        body: ProfileTypeCreate,
        response: { 201: ProfileTypeOut, 409: ErrorResponse, ...AUTH_ERRORS },
      },
    },
    async (req, reply) => {
      const row = await createProfileType(db, req.body, auditContextOf(req));
      req.log.info({ profile_type_id: row.id }, 'profile type created');
      await exportNow(req.log);
      return reply.status(201).send(profileTypeOut(row));
    },
  );

  app.get(
    '/profile-types',
    {
      ...guard,
      schema: {
        tags,
        security,
        summary: `One page of profile types in name order (the next page: ${NEXT_CURSOR_HEADER})`,
        querystring: ProfileTypesQuery,
        response: { 200: Type.Array(ProfileTypeOut), ...AUTH_ERRORS },
      },
    },
    async (req, reply) => {
      const filters = { name: req.query.name };
      const rows = await listPage(
        reply,
        PROFILE_TYPE_ORDER,
        req.query,
        filters,
        (page) => listProfileTypes(db, filters, page),
        profileTypeKey,
      );
      return rows.map(profileTypeOut);
    },
  );

  app.get(
    '/profile-types/:id',
    {
      ...guard,
      schema: {
        tags,
        security,
        params: ProfileTypeIdParams,
        response: { 200: ProfileTypeOut, 404: ErrorResponse, ...AUTH_ERRORS },
      },
    },
    async (req) => {
      const row = await findProfileType(db, req.params.id);
      if (!row) throw new NotFound('profile type');
      return profileTypeOut(row);
    },
  );

  app.patch(
    '/profile-types/:id',
    {
      ...guard,
      schema: {
        tags,
        security,
        params: ProfileTypeIdParams,
        body: ProfileTypePatch,
        response: { 200: ProfileTypeOut, 404: ErrorResponse, 409: ErrorResponse, ...AUTH_ERRORS },
      },
    },
    async (req) => {
      const row = await changeProfileType(db, req.params.id, req.body, auditContextOf(req));
      req.log.info({ profile_type_id: row.id, version: row.version }, 'profile type changed');
      await exportNow(req.log);
      return profileTypeOut(row);
    },
  );

  app.delete(
    '/profile-types/:id',
    {
      ...guard,
      schema: {
        tags,
        security,
        summary: 'Delete a profile type no live user has (409 otherwise)',
        params: ProfileTypeIdParams,
        response: { 204: Type.Null(), 404: ErrorResponse, 409: ErrorResponse, ...AUTH_ERRORS },
      },
    },
    async (req, reply) => {
      const row = await deleteProfileType(db, req.params.id, auditContextOf(req));
      req.log.info({ profile_type_id: row.id }, 'profile type deleted');
      await exportNow(req.log);
      return reply.status(204).send(null);
    },
  );
}
