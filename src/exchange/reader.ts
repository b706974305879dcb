import { createHash } from 'node:crypto';
import { constants as FS } from 'node:fs';
import fs from 'node:fs/promises';
import readline from 'node:readline';
import {
  HEADER_PREFIX,
  type Header,
  type HeaderRefusal,
  headerProblem,
  RECORDS_CLOSE,
  RECORDS_OPEN,
  SIGNATURE_PREFIX,
  sameDigest,
  signatureMatches,
} from './file-format.js';
import { identityOfStats } from './file-identity.js';
import type { TrustedKeys } from './keys.js';
import { type RecordOf, recordProblem } from './records.js';
import type { Stream } from './streams.js';

/** Why a file was refused. Every code but `vanished` means the file goes to quarantine. */
export type RefusalCode =
  | 'vanished'
  | 'not_regular_file'
  | 'too_large'
  | 'empty'
  | 'truncated'
  | 'not_json'
  | HeaderRefusal
  | 'unknown_key'
  | 'bad_signature'
  | 'bad_checksum'
  | 'bad_record'
  | 'wrong_place'
  | 'replayed'
  | 'unknown_user';

export class RefusedFile extends Error {
  constructor(
    readonly code: RefusalCode,
    reason: string,
  ) {
    super(reason);
    this.name = 'RefusedFile';
  }
}

export interface ExchangeFile<S extends Stream> {
  readonly header: Header;
  /**
   * The records, one at a time. Throws RefusedFile when the file turns out bad, possibly after some
   * records were yielded: the caller applies them in a transaction it commits only when this ends.
   */
  records(): AsyncGenerator<RecordOf[S]>;
}

export interface ReadOptions {
  readonly maxBytes: number;
}

const TAIL_BYTES = 128;
const SIGNATURE_TAIL = /"signature":"([A-Za-z0-9_-]{86})"\}\n$/;

/**
 * Opens and authenticates an exchange file of `stream`: the header and its signature (by one of the
 * `trusted` keys) are checked before the first record is read. A symlink, a folder or an over-size file
 * is refused without reading it.
 */
export async function openExchangeFile<S extends Stream>(
  file: string,
  stream: S,
  trusted: TrustedKeys,
  opts: ReadOptions,
): Promise<ExchangeFile<S>> {
  let handle: fs.FileHandle;
  try {
    const st = await fs.lstat(file);
    if (!st.isFile()) throw new RefusedFile('not_regular_file', 'not a regular file (symlink or folder)');
    handle = await fs.open(file, FS.O_RDONLY | FS.O_NOFOLLOW);
  } catch (err) {
    if (err instanceof RefusedFile) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new RefusedFile('vanished', 'file no longer exists');
    if (code === 'ELOOP') throw new RefusedFile('not_regular_file', 'is a symlink');
    throw err;
  }
  try {
    const { size, dev, ino } = await handle.stat();
    if (size === 0) throw new RefusedFile('empty', 'file is empty');
    if (size > opts.maxBytes)
      throw new RefusedFile('too_large', `file is ${size} bytes, over the ${opts.maxBytes} limit`);
    const header = await readHeader(handle, size);
    const problem = headerProblem(header);
    if (problem) throw new RefusedFile(problem.code, problem.reason);
    if (header.stream !== stream)
      throw new RefusedFile('wrong_place', `holds stream "${header.stream}", found in "${stream}"`);
    const signer = trusted.find((k) => k.id === header.key_id);
    if (!signer) {
      const ids = trusted.map((k) => k.id).join(', ');
      throw new RefusedFile('unknown_key', `signed with key ${header.key_id}, which this side does not trust (${ids})`);
    }
    const signature = await readSignature(handle, size);
    if (!signatureMatches(signer, header, signature)) {
      throw new RefusedFile('bad_signature', `signature does not match key ${signer.id}: the file was altered`);
    }
    return { header, records: () => readRecords<S>(file, stream, header, { dev, ino }) };
  } finally {
    await handle.close();
  }
}

/**
 * The header of the exchange file at `file`, read but not authenticated: for the Response side's own
 * decisions and reports about files it wrote (the writer's replace check, restore detection, `netsync sync
 * status`), never for deciding what to apply.
 * @returns undefined when there is no such file or its header cannot be read
 */
export async function peekHeader(file: string): Promise<Header | undefined> {
  return (await peekFile(file))?.header;
}

/**
 * `peekHeader`, with the identity (file-identity.ts) of the very file the header was read from: both come
 * from one open descriptor, so a file renamed over `file` meanwhile cannot pair one's header with the
 * other's identity.
 */
