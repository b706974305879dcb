import { Type } from 'typebox';
import { NotFound } from '../../platform/errors.js';
import { type App, AUTH_ERRORS, authenticate, ErrorResponse } from '../../platform/http.js';
import type { RequestDeps } from '../deps.js';

const SyncedUser = Type.Object({
  id: Type.String(),
  username: Type.String(),
  email: Type.Union([Type.String(), Type.Null()]),
  is_active: Type.Boolean(),
  is_admin: Type.Boolean(),
  profile_type_id: Type.Union([Type.String(), Type.Null()]),
  /** The user's synced profile type; null when none, or when it is not (or no longer) synced. */
  profile_type: Type.Union([Type.Object({ id: Type.String(), name: Type.String() }), Type.Null()]),
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
  profile_type_name: string | null;
}) => {
  const { profile_type_name, ...rest } = u;
  return {
    ...rest,
    is_active: u.is_active === 1,
    is_admin: u.is_admin === 1,
    profile_type:
      u.profile_type_id !== null && profile_type_name !== null
        ? { id: u.profile_type_id, name: profile_type_name }
        : null,
  };
};

const COLUMNS = [
  'users.id',
  'users.username',
  'users.email',
  'users.is_active',
  'users.is_admin',
  'users.profile_type_id',
  'users.created_at',
  'users.updated_at',
  'users.synced_at',
  'profile_types.name as profile_type_name',
] as const;

/** The synced users, read-only. Deleted users are not shown. */
export function registerSyncedUserRoutes(app: App, deps: RequestDeps): void {
  const db = deps.db.kysely;
  // A type deleted (or not yet synced) shows as no type; the id stays visible in profile_type_id.
  const withType = () =>
    db
      .selectFrom('users')
      .leftJoin('profile_types', (j) =>
        j.onRef('profile_types.id', '=', 'users.profile_type_id').on('profile_types.deleted_at', 'is', null),
      )
      .select(COLUMNS)
      .where('users.deleted_at', 'is', null);
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
      const rows = await withType()
        .orderBy('users.created_at')
        .orderBy('users.id')
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
      const row = await withType().where('users.id', '=', req.params.id).executeTakeFirst();
      if (!row) throw new NotFound('user');
      return out(row);
    },
  );
}
