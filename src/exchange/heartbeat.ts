import { randomBytes } from 'node:crypto';
import { constants as FS } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { type Static, Type } from 'typebox';
import { Compile } from 'typebox/compile';
import { canonicalJson, FORMAT, FORMAT_VERSION } from './file-format.js';
import { GENERATION_PATTERN } from './generation.js';
import { type SigningKey, signText, type TrustedKeys, verifyText } from './keys.js';
import { RefusedFile } from './reader.js';
import { describeErrors } from './records.js';
import { fsyncDir } from './writer.js';

/**
 * The heartbeat: a small signed file the Response side rewrites every EXPORT_INTERVAL_S at a fixed name
 * in the exchange folder (TUF's "timestamp" role). It says when it was written and the newest batch of
 * each stream written by then, so a Request side can tell "nothing changed" from "nothing arrives": a
 * heartbeat that grows old, or names batches that never land, means the copy step stopped or holds files
 * back. One line of JSON:
 *
 *   {"heartbeat":{...canonical JSON, keys sorted...},"signature":"<base64url Ed25519 of that text>"}
 */
export const HEARTBEAT_FILE = 'heartbeat.json';

export const Heartbeat = Type.Object(
  {
    format: Type.Literal(FORMAT),
    version: Type.Integer({ minimum: 1 }),
    kind: Type.Literal('heartbeat'),
    generation: Type.String({ pattern: GENERATION_PATTERN }),
    created_at: Type.String({ format: 'date-time' }),
    key_id: Type.String({ pattern: '^[0-9a-f]{16}$' }),
    /** Per stream, the newest batch written by `created_at` (0: none yet). */
    streams: Type.Record(Type.String(), Type.Integer({ minimum: 0 })),
  },
  { additionalProperties: false },
);
export type Heartbeat = Static<typeof Heartbeat>;

const checker = Compile(Heartbeat);
/** A heartbeat is a few hundred bytes; anything much larger is not one. */
const MAX_HEARTBEAT_BYTES = 64 * 1024;
const LINE = /^\{"heartbeat":(\{.*\}),"signature":"([A-Za-z0-9_-]{86})"\}\n?$/s;

/** The heartbeat's text for these fields, signed. */
export function heartbeatText(fields: Pick<Heartbeat, 'generation' | 'created_at' | 'streams'>, key: SigningKey) {
  const body: Heartbeat = { format: FORMAT, version: FORMAT_VERSION, kind: 'heartbeat', ...fields, key_id: key.id };
  const json = canonicalJson(body);
  return { heartbeat: body, text: `{"heartbeat":${json},"signature":"${signText(key, json)}"}\n` };
}

/** Writes the heartbeat into `dir` as other exchange files are: a temporary name, fsync, rename, fsync. */
export async function writeHeartbeat(
  dir: string,
  fields: Pick<Heartbeat, 'generation' | 'created_at' | 'streams'>,
  key: SigningKey,
): Promise<{ path: string; heartbeat: Heartbeat }> {
  const { heartbeat, text } = heartbeatText(fields, key);
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  const target = path.join(dir, HEARTBEAT_FILE);
  const tmp = path.join(dir, `.${HEARTBEAT_FILE}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await fs.writeFile(tmp, text, { mode: 0o600, flag: 'wx', flush: true });
    await fs.rename(tmp, target);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
  await fsyncDir(dir);
  return { path: target, heartbeat };
}

/**
 * Reads and authenticates the heartbeat at `file` with the `trusted` keys.
 * @returns undefined when there is none
 * @throws RefusedFile when it is not a heartbeat, of another version, or not signed by a trusted key
 */
export async function readHeartbeat(file: string, trusted: TrustedKeys): Promise<Heartbeat | undefined> {
  let text: string;
  try {
    const handle = await fs.open(file, FS.O_RDONLY | FS.O_NOFOLLOW);
    try {
      const { size } = await handle.stat();
      if (size > MAX_HEARTBEAT_BYTES) throw new RefusedFile('too_large', `heartbeat is ${size} bytes`);
      text = await handle.readFile('utf8');
    } finally {
      await handle.close();
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ELOOP') throw new RefusedFile('not_regular_file', 'heartbeat is a symlink');
    throw err;
  }
  const m = LINE.exec(text);
  if (!m?.[1] || !m[2]) throw new RefusedFile(text.length === 0 ? 'empty' : 'not_json', 'not a heartbeat line');
  let body: unknown;
  try {
    body = JSON.parse(m[1]);
  } catch {
    throw new RefusedFile('not_json', 'heartbeat is not JSON');
  }
  const version = (body as { version?: unknown } | null)?.version;
  if (typeof version === 'number' && version !== FORMAT_VERSION) {
    const code = version > FORMAT_VERSION ? 'future_version' : 'old_version';
    throw new RefusedFile(code, `heartbeat format version ${version}, this side reads ${FORMAT_VERSION}`);
  }
  if (!checker.Check(body)) {
    throw new RefusedFile('bad_header', `bad heartbeat: ${describeErrors(checker.Errors(body))}`);
  }
  const signer = trusted.find((k) => k.id === body.key_id);
  if (!signer)
    throw new RefusedFile('unknown_key', `heartbeat signed with key ${body.key_id}, which this side does not trust`);
  // The signature covers the canonical text, whatever spacing the line has.
  if (!verifyText(signer, canonicalJson(body), m[2])) {
    throw new RefusedFile('bad_signature', `heartbeat signature does not match key ${signer.id}: it was altered`);
  }
  return body;
}
