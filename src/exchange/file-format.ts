import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { type Static, Type } from 'typebox';
import { Compile } from 'typebox/compile';
import { describeErrors } from './records.js';
import type { Stream } from './streams.js';

/**
 * One exchange file is one JSON document with a fixed line layout, so it can be written and read a
 * record at a time (a 100,000-row snapshot never sits in memory) and still opened by any JSON tool:
 *
 *   {"header":{...}<spaces>,        line 1, padded to HEADER_LINE_BYTES so it can be filled in last
 *   "records":[
 *   {...},                          one record per line
 *   {...}
 *   ],
 *   "mac":"hmac-sha256:<hex>"}
 *
 * `header.sha256` is the SHA-256 of every record line (without its comma) followed by "\n";
 * `mac` is HMAC-SHA256(EXCHANGE_KEY, canonicalJson(header)) (keys sorted; line 1 is written that way). The MAC binds the header, the header binds
 * the records: a changed byte anywhere fails one of the two checks. See docs/exchange-protocol.md.
 */
export const FORMAT = 'netsync-exchange';
export const FORMAT_VERSION = 1;
export const HEADER_LINE_BYTES = 1024;

export const Header = Type.Object(
  {
    format: Type.Literal(FORMAT),
    version: Type.Integer({ minimum: 1 }),
    kind: Type.Union([Type.Literal('batch'), Type.Literal('snapshot')]),
    stream: Type.Union([
      Type.Literal('profile_types'),
      Type.Literal('users'),
      Type.Literal('password_changes'),
      Type.Literal('settings'),
    ]),
    /** For a batch, its sequence number; for a snapshot, the newest batch of `stream` it reflects. */
    seq: Type.Integer({ minimum: 0 }),
    /** For a snapshot: the newest batch it reflects of each stream it covers. */
    covers: Type.Optional(Type.Record(Type.String(), Type.Integer({ minimum: 0 }))),
    /** For a batch: the newest batch of each stream its records refer to (see REQUIRES). */
    requires: Type.Optional(Type.Record(Type.String(), Type.Integer({ minimum: 0 }))),
    created_at: Type.String({ format: 'date-time' }),
    count: Type.Integer({ minimum: 0 }),
    sha256: Type.String({ pattern: '^[0-9a-f]{64}$' }),
    /** First 8 hex digits of SHA-256(key): tells "signed with another key" from "tampered". */
    key_id: Type.String({ pattern: '^[0-9a-f]{8}$' }),
  },
  { additionalProperties: false },
);
export type Header = Static<typeof Header>;
// The literal list above must name every stream.
const _everyStream: Record<Stream, true> = { profile_types: true, users: true, password_changes: true, settings: true };
void _everyStream;
export type HeaderFields = Omit<Header, 'format' | 'version' | 'count' | 'sha256' | 'key_id'>;

const headerChecker = Compile(Header);

export const keyId = (key: string): string => createHash('sha256').update(key).digest('hex').slice(0, 8);
/**
 * JSON with object keys sorted at every level: the one text of a header both sides agree on, whatever
 * order a writer put its keys in.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.keys(value as object)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
  return `{${entries.join(',')}}`;
}

export const macOf = (key: string, header: Header): string =>
  createHmac('sha256', key).update(canonicalJson(header)).digest('hex');

export const HEADER_PREFIX = '{"header":';
export const RECORDS_OPEN = '"records":[';
export const RECORDS_CLOSE = '],';
export const MAC_PREFIX = '"mac":"hmac-sha256:';

/** Line 1 of a file for this header, padded with spaces (valid JSON whitespace) to its fixed width. */
export function headerLine(header: Header): string {
  const body = `${HEADER_PREFIX}${canonicalJson(header)}`;
  const pad = HEADER_LINE_BYTES - Buffer.byteLength(body) - 2; // "," and "\n"
  if (pad < 0) throw new Error(`exchange header longer than ${HEADER_LINE_BYTES} bytes`);
  return `${body}${' '.repeat(pad)},\n`;
}

export const macLine = (mac: string): string => `${MAC_PREFIX}${mac}"}\n`;

/** Why a parsed header cannot be accepted, or undefined. */
export function headerProblem(value: unknown): string | undefined {
  if (headerChecker.Check(value)) {
    const v = (value as Header).version;
    return v > FORMAT_VERSION ? `format version ${v} is newer than this importer reads (${FORMAT_VERSION})` : undefined;
  }
  return `bad header: ${describeErrors(headerChecker.Errors(value))}`;
}

/** Constant-time comparison of two hex digests. */
export function sameDigest(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}
