import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  batchFileName,
  FORMAT_VERSION,
  HEADER_LINE_BYTES,
  headerLine,
  headerProblem,
  isTempName,
  keyId,
  openExchangeFile,
  type RecordOf,
  RefusedFile,
  recordProblem,
  type Stream,
  seqOfBatchName,
  writeExchangeFile,
} from '../../src/exchange/index.js';
import { craftFile, fakeHash, pcRecord, userRec } from '../helpers/exchange.js';

// The writer and reader work on files, so this suite uses a private temp folder; it needs no service.
const KEY = 'k'.repeat(64);
const OTHER_KEY = 'o'.repeat(64);
const USER = '6f1c2a4e-8b1d-4c3e-9f2a-1b2c3d4e5f60';
let dir: string;
beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'netsync-format-'));
});
afterAll(() => fs.rm(dir, { recursive: true, force: true }));

async function readAll<S extends Stream>(file: string, stream: S, key = KEY): Promise<RecordOf[S][]> {
  const opened = await openExchangeFile(file, stream, key, { maxBytes: 1 << 20 });
  const out: RecordOf[S][] = [];
  for await (const r of opened.records()) out.push(r);
  return out;
}

/** The refusal code a read of `file` ends with (opening or streaming), or 'accepted'. */
async function refusal(file: string, stream: Stream = 'password_changes', key = KEY): Promise<string> {
  try {
    await readAll(file, stream, key);
    return 'accepted';
  } catch (err) {
    if (err instanceof RefusedFile) return err.code;
    throw err;
  }
}

/** The header object of a crafted file's first line. */
const headerOf = (text: string) => JSON.parse(text.slice('{"header":'.length, HEADER_LINE_BYTES - 2));

const records = (n: number) => Array.from({ length: n }, (_, i) => pcRecord(USER, i + 1));

async function write(name: string, n: number, seq = 1) {
  return writeExchangeFile(
    dir,
    name,
    { kind: 'batch', stream: 'password_changes', seq, created_at: new Date().toISOString() },
    records(n).map((r) => JSON.stringify(r)),
    KEY,
  );
}

