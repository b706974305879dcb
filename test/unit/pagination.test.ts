import { describe, expect, it } from 'vitest';
import { InvalidField } from '../../src/platform/errors.js';
import { encodeCursor, keyset, MAX_OFFSET, pageFrom, pageOf, prefixBound } from '../../src/platform/pagination.js';

const BY_KEY = keyset('things', ['text', 'integer']);

describe('cursor paging', () => {
  it('gives back the key a cursor was made with, for the same list and filters only', () => {
    const cursor = encodeCursor(BY_KEY, { a: 1, b: undefined }, ['k', 7]);
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    // Filters compare by value, whatever their order; an undefined filter is no filter.
    expect(pageOf(BY_KEY, { limit: 5, offset: 0, cursor }, { a: 1 })).toEqual({ limit: 5, offset: 0, after: ['k', 7] });
    const refusal = (filters: Record<string, unknown>, set: typeof BY_KEY = BY_KEY) => {
      try {
        pageOf(set, { limit: 5, offset: 0, cursor }, filters);
      } catch (err) {
        expect(err).toBeInstanceOf(InvalidField);
        return (err as InvalidField).detail;
      }
      throw new Error('accepted');
    };
    expect(refusal({ a: 2 })).toEqual([
      { loc: ['querystring', 'cursor'], msg: expect.stringMatching(/other filters/), type: 'value_error' },
    ]);
    expect(JSON.stringify(refusal({ a: 1 }, keyset('others', ['text', 'integer'])))).toMatch(/another list/);
    expect(JSON.stringify(refusal({ a: 1 }, keyset('things', ['text']) as never))).toMatch(/another list/);
  });

  it('caps offset, and refuses it beside a cursor', () => {
    expect(pageOf(BY_KEY, { limit: 5, offset: MAX_OFFSET }, {})).toEqual({ limit: 5, offset: MAX_OFFSET });
    expect(() => pageOf(BY_KEY, { limit: 5, offset: MAX_OFFSET + 1 }, {})).toThrow(/use|cursor/);
    const cursor = encodeCursor(BY_KEY, {}, ['k', 1]);
    expect(() => pageOf(BY_KEY, { limit: 5, offset: 1, cursor }, {})).toThrow(/either offset or cursor/);
  });

  it('gives the next cursor only when a row beyond the page was read', () => {
    const key = (r: { k: string; n: number }): [string, number] => [r.k, r.n];
    const rows = [1, 2, 3].map((n) => ({ k: `r${n}`, n }));
    expect(pageFrom(BY_KEY, {}, 3, rows, key).next).toBeUndefined();
    const { rows: page, next } = pageFrom(BY_KEY, {}, 2, rows, key);
    expect(page).toHaveLength(2);
    expect(pageOf(BY_KEY, { limit: 2, offset: 0, cursor: next }, {}).after).toEqual(['r2', 2]);
  });

  it('bounds a prefix: everything starting with it sorts below the bound, nothing else between', () => {
    expect(prefixBound('app.')).toBe('app/');
    expect(prefixBound('a_')).toBe('a`');
    expect(prefixBound('zé')).toBe('zê');
    expect(prefixBound('a\u{10ffff}')).toBe('b');
    expect(prefixBound('\u{d7ff}')).toBe('\u{e000}');
    expect(prefixBound('\u{10ffff}')).toBeUndefined();
    expect(prefixBound('')).toBeUndefined();
    for (const p of ['app.', 'user0', 'ä']) {
      const bound = prefixBound(p) as string;
      for (const s of [`${p}`, `${p}zzz`, `${p}\u{ffff}`]) expect(s < bound, s).toBe(true);
      expect(bound.startsWith(p)).toBe(false);
    }
  });
});
