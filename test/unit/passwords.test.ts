import { describe, expect, it } from 'vitest';
import { hashPassword, passwordMatches, passwordProblem } from '../../src/platform/passwords.js';

describe('password policy', () => {
  it.each([
    ['short1', 'must be at least 8 characters'],
    ['abcdefgh', 'must contain a letter and a digit'],
    ['12345678', 'must contain a letter and a digit'],
    ['a1'.repeat(37), 'must be at most 72 bytes (bcrypt ignores the rest)'],
    ['xjohnx12', 'must not contain the username'],
  ])('refuses %s: %s', (pw, reason) => {
    expect(passwordProblem(pw, 'john')).toBe(reason);
  });

  it('accepts a decent password, including non-Latin letters', () => {
    expect(passwordProblem('Secret123', 'john')).toBeUndefined();
    expect(passwordProblem('رمزعبور۱۲3x', 'john')).toBeUndefined();
  });

  it('hashes with bcrypt $2b$ at the cost asked, and verifies', async () => {
    const h = await hashPassword('Secret123', 12);
    expect(h).toMatch(/^\$2b\$12\$[./A-Za-z0-9]{53}$/);
    expect(await passwordMatches('Secret123', h)).toBe(true);
    expect(await passwordMatches('Secret124', h)).toBe(false);
    expect(await passwordMatches('Secret123', undefined)).toBe(false);
  });
});
