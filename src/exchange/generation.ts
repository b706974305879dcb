import { randomBytes } from 'node:crypto';

/**
 * A generation names one life of the Response database: made when the database is created, and made
 * again when it is restored from a backup or rebuilt, since its sequence numbers then repeat numbers
 * Request sides already applied. Every exchange file carries it, so a Request side compares sequence
 * numbers only within one generation and re-bases on a new generation's snapshot.
 *
 * `<YYYYMMDDTHHMMSSZ>-<8 hex random>`: ids sort as text in the order they were made (to the second; the
 * random part separates two made in the same second, in no particular order).
 */
export const GENERATION_PATTERN = '^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}$';
const GENERATION = new RegExp(GENERATION_PATTERN);

export const isGeneration = (text: string): boolean => GENERATION.test(text);

/** A new generation id, stamped with `now` (UTC). */
export function newGeneration(now: Date = new Date()): string {
  const stamp = now
    .toISOString()
    .replace(/\.\d{3}Z$/, 'Z')
    .replace(/[-:]/g, '');
  return `${stamp}-${randomBytes(4).toString('hex')}`;
}

/**
 * A new generation id newer than `previous`: stamped with `now`, or, when that would not sort after
 * `previous` (made in the same second, or a clock behind the one that made it), with the second after
 * `previous`'s stamp.
 */
export function nextGeneration(previous: string | undefined, now: Date = new Date()): string {
  const made = newGeneration(now);
  if (previous === undefined || made > previous) return made;
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z/.exec(previous);
  if (!m) return made;
  const [, y, mo, d, h, mi, s] = m.map(Number) as [number, number, number, number, number, number, number];
  return newGeneration(new Date(Date.UTC(y, mo - 1, d, h, mi, s + 1)));
}

/** Negative, zero or positive as generation `a` is older than, the same as, or newer than `b`. */
export const compareGenerations = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
