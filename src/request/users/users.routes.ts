import { Type } from 'typebox';
import { NotFound } from '../../platform/errors.js';
import { type App, AUTH_ERRORS, authenticate, ErrorResponse } from '../../platform/http.js';
import { listPage, NEXT_CURSOR_HEADER, Page } from '../../platform/pagination.js';
import type { RequestDeps } from '../deps.js';
import { findUser, listUsers, type SyncedUserRow, USER_ORDER } from './users.repository.js';
import { SyncedUser, UserIdParams } from './users.schemas.js';

const userOut = ({ profile_type_name, ...user }: SyncedUserRow) => ({
  ...user,
  is_active: user.is_active === 1,
  is_admin: user.is_admin === 1,
  profile_type:
    user.profile_type_id !== null && profile_type_name !== null
      ? { id: user.profile_type_id, name: profile_type_name }
      : null,
});

/**
 * The synced users, read-only. Deleted users are not shown. An admin sees every user; anyone else sees
 * only their own account: the list holds just them, and another user's id is not found (404, so a
 * plain user cannot tell which ids exist).
 */
export function registerSyncedUserRoutes(app: App, deps: RequestDeps): void {
  const db = deps.db.kysely;
  app.get(
    '/users',
    {
      preHandler: [authenticate],
      schema: {
        tags: ['users'],
        summary: `One page of synced users in name order (the next page: ${NEXT_CURSOR_HEADER}): every user for an admin, only yourself for anyone else`,
        security: [{ bearer: [] }],
        querystring: Page,
        response: { 200: Type.Array(SyncedUser), ...AUTH_ERRORS },
      },
    },
    async (req, reply) => {
      const only = req.user.admin ? undefined : req.user.sub;
      const rows = await listPage(
        reply,
        USER_ORDER,
        req.query,
        { only },
        (page) => listUsers(db, page, only),
        (u) => [u.username_key, u.id],
      );
      return rows.map(({ username_key: _, ...u }) => userOut(u));
    },
  );
  app.get(
    '/users/:id',
    {
      preHandler: [authenticate],
      schema: {
        tags: ['users'],
        summary: 'A synced user: any user for an admin, only your own account for anyone else (else 404)',
        security: [{ bearer: [] }],
        params: UserIdParams,
        response: { 200: SyncedUser, 404: ErrorResponse, ...AUTH_ERRORS },
      },
    },
    async (req) => {
      if (!req.user.admin && req.params.id !== req.user.sub) throw new NotFound('user');
      const row = await findUser(db, req.params.id);
      if (!row) throw new NotFound('user');
      return userOut(row);
    },
  );
}
