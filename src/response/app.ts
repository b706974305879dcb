import { defaultConsoleRoot, registerConsolePages } from '../platform/console-pages.js';
import { registerCookieSession } from '../platform/cookie-session.js';
import { type App, createHttpApp } from '../platform/http.js';
import { passwordLogin, registerLogin } from '../platform/login.js';
import { networkLoginThrottle } from '../platform/login-throttle.js';
import { registerLogout } from '../platform/sessions.js';
import { auditContextOf, registerAuditRoutes } from './audit/audit.routes.js';
import { recordRefusedLogin } from './audit/audit.service.js';
import type { ResponseDeps } from './deps.js';
import { registerExchangeConsoleRoutes } from './exchange-console/exchange-console.routes.js';
import { registerResponseOps } from './ops.js';
import { registerProfileTypeRoutes } from './profile-types/profile-types.routes.js';
import { registerSettingRoutes } from './settings/settings.routes.js';
import { registerTaskRoutes } from './tasks/tasks.routes.js';
import { findUserByName, sessionVersion } from './users/users.repository.js';
import { registerUserRoutes } from './users/users.routes.js';

/** The Response Network's HTTP API. Built from its dependencies; the caller decides whether to listen. */
export async function buildResponseApp(deps: ResponseDeps): Promise<App> {
  const app = await createHttpApp({
    network: 'response',
    logger: deps.logger,
    title: 'netsync Response Network',
    description: 'Administrative side: users and their passwords, exported to the Request Network.',
    jwtSecret: deps.jwtSecret,
    corsOrigins: deps.config.corsOrigins,
    trustProxy: deps.config.trustProxy,
    tokenTtlS: deps.config.tokenTtlS,
    sessions: deps.sessions,
  });

  await registerResponseOps(app, deps);

  const logIn = passwordLogin(
    async (username) => {
      const user = await findUserByName(deps.db.kysely, username);
      return user && user.is_active === 1
        ? {
            id: user.id,
            username: user.username,
            admin: user.is_admin === 1,
            hashedPassword: user.hashed_password,
            sessionVersion: sessionVersion(user),
          }
        : undefined;
    },
    networkLoginThrottle(deps, 'response'),
    async (req, attempt) => {
      if (attempt.outcome === 'succeeded') return;
      // The refusal stands whatever happens here: a database that cannot take the row must not turn a
      // 401 or 429 into a 500 (or let a throttled client through).
      await recordRefusedLogin(deps.db.kysely, auditContextOf(req, null), attempt.username, attempt.outcome).catch(
        (err: Error) =>
          req.log.warn(
            { err: err.message, reason: attempt.outcome },
            'could not record the refused login in the audit log',
          ),
      );
    },
  );
  registerLogin(app, logIn, 'Logs in to the Response Network');
  registerLogout(app, deps.sessions);
  registerCookieSession(app, logIn, deps.sessions, deps.config.tokenTtlS);

  registerUserRoutes(app, deps);
  registerSettingRoutes(app, deps);
  registerProfileTypeRoutes(app, deps);
  registerTaskRoutes(app, deps);
  registerAuditRoutes(app, deps);
  registerExchangeConsoleRoutes(app, deps);
  await registerConsolePages(app, deps.consoleRoot ?? defaultConsoleRoot('response'));
  return app;
}
