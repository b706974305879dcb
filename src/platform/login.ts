import { randomUUID } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { usernameKey } from '../exchange/usernames.js';
import { Throttled, Unauthenticated } from './errors.js';
import {
  type App,
  ErrorResponse,
  LoginBody,
  type TokenClaims,
  TokenResponse,
  ValidationErrorResponse,
} from './http.js';
import type { LoginThrottle } from './login-throttle.js';
import { passwordMatches } from './passwords.js';

/** What a network knows of an account when someone logs in as it. */
export interface LoginAccount {
  id: string;
  username: string;
  admin: boolean;
  hashedPassword: string;
  /** The account's session version (platform/sessions.ts): the token is good while it stands. */
  sessionVersion: number;
}

/** How a login attempt ended, for an audit trail: never the password. */
export type LoginOutcome =
  | { readonly outcome: 'succeeded'; readonly username: string; readonly accountId: string }
  | {
      readonly outcome: 'failed';
      readonly username: string /** Set when the account exists. */;
      readonly accountId?: string;
    }
  | { readonly outcome: 'throttled'; readonly username: string; readonly retryAfterS: number };

/**
 * Told of every login attempt's outcome (req carries the client address and request id), before the
 * answer is sent. It is awaited: what it throws fails the request.
 */
export type OnLoginAttempt = (req: FastifyRequest, attempt: LoginOutcome) => Promise<void> | void;

/** A successful login: the signed token, its claims and when it expires. */
export interface LoggedIn {
  readonly token: string;
  readonly claims: TokenClaims;
  readonly expiresAt: Date;
}

/**
 * Checks a username and password and issues a token: the one login of a network, behind both POST
 * /auth/login (bearer clients) and POST /auth/session (the console's cookie). Throws 401 on a wrong
 * password or an unknown or inactive account (the same answer and about the same time for each), 429 with
 * Retry-After once the throttle's limit of failures is reached.
 */
export type LogIn = (req: FastifyRequest, body: LoginBody) => Promise<LoggedIn>;

/** The network's login: its accounts, its throttle, and who is told of each attempt. */
export function passwordLogin(
  findAccount: (username: string) => Promise<LoginAccount | undefined>,
  throttle: LoginThrottle,
  onAttempt?: OnLoginAttempt,
): LogIn {
  return async (req, { username, password }) => {
    // Counted as a failure from here until the password proves right.
    // By the name's comparison key: "john", "John" and "ＪＯＨＮ" are one account, so they share one count.
    const attempt = await throttle.begin(req.ip, usernameKey(username));
    if (!attempt.allowed) {
      await onAttempt?.(req, { outcome: 'throttled', username, retryAfterS: attempt.retryAfterS });
      throw new Throttled(`too many failed logins; try again in ${attempt.retryAfterS} s`, attempt.retryAfterS);
    }
    let account: LoginAccount | undefined;
    let ok: boolean;
    try {
      account = await findAccount(username);
      // An unknown account is checked against a dummy hash: the same answer in about the same time.
      ok = await passwordMatches(password, account?.hashedPassword);
    } catch (err) {
      // The database failed, not the password: a retry must not cost the user a guess.
      await attempt.abandoned();
      throw err;
    }
    if (!account || !ok) {
      await onAttempt?.(req, { outcome: 'failed', username, ...(account && { accountId: account.id }) });
      throw new Unauthenticated('Incorrect username or password');
    }
    await attempt.succeeded();
    await onAttempt?.(req, { outcome: 'succeeded', username, accountId: account.id });
    const claims: TokenClaims = {
      sub: account.id,
      username: account.username,
      admin: account.admin,
      sv: account.sessionVersion,
      jti: randomUUID(),
    };
    const token = req.server.jwt.sign(claims);
    const { exp } = req.server.jwt.decode<{ exp: number }>(token) as { exp: number };
    return { token, claims, expiresAt: new Date(exp * 1000) };
  };
}

/** POST /auth/login: `{"username","password"}` -> `{"access_token","token_type":"bearer"}` (see LogIn). */
export function registerLogin(app: App, logIn: LogIn, description: string): void {
  app.post(
    '/auth/login',
    {
      schema: {
        tags: ['auth'],
        description,
        body: LoginBody,
        response: { 200: TokenResponse, 401: ErrorResponse, 422: ValidationErrorResponse, 429: ErrorResponse },
      },
    },
    async (req) => {
      const { token } = await logIn(req, req.body);
      return { access_token: token, token_type: 'bearer' as const };
    },
  );
}
