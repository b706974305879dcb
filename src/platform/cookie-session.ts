import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import {
  type App,
  AUTH_ERRORS,
  authenticate,
  ErrorResponse,
  LoginBody,
  type TokenClaims,
  ValidationErrorResponse,
} from './http.js';
import type { LogIn } from './login.js';
import type { SessionSignals } from './sessions.js';

/**
 * The web console's session: the same token POST /auth/login gives, kept in an HttpOnly, SameSite=Strict
 * cookie (`netsync_response_session` or `netsync_request_session`) so no script (nor an injected one) can read it. The browser sends the cookie by itself, so a
 * write authenticated by it must also carry the session's CSRF token (platform/csrf.ts, checked by
 * `authenticate`), which the console reads from these answers and another site's page cannot.
 */
export const SessionResponse = Type.Object({
  id: Type.String(),
  username: Type.String(),
  admin: Type.Boolean(),
  expires_at: Type.String({ format: 'date-time', description: 'When the session ends unless ended before' }),
  csrf_token: Type.String({ description: 'Send it as the x-csrf-token header of every write' }),
});

function sessionOf(req: FastifyRequest, claims: TokenClaims, expiresAt: Date) {
  return {
    id: claims.sub,
    username: claims.username,
    admin: claims.admin,
    expires_at: expiresAt.toISOString(),
    csrf_token: req.server.csrfTokenOf(claims.jti),
  };
}

/** The cookie's attributes; `Secure` when the request came over HTTPS (directly or through a trusted proxy). */
const cookieOptions = (req: FastifyRequest) => ({
  httpOnly: true,
  sameSite: 'strict' as const,
  path: '/',
  secure: req.protocol === 'https',
});

/** POST /auth/session, GET /auth/me and DELETE /auth/session. */
export function registerCookieSession(app: App, logIn: LogIn, sessions: SessionSignals, tokenTtlS: number): void {
  app.post(
    '/auth/session',
    {
      schema: {
        tags: ['auth'],
        summary: 'Log in for the web console: the token goes into an HttpOnly cookie, never into the answer',
        body: LoginBody,
        response: { 200: SessionResponse, 401: ErrorResponse, 422: ValidationErrorResponse, 429: ErrorResponse },
      },
    },
    async (req, reply) => {
      const { token, claims, expiresAt } = await logIn(req, req.body);
      reply.setCookie(app.sessionCookie, token, { ...cookieOptions(req), maxAge: tokenTtlS });
      return sessionOf(req, claims, expiresAt);
    },
  );

  app.get(
    '/auth/me',
    {
      preHandler: [authenticate],
      schema: {
        tags: ['auth'],
        summary: 'Who the session (cookie or bearer token) belongs to, with its CSRF token',
        security: [{ bearer: [] }],
        response: { 200: SessionResponse, ...AUTH_ERRORS },
      },
    },
    async (req) => sessionOf(req, req.user, new Date((req.user.exp ?? 0) * 1000)),
  );

  app.delete(
    '/auth/session',
    {
      preHandler: [authenticate],
      schema: {
        tags: ['auth'],
        summary: 'Log out: ends the session (as POST /auth/logout does) and clears its cookie',
        security: [{ bearer: [] }],
        response: { 204: Type.Null(), 503: ErrorResponse, ...AUTH_ERRORS },
      },
    },
    async (req, reply) => {
      await sessions.revoke(req.user);
      req.log.info({ user_id: req.user.sub }, 'logged out');
      return reply.clearCookie(app.sessionCookie, cookieOptions(req)).status(204).send(null);
    },
  );
}