describe('exchange file format', () => {
  it('round-trips records through the writer and the reader, in order', async () => {
    const written = await write('000000000001.json', 3);
    expect(written.header).toMatchObject({ format: 'netsync-exchange', version: FORMAT_VERSION, count: 3, seq: 1 });
    expect(written.header.key_id).toBe(keyId(KEY));
    expect(await readAll(written.path, 'password_changes')).toEqual(records(3));
  });

  it('writes one JSON document any tool can parse, header line padded to its fixed width', async () => {
    const written = await write('000000000002.json', 2, 2);
    const text = await fs.readFile(written.path, 'utf8');
    const first = text.slice(0, text.indexOf('\n') + 1);
    expect(Buffer.byteLength(first)).toBe(HEADER_LINE_BYTES);
    expect(first).toMatch(/^\{"header":\{.*\} +,\n$/);
    const doc = JSON.parse(text);
    expect(doc.header).toEqual(written.header);
    expect(doc.records).toEqual(records(2));
    expect(doc.mac).toMatch(/^hmac-sha256:[0-9a-f]{64}$/);
    expect(written.bytes).toBe(Buffer.byteLength(text));
  });

  it('writes an empty batch that still authenticates', async () => {
    const written = await write('000000000003.json', 0, 3);
    expect(JSON.parse(await fs.readFile(written.path, 'utf8')).records).toEqual([]);
    expect(await readAll(written.path, 'password_changes')).toEqual([]);
  });

  it('leaves no temporary file behind and creates owner-only files', async () => {
    const written = await write('000000000004.json', 1, 4);
    expect((await fs.readdir(dir)).filter(isTempName)).toEqual([]);
    expect((await fs.stat(written.path)).mode & 0o777).toBe(0o600);
  });

  it('refuses a header longer than its fixed line', () => {
    const header = headerOf(craftFile({ stream: 'users', seq: 1 }, [], KEY));
    expect(() => headerLine({ ...header, covers: { x: 1, y: 'z'.repeat(HEADER_LINE_BYTES) } })).toThrow(/longer than/);
  });

  it('matches what craftFile lays out, byte for byte (the tests forge files with the real layout)', async () => {
    const written = await write('000000000005.json', 2, 5);
    const crafted = craftFile(
      { ...written.header, stream: 'password_changes', seq: 5 },
      records(2).map((r) => JSON.stringify(r)),
      KEY,
    );
    expect(await fs.readFile(written.path, 'utf8')).toBe(crafted);
  });

  describe('authentication', () => {
    const tampered = async (name: string, mutate: (text: string) => string) => {
      const written = await write(name, 3, 9);
      await fs.writeFile(written.path, mutate(await fs.readFile(written.path, 'utf8')));
      return written.path;
    };

    it('refuses a changed byte in a record (checksum)', async () => {
      const file = await tampered('t1.json', (t) => t.replace('"password_version":2', '"password_version":7'));
      expect(await refusal(file)).toBe('bad_checksum');
    });

    it('refuses a changed header field (MAC)', async () => {
      const file = await tampered('t2.json', (t) => t.replace('"count":3', '"count":2'));
      expect(await refusal(file)).toBe('bad_mac');
    });

    it('refuses a changed MAC', async () => {
      const file = await tampered('t3.json', (t) =>
        t.replace(/hmac-sha256:(.)/, (_m, c) => `hmac-sha256:${c === 'a' ? 'b' : 'a'}`),
      );
      expect(await refusal(file)).toBe('bad_mac');
    });

    it('refuses a file signed with another key, and one that claims our key id but was signed with another', async () => {
      const other = path.join(dir, 'other.json');
      await fs.writeFile(other, craftFile({ stream: 'password_changes', seq: 1 }, [], OTHER_KEY));
      expect(await refusal(other)).toBe('wrong_key');
      const forged = path.join(dir, 'forged.json');
      await fs.writeFile(forged, craftFile({ stream: 'password_changes', seq: 1, key_id: keyId(KEY) }, [], OTHER_KEY));
      expect(await refusal(forged)).toBe('bad_mac');
    });

    it('refuses a record added or removed even with a matching checksum of the rest', async () => {
      const lines = records(2).map((r) => JSON.stringify(r));
      const extra = craftFile({ stream: 'password_changes', seq: 1, count: 1 }, lines, KEY);
      const file = path.join(dir, 'extra.json');
      await fs.writeFile(file, extra);
      expect(await refusal(file)).toBe('bad_checksum');
    });

    it('refuses truncation at any point', async () => {
      const written = await write('trunc.json', 3, 1);
      const full = await fs.readFile(written.path);
      const cut = path.join(dir, 'cut.json');
      for (const at of [1, 100, HEADER_LINE_BYTES - 1, HEADER_LINE_BYTES + 5, full.length - 40, full.length - 1]) {
        await fs.writeFile(cut, full.subarray(0, at));
        expect([`truncated`, 'not_json']).toContain(await refusal(cut));
      }
    });

    it('refuses a file of another stream, a future version and a bad header, before any record', async () => {
      const users = path.join(dir, 'users.json');
      await fs.writeFile(users, craftFile({ stream: 'users', seq: 1 }, [], KEY));
      expect(await refusal(users)).toBe('wrong_place');
      const future = path.join(dir, 'future.json');
      await fs.writeFile(
        future,
        craftFile({ stream: 'password_changes', seq: 1, version: FORMAT_VERSION + 1 }, [], KEY),
      );
      expect(await refusal(future)).toBe('future_version');
      const bad = path.join(dir, 'bad-header.json');
      await fs.writeFile(bad, craftFile({ stream: 'password_changes', seq: -1 }, [], KEY));
      expect(await refusal(bad)).toBe('bad_header');
    });
  });

  describe('record validation', () => {
    it('accepts the records the Response Network writes', () => {
      expect(recordProblem('password_changes', pcRecord(USER, 1))).toBeUndefined();
      expect(recordProblem('users', userRec(USER, 'john', 1))).toBeUndefined();
    });

    it('names the field and the reason', () => {
      expect(recordProblem('password_changes', { ...pcRecord(USER, 1), user_id: 'x' })).toMatch(/^\/user_id .*uuid/);
      expect(recordProblem('password_changes', { ...pcRecord(USER, 1), hashed_password: 'Secret123' })).toMatch(
        /^\/hashed_password .*pattern/,
      );
      expect(recordProblem('password_changes', { ...pcRecord(USER, 1), password_version: 0 })).toMatch(
        /^\/password_version .*>= 1/,
      );
      const extra = recordProblem('password_changes', { ...pcRecord(USER, 1), extra: 1 });
      expect(extra).toMatch(/extra/);
      expect(extra).not.toMatch(/schema is false/);
      const { changed_at: _, ...missing } = pcRecord(USER, 1);
      expect(recordProblem('password_changes', missing)).toMatch(/changed_at/);
      expect(recordProblem('users', { ...userRec(USER, 'john', 1), username: '' })).toMatch(/^\/username/);
      expect(recordProblem('users', [])).toBeDefined();
    });

    it('refuses a signed file whose record has the wrong shape, naming the record', async () => {
      const file = path.join(dir, 'shape.json');
      const lines = [JSON.stringify(pcRecord(USER, 1)), JSON.stringify({ user_id: USER, password: 'plain' })];
      await fs.writeFile(file, craftFile({ stream: 'password_changes', seq: 1 }, lines, KEY));
      await expect(readAll(file, 'password_changes')).rejects.toThrow(/^record 2: /);
      expect(await refusal(file)).toBe('bad_record');
    });

    it('refuses a plaintext password where a bcrypt hash belongs', () => {
      expect(
        recordProblem('password_changes', { ...pcRecord(USER, 1), hashed_password: fakeHash('x').slice(0, 20) }),
      ).toBeDefined();
    });

    it('explains a header it cannot accept', () => {
      expect(headerProblem({})).toMatch(/^bad header: /);
      const h = headerOf(craftFile({ stream: 'users', seq: 1 }, [], KEY));
      expect(headerProblem(h)).toBeUndefined();
      expect(headerProblem({ ...h, version: 99 })).toMatch(/format version 99 is newer/);
      expect(headerProblem({ ...h, stream: 'passwords' })).toMatch(/^bad header: \/stream/);
    });
  });

  describe('names', () => {
    it('maps sequence numbers to twelve-digit names and back', () => {
      expect(batchFileName(42)).toBe('000000000042.json');
      expect(seqOfBatchName('000000000042.json')).toBe(42);
    });

    it('reads no other name as a batch: temp files, paths, `..`', () => {
      for (const name of [
        '.000000000042.json.123.ab.tmp',
        '000000000042.json.tmp',
        '../000000000042.json',
        '..000000000042.json',
        '000000000042..json',
        '000000000042.json/..',
        '42.json',
        '0000000000042.json',
        'users_latest.json',
      ]) {
        expect(seqOfBatchName(name), name).toBeUndefined();
      }
      expect(isTempName('.000000000042.json.1.ab.tmp')).toBe(true);
      expect(isTempName('000000000042.json')).toBe(false);
    });
  });
});
