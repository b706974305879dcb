import { Type } from 'typebox';
import { pingDb } from '../platform/db.js';
import { NotFound } from '../platform/errors.js';
import { type App, AUTH_ERRORS, authenticate, createHttpApp, ErrorResponse, registerHealth } from '../platform/http.js';
import { LoginThrottle, registerLogin } from '../platform/login.js';
import { taskInfo } from '../platform/tasks.js';
import type { ResponseDeps } from './deps.js';
import { registerTaskRunRoute } from './jobs/run.routes.js';
import { registerResponseOps } from './ops.js';
import { registerProfileTypeRoutes } from './profile-types/profile-types.routes.js';
import { registerSettingRoutes } from './settings/settings.routes.js';
import { findUserByName } from './users/users.repository.js';
import { registerUserRoutes } from './users/users.routes.js';

const TaskOut = Type.Object({
  task_id: Type.String(),
  name: Type.String(),
  state: Type.Union([
    Type.Literal('PENDING'),
    Type.Literal('STARTED'),
    Type.Literal('RETRY'),
    Type.Literal('SUCCESS'),
    Type.Literal('FAILURE'),
  ]),
  result: Type.Unknown(),
  error: Type.Union([Type.String(), Type.Null()]),
  traceback: Type.Union([Type.String(), Type.Null()]),
  attempts: Type.Integer(),
  created_at: Type.String(),
  started_at: Type.Union([Type.String(), Type.Null()]),
  finished_at: Type.Union([Type.String(), Type.Null()]),
});

/** The Response Network's HTTP API. Built from its dependencies; the caller decides whether to listen. */
export async function buildResponseApp(deps: ResponseDeps, opts: { loginThrottle?: LoginThrottle } = {}): Promise<App> {
  const app = await createHttpApp({
    logger: deps.logger,
    title: 'netsync Response Network',
    description: 'Administrative side: users and their passwords, exported to the Request Network.',
    jwtSecret: deps.jwtSecret,
  });

  registerHealth(app, { database: () => pingDb(deps.db), redis: deps.pingRedis });
  await registerResponseOps(app, deps);

  registerLogin(
    app,
    async (username) => {
      const user = await findUserByName(deps.db.kysely, username);
      return user && user.is_active === 1
        ? { id: user.id, username: user.username, admin: user.is_admin === 1, hashedPassword: user.hashed_password }
        : undefined;
    },
    opts.loginThrottle ?? new LoginThrottle(deps.config.loginMaxFailures),
    'Logs in to the Response Network',
  );

  app.get(
    '/tasks/:id',
    {
      preHandler: [authenticate],
      schema: {
        tags: ['tasks'],
        summary: "A task's state and result, as Celery's AsyncResult shows it (results are kept 1 hour)",
        security: [{ bearer: [] }],
        params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 128 }) }),
        response: { 200: TaskOut, 404: ErrorResponse, ...AUTH_ERRORS },
      },
    },
    async (req) => {
      const info = await taskInfo(deps.queue, req.params.id);
      if (!info) throw new NotFound('task (unknown id, or its result expired after 1 hour)');
      return info;
    },
  );

  registerUserRoutes(app, deps);
  registerSettingRoutes(app, deps);
  registerProfileTypeRoutes(app, deps);
  registerTaskRunRoute(app, deps);
  return app;
}
