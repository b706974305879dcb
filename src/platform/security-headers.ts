import type { FastifyCorsOptions } from '@fastify/cors';
import fastifyHelmet, { type FastifyHelmetOptions } from '@fastify/helmet';
import Fastify from 'fastify';

/**
 * The Content-Security-Policy of every answer but the web console's own pages (platform/console-pages.ts,
 * stricter still). The JSON answers need none of it, but two pages are
 * served too: the API docs (/docs, Swagger UI) and, on the Response side, the queue dashboard
 * (/admin/queues, Bull Board). Both load their scripts and styles from this origin only, and both set
 * inline styles (Bull Board's loading screen, Swagger UI's components), hence 'unsafe-inline' for styles
 * alone; no inline or foreign script runs. Bull Board asks Google Fonts for its typeface: refused, so no
 * admin's browser calls out to a third party (the board falls back to the system font). Not helmet's
 * `upgrade-insecure-requests`: an API served over plain HTTP inside a closed network would break its own
 * pages' assets.
 */
export const CONTENT_SECURITY_POLICY = {
  'default-src': ["'self'"],
  'base-uri': ["'self'"],
  'connect-src': ["'self'"],
  'font-src': ["'self'", 'data:'],
  'form-action': ["'self'"],
  'frame-ancestors': ["'none'"],
  'img-src': ["'self'", 'data:'],
  'object-src': ["'none'"],
  'script-src': ["'self'"],
  'script-src-attr': ["'none'"],
  'style-src': ["'self'", "'unsafe-inline'"],
};

/** The methods and headers a listed origin's pages may use. */
const CORS_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'];
const CORS_REQUEST_HEADERS = ['authorization', 'content-type', 'x-request-id'];
const CORS_EXPOSED_HEADERS = ['retry-after', 'www-authenticate', 'x-next-cursor', 'x-request-id'];

/**
 * Security headers on every answer (helmet, with the policy above). Registered by createHttpApp
 * (platform/http.ts) before any route.
 */
export const HELMET_OPTIONS: FastifyHelmetOptions = {
  contentSecurityPolicy: { useDefaults: false, directives: CONTENT_SECURITY_POLICY },
  // Over HTTPS only (browsers ignore it over HTTP); not includeSubDomains, which would bind other
  // services on sibling hosts to HTTPS too.
  strictTransportSecurity: { maxAge: 31_536_000, includeSubDomains: false },
  // No page here is meant to be framed (with frame-ancestors 'none', for browsers that read only this).
  xFrameOptions: { action: 'deny' },
};

/**
 * The headers helmet sets with HELMET_OPTIONS, worked out once. @fastify/helmet builds helmet's middleware
 * anew on every request (parsing the policy each time): a tenth of the CPU of a small authenticated read.
 * The headers do not depend on the request, so createHttpApp sets these on each answer instead, and
 * registers @fastify/helmet only for routes that bring their own `helmet` options (and `reply.helmet()`).
 */
export async function securityHeaders(options: FastifyHelmetOptions = HELMET_OPTIONS): Promise<Record<string, string>> {
  const probe = Fastify();
  try {
    await probe.register(fastifyHelmet, options);
    probe.get('/', (_req, reply) => reply.send(reply.getHeaders()));
    const res = await probe.inject({ url: '/' });
    return Object.fromEntries(
      Object.entries(res.json() as Record<string, unknown>).map(([k, v]) => [
        k,
        Array.isArray(v) ? v.join(', ') : String(v),
      ]),
    );
  } finally {
    await probe.close();
  }
}

/**
 * CORS for the listed origins only; with none listed createHttpApp registers no CORS at all, so no
 * CORS header is ever sent and a browser keeps other sites' pages from reading any answer. Tokens
 * travel in the Authorization header, never in cookies: credentials stay off.
 */
export function corsOptions(origins: readonly string[]): FastifyCorsOptions {
  return {
    origin: [...origins],
    methods: CORS_METHODS,
    allowedHeaders: CORS_REQUEST_HEADERS,
    exposedHeaders: CORS_EXPOSED_HEADERS,
    credentials: false,
    maxAge: 600,
  };
}
