import { createHash } from 'node:crypto';
import { Type } from 'typebox';
import { InvalidField } from './errors.js';

/** The largest `offset` a list accepts: deeper pages are read by key, with the cursor. */
export const MAX_OFFSET = 10_000;

/** The header a list page carries when more rows may follow: the `cursor` of the next page. */
export const NEXT_CURSOR_HEADER = 'x-next-cursor';

/**
 * The query parameters of every list route on both networks: `limit` rows (1-1000, default 100), either
 * after `cursor` (the `x-next-cursor` header of the previous page, with the same filters) or after
 * skipping `offset` rows (0-10,000, default 0). A list route's query is
 * `Type.Object({ ...Page.properties, ...filters })`.
 */
export const Page = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
  offset: Type.Integer({
    minimum: 0,
    default: 0,
    description: `Rows to skip, at most ${MAX_OFFSET}; page further with \`cursor\``,
  }),
  cursor: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 2048,
      pattern: '^[A-Za-z0-9_-]+$',
      description: `The next page: the previous page's \`${NEXT_CURSOR_HEADER}\` header, given with the same filters`,
    }),
  ),
});

/**
 * `?prefix=` on the settings lists: only keys starting with this text, taken literally (a range of keys,
 * see prefixBound), in the characters and length of a setting key.
 */
export const KeyPrefix = Type.Optional(
  Type.String({
    pattern: '^[a-z0-9_.-]*$',
    maxLength: 255,
    description: 'Only keys starting with this text, e.g. "app."',
  }),
);

/** `?name=` on the profile type lists: names containing this text, any case (see `containsIgnoringCase`). */
export const NameContains = Type.Optional(
  Type.String({ minLength: 1, maxLength: 100, description: 'Names containing this, any case' }),
);

/** What one part of a sort key holds: text (at most 1,024 characters) or a safe integer. */
export type KeyPart = 'text' | 'integer';
type PartValue<P extends KeyPart> = P extends 'text' ? string : number;
export type KeyOf<Parts extends readonly KeyPart[]> = { -readonly [I in keyof Parts]: PartValue<Parts[I]> };

/**
 * One list's order: its name and the parts of its unique sort key, e.g. users by `['text', 'text']`
 * (username key, id). A cursor is the last row's key with a fingerprint of the list, its order and the
 * page's filters, base64url JSON: not secret (it only says where to start), but checked, so a cursor
 * given to another list or with other filters is refused rather than silently starting elsewhere.
 */
export interface Keyset<Parts extends readonly KeyPart[]> {
  readonly list: string;
  readonly parts: Parts;
}

export const keyset = <const Parts extends readonly KeyPart[]>(list: string, parts: Parts): Keyset<Parts> => ({
  list,
  parts,
});

/** A page to read: `limit` rows after `after` (a key) or after skipping `offset` rows. */
export interface PageRequest<K> {
  readonly limit: number;
  readonly offset: number;
  readonly after?: K;
}

interface PageQuery {
  limit: number;
  offset: number;
  cursor?: string | undefined;
}

const MAX_TEXT = 1024;

function fingerprint(set: Keyset<readonly KeyPart[]>, filters: Record<string, unknown>): string {
  const defined = Object.entries(filters)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : 1));
  return createHash('sha256')
    .update(JSON.stringify([set.list, set.parts, defined]))
    .digest('base64url')
    .slice(0, 16);
}

/** The cursor that makes the next page start after the row whose sort key is `key`. */
export function encodeCursor<Parts extends readonly KeyPart[]>(
  set: Keyset<Parts>,
  filters: Record<string, unknown>,
  key: KeyOf<Parts>,
): string {
  return Buffer.from(JSON.stringify({ f: fingerprint(set, filters), k: key })).toString('base64url');
}

const refused = (why: string) => new InvalidField(['querystring', 'cursor'], why);

