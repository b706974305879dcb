import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  batchFileName,
  canonicalJson,
  FORMAT_VERSION,
  generateSigningKey,
  HEADER_LINE_BYTES,
  type Header,
  headerLine,
  headerProblem,
  isTempName,
  openExchangeFile,
  parseSigningKey,
  RECORDS_CLOSE,
  RECORDS_OPEN,
  type RecordOf,
  RefusedFile,
  recordProblem,
  type Stream,
  seqOfBatchName,
  type TrustedKeys,
  writeExchangeFile,
} from '../../src/exchange/index.js';
import { craftFile, fakeHash, freshSigningKey, pcRecord, TEST_GENERATION, userRec } from '../helpers/exchange.js';

// The writer and reader work on files, so this suite uses a private temp folder; it needs no service.
const KEY = parseSigningKey(generateSigningKey());
const OTHER_KEY = parseSigningKey(generateSigningKey());
const TRUSTED: TrustedKeys = [KEY.publicKey];
const USER = '6f1c2a4e-8b1d-4c3e-9f2a-1b2c3d4e5f60';
let dir: string;
beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'netsync-format-'));
});
afterAll(() => fs.rm(dir, { recursive: true, force: true }));

async function readAll<S extends Stream>(file: string, stream: S, trusted = TRUSTED): Promise<RecordOf[S][]> {
  const opened = await openExchangeFile(file, stream, trusted, { maxBytes: 1 << 20 });
  const out: RecordOf[S][] = [];
  for await (const r of opened.records()) out.push(r);
  return out;
}

/** The refusal code a read of `file` ends with (opening or streaming), or 'accepted'. */
async function refusal(file: string, stream: Stream = 'password_changes', trusted = TRUSTED): Promise<string> {
  try {
    await readAll(file, stream, trusted);
    return 'accepted';
  } catch (err) {
    if (err instanceof RefusedFile) return err.code;
    throw err;
  }
}

/** The header object of a crafted file's first line. */
const headerOf = (text: string) => JSON.parse(text.slice('{"header":'.length, HEADER_LINE_BYTES - 2));

const records = (n: number) => Array.from({ length: n }, (_, i) => pcRecord(USER, i + 1));

async function write(name: string, n: number, seq = 1, key = KEY) {
  return writeExchangeFile(
    dir,
    name,
    {
      kind: 'batch',
      stream: 'password_changes',
      seq,
      generation: TEST_GENERATION,
      created_at: new Date().toISOString(),
    },
    records(n).map((r) => JSON.stringify(r)),
    key,
  );
}

