import { defaultConsoleRoot, registerConsolePages } from '../platform/console-pages.js';
import { registerCookieSession } from '../platform/cookie-session.js';
import { type App, createHttpApp } from '../platform/http.js';
import { passwordLogin, registerLogin } from '../platform/login.js';
import { networkLoginThrottle } from '../platform/login-throttle.js';
import { registerLogout } from '../platform/sessions.js';
import type { RequestDeps } from './deps.js';
import { registerRequestOps } from './ops.js';
import { registerSyncedProfileTypeRoutes } from './profile-types/profile-types.routes.js';
import { registerSyncedSettingRoutes } from './settings/settings.routes.js';
import { registerSyncStatusRoute } from './sync/sync.routes.js';
import { findAccount, sessionVersion } from './users/users.repository.js';
import { registerSyncedUserRoutes } from './users/users.routes.js';

/** The Request Network's HTTP API: serves what was synced, and logs synced users in. */
export async function buildRequestApp(deps: RequestDeps): Promise<App> {
  const app = await createHttpApp({
    network: 'request',
    logger: deps.logger,
    title: 'netsync Request Network',
    description: 'Isolated side: data synced from the Response Network through the exchange folder.',
    jwtSecret: deps.jwtSecret,
    corsOrigins: deps.config.corsOrigins,
    trustProxy: deps.config.trustProxy,
    tokenTtlS: deps.config.tokenTtlS,
    sessions: deps.sessions,
  });

  registerRequestOps(app, deps);

  const logIn = passwordLogin(
    async (username) => {
      const account = await findAccount(deps.db.kysely, username);
      return account
        ? {
            id: account.id,
            username: account.username,
            admin: account.is_admin === 1,
            hashedPassword: account.hashed_password,
            sessionVersion: sessionVersion(account),
          }
        : undefined;
    },
    networkLoginThrottle(deps, 'request'),
  );
  registerLogin(app, logIn, "Checks the password against the user's newest synced hash");
  registerLogout(app, deps.sessions);
  registerCookieSession(app, logIn, deps.sessions, deps.config.tokenTtlS);

  registerSyncedUserRoutes(app, deps);
  registerSyncedSettingRoutes(app, deps);
  registerSyncedProfileTypeRoutes(app, deps);
  registerSyncStatusRoute(app, deps);
  await registerConsolePages(app, deps.consoleRoot ?? defaultConsoleRoot('request'));
  return app;
}
