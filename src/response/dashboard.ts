import { createHash } from 'node:crypto';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { Queue } from 'bullmq';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import { usernameKey } from '../exchange/usernames.js';
import { type App, verifyToken } from '../platform/http.js';
import type { LoginThrottle } from '../platform/login-throttle.js';
import { passwordMatches } from '../platform/passwords.js';
import type { ResponseDatabase } from './db/schema.js';
import { findUserByName } from './users/users.repository.js';

export const DASHBOARD_PATH = '/admin/queues';

export interface DashboardDeps {
  readonly db: Kysely<ResponseDatabase>;
  readonly queue: Queue;
  readonly pingRedis: () => Promise<boolean>;
  /** A Basic login checks a password too: it counts against the same limits as POST /auth/login. */
  readonly throttle: LoginThrottle;
}

/** How long a checked Basic login is remembered, so the board's polling does not run bcrypt every time. */
const BASIC_CACHE_MS = 60_000;

/**
 * Admin-only: a bearer token with the admin claim (scripts, or a proxy that holds one), or HTTP Basic
 * with an admin's username and password from the users table (a browser asks for them). A wrong or
 * missing login gets 401 with a Basic challenge; a valid non-admin login gets 403.
 */
function adminLogin(db: Kysely<ResponseDatabase>, throttle: LoginThrottle) {
  const remembered = new Map<string, number>();
  const digest = (s: string) => createHash('sha256').update(s).digest();
  const isRemembered = (header: string) => {
    const key = digest(header).toString('hex');
    const until = remembered.get(key);
    return until !== undefined && until > Date.now();
  };
  const remember = (header: string) => {
    if (remembered.size > 1000) remembered.clear();
    remembered.set(digest(header).toString('hex'), Date.now() + BASIC_CACHE_MS);
  };
  const refuse = (reply: FastifyReply, status: 401 | 403, detail: string) =>
    reply.status(status).header('www-authenticate', 'Basic realm="netsync admin", charset="UTF-8"').send({ detail });

  return async (req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> => {
    const header = req.headers.authorization ?? '';
    if (/^bearer /i.test(header)) {
      if (!(await verifyToken(req))) return refuse(reply, 401, 'Not authenticated');
      if (!req.user.admin) return refuse(reply, 403, 'admin rights required');
      return undefined;
    }
    if (/^basic /i.test(header)) {
      if (isRemembered(header)) return undefined;
      const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      const username = colon < 0 ? decoded : decoded.slice(0, colon);
      const password = colon < 0 ? '' : decoded.slice(colon + 1);
      const attempt = await throttle.begin(req.ip, usernameKey(username));
      if (!attempt.allowed) {
        return reply
          .status(429)
          .header('retry-after', String(attempt.retryAfterS))
          .send({ detail: `too many failed logins; try again in ${attempt.retryAfterS} s` });
      }
      let user: Awaited<ReturnType<typeof findUserByName>>;
      let ok: boolean;
      try {
        user = username.length <= 256 ? await findUserByName(db, username) : undefined;
        ok = await passwordMatches(password, user?.hashed_password);
      } catch (err) {
        await attempt.abandoned();
        throw err;
      }
      if (!ok || !user || user.is_active !== 1) return refuse(reply, 401, 'Incorrect username or password');
      await attempt.succeeded();
      if (user.is_admin !== 1) return refuse(reply, 403, 'admin rights required');
      remember(header);
      return undefined;
    }
    return refuse(reply, 401, 'Not authenticated');
  };
}

/**
 * The Bull Board dashboard (BullMQ's Flower) at /admin/queues, for the Response queue only: the
 * Request Network's queue lives on the isolated side and is not reachable from here by design.
 */
export async function registerDashboard(app: App, deps: DashboardDeps): Promise<void> {
  const serverAdapter = new FastifyAdapter();
  serverAdapter.setBasePath(DASHBOARD_PATH);
  createBullBoard({
    queues: [new BullMQAdapter(deps.queue)],
    serverAdapter,
    options: { uiConfig: { boardTitle: 'netsync' } },
  });
  const login = adminLogin(deps.db, deps.throttle);
  await app.register(async (scope) => {
    scope.addHook('onRequest', login);
    // The board reads everything from Redis; during an outage it answers 503 rather than hanging.
    scope.addHook('onRequest', async (_req, reply) => {
      if (await deps.pingRedis()) return undefined;
      return reply.status(503).header('retry-after', '5').send({ detail: 'Redis is unavailable; try again shortly' });
    });
    await scope.register(serverAdapter.registerPlugin(), { prefix: DASHBOARD_PATH });
  });
}
