import { describe, expect, it } from 'vitest';
import { LoginThrottle } from '../../src/platform/login.js';

describe('login throttle', () => {
  it('allows N failures in the window, then asks to wait until the oldest leaves it', () => {
    let now = 1_000_000;
    const t = new LoginThrottle(3, 60_000, () => now);
    for (let i = 0; i < 3; i++) {
      expect(t.retryAfter('ip|john')).toBe(0);
      t.failed('ip|john');
      now += 1000;
    }
    expect(t.retryAfter('ip|john')).toBe(57);
    expect(t.retryAfter('ip|mary')).toBe(0);
    now += 57_000;
    expect(t.retryAfter('ip|john')).toBe(0);
  });

  it('forgets failures after a success, and does nothing when off', () => {
    const t = new LoginThrottle(2);
    t.failed('k');
    t.succeeded('k');
    t.failed('k');
    expect(t.retryAfter('k')).toBe(0);
    const off = new LoginThrottle(0);
    for (let i = 0; i < 100; i++) off.failed('k');
    expect(off.retryAfter('k')).toBe(0);
  });
});