function decodeCursor<Parts extends readonly KeyPart[]>(
  set: Keyset<Parts>,
  filters: Record<string, unknown>,
  cursor: string,
): KeyOf<Parts> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw refused('not a cursor this list gave: use the x-next-cursor header of the previous page as it is');
  }
  const { f, k } = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as { f?: unknown; k?: unknown };
  if (typeof f !== 'string')
    throw refused('not a cursor this list gave: use the x-next-cursor header of the previous page as it is');
  if (f !== fingerprint(set, filters))
    throw refused(
      'the cursor belongs to another list or other filters: give the filters of the page it came with, or start again without it',
    );
  const fits =
    Array.isArray(k) &&
    k.length === set.parts.length &&
    k.every((v, i) =>
      set.parts[i] === 'integer' ? Number.isSafeInteger(v) : typeof v === 'string' && v.length <= MAX_TEXT,
    );
  if (!fits) throw refused('not a cursor this list gave: use the x-next-cursor header of the previous page as it is');
  return k as KeyOf<Parts>;
}

/**
 * Checks a list query's paging (`limit`, `offset`, `cursor`) against its filters and says which page to
 * read. `filters` are the query's other parameters as the list applies them.
 * @throws InvalidField naming `cursor` when it is malformed or belongs to other filters, or `offset` when
 *   it is over MAX_OFFSET or given with a cursor
 */
export function pageOf<Parts extends readonly KeyPart[]>(
  set: Keyset<Parts>,
  query: PageQuery,
  filters: Record<string, unknown>,
): PageRequest<KeyOf<Parts>> {
  if (query.offset > MAX_OFFSET)
    throw new InvalidField(
      ['querystring', 'offset'],
      `offset is at most ${MAX_OFFSET}: page further with the cursor in the ${NEXT_CURSOR_HEADER} header`,
    );
  if (query.cursor === undefined) return { limit: query.limit, offset: query.offset };
  if (query.offset !== 0)
    throw new InvalidField(
      ['querystring', 'offset'],
      'give either offset or cursor: a cursor already says where to start',
    );
  return { limit: query.limit, offset: 0, after: decodeCursor(set, filters, query.cursor) };
}

/**
 * A page from the rows a list read: repositories read `limit + 1` rows, and the one past the page says
 * there are more, so the cursor is given only when another page holds rows and never on the last page.
 */
export function pageFrom<Row, Parts extends readonly KeyPart[]>(
  set: Keyset<Parts>,
  filters: Record<string, unknown>,
  limit: number,
  rows: Row[],
  keyOf: (row: Row) => KeyOf<Parts>,
): { rows: Row[]; next: string | undefined } {
  if (rows.length <= limit) return { rows, next: undefined };
  const page = rows.slice(0, limit);
  return { rows: page, next: encodeCursor(set, filters, keyOf(page[page.length - 1] as Row)) };
}

/**
 * The exclusive upper bound of the text that starts with `prefix`, in code point order (SQLite's BINARY,
 * PostgreSQL's "C" collation): `key >= prefix AND key < bound` is an index range, where LIKE is not
 * (SQLite's LIKE ignores ASCII case, so its index cannot serve it). Undefined when there is none.
 */
export function prefixBound(prefix: string): string | undefined {
  const points = [...prefix].map((c) => c.codePointAt(0) as number);
  while (points.length > 0) {
    const last = (points.pop() as number) + 1;
    if (last <= 0x10ffff) {
      points.push(last === 0xd800 ? 0xe000 : last);
      return String.fromCodePoint(...points);
    }
  }
  return undefined;
}

/**
 * A list route's whole paging: checks the query's `offset` and `cursor` against `filters`, reads the page
 * with `read` (which returns up to `limit + 1` rows), and sets `x-next-cursor` when more rows follow.
 * @returns the page's rows
 */
export async function listPage<Row, Parts extends readonly KeyPart[]>(
  reply: { header(name: string, value: string): unknown },
  set: Keyset<Parts>,
  query: PageQuery,
  filters: Record<string, unknown>,
  read: (page: PageRequest<KeyOf<Parts>>) => Promise<Row[]>,
  keyOf: (row: Row) => KeyOf<Parts>,
): Promise<Row[]> {
  const page = pageOf(set, query, filters);
  const { rows, next } = pageFrom(set, filters, page.limit, await read(page), keyOf);
  if (next !== undefined) reply.header(NEXT_CURSOR_HEADER, next);
  return rows;
}
