import { Type } from 'typebox';
import { type App, AUTH_ERRORS, authenticate, ErrorResponse, notFound } from '../../platform/http.js';
import type { RequestDeps } from '../deps.js';

const SyncedUser = Type.Object({
  id: Type.String(),
  username: Type.String(),
  email: Type.Union([Type.String(), Type.Null()]),
  is_active: Type.Boolean(),
  is_admin: Type.Boolean(),
  profile_type_id: Type.Union([Type.String(), Type.Null()]),
  created_at: Type.String(),
  updated_at: Type.String(),
  synced_at: Type.String(),
});

const Page = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
  offset: Type.Integer({ minimum: 0, default: 0 }),
});

const out = (u: {
  id: string;
  username: string;
  email: string | null;
  is_active: number;
  is_admin: number;
  profile_type_id: string | null;
  created_at: string;
  updated_at: string;
  synced_at: string;
}) => ({ ...u, is_active: u.is_active === 1, is_admin: u.is_admin === 1 });

const COLUMNS = [
  'id',
  'username',
  'email',
  'is_active',
  'is_admin',
  'profile_type_id',
  'created_at',
  'updated_at',
  'synced_at',
] as const;

/** The synced users, read-only. Deleted users are not shown. */
export function registerSyncedUserRoutes(app: App, deps: RequestDeps): void {
  const db = deps.db.kysely;
  app.get(
    '/users',
    {
      preHandler: [authenticate],
      schema: {
        tags: ['users'],
        security: [{ bearer: [] }],
        querystring: Page,
        response: { 200: Type.Array(SyncedUser), ...AUTH_ERRORS },
      },
    },
    async (req) => {
      const rows = await db
        .selectFrom('users')
        .select(COLUMNS)
        .where('deleted_at', 'is', null)
        .orderBy('created_at')
        .orderBy('id')
        .limit(req.query.limit)
        .offset(req.query.offset)
        .execute();
      return rows.map(out);
    },
  );
  app.get(
    '/users/:id',
    {
      preHandler: [authenticate],
      schema: {
        tags: ['users'],
        security: [{ bearer: [] }],
        params: Type.Object({ id: Type.String({ format: 'uuid' }) }),
        response: { 200: SyncedUser, 404: ErrorResponse, ...AUTH_ERRORS },
      },
    },
    async (req) => {
      const row = await db
        .selectFrom('users')
        .select(COLUMNS)
        .where('id', '=', req.params.id)
        .where('deleted_at', 'is', null)
        .executeTakeFirst();
      if (!row) throw notFound('user');
      return out(row);
    },
  );
}
