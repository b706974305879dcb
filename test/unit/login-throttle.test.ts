import { describe, expect, it } from 'vitest';
import { type LoginAttempt, MemoryLoginThrottle } from '../../src/platform/login-throttle.js';

/*
 * The in-memory throttle each API process falls back to while Redis is unavailable. The shared one, in
 * Redis, is tested against a real Redis in test/integration/login-throttle.test.ts.
 */

const fail = async (t: MemoryLoginThrottle, client: string, username: string): Promise<LoginAttempt> =>
  t.begin(client, username);

describe('login throttle (in memory)', () => {
  it('allows N failures per client and username in the window, then asks to wait until the oldest leaves it', async () => {
    let now = 1_000_000;
    const t = new MemoryLoginThrottle({ perUsername: 3, perClient: 0, windowMs: 60_000 }, () => now);
    for (let i = 0; i < 3; i++) {
      expect((await fail(t, 'ip', 'john')).allowed).toBe(true);
      now += 1000;
    }
    expect(await t.begin('ip', 'john')).toEqual({ allowed: false, retryAfterS: 57 });
    // Another spelling of the same name shares the count; another name or client does not.
    expect((await t.begin('ip', 'JOHN')).allowed).toBe(false);
    expect((await t.begin('ip', 'mary')).allowed).toBe(true);
    expect((await t.begin('other-ip', 'john')).allowed).toBe(true);
    now += 57_000;
    expect((await t.begin('ip', 'john')).allowed).toBe(true);
  });

  it('counts a client over all usernames, so rotating names gets throttled too', async () => {
    const t = new MemoryLoginThrottle({ perUsername: 3, perClient: 5, windowMs: 60_000 });
    for (let i = 0; i < 5; i++) expect((await t.begin('ip', `user${i}`)).allowed).toBe(true);
    const refused = await t.begin('ip', 'user5');
    expect(refused.allowed).toBe(false);
    expect(refused.allowed === false && refused.retryAfterS).toBeGreaterThan(0);
    expect((await t.begin('other-ip', 'user5')).allowed).toBe(true);
  });

  it('counts a username over all clients, so guessing from many addresses gets throttled too', async () => {
    const t = new MemoryLoginThrottle({ perUsername: 3, perClient: 5, perAccount: 4, windowMs: 60_000 });
    for (let i = 0; i < 4; i++) expect((await t.begin(`ip${i}`, 'john')).allowed).toBe(true);
    expect((await t.begin('ip9', 'John')).allowed).toBe(false);
    expect((await t.begin('ip9', 'mary')).allowed).toBe(true);
  });

  it('forgets a success, un-counts an abandoned attempt, and does nothing when off', async () => {
    const t = new MemoryLoginThrottle({ perUsername: 2, perClient: 3, windowMs: 60_000 });
    await fail(t, 'ip', 'k');
    const ok = await t.begin('ip', 'k');
    if (!ok.allowed) throw new Error('refused');
    await ok.succeeded();
    // The username's failures are gone; the client's other failure stays (a success must not reset it).
    for (let i = 0; i < 2; i++) {
      const a = await t.begin('ip', 'k');
      expect(a.allowed).toBe(true);
    }
    expect((await t.begin('ip', 'k')).allowed).toBe(false);
    expect((await t.begin('ip', 'z')).allowed).toBe(false);

    const u = new MemoryLoginThrottle({ perUsername: 1, perClient: 1, windowMs: 60_000 });
    for (let i = 0; i < 5; i++) {
      const a = await u.begin('ip', 'k');
      if (!a.allowed) throw new Error('an abandoned attempt was counted');
      await a.abandoned();
    }

    const off = new MemoryLoginThrottle({ perUsername: 0, perClient: 0, windowMs: 60_000 });
    for (let i = 0; i < 100; i++) expect((await off.begin('ip', 'k')).allowed).toBe(true);
  });
});
