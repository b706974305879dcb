import { describe, expect, it } from 'vitest';
import {
  compareGenerations,
  generateSigningKey,
  headerProblem,
  isGeneration,
  newGeneration,
  nextGeneration,
  parseSigningKey,
} from '../../src/exchange/index.js';
import { craftFile, HEADER_LINE_BYTES } from '../helpers/exchange.js';

describe('generation ids', () => {
  it('are <UTC stamp>-<8 hex>, and sort as text in the order they were made', () => {
    const a = newGeneration(new Date('2026-12-02T18:20:00.999Z'));
    expect(a).toMatch(/^20261202T182000Z-[0-9a-f]{8}$/);
    expect(isGeneration(a)).toBe(true);
    const b = newGeneration(new Date('2026-12-02T18:20:01Z'));
    expect(compareGenerations(a, b)).toBe(-1);
    expect(compareGenerations(b, a)).toBe(1);
    expect(compareGenerations(a, a)).toBe(0);
    for (const bad of ['', '20261202T182000Z', '20261202T182000Z-1A2B3C4D', '2026-12-02T18:20:00Z-1a2b3c4d']) {
      expect(isGeneration(bad)).toBe(false);
    }
  });

  it('a next one is newer than the previous even in the same second, or with a clock behind', () => {
    const now = new Date('2026-12-02T18:20:00Z');
    for (let i = 0; i < 50; i++) {
      const previous = newGeneration(now);
      expect(nextGeneration(previous, now) > previous).toBe(true);
      expect(nextGeneration(previous, new Date('2026-01-01T00:00:00Z')) > previous).toBe(true);
    }
    expect(nextGeneration('20261202T182059Z-ffffffff', now)).toMatch(/^20261202T182100Z-/);
  });

  it('is a required header field with that shape', () => {
    const key = parseSigningKey(generateSigningKey());
    const headerOf = (text: string) => JSON.parse(text.slice('{"header":'.length, HEADER_LINE_BYTES - 2));
    const good = headerOf(craftFile({ stream: 'users', seq: 1 }, [], key));
    expect(headerProblem(good)).toBeUndefined();
    const { generation: _, ...without } = good;
    expect(headerProblem(without)?.code).toBe('bad_header');
    expect(headerProblem({ ...good, generation: 'yesterday' })?.reason).toMatch(/generation/);
  });
});
