import { randomUUID } from 'node:crypto';
import fastifyCookie from '@fastify/cookie';
import fastifyCors from '@fastify/cors';
import fastifyHelmet from '@fastify/helmet';
import fastifyJwt from '@fastify/jwt';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import Fastify, {
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from 'fastify';
import { type Static, Type } from 'typebox';
import { CSRF_HEADER, csrfMatches, csrfTokenOf, sessionCookieName } from './csrf.js';
import { DomainError, Forbidden, Throttled, Unauthenticated, Unavailable } from './errors.js';
import type { Logger } from './logger.js';
import { corsOptions, HELMET_OPTIONS, securityHeaders } from './security-headers.js';

/** The claims of a netsync access token. */
export interface TokenClaims {
  sub: string;
  username: string;
  admin: boolean;
  /** The account's session version when the token was issued (platform/sessions.ts). */
  sv: number;
  /** The token's own id, which logout puts on the deny list. */
  jti: string;
}

declare module '@fastify/jwt' {
  interface FastifyJWT {
    payload: TokenClaims;
    user: TokenClaims & { exp?: number };
  }
}

/** Whether a token whose signature and expiry are good still stands (platform/sessions.ts). */
export interface SessionCheck {
  accepts(claims: TokenClaims): Promise<boolean>;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Null when the app checks signatures and expiry only (unit tests of the HTTP layer). */
    sessions: SessionCheck | null;
    /** The name of this network's session cookie (platform/csrf.ts). */
    sessionCookie: string;
    /** The CSRF token of the session whose token id is `jti` (platform/csrf.ts), keyed with this app's secret. */
    csrfTokenOf(jti: string): string;
    /** Whether `given` is the CSRF token of the session `jti`. */
    csrfMatches(jti: string, given: unknown): boolean;
  }
}

export const ErrorResponse = Type.Object({ detail: Type.Unknown() }, { description: 'Why the request was refused' });
export const ValidationErrorResponse = Type.Object(
  {
    detail: Type.Array(
      Type.Object({
        loc: Type.Array(Type.Union([Type.String(), Type.Number()])),
        msg: Type.String(),
        type: Type.String(),
      }),
    ),
  },
  { description: 'Invalid input: each entry names the field (loc) and the reason (msg)' },
);
export type ValidationErrorResponse = Static<typeof ValidationErrorResponse>;

/** The error answers every authenticated route may give, for its response schema. */
export const AUTH_ERRORS = { 401: ErrorResponse, 403: ErrorResponse, 422: ValidationErrorResponse };

export interface HttpOptions {
  /** Which network this API is: names its session cookie. */
  readonly network: 'response' | 'request';
  readonly logger: Logger;
  readonly title: string;
  readonly description: string;
  readonly jwtSecret: string;
  /** Browser origins CORS lets in (config's CORS_ORIGINS); none by default. */
  readonly corsOrigins?: readonly string[];
  /** Proxies whose X-Forwarded-For gives the client's address (config's TRUST_PROXY); none by default. */
  readonly trustProxy?: readonly string[];
  /** Access tokens live this long, in seconds (TOKEN_TTL_S). Default 3600. */
  readonly tokenTtlS?: number;
  /** Checks that a token's session has not ended; without it a good signature is enough. */
  readonly sessions?: SessionCheck;
}

export type App = FastifyInstance<
  import('node:http').Server,
  import('node:http').IncomingMessage,
  import('node:http').ServerResponse,
  Logger,
  TypeBoxTypeProvider
>;

/** A request answered in this many ms or more is logged at warn. */
export const SLOW_REQUEST_MS = 1000;

/**
 * Fastify logs two info lines per request (incoming, completed): ~8% of a small read's CPU. Here each
 * request is logged once, when answered: at debug normally (so not at the default LOG_LEVEL=info), at
 * warn when it failed (5xx) or took SLOW_REQUEST_MS or more. Every line carries the request's reqId, as
 * do the error handler's lines; Fastify's other lines (stream errors, 404s of its own) are kept.
 */
class QuietRequestLog extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(error: Error | null | undefined, req: FastifyRequest, reply: FastifyReply): void {
    const status = reply.statusCode;
    const ms = reply.elapsedTime;
    const line = { method: req.method, url: req.url, status, ms };
    if (error) reply.log.error({ ...line, err: error }, 'request errored');
    else if (status >= 500 || ms >= SLOW_REQUEST_MS) reply.log.warn(line, 'request completed');
    else if ((reply.log as Logger).isLevelEnabled('debug')) reply.log.debug(line, 'request completed');
  }
}

