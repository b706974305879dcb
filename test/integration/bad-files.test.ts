import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { batchFileName, FORMAT_VERSION, streamDir } from '../../src/exchange/index.js';
import type { Db } from '../../src/platform/db.js';
import type { RequestDatabase } from '../../src/request/db/schema.js';
import type { Importer } from '../../src/request/importer/importer.js';
import {
  craftFile,
  freshSigningKey,
  importerFor,
  memoryLogger,
  openRequestDb,
  pcRecord,
  requestCredentials,
  signerOf,
  userRec,
  writeBatch,
  writeUsersSnapshot,
} from '../helpers/exchange.js';
import { dialects, type TestEnv, testEnv } from '../helpers/system.js';

/**
 * Issue 4, guarantee 3: each bad file is refused with one clear log line, copied to quarantine and
 * recorded, applies nothing (not even its good first records), and does not stop the importer: the
 * stream behind it waits, other streams flow, and the next snapshot heals the gap. The refused file
 * itself stays where it is (the Request side never writes to the exchange folder), and that
 * very file is not read or logged again.
 */
describe.each(dialects())('bad exchange files (%s)', (dialect) => {
  let env: TestEnv;
  let db: Db<RequestDatabase>;
  let importer: Importer;
  let log: ReturnType<typeof memoryLogger>;
  const alice = randomUUID();
  const bob = randomUUID();
  const pcDir = () => streamDir(env.config.exchangeDir, 'password_changes');
  const firstBatch = () => path.join(pcDir(), batchFileName(1));
  /** What a bad file would do if it were applied: move alice to password version 5. */
  const wouldBe = () => [pcRecord(alice, 5)];

  beforeEach(async () => {
    env = testEnv(dialect);
    db = await openRequestDb(env);
    log = memoryLogger();
    importer = importerFor(env, db.kysely, { logger: log.logger });
    // The Request side starts from a snapshot (users stream at 1, no password batch yet), as after the
    // first scheduled export.
    await writeUsersSnapshot(env, [userRec(alice, 'alice', 1), userRec(bob, 'bob', 1)], {
      users: 1,
      password_changes: 0,
    });
    await importer.importAll();
    expect((await requestCredentials(db.kysely)).get(alice)?.password_version).toBe(1);
    await fs.mkdir(pcDir(), { recursive: true });
  });
  afterEach(async () => {
    await db.close();
    await env.cleanup();
  });

  /** The bytes of a batch file the Response Network would write (the file itself is removed again). */
  const genuine = async (records = wouldBe(), seq = 1) => {
    const file = await writeBatch(env, 'password_changes', seq, records);
    const bytes = await fs.readFile(file);
    await fs.rm(file);
    return bytes;
  };

  const quarantineRows = () => db.kysely.selectFrom('quarantine_log').selectAll().execute();

  /**
   * Asserts the one bad file was refused for `code`, copied to quarantine (unless `copied` is false: a
   * folder, or a file too large to read), logged once, left in place, and nothing of it applied.
   */
  async function expectRefused(code: string, { name = batchFileName(1), copied = true } = {}) {
    const original = path.join(pcDir(), name);
    const before = await fs.lstat(original);
    const result = await importer.importAll();
    expect(result.quarantined).toHaveLength(1);
    const recorded = result.quarantined[0] as string;
    if (copied) {
      expect(path.dirname(recorded)).toBe(path.join(env.config.quarantineDir, 'password_changes'));
      expect(path.basename(recorded).endsWith(`-${name}`)).toBe(true);
      if (before.isSymbolicLink()) expect(await fs.readlink(recorded)).toBe(await fs.readlink(original));
      else expect(await fs.readFile(recorded)).toEqual(await fs.readFile(original));
    } else {
      expect(recorded).toBe(original);
    }
    // Left where it was, untouched.
    expect(await fs.lstat(original)).toMatchObject({
      ino: before.ino,
      mtimeMs: before.mtimeMs,
      ctimeMs: before.ctimeMs,
    });
    const rows = await quarantineRows();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ stream: 'password_changes', code, file: recorded, name });
    expect(rows[0]?.identity).toContain(`:${before.ino}:`);
    expect(rows[0]?.reason.length).toBeGreaterThan(5);
    const lines = log.entries.filter((e) => e.level === 50);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ code, file: name, stream: 'password_changes' });
    expect(String(lines[0]?.msg)).toContain(name);
    expect((await requestCredentials(db.kysely)).get(alice)?.password_version).toBe(1);
    const stream = await db.kysely
      .selectFrom('import_streams')
      .selectAll()
      .where('stream', '=', 'password_changes')
      .executeTakeFirstOrThrow();
    expect(stream.last_seq).toBe(0);
    // A second pass neither logs nor quarantines it again.
    expect((await importer.importAll()).quarantined).toEqual([]);
    expect(log.entries.filter((e) => e.level === 50)).toHaveLength(1);
  }

  /** After the refusal: the next batch waits, other streams flow, and a snapshot heals the gap. */
  async function expectHeals() {
    await writeBatch(env, 'password_changes', 2, [pcRecord(alice, 3)]);
    const at = new Date().toISOString();
    const setting = {
      id: randomUUID(),
      key: 'motd',
      value: 'hi',
      created_at: at,
      updated_at: at,
      deleted_at: null,
      version: 1,
    };
    await writeBatch(env, 'settings', 1, [setting]);
    const waiting = await importer.importAll();
    expect(waiting.waiting).toEqual({ password_changes: 1 });
    expect(waiting.applied).toEqual({ settings: 1 });
    const stream = () =>
      db.kysely
        .selectFrom('import_streams')
        .selectAll()
        .where('stream', '=', 'password_changes')
        .executeTakeFirstOrThrow();
    expect((await stream()).waiting_for).toBe(1);
    expect((await requestCredentials(db.kysely)).get(alice)?.password_version).toBe(1);

    // The next scheduled snapshot: no user was added or edited, so its users stamp is unchanged; it
    // reflects password changes up to batch 2.
    await writeUsersSnapshot(env, [userRec(alice, 'alice', 3), userRec(bob, 'bob', 1)], {
      users: 1,
      password_changes: 2,
    });
    const healed = await importer.importAll();
    expect(healed.waiting).toEqual({});
    expect(healed.quarantined).toEqual([]);
    expect(await stream()).toMatchObject({ last_seq: 2, waiting_for: null });
    expect((await requestCredentials(db.kysely)).get(alice)?.password_version).toBe(3);
    // Both files are still there (the Response side prunes them); both are behind the position now.
    expect((await fs.readdir(pcDir())).sort()).toEqual([batchFileName(1), batchFileName(2)]);
    expect(log.entries.filter((e) => e.level === 50)).toHaveLength(1);
  }

  const cases: { what: string; code: string; copied?: false; make: (file: string) => Promise<void> }[] = [
    { what: 'an empty file', code: 'empty', make: (f) => fs.writeFile(f, '') },
    {
      what: 'a truncated file',
      code: 'truncated',
      make: async (f) => {
        const full = await genuine();
        await fs.writeFile(f, full.subarray(0, Math.floor(full.length * 0.75)));
      },
    },
    {
      what: 'text that is not JSON',
      code: 'not_json',
      make: (f) => fs.writeFile(f, 'password=Secret123\nuser=alice\n'),
    },
    {
      what: 'JSON of the wrong shape',
      code: 'not_json',
      make: (f) => fs.writeFile(f, `${JSON.stringify({ records: wouldBe() })}\n`),
    },
    {
      what: 'a signed header of the wrong shape',
      code: 'bad_header',
      make: (f) =>
        fs.writeFile(
          f,
          craftFile(
            { stream: 'password_changes', seq: 1, kind: 'delta' as 'batch' },
            [JSON.stringify(wouldBe()[0])],
            signerOf(env),
          ),
        ),
    },
    {
      what: 'a future format version',
      code: 'future_version',
      make: (f) =>
        fs.writeFile(
          f,
          craftFile(
            { stream: 'password_changes', seq: 1, version: FORMAT_VERSION + 1 },
            [JSON.stringify(wouldBe()[0])],
            signerOf(env),
          ),
        ),
    },
    {
      what: 'a file over MAX_EXCHANGE_FILE_BYTES (1 GiB, sparse)',
      code: 'too_large',
      copied: false, // never read, so never copied either
      make: async (f) => {
        await fs.writeFile(f, await genuine());
        await fs.truncate(f, 1024 ** 3);
      },
    },
    {
      what: 'a symlink to a genuine batch',
      code: 'not_regular_file',
      make: async (f) => {
        const target = path.join(env.dir, 'elsewhere.json');
        await fs.writeFile(target, await genuine());
        await fs.symlink(target, f);
      },
    },
    {
      what: 'a folder under a batch name',
      code: 'not_regular_file',
      copied: false,
      make: (f) => fs.mkdir(f),
    },
    {
      what: 'a tampered byte in a record',
      code: 'bad_checksum',
      make: async (f) => {
        const text = (await genuine()).toString('utf8');
        await fs.writeFile(f, text.replace('"password_version":5', '"password_version":9'));
      },
    },
    {
      what: 'a tampered byte in the header',
      code: 'bad_signature',
      make: async (f) => {
        const text = (await genuine()).toString('utf8');
        await fs.writeFile(f, text.replace('"count":1', '"count":2'));
      },
    },
    {
      what: 'a file signed with a key this side does not trust',
      code: 'unknown_key',
      make: (f) =>
        fs.writeFile(
          f,
          craftFile({ stream: 'password_changes', seq: 1 }, [JSON.stringify(wouldBe()[0])], freshSigningKey()),
        ),
    },
    {
      what: 'a file signed with another key that claims the trusted key id',
      code: 'bad_signature',
      make: (f) =>
        fs.writeFile(
          f,
          craftFile(
            { stream: 'password_changes', seq: 1, key_id: signerOf(env).id },
            [JSON.stringify(wouldBe()[0])],
            freshSigningKey(),
          ),
        ),
    },
    {
      what: 'a file of format version 1 (the shared-key HMAC, never read)',
      code: 'old_version',
      make: (f) =>
        fs.writeFile(
          f,
          craftFile({ stream: 'password_changes', seq: 1, version: 1 }, [JSON.stringify(wouldBe()[0])], signerOf(env)),
        ),
    },
    {
      what: 'a genuine batch renamed to another sequence number',
      code: 'wrong_place',
      make: async (f) => {
        await fs.writeFile(f, await genuine(wouldBe(), 7));
      },
    },
    {
      what: 'a genuine batch of another stream',
      code: 'wrong_place',
      make: async (f) => {
        const users = await writeBatch(env, 'users', 1, [userRec(alice, 'alice', 5, 9)]);
        await fs.rename(users, f);
      },
    },
    {
      what: 'a signed file whose last record has the wrong shape (after 600 good ones)',
      code: 'bad_record',
      make: (f) => {
        const good = Array.from({ length: 600 }, (_, i) => JSON.stringify(pcRecord(i % 2 ? alice : bob, 10 + i)));
        const bad = JSON.stringify({ user_id: alice, password: 'Secret123' });
        return fs.writeFile(f, craftFile({ stream: 'password_changes', seq: 1 }, [...good, bad], signerOf(env)));
      },
    },
    {
      what: 'a file whose last record was altered (after 600 good ones)',
      code: 'bad_checksum',
      make: async (f) => {
        const records = Array.from({ length: 601 }, (_, i) => pcRecord(i % 2 ? alice : bob, 10 + i));
        const text = (await genuine(records)).toString('utf8');
        const at = text.lastIndexOf('"password_version":610');
        await fs.writeFile(f, `${text.slice(0, at)}"password_version":999${text.slice(at + 22)}`);
      },
    },
  ];

  it.each(cases)(
    'refuses $what ($code), quarantines it, applies none of it; a snapshot heals',
    async ({ code, copied, make }) => {
      await make(firstBatch());
      await expectRefused(code, { copied: copied ?? true });
      await expectHeals();
    },
  );

  it('judges a new file under a refused name afresh: a corrected copy is applied', async () => {
    await fs.writeFile(firstBatch(), 'damaged on the way\n');
    await expectRefused('not_json');
    // The transport delivers the file again, whole this time (a mirror renames its copy into place).
    const whole = await genuine();
    const staged = path.join(env.dir, 'staged.json');
    await fs.writeFile(staged, whole);
    await fs.rename(staged, firstBatch());
    const result = await importer.importAll();
    expect(result.applied).toEqual({ password_changes: 1 });
    expect(result.quarantined).toEqual([]);
    expect((await requestCredentials(db.kysely)).get(alice)?.password_version).toBe(5);
    expect(await quarantineRows()).toHaveLength(1);
  });

  it('never applies a replayed old batch, and leaves it without raising a false alarm', async () => {
    const file = await writeBatch(env, 'password_changes', 1, [pcRecord(alice, 4)]);
    const copy = await fs.readFile(file);
    await importer.importAll();
    await writeBatch(env, 'password_changes', 2, [pcRecord(alice, 6)]);
    await importer.importAll();
    expect((await requestCredentials(db.kysely)).get(alice)?.password_version).toBe(6);
    // An attacker (or a slow second exporter, or an importer that crashed after its commit) puts batch 1
    // back. It is byte-for-byte what the Response Network wrote, so the two cannot be told apart: the
    // importer skips it as already applied, from its name alone, rather than quarantining it.
    await fs.writeFile(file, copy);
    const result = await importer.importAll();
    expect(result.files).toEqual([]);
    expect(result.quarantined).toEqual([]);
    expect((await fs.readdir(pcDir())).sort()).toEqual([batchFileName(1), batchFileName(2)]);
    expect((await requestCredentials(db.kysely)).get(alice)?.password_version).toBe(6);
  });

  it('refuses an old snapshot after a newer one (the rollback rule)', async () => {
    const oldSnap = await fs.readFile(path.join(streamDir(env.config.exchangeDir, 'users'), 'users_latest.json'));
    await writeBatch(env, 'password_changes', 1, [pcRecord(alice, 2)]);
    await writeUsersSnapshot(env, [userRec(alice, 'alice', 2), userRec(bob, 'bob', 1)], {
      users: 1,
      password_changes: 1,
    });
    await importer.importAll();
    expect((await requestCredentials(db.kysely)).get(alice)?.password_version).toBe(2);

    const file = path.join(streamDir(env.config.exchangeDir, 'users'), 'users_latest.json');
    await fs.writeFile(file, oldSnap);
    const result = await importer.importAll();
    expect(result.quarantined).toHaveLength(1);
    const rows = await quarantineRows();
    expect(rows).toMatchObject([{ stream: 'users', code: 'replayed' }]);
    expect((await requestCredentials(db.kysely)).get(alice)?.password_version).toBe(2);
  });

  it('never follows a name with `..` or a path: only batch names inside a stream folder are read', async () => {
    const bytes = await genuine();
    const planted = [
      path.join(pcDir(), `..${batchFileName(1)}`),
      path.join(pcDir(), `${batchFileName(1)}..`),
      path.join(pcDir(), `..%2f${batchFileName(1)}`),
      path.join(env.config.exchangeDir, batchFileName(1)),
      path.join(env.config.exchangeDir, '..', batchFileName(1)),
    ];
    for (const p of planted) await fs.writeFile(p, bytes);
    const result = await importer.importAll();
    expect(result).toMatchObject({ files: [], quarantined: [], count: 0 });
    for (const p of planted) await fs.access(p); // untouched
    expect((await requestCredentials(db.kysely)).get(alice)?.password_version).toBe(1);
    expect(log.entries.filter((e) => e.level === 50)).toEqual([]);
  });
});