export async function peekFile(file: string): Promise<{ header: Header; identity: string } | undefined> {
  const handle = await fs.open(file, FS.O_RDONLY | FS.O_NOFOLLOW).catch(() => undefined);
  if (!handle) return undefined;
  try {
    const st = await handle.stat();
    const header = await readHeader(handle, st.size);
    return headerProblem(header) ? undefined : { header, identity: identityOfStats(st) };
  } catch {
    return undefined;
  } finally {
    await handle.close();
  }
}

async function readHeader(handle: fs.FileHandle, size: number): Promise<Header> {
  const buf = Buffer.alloc(Math.min(size, 4096));
  await handle.read(buf, 0, buf.length, 0);
  const text = buf.toString('utf8');
  const nl = text.indexOf('\n');
  if (nl < 0) throw new RefusedFile(size < 4096 ? 'truncated' : 'not_json', 'no header line');
  const line = text.slice(0, nl).trimEnd();
  if (!line.startsWith(HEADER_PREFIX) || !line.endsWith(',')) {
    throw new RefusedFile('not_json', 'first line is not an exchange header');
  }
  try {
    return JSON.parse(line.slice(HEADER_PREFIX.length, -1).trimEnd()) as Header;
  } catch {
    throw new RefusedFile('not_json', 'header is not JSON');
  }
}

async function readSignature(handle: fs.FileHandle, size: number): Promise<string> {
  const n = Math.min(size, TAIL_BYTES);
  const buf = Buffer.alloc(n);
  await handle.read(buf, 0, n, size - n);
  const m = SIGNATURE_TAIL.exec(buf.toString('utf8'));
  if (!m?.[1]) throw new RefusedFile('truncated', 'file does not end with its signature line');
  return m[1];
}

/**
 * The records are read through a second open, so it must be the file whose header was authenticated:
 * a snapshot renamed over by the next export in between would otherwise fail the checksum and a good
 * file would be quarantined as altered. A replaced file is reported as gone; the caller reads the new one
 * on its next pass.
 */
async function* readRecords<S extends Stream>(
  file: string,
  stream: S,
  header: Header,
  checked: { dev: number; ino: number },
): AsyncGenerator<RecordOf[S]> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, FS.O_RDONLY | FS.O_NOFOLLOW);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new RefusedFile('vanished', 'file no longer exists');
    throw err;
  }
  const now = await handle.stat().catch(async (err: Error) => {
    await handle.close();
    throw err;
  });
  if (now.dev !== checked.dev || now.ino !== checked.ino) {
    await handle.close();
    throw new RefusedFile('vanished', 'file was replaced after its header was checked');
  }
  const input = handle.createReadStream({ highWaterMark: 1 << 20 });
  const lines = readline.createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
  const hash = createHash('sha256');
  let n = 0;
  let lineNo = 0;
  let state: 'header' | 'open' | 'records' | 'signature' | 'end' = 'header';
  try {
    for await (const line of lines) {
      lineNo++;
      if (state === 'header') {
        state = 'open';
      } else if (state === 'open') {
        if (line !== RECORDS_OPEN) throw new RefusedFile('not_json', `line ${lineNo}: expected ${RECORDS_OPEN}`);
        state = 'records';
      } else if (state === 'records') {
        if (line === RECORDS_CLOSE) {
          state = 'signature';
          continue;
        }
        const json = line.endsWith(',') ? line.slice(0, -1) : line;
        hash.update(json);
        hash.update('\n');
        let record: unknown;
        try {
          record = JSON.parse(json);
        } catch {
          throw new RefusedFile('not_json', `line ${lineNo}: record is not JSON`);
        }
        const problem = recordProblem(stream, record);
        if (problem) throw new RefusedFile('bad_record', `record ${n + 1}: ${problem}`);
        n++;
        if (n > header.count) throw new RefusedFile('bad_checksum', `more records than the ${header.count} announced`);
        yield record as RecordOf[S];
      } else if (state === 'signature') {
        if (!line.startsWith(SIGNATURE_PREFIX)) {
          throw new RefusedFile('not_json', `line ${lineNo}: expected the signature line`);
        }
        state = 'end';
      } else {
        throw new RefusedFile('not_json', `line ${lineNo}: data after the signature line`);
      }
    }
  } finally {
    lines.close();
    input.destroy();
  }
  if (state !== 'end') throw new RefusedFile('truncated', 'file ends early');
  if (n !== header.count) throw new RefusedFile('bad_checksum', `${n} records, header says ${header.count}`);
  if (!sameDigest(hash.digest('hex'), header.sha256))
    throw new RefusedFile('bad_checksum', 'records do not match the header checksum');
}