function makeAjv(coerceTypes: false | 'array'): Ajv {
  const ajv = new Ajv({ coerceTypes, useDefaults: true, removeAdditional: false, allErrors: false, strict: false });
  addFormats.default(ajv);
  return ajv;
}
const bodyAjv = makeAjv(false);
const textAjv = makeAjv('array');

/** A Fastify instance with netsync's error shape, auth helpers and OpenAPI docs at /docs. Never listens. */
export async function createHttpApp(opts: HttpOptions): Promise<App> {
  const app = Fastify({
    loggerInstance: opts.logger,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && /^[\w.-]{1,64}$/.test(given) ? given : randomUUID();
    },

    bodyLimit: 16 * 1024 * 1024,
    logController: new QuietRequestLog(),
    // req.ip is the client the login throttle counts: the peer, unless it is a listed proxy.
    ...(opts.trustProxy?.length ? { trustProxy: [...opts.trustProxy] } : {}),
  }).withTypeProvider<TypeBoxTypeProvider>() as unknown as App;

  // A JSON body is taken as sent: coercion would turn a null into "" for a string-or-null field. Query
  // strings and path parameters are text, so those are coerced to the schema's types.
  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? bodyAjv : textAjv).compile(schema));

  // The one place where refusals become answers: domain errors by their class, validation failures
  // in FastAPI's shape, and anything else as a 5xx that hides internals.
  app.setErrorHandler((err: FastifyError | DomainError, req, reply) => {
    if (err instanceof DomainError) {
      if (err instanceof Unauthenticated) reply.header('www-authenticate', 'Bearer');
      if (err instanceof Throttled || err instanceof Unavailable) reply.header('retry-after', String(err.retryAfterS));
      return reply.status(err.status).send({ detail: err.detail });
    }
    if ('validation' in err && err.validation) {
      const where = err.validationContext ?? 'body';
      const detail = err.validation.map((v) => {
        const missing = (v.params as { missingProperty?: string }).missingProperty;
        const path = v.instancePath.split('/').filter(Boolean);
        if (missing) path.push(missing);
        return {
          loc: [where, ...path.map((p) => (/^\d+$/.test(p) ? Number(p) : p))],
          msg: missing ? 'field required' : (v.message ?? 'invalid'),
          type: missing ? 'missing' : String(v.keyword),
        };
      });
      return reply.status(422).send({ detail });
    }
    // Fastify's own refusals (a body that is not JSON, too large, a wrong content type) carry a 4xx.
    const status = err.statusCode ?? 500;
    if (status >= 500) {
      req.log.error({ err }, 'request failed');
      return reply.status(status).send({ detail: 'internal error' });
    }
    return reply.status(status).send({ detail: err.message });
  });
  app.setNotFoundHandler((_req, reply) => reply.status(404).send({ detail: 'Not Found' }));

  // Before any route, so every answer (a 404, an error, the docs) carries the headers: worked out once
  // (security-headers.ts); a route with its own `helmet` options gets them from @fastify/helmet instead.
  const headers = await securityHeaders();
  await app.register(fastifyHelmet, { ...HELMET_OPTIONS, global: false });
  app.addHook('onRequest', (req, reply, done) => {
    if ((req.routeOptions.config as { helmet?: unknown }).helmet === undefined) reply.headers(headers);
    done();
  });
  if (opts.corsOrigins?.length) await app.register(fastifyCors, corsOptions(opts.corsOrigins));

  await app.register(fastifySwagger, {
    openapi: {
      info: { title: opts.title, description: opts.description, version: '1' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/docs' });
  // No parsing hook: most requests carry a bearer token, and only verifyToken reads the cookie.
  await app.register(fastifyCookie, { hook: false });
  await app.register(fastifyJwt, {
    secret: opts.jwtSecret,
    // The console's session (platform/cookie-session.ts): the same token, in an HttpOnly cookie. A bearer
    // header, when there is one, is what counts.
    cookie: { cookieName: sessionCookieName(opts.network), signed: false },
    sign: { expiresIn: `${opts.tokenTtlS ?? 3600}s` },
    // Verified tokens are remembered (1,000, by a hash of the token, never past their expiry): checking
    // the signature is a sixth of a read's cost. The secret is fixed per process, so a token's verdict
    // cannot change before it expires; failures are not remembered.
    // A remembered verdict covers the signature and expiry only: whether the session still stands is
    // asked on every request (verifyToken).
    // fast-jwt's own key (a hash of the token) costs ~4% of a small read's CPU; a custom key (the token
    // itself) would save it, but fast-jwt then warns on every start (GHSA-rp9m-7r4c-75qg), and an operator
    // should not learn to ignore a security warning.
    verify: { cache: true },
  });
  app.decorate('sessions', opts.sessions ?? null);
  app.decorate('sessionCookie', sessionCookieName(opts.network));
  app.decorate('csrfTokenOf', (jti: string) => csrfTokenOf(opts.jwtSecret, jti));
  app.decorate('csrfMatches', (jti: string, given: unknown) => csrfMatches(opts.jwtSecret, jti, given));
  return app;
}

/**
 * Whether the request carries a good token whose session has not ended (sets `req.user`): in the
 * Authorization header (Bearer) or, without one, in the console's session cookie.
 */
export async function verifyToken(req: FastifyRequest): Promise<boolean> {
  if (byCookie(req) && req.cookies === null && req.headers.cookie)
    req.cookies = req.server.parseCookie(req.headers.cookie);
  try {
    await req.jwtVerify();
  } catch {
    return false;
  }
  return req.server.sessions === null || req.server.sessions.accepts(req.user);
}

/** Whether the request's token came from the session cookie rather than an Authorization header. */
export function byCookie(req: FastifyRequest): boolean {
  return !/^Bearer\s/i.test(req.headers.authorization ?? '');
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * preHandler: a valid token whose session has not ended, else 401. A write authenticated by the session
 * cookie must also carry the session's CSRF token in `x-csrf-token`, else 403: a browser attaches the
 * cookie by itself, the header only a script of this origin can add. Bearer requests need none (a
 * browser never adds an Authorization header by itself).
 */
export async function authenticate(req: FastifyRequest): Promise<void> {
  if (!(await verifyToken(req))) throw new Unauthenticated();
  if (!SAFE_METHODS.has(req.method) && byCookie(req) && !req.server.csrfMatches(req.user.jti, req.headers[CSRF_HEADER]))
    throw new Forbidden('CSRF token missing or wrong');
}

/** preHandler (after authenticate): the caller must be an admin, else 403. */
export async function requireAdmin(req: FastifyRequest): Promise<void> {
  if (!req.user.admin) throw new Forbidden('admin rights required');
}

/** Throws 403 unless the caller is an admin or the account `userId` is their own. */
export function requireSelfOrAdmin(req: FastifyRequest, userId: string): void {
  if (!req.user.admin && req.user.sub !== userId) throw new Forbidden('not your account');
}

export const LoginBody = Type.Object(
  {
    // Longer than a username may be: a name typed in a decomposed form (NFD) has more characters than the
    // 64 it has once normalised.
    username: Type.String({ minLength: 1, maxLength: 256 }),
    password: Type.String({ minLength: 1, maxLength: 1024 }),
  },
  { additionalProperties: false },
);
export type LoginBody = Static<typeof LoginBody>;
export const TokenResponse = Type.Object({ access_token: Type.String(), token_type: Type.Literal('bearer') });

export const HealthResponse = Type.Object({
  status: Type.Union([Type.Literal('ok'), Type.Literal('unavailable')]),
  checks: Type.Record(Type.String(), Type.Union([Type.Literal('ok'), Type.Literal('failed')])),
});

/** GET /health (or `path`): 200 when every check passes, else 503 naming what failed. */
export function registerHealth(app: App, checks: Record<string, () => Promise<boolean>>, path = '/health'): void {
  app.get(
    path,
    { schema: { tags: ['ops'], response: { 200: HealthResponse, 503: HealthResponse } } },
    async (_req, reply) => {
      const entries = await Promise.all(
        Object.entries(checks).map(
          async ([name, check]) => [name, (await check().catch(() => false)) ? 'ok' : 'failed'] as const,
        ),
      );
      const ok = entries.every(([, v]) => v === 'ok');
      return reply
        .status(ok ? 200 : 503)
        .send({ status: ok ? 'ok' : 'unavailable', checks: Object.fromEntries(entries) });
    },
  );
}
