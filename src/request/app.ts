import { pingDb } from '../platform/db.js';
import { type App, createHttpApp, registerHealth } from '../platform/http.js';
import { LoginThrottle, registerLogin } from '../platform/login.js';
import type { RequestDeps } from './deps.js';
import { registerRequestOps } from './ops.js';
import { registerSyncedProfileTypeRoutes } from './profile-types/profile-types.routes.js';
import { registerSyncedSettingRoutes } from './settings/settings.routes.js';
import { registerSyncStatusRoute } from './sync/sync.routes.js';
import { registerSyncedUserRoutes } from './users/users.routes.js';

/** The Request Network's HTTP API: serves what was synced, and logs synced users in. */
export async function buildRequestApp(deps: RequestDeps, opts: { loginThrottle?: LoginThrottle } = {}): Promise<App> {
  const app = await createHttpApp({
    logger: deps.logger,
    title: 'netsync Request Network',
    description: 'Isolated side: data synced from the Response Network through the exchange folder.',
    jwtSecret: deps.jwtSecret,
  });
  const db = deps.db.kysely;

  registerHealth(app, { database: () => pingDb(deps.db), redis: deps.pingRedis });
  registerRequestOps(app, deps);

  registerLogin(
    app,
    async (username) => {
      // Rows are not unique by name while a rename syncs; the newest live one is the account.
      const user = await db
        .selectFrom('users')
        .innerJoin('credentials', 'credentials.user_id', 'users.id')
        .select(['users.id', 'users.username', 'users.is_admin', 'credentials.hashed_password'])
        .where('users.username', '=', username)
        .where('users.deleted_at', 'is', null)
        .where('users.is_active', '=', 1)
        .orderBy('users.updated_at', 'desc')
        .executeTakeFirst();
      return user
        ? { id: user.id, username: user.username, admin: user.is_admin === 1, hashedPassword: user.hashed_password }
        : undefined;
    },
    opts.loginThrottle ?? new LoginThrottle(10),
    "Checks the password against the user's newest synced hash",
  );

  registerSyncedUserRoutes(app, deps);
  registerSyncedSettingRoutes(app, deps);
  registerSyncedProfileTypeRoutes(app, deps);
  registerSyncStatusRoute(app, deps);
  return app;
}
