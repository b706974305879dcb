import { Type } from 'typebox';
import { NotFound } from '../../platform/errors.js';
import {
  type App,
  AUTH_ERRORS,
  authenticate,
  ErrorResponse,
  requireAdmin,
  requireSelfOrAdmin,
} from '../../platform/http.js';
import { listPage, NEXT_CURSOR_HEADER } from '../../platform/pagination.js';
import { auditContextOf } from '../audit/audit.routes.js';
import type { ResponseDeps } from '../deps.js';
import { findUser, listUsers, USER_ORDER, type UserRow, userKey } from './users.repository.js';
import {
  ResetPassword,
  ResetPasswordOut,
  UserCreate,
  UserIdParams,
  UserOut,
  UserPatch,
  UsersQuery,
} from './users.schemas.js';
import { changeUser, createUserWithPassword, deleteUser, resetPassword } from './users.service.js';

export const userOut = (u: UserRow) => ({
  id: u.id,
  username: u.username,
  email: u.email,
  is_active: u.is_active === 1,
  is_admin: u.is_admin === 1,
  profile_type_id: u.profile_type_id,
  created_at: u.created_at,
  updated_at: u.updated_at,
  password_changed_at: u.password_changed_at,
});

export function registerUserRoutes(app: App, deps: ResponseDeps): void {
  const db = deps.db.kysely;

  app.post(
    '/users',
    {
      preHandler: [authenticate, requireAdmin],
      schema: {
        tags: ['users'],
        security: [{ bearer: [] }],
        body: UserCreate,
        response: { 201: UserOut, 409: ErrorResponse, ...AUTH_ERRORS },
      },
    },
    async (req, reply) => {
      const b = req.body;
      const user = await createUserWithPassword(
        db,
        {
          username: b.username,
          password: b.password,
          email: b.email ?? null,
          isAdmin: b.is_admin ?? false,
          isActive: b.is_active ?? true,
          profileTypeId: b.profile_type_id ?? null,
        },
        deps.config.bcryptCost,
        auditContextOf(req),
      );
      req.log.info({ user_id: user.id }, 'user created');
      await deps.enqueue('export_users', { user_id: user.id }, req.log);
      return reply.status(201).send(userOut(user));
    },
  );

  app.get(
    '/users',
    {
      preHandler: [authenticate, requireAdmin],
      schema: {
        tags: ['users'],
        security: [{ bearer: [] }],
        summary: `One page of users in name order (the next page: ${NEXT_CURSOR_HEADER})`,
        querystring: UsersQuery,
        response: { 200: Type.Array(UserOut), ...AUTH_ERRORS },
      },
    },
    async (req, reply) => {
      const { limit: _l, offset: _o, cursor: _c, ...filters } = req.query;
      const rows = await listPage(
        reply,
        USER_ORDER,
        req.query,
        filters,
        (page) => listUsers(db, filters, page),
        userKey,
      );
      return rows.map(userOut);
    },
  );

  app.get(
    '/users/:id',
    {
      preHandler: [authenticate],
      schema: {
        tags: ['users'],
        security: [{ bearer: [] }],
        params: UserIdParams,
        response: { 200: UserOut, 404: ErrorResponse, ...AUTH_ERRORS },
      },
    },
    async (req) => {
      requireSelfOrAdmin(req, req.params.id);
      const user = await findUser(db, req.params.id);
      if (!user) throw new NotFound('user');
      return userOut(user);
    },
  );

  app.patch(
    '/users/:id',
    {
      preHandler: [authenticate, requireAdmin],
      schema: {
        tags: ['users'],
        summary: "Change a user's username, email, profile type, active or admin flag; it ends the user's sessions",
        security: [{ bearer: [] }],
        params: UserIdParams,
        body: UserPatch,
        response: { 200: UserOut, 404: ErrorResponse, 409: ErrorResponse, ...AUTH_ERRORS },
      },
    },
    async (req) => {
      const user = await changeUser(db, req.params.id, req.body, req.user.sub, auditContextOf(req));
      req.log.info({ user_id: user.id, version: user.version, fields: Object.keys(req.body) }, 'user changed');
      await deps.sessions.accountsChanged([user.id]);
      await deps.enqueue('export_users', { user_id: user.id }, req.log);
      return userOut(user);
    },
  );

  app.delete(
    '/users/:id',
    {
      preHandler: [authenticate, requireAdmin],
      schema: {
        tags: ['users'],
        summary: 'Delete a user: it can no longer log in on either network',
        security: [{ bearer: [] }],
        params: UserIdParams,
        response: { 204: Type.Null(), 404: ErrorResponse, 409: ErrorResponse, ...AUTH_ERRORS },
      },
    },
    async (req, reply) => {
      const user = await deleteUser(db, req.params.id, req.user.sub, auditContextOf(req));
      req.log.info({ user_id: user.id, version: user.version }, 'user deleted');
      await deps.sessions.accountsChanged([user.id]);
      await deps.enqueue('export_users', { user_id: user.id }, req.log);
      return reply.status(204).send(null);
    },
  );

  app.post(
    '/users/:id/reset-password',
    {
      preHandler: [authenticate],
      schema: {
        tags: ['users'],
        summary:
          "Set a new password; it ends the user's sessions, and reaches the Request Network through the returned sync task",
        security: [{ bearer: [] }],
        params: UserIdParams,
        body: ResetPassword,
        response: { 200: ResetPasswordOut, 404: ErrorResponse, ...AUTH_ERRORS },
      },
    },
    async (req) => {
      requireSelfOrAdmin(req, req.params.id);
      const change = await resetPassword(
        db,
        req.params.id,
        req.body.new_password,
        deps.config.bcryptCost,
        auditContextOf(req),
      );
      req.log.info({ user_id: change.user_id, password_version: change.password_version }, 'password changed');
      await deps.sessions.accountsChanged([change.user_id]);
      const taskId = await deps.enqueue('sync_password_to_request_network', { user_id: change.user_id }, req.log);
      return { success: true, sync_task_id: taskId };
    },
  );
}
