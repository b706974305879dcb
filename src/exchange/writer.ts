import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import {
  FORMAT,
  FORMAT_VERSION,
  HEADER_LINE_BYTES,
  type Header,
  type HeaderFields,
  headerLine,
  RECORDS_CLOSE,
  RECORDS_OPEN,
  signatureLine,
  signatureOf,
} from './file-format.js';
import type { SigningKey } from './keys.js';
import { peekHeader } from './reader.js';

export interface WrittenFile {
  readonly path: string;
  readonly header: Header;
  readonly bytes: number;
  /** True when the existing file was kept instead (see `replaces`). */
  readonly kept?: boolean;
}

const FLUSH_BYTES = 1 << 20;

/**
 * Writes an exchange file so that no reader ever sees a partial one and a power cut leaves no empty one:
 * the record lines stream into an owner-only temporary file in the same folder, the header is filled in,
 * the file is fsync'd, renamed over `name` and the folder fsync'd. Records are consumed a line or a page at a time.
 */
export async function writeExchangeFile(
  dir: string,
  name: string,
  fields: HeaderFields,
  /**
   * Each record as its JSON text (one line, as JSON.stringify makes it), alone or in arrays of lines (a
   * page of rows: no asynchronous step per record).
   */
  lines: Iterable<string | readonly string[]> | AsyncIterable<string | readonly string[]>,
  key: SigningKey,
  opts: {
    /**
     * Asked just before the rename when a file of that name already holds a readable header: false keeps
     * the existing file (and `kept` is set on the result). Snapshots use it so that of two exports
     * finishing out of order, the older never replaces the newer.
     */
    replaces?: (existing: Header) => boolean;
  } = {},
): Promise<WrittenFile> {
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  const target = path.join(dir, name);
  const tmp = path.join(dir, `.${name}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const file = await fs.open(tmp, 'wx', 0o600);
  try {
    const hash = createHash('sha256');
    let pending: string[] = [];
    let pendingBytes = 0;
    let position = HEADER_LINE_BYTES;
    const flush = async () => {
      if (pending.length === 0) return;
      const buf = Buffer.from(pending.join(''));
      pending = [];
      pendingBytes = 0;
      await file.write(buf, 0, buf.length, position);
      position += buf.length;
    };
    const push = (s: string) => {
      pending.push(s);
      pendingBytes += s.length;
    };
    push(`${RECORDS_OPEN}\n`);
    let count = 0;
    for await (const item of lines) {
      // A line at a time within a page: one big string per page (to hash or write at once) costs less CPU
      // but leaves large short-lived buffers that keep the process's RSS up (+50 MB per 100 MB written).
      for (const line of typeof item === 'string' ? [item] : item) {
        hash.update(line);
        hash.update('\n');
        push(count === 0 ? line : `,\n${line}`);
        count++;
      }
      if (pendingBytes >= FLUSH_BYTES) await flush();
    }
    const header: Header = {
      format: FORMAT,
      version: FORMAT_VERSION,
      ...fields,
      count,
      sha256: hash.digest('hex'),
      key_id: key.id,
    };
    push(`${count === 0 ? '' : '\n'}${RECORDS_CLOSE}\n${signatureLine(signatureOf(key, header))}`);
    await flush();
    await file.write(headerLine(header), 0, 'utf8');
    await file.sync();
    await file.close();
    const existing = opts.replaces ? await peekHeader(target) : undefined;
    if (existing && opts.replaces && !opts.replaces(existing)) {
      await fs.rm(tmp, { force: true });
      return { path: target, header, bytes: position, kept: true };
    }
    await fs.rename(tmp, target);
    await fsyncDir(dir);
    return { path: target, header, bytes: position };
  } catch (err) {
    await file.close().catch(() => undefined);
    await fs.rm(tmp, { force: true });
    throw err;
  }
}

/**
 * Removes temporary files older than `maxAgeMs` from `dir`: what a writer killed mid-write left behind.
 * A live writer's temporary file is younger than any sensible age.
 */
export async function removeStaleTempFiles(dir: string, maxAgeMs: number, now = Date.now()): Promise<number> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch {
    return 0;
  }
  let removed = 0;
  for (const name of names) {
    if (!(name.startsWith('.') && name.endsWith('.tmp'))) continue;
    const file = path.join(dir, name);
    const st = await fs.lstat(file).catch(() => undefined);
    if (st?.isFile() && now - st.mtimeMs > maxAgeMs) {
      await fs.rm(file, { force: true });
      removed++;
    }
  }
  return removed;
}

/** Makes a rename durable: without it a crash can forget the new directory entry. */
export async function fsyncDir(dir: string): Promise<void> {
  const handle = await fs.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
