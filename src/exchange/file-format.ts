import { timingSafeEqual } from 'node:crypto';
import { type Static, Type } from 'typebox';
import { Compile } from 'typebox/compile';
import { GENERATION_PATTERN } from './generation.js';
import { type PublicKey, type SigningKey, signText, verifyText } from './keys.js';
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
 *   "signature":"<base64url>"}
 *
 * `header.sha256` is the SHA-256 of every record line (without its comma) followed by "\n";
 * `signature` is the Ed25519 signature of canonicalJson(header) (keys sorted; line 1 is written that way)
 * by the key `header.key_id` names. The signature binds the header, the header binds the records: a
 * changed byte anywhere fails one of the two checks. Only the Response side holds the private key, so a
 * Request side can check a file but never make one. See docs/exchange-protocol.md.
 */
export const FORMAT = 'netsync-exchange';
/** Version 2 signs with Ed25519; version 1 (a shared HMAC key) was never deployed and is not read. */
export const FORMAT_VERSION = 2;
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
    /**
     * The Response database's generation (generation.ts): sequence numbers compare only within one; a
     * newer one means the database was restored or rebuilt, and Request sides re-base on its snapshot.
     */
    generation: Type.String({ pattern: GENERATION_PATTERN }),
    /** For a snapshot: the newest batch it reflects of each stream it covers. */
    covers: Type.Optional(Type.Record(Type.String(), Type.Integer({ minimum: 0 }))),
    /** For a batch: the newest batch of each stream its records refer to (see REQUIRES). */
    requires: Type.Optional(Type.Record(Type.String(), Type.Integer({ minimum: 0 }))),
    created_at: Type.String({ format: 'date-time' }),
    count: Type.Integer({ minimum: 0 }),
    sha256: Type.String({ pattern: '^[0-9a-f]{64}$' }),
    /** The signing key's id (see keys.ts): tells "signed with a key not trusted here" from "tampered". */
    key_id: Type.String({ pattern: '^[0-9a-f]{16}$' }),
  },
  { additionalProperties: false },
);
export type Header = Static<typeof Header>;
// The literal list above must name every stream.
const _everyStream: Record<Stream, true> = { profile_types: true, users: true, password_changes: true, settings: true };
void _everyStream;
export type HeaderFields = Omit<Header, 'format' | 'version' | 'count' | 'sha256' | 'key_id'>;

const headerChecker = Compile(Header);

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

export const signatureOf = (key: SigningKey, header: Header): string => signText(key, canonicalJson(header));
export const signatureMatches = (key: PublicKey, header: Header, signature: string): boolean =>
  verifyText(key, canonicalJson(header), signature);

export const HEADER_PREFIX = '{"header":';
export const RECORDS_OPEN = '"records":[';
export const RECORDS_CLOSE = '],';
export const SIGNATURE_PREFIX = '"signature":"';

/** Line 1 of a file for this header, padded with spaces (valid JSON whitespace) to its fixed width. */
export function headerLine(header: Header): string {
  const body = `${HEADER_PREFIX}${canonicalJson(header)}`;
  const pad = HEADER_LINE_BYTES - Buffer.byteLength(body) - 2; // "," and "\n"
  if (pad < 0) throw new Error(`exchange header longer than ${HEADER_LINE_BYTES} bytes`);
  return `${body}${' '.repeat(pad)},\n`;
}

export const signatureLine = (signature: string): string => `${SIGNATURE_PREFIX}${signature}"}\n`;

export type HeaderRefusal = 'bad_header' | 'future_version' | 'old_version';

/**
 * Why a parsed header cannot be accepted, or undefined. The version is judged first: another version's
 * header may differ in any field, and "wrong version" is what an operator needs to hear.
 */
export function headerProblem(value: unknown): { code: HeaderRefusal; reason: string } | undefined {
  const v = (value as { version?: unknown } | null)?.version;
  if (typeof v === 'number' && v > FORMAT_VERSION) {
    return {
      code: 'future_version',
      reason: `format version ${v} is newer than this importer reads (${FORMAT_VERSION})`,
    };
  }
  if (typeof v === 'number' && v < FORMAT_VERSION) {
    return {
      code: 'old_version',
      reason: `format version ${v} is no longer read (this importer reads ${FORMAT_VERSION}): upgrade the Response side`,
    };
  }
  if (headerChecker.Check(value)) return undefined;
  return { code: 'bad_header', reason: `bad header: ${describeErrors(headerChecker.Errors(value))}` };
}

/** Constant-time comparison of two hex digests. */
export function sameDigest(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}
