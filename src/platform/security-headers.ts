import type { FastifyCorsOptions } from '@fastify/cors';
import type { FastifyHelmetOptions } from '@fastify/helmet';

/**
 * The one Content-Security-Policy of every answer. The JSON answers need none of it, but two pages are
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
