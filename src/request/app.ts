import { pingDb } from '../platform/db.js';
import {
  type App,
  createHttpApp,
  ErrorResponse,
  LoginBody,
  registerHealth,
  TokenResponse,
  ValidationErrorResponse,
} from '../platform/http.js';
import { passwordMatches } from '../platform/passwords.js';
import type { RequestDeps } from './deps.js';
import { registerRequestOps } from './ops.js';
import { registerSyncedProfileTypeRoutes } from './profile-types/profile-types.routes.js';
import { registerSyncedSettingRoutes } from './settings/settings.routes.js';
import { registerSyncStatusRoute } from './sync/sync.routes.js';
import { registerSyncedUserRoutes } from './users/users.routes.js';

/** The Request Network's HTTP API: serves what was synced, and logs synced users in. */
export async function buildRequestApp(deps: RequestDeps): Promise<App> {
  const app = await createHttpApp({
    logger: deps.logger,
    title: 'netsync Request Network',
    description: 'Isolated side: data synced from the Response Network through the exchange folder.',
    jwtSecret: deps.jwtSecret,
  });
  const db = deps.db.kysely;

  registerHealth(app, { database: () => pingDb(deps.db), redis: deps.pingRedis });
  registerRequestOps(app, deps);

  app.post(
    '/auth/login',
    {
      schema: {
        tags: ['auth'],
        description: "Checks the password against the user's newest synced hash",
        body: LoginBody,
        response: { 200: TokenResponse, 401: ErrorResponse, 422: ValidationErrorResponse },
      },
    },
    async (req, reply) => {
      const user = await db
        .selectFrom('users')
        .innerJoin('credentials', 'credentials.user_id', 'users.id')
        .select(['users.id', 'users.username', 'users.is_admin', 'credentials.hashed_password'])
        .where('users.username', '=', req.body.username)
        .where('users.deleted_at', 'is', null)
        .where('users.is_active', '=', 1)
        .orderBy('users.updated_at', 'desc')
        .executeTakeFirst();
      if (!(await passwordMatches(req.body.password, user?.hashed_password)) || !user) {
        return reply.status(401).send({ detail: 'Incorrect username or password' });
      }
      const access_token = await reply.jwtSign({ sub: user.id, username: user.username, admin: user.is_admin === 1 });
      return { access_token, token_type: 'bearer' as const };
    },
  );

  registerSyncedUserRoutes(app, deps);
  registerSyncedSettingRoutes(app, deps);
  registerSyncedProfileTypeRoutes(app, deps);
  registerSyncStatusRoute(app, deps);
  return app;
}
