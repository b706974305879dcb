import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, authenticate, createHttpApp } from '../../src/platform/http.js';

/** Verified tokens are remembered (createHttpApp); what a remembered verdict must never change. */
describe('bearer tokens with verification remembered', () => {
  let app: App;
  beforeAll(async () => {
    app = await createHttpApp({
      network: 'response',
      logger: pino({ level: 'silent' }),
      title: 't',
      description: 't',
      jwtSecret: 'a-secret-of-at-least-32-characters-long',
    });
    app.get('/me', { preHandler: [authenticate] }, async (req) => ({ sub: req.user.sub }));
    await app.ready();
  });
  afterAll(() => app.close());

  const me = (token: string) => app.inject({ url: '/me', headers: { authorization: `Bearer ${token}` } });

  it('accepts a good token every time, refuses an altered one even after the good one was seen', async () => {
    const token = app.jwt.sign({ sub: 'u1', username: 'u1', admin: false, sv: 1, jti: 'j' });
    for (let i = 0; i < 3; i++) expect((await me(token)).json()).toEqual({ sub: 'u1' });
    const [head, body, sig] = token.split('.') as [string, string, string];
    const forged = app.jwt.sign({ sub: 'u2', username: 'u2', admin: true, sv: 1, jti: 'j' }).split('.')[1] as string;
    expect((await me(`${head}.${forged}.${sig}`)).statusCode).toBe(401);
    const flipped = `${sig.slice(0, -2)}${sig.at(-2) === 'A' ? 'B' : 'A'}${sig.at(-1)}`;
    expect((await me(`${head}.${body}.${flipped}`)).statusCode).toBe(401);
    expect((await me(token)).statusCode).toBe(200);
  });

  it('signs tokens for an hour unless told otherwise (TOKEN_TTL_S)', async () => {
    const { iat, exp } = app.jwt.decode(app.jwt.sign({ sub: 'u4', username: 'u4', admin: false, sv: 1, jti: 'j' })) as {
      iat: number;
      exp: number;
    };
    expect(exp - iat).toBe(3600);
  });

  it('refuses a token once it expires, though it was accepted (and remembered) before', async () => {
    // exp is in whole seconds, so a 1 s token lives 0-1 s: signed early in a second, it is still good
    // at once, and surely expired 2.1 s later.
    if (Date.now() % 1000 > 500) await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000)));
    const token = app.jwt.sign({ sub: 'u3', username: 'u3', admin: false, sv: 1, jti: 'j' }, { expiresIn: '1s' });
    expect((await me(token)).statusCode).toBe(200);
    await new Promise((r) => setTimeout(r, 2100));
    expect((await me(token)).statusCode).toBe(401);
  });
});
