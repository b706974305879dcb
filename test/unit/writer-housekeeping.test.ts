import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  generateSigningKey,
  openExchangeFile,
  parseSigningKey,
  removeStaleTempFiles,
  writeExchangeFile,
} from '../../src/exchange/index.js';

// Any valid generation: these files are read by the reader alone.
const TEST_GENERATION = '20260101T000000Z-00000000';

const KEY = parseSigningKey(generateSigningKey());
const TRUSTED = [KEY.publicKey];
const dirs: string[] = [];
const tmpDir = () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'netsync-writer-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

const snapshot = (dir: string, seq: number, replaces?: (h: { seq: number }) => boolean) =>
  writeExchangeFile(
    dir,
    'settings_latest.json',
    {
      kind: 'snapshot',
      stream: 'settings',
      seq,
      generation: TEST_GENERATION,
      covers: { settings: seq },
      created_at: new Date().toISOString(),
    },
    [],
    KEY,
    replaces ? { replaces } : {},
  );

describe('writer', () => {
  it('keeps a newer existing file when asked to, and replaces an older one', async () => {
    const dir = tmpDir();
    await snapshot(dir, 5);
    const older = await snapshot(dir, 3, (existing) => existing.seq <= 3);
    expect(older.kept).toBe(true);
    const file = path.join(dir, 'settings_latest.json');
    expect((await openExchangeFile(file, 'settings', TRUSTED, { maxBytes: 1e6 })).header.seq).toBe(5);
    const newer = await snapshot(dir, 7, (existing) => existing.seq <= 7);
    expect(newer.kept).toBeUndefined();
    expect((await openExchangeFile(file, 'settings', TRUSTED, { maxBytes: 1e6 })).header.seq).toBe(7);
    expect(fs.readdirSync(dir)).toEqual(['settings_latest.json']);
  });

  it('removes only stale temporary files', async () => {
    const dir = tmpDir();
    const now = Date.now();
    fs.writeFileSync(path.join(dir, '.000000000001.json.123.ab.tmp'), 'half');
    fs.writeFileSync(path.join(dir, '.000000000002.json.123.cd.tmp'), 'half');
    fs.writeFileSync(path.join(dir, '000000000003.json'), 'not a temp file');
    const old = new Date(now - 3_600_000);
    fs.utimesSync(path.join(dir, '.000000000001.json.123.ab.tmp'), old, old);
    fs.utimesSync(path.join(dir, '000000000003.json'), old, old);
    expect(await removeStaleTempFiles(dir, 600_000, now)).toBe(1);
    expect(fs.readdirSync(dir).sort()).toEqual(['.000000000002.json.123.cd.tmp', '000000000003.json']);
  });
});
