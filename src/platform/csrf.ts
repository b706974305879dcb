import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * The cookie a console session's token travels in (platform/cookie-session.ts), one name per network:
 * cookies ignore the port, so with both consoles on one host a shared name would have each network's login
 * overwrite the other's, and send each API the other's token.
 */
export const sessionCookieName = (network: 'response' | 'request') => `netsync_${network}_session`;

/** The header a cookie-authenticated write must carry. */
export const CSRF_HEADER = 'x-csrf-token';

/**
 * The CSRF token of a session: an HMAC of the token's id (`jti`) with the network's token secret. It is
 * derived, not stored, so every API process of the network computes the same one; another site's page
 * can send the cookie (it cannot: SameSite=Strict, but an old browser might) yet cannot read this value.
 */
export function csrfTokenOf(secret: string, jti: string): string {
  return createHmac('sha256', secret).update(`csrf\u0000${jti}`).digest('base64url');
}

/** Whether `given` is the session's CSRF token, compared in constant time. */
export function csrfMatches(secret: string, jti: string, given: unknown): boolean {
  if (typeof given !== 'string') return false;
  const want = Buffer.from(csrfTokenOf(secret, jti));
  const got = Buffer.from(given);
  return got.length === want.length && timingSafeEqual(got, want);
}