describe('exchange file format', () => {
  it('round-trips records through the writer and the reader, in order', async () => {
    const written = await write('000000000001.json', 3);
    expect(written.header).toMatchObject({ format: 'netsync-exchange', version: FORMAT_VERSION, count: 3, seq: 1 });
    expect(written.header.key_id).toBe(KEY.id);
    expect(written.header.key_id).toMatch(/^[0-9a-f]{16}$/);
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
    expect(doc.signature).toMatch(/^[A-Za-z0-9_-]{86}$/);
    expect(text.endsWith(`"signature":"${doc.signature}"}\n`)).toBe(true);
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

    it('refuses a changed header field (signature)', async () => {
      const file = await tampered('t2.json', (t) => t.replace('"count":3', '"count":2'));
      expect(await refusal(file)).toBe('bad_signature');
      const seq = await tampered('t2b.json', (t) => t.replace('"seq":9', '"seq":8'));
      expect(await refusal(seq)).toBe('bad_signature');
    });

    it('refuses a changed signature, whichever byte', async () => {
      const written = await write('t3.json', 3, 9);
      const text = await fs.readFile(written.path, 'utf8');
      const sig = JSON.parse(text).signature as string;
      const at = text.lastIndexOf(sig);
      for (const i of [0, 40, 85]) {
        const flipped = `${sig.slice(0, i)}${sig[i] === 'A' ? 'B' : 'A'}${sig.slice(i + 1)}`;
        await fs.writeFile(written.path, `${text.slice(0, at)}${flipped}${text.slice(at + sig.length)}`);
        expect(await refusal(written.path), `byte ${i}`).toBe('bad_signature');
      }
    });

    it('refuses a file signed by a key it does not trust, and one that claims a trusted key id', async () => {
      const other = path.join(dir, 'other.json');
      await fs.writeFile(other, craftFile({ stream: 'password_changes', seq: 1 }, [], OTHER_KEY));
      expect(await refusal(other)).toBe('unknown_key');
      await expect(readAll(other, 'password_changes')).rejects.toThrow(
        new RegExp(`signed with key ${OTHER_KEY.id}, which this side does not trust \\(${KEY.id}\\)`),
      );
      const forged = path.join(dir, 'forged.json');
      await fs.writeFile(forged, craftFile({ stream: 'password_changes', seq: 1, key_id: KEY.id }, [], OTHER_KEY));
      expect(await refusal(forged)).toBe('bad_signature');
    });

    it('accepts every key of a trusted list (rotation: files of the old and the new key both read)', async () => {
      const oldKey = await write('rot-old.json', 2, 1, KEY);
      const newKey = await write('rot-new.json', 2, 2, OTHER_KEY);
      const both: TrustedKeys = [KEY.publicKey, OTHER_KEY.publicKey];
      expect(await readAll(oldKey.path, 'password_changes', both)).toEqual(records(2));
      expect(await readAll(newKey.path, 'password_changes', both)).toEqual(records(2));
      // Once the old key is dropped, only the new one's files are accepted.
      expect(await refusal(oldKey.path, 'password_changes', [OTHER_KEY.publicKey])).toBe('unknown_key');
      expect(await refusal(newKey.path, 'password_changes', [OTHER_KEY.publicKey])).toBe('accepted');
    });

    it('cannot be forged with the public key alone: signing needs the private half', async () => {
      // What a Request side holds is the public key text; the parser for signing keys refuses it.
      expect(() => parseSigningKey(KEY.publicKey.text)).toThrow(/is a public key .* where the private signing key/);
      // A forger's own key pair gives files every Request side refuses.
      const forged = path.join(dir, 'forger.json');
      await fs.writeFile(forged, craftFile({ stream: 'password_changes', seq: 1 }, [], freshSigningKey()));
      expect(await refusal(forged)).toBe('unknown_key');
    });

    it('refuses a file of format version 1 (a shared HMAC key), saying it is no longer read', async () => {
      // Version 1 as it was written: an 8-digit key id and a MAC line in place of the signature.
      const header = {
        format: 'netsync-exchange',
        version: 1,
        kind: 'batch',
        stream: 'password_changes',
        seq: 1,
        created_at: new Date().toISOString(),
        count: 0,
        sha256: 'e'.repeat(64),
        key_id: 'c1a5c689',
      };
      const file = path.join(dir, 'v1.json');
      const body = `{"header":${canonicalJson(header)}`;
      await fs.writeFile(
        file,
        `${body}${' '.repeat(HEADER_LINE_BYTES - body.length - 2)},\n${RECORDS_OPEN}\n${RECORDS_CLOSE}\n"mac":"hmac-sha256:${'0'.repeat(64)}"}\n`,
      );
      expect(await refusal(file)).toBe('old_version');
      await expect(readAll(file, 'password_changes')).rejects.toThrow(/format version 1 is no longer read/);
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
      expect(headerProblem({})).toMatchObject({ code: 'bad_header', reason: expect.stringMatching(/^bad header: /) });
      const h: Header = headerOf(craftFile({ stream: 'users', seq: 1 }, [], KEY));
      expect(headerProblem(h)).toBeUndefined();
      expect(headerProblem({ ...h, version: 99 })).toMatchObject({
        code: 'future_version',
        reason: expect.stringMatching(/format version 99 is newer/),
      });
      expect(headerProblem({ ...h, version: 1 })?.code).toBe('old_version');
      expect(headerProblem({ ...h, key_id: 'c1a5c689' })?.reason).toMatch(/^bad header: \/key_id/);
      expect(headerProblem({ ...h, stream: 'passwords' })?.reason).toMatch(/^bad header: \/stream/);
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
