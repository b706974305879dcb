import { Type } from 'typebox';
import { InvalidField, NotFound } from '../../platform/errors.js';
import { type App, AUTH_ERRORS, authenticate, ErrorResponse, requireAdmin } from '../../platform/http.js';
import { hashPassword, passwordProblem } from '../../platform/passwords.js';
import type { ResponseDeps } from '../deps.js';
import {
  changeUser,
  findUser,
  findUserByName,
  insertUser,
  listUsers,
  NoSuchProfileType,
  setPassword,
  type UserRow,
} from './users.repository.js';
import {
  ResetPassword,
  ResetPasswordOut,
  UserCreate,
  UserIdParams,
  UserOut,
  UserPatch,
  UsersQuery,
} from './users.schemas.js';

export const userOut = (u: UserRow) => ({
  id: u.id,
  username: u.username,
  email: u.email,
  is_active: u.is_active === 1,
  is_admin: u.is_admin === 1,
  profile_type_id: u.profile_type_id,
  created_at: u.created_at,
  updated_at: u.updated_at,
});

const isUniqueViolation = (err: unknown) => /unique|duplicate key/i.test(String((err as Error).message));

export function registerUserRoutes(app: App, deps: ResponseDeps): void {
  const { db } = deps;

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
      const weak = passwordProblem(b.password, b.username);
      if (weak) throw new InvalidField(['body', 'password'], `password ${weak}`);
      if (await findUserByName(db.kysely, b.username)) {
        return reply.status(409).send({ detail: `username "${b.username}" is taken` });
      }
      const hashedPassword = await hashPassword(b.password, deps.config.bcryptCost);
      let user: UserRow;
      try {
        user = await insertUser(db.kysely, {
          username: b.username,
          hashedPassword,
          email: b.email ?? null,
          isAdmin: b.is_admin ?? false,
          isActive: b.is_active ?? true,
          profileTypeId: b.profile_type_id ?? null,
        });
      } catch (err) {
        if (isUniqueViolation(err)) return reply.status(409).send({ detail: `username "${b.username}" is taken` });
        if (err instanceof NoSuchProfileType || /foreign key/i.test(String(err)))
          throw new InvalidField(['body', 'profile_type_id'], 'no such profile type');
        throw err;
      }
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
        querystring: UsersQuery,
        response: { 200: Type.Array(UserOut), ...AUTH_ERRORS },
      },
    },
    async (req) => (await listUsers(db.kysely, req.query)).map(userOut),
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
    async (req, reply) => {
      if (!req.user.admin && req.user.sub !== req.params.id)
        return reply.status(403).send({ detail: 'not your account' });
      const user = await findUser(db.kysely, req.params.id);
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
        summary: "Change a user's username, email, profile type or active flag",
        security: [{ bearer: [] }],
        params: UserIdParams,
        body: UserPatch,
        response: { 200: UserOut, 404: ErrorResponse, 409: ErrorResponse, ...AUTH_ERRORS },
      },
    },
    async (req, reply) => {
      const b = req.body;
      if (b.is_active === false && req.params.id === req.user.sub)
        return reply.status(409).send({ detail: 'you cannot deactivate your own account' });
      const taken = () => reply.status(409).send({ detail: `username "${b.username}" is taken` });
      let user: UserRow | undefined;
      try {
        user = await changeUser(db.kysely, req.params.id, b);
      } catch (err) {
        if (err instanceof NoSuchProfileType)
          throw new InvalidField(['body', 'profile_type_id'], 'no such profile type');
        if (isUniqueViolation(err)) return taken();
        throw err;
      }
      if (!user) throw new NotFound('user');
      req.log.info({ user_id: user.id, version: user.version, fields: Object.keys(b) }, 'user changed');
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
      if (req.params.id === req.user.sub)
        return reply.status(409).send({ detail: 'you cannot delete your own account' });
      const user = await changeUser(db.kysely, req.params.id, { deleted: true });
      if (!user) throw new NotFound('user');
      req.log.info({ user_id: user.id, version: user.version }, 'user deleted');
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
        summary: 'Set a new password; it reaches the Request Network through the returned sync task',
        security: [{ bearer: [] }],
        params: UserIdParams,
        body: ResetPassword,
        response: { 200: ResetPasswordOut, 404: ErrorResponse, ...AUTH_ERRORS },
      },
    },
    async (req, reply) => {
      if (!req.user.admin && req.user.sub !== req.params.id)
        return reply.status(403).send({ detail: 'not your account' });
      const user = await findUser(db.kysely, req.params.id);
      if (!user) throw new NotFound('user');
      const weak = passwordProblem(req.body.new_password, user.username);
      if (weak) throw new InvalidField(['body', 'new_password'], `password ${weak}`);
      const hashed = await hashPassword(req.body.new_password, deps.config.bcryptCost);
      const change = await setPassword(db.kysely, user.id, hashed);
      if (!change) throw new NotFound('user');
      req.log.info({ user_id: user.id, password_version: change.password_version }, 'password changed');
      const taskId = await deps.enqueue('sync_password_to_request_network', { user_id: user.id }, req.log);
      return { success: true, sync_task_id: taskId };
    },
  );
}
