import type { FastifyRequest } from 'fastify';
import { Throttled, Unauthenticated } from './errors.js';
import { type App, ErrorResponse, LoginBody, TokenResponse, ValidationErrorResponse } from './http.js';
import { passwordMatches } from './passwords.js';

/** What a network knows of an account when someone logs in as it. */
export interface LoginAccount {
  id: string;
  username: string;
  admin: boolean;
  hashedPassword: string;
}

/**
 * Counts failed logins per client address and username in a sliding window, so a password cannot be
 * guessed at bcrypt speed. A success clears the count. Kept in memory: each API process counts alone.
 */
export class LoginThrottle {
  private readonly failures = new Map<string, number[]>();

  constructor(
    /** Failed attempts allowed in the window; 0 turns the throttle off. */
    readonly maxFailures: number,
    readonly windowMs = 15 * 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Seconds until `key` may try again, or 0 when it may now. */
  retryAfter(key: string): number {
    if (this.maxFailures === 0) return 0;
    const recent = this.recent(key);
    if (recent.length < this.maxFailures) return 0;
    return Math.ceil(((recent[0] as number) + this.windowMs - this.now()) / 1000);
  }

  failed(key: string): void {
    if (this.maxFailures === 0) return;
    const recent = this.recent(key);
    recent.push(this.now());
    this.failures.set(key, recent.slice(-this.maxFailures));
    if (this.failures.size > 100_000) this.failures.delete(this.failures.keys().next().value as string);
  }

  succeeded(key: string): void {
    this.failures.delete(key);
  }

  private recent(key: string): number[] {
    const since = this.now() - this.windowMs;
    return (this.failures.get(key) ?? []).filter((t) => t > since);
  }
}

/** Told of every login refused, before the answer: the Response side records it in its audit log. */
export type LoginRefused = (req: FastifyRequest, username: string, reason: 'failed' | 'throttled') => Promise<void>;

/**
 * POST /auth/login: `{"username","password"}` -> `{"access_token","token_type":"bearer"}`, 401 on a wrong
 * password or an unknown or inactive account (the same answer and about the same time for each), 429 with
 * Retry-After once the throttle's limit of failures is reached.
 */
export function registerLogin(
  app: App,
  findAccount: (username: string) => Promise<LoginAccount | undefined>,
  throttle: LoginThrottle,
  description: string,
  onRefused?: LoginRefused,
): void {
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
    async (req, reply) => {
      const key = `${req.ip}\u0000${req.body.username}`;
      const wait = throttle.retryAfter(key);
      if (wait > 0) {
        await onRefused?.(req, req.body.username, 'throttled');
        throw new Throttled(`too many failed logins; try again in ${wait} s`, wait);
      }
      const account = await findAccount(req.body.username);
      // An unknown account is checked against a dummy hash: the same answer in about the same time.
      const ok = await passwordMatches(req.body.password, account?.hashedPassword);
      if (!account || !ok) {
        throttle.failed(key);
        await onRefused?.(req, req.body.username, 'failed');
        throw new Unauthenticated('Incorrect username or password');
      }
      throttle.succeeded(key);
      const access_token = await reply.jwtSign({ sub: account.id, username: account.username, admin: account.admin });
      return { access_token, token_type: 'bearer' as const };
    },
  );
}
