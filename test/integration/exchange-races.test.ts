import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Queue } from 'bullmq';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  batchFileName,
  isTempName,
  openExchangeFile,
  type PasswordChangeRecord,
  RefusedFile,
  streamDir,
  writeExchangeFile,
} from '../../src/exchange/index.js';
import type { Db } from '../../src/platform/db.js';
import { redisConnection, spawnRedis } from '../../src/platform/redis.js';
import { createQueue } from '../../src/platform/tasks.js';
import type { RequestDatabase } from '../../src/request/db/schema.js';
import type { Importer } from '../../src/request/importer/importer.js';
import { startRequestApi, startRequestWorker } from '../../src/request/runtime.js';
import type { ResponseDatabase } from '../../src/response/db/schema.js';
import { exportChanges } from '../../src/response/exporter.js';
import { RESPONSE_QUEUE, runResponseTask } from '../../src/response/jobs/registry.js';
import { startResponseApi, startResponseBeat, startResponseWorker } from '../../src/response/runtime.js';
import { insertUser, setPassword } from '../../src/response/users/users.repository.js';
import {
  batchNames,
  ChildPart,
  exportCtx,
  fakeHash,
  importerFor,
  keyOf,
  MonotonicCheck,
  openRequestDb,
  openResponseDb,
  outOfSync,
  pcRecord,
  readBatches,
  requestCredentials,
  userRec,
  writeBatch,
  writeUsersSnapshot,
} from '../helpers/exchange.js';
import { bearer, canLogin, dialects, login, type TestEnv, testEnv, testRuntime, waitFor } from '../helpers/system.js';

const credentialOf = async (db: Db<RequestDatabase>, id: string) => (await requestCredentials(db.kysely)).get(id);

describe('atomic writes', () => {
  let env: TestEnv;
  beforeEach(() => {
    env = testEnv('sqlite');
  });
  afterEach(() => env.cleanup());

  it('a reader polling the folder during many writes never sees a partial file', async () => {
    const dir = streamDir(env.config.exportDir, 'users');
    const key = keyOf(env);
    const lines = (n: number, tag: number) =>
      Array.from({ length: n }, (_, i) => JSON.stringify(userRec(randomUUID(), `u${tag}-${i}`, 1 + (i % 3))));
    let writing = true;
    let opened = 0;
    let replacedWhileOpen = 0;
    const writer = (async () => {
      for (let i = 0; i < 120; i++) {
        // Rewrites the same names with new content of another size: the snapshot as the scheduled export
        // does, and a few batch names.
        const snapshot = i % 2 === 0;
        const n = 1 + ((i * 397) % 1200);
        await writeExchangeFile(
          dir,
          snapshot ? 'users_latest.json' : batchFileName(1 + (i % 3)),
          snapshot
            ? { kind: 'snapshot', stream: 'users', seq: i, covers: { users: i }, created_at: new Date().toISOString() }
            : { kind: 'batch', stream: 'users', seq: 1 + (i % 3), created_at: new Date().toISOString() },
          lines(n, i),
          key,
        );
      }
    })().finally(() => {
      writing = false;
    });
    const reader = (async () => {
      await fs.mkdir(dir, { recursive: true });
      while (writing) {
        for (const name of await fs.readdir(dir)) {
          if (isTempName(name)) continue;
          try {
            const file = await openExchangeFile(path.join(dir, name), 'users', key, { maxBytes: 1 << 30 });
            let n = 0;
            for await (const _ of file.records()) n++;
            expect(n).toBe(file.header.count);
            opened++;
          } catch (err) {
            // A file replaced between its check and its records is reported as gone, never as damaged.
            if (err instanceof RefusedFile && err.code === 'vanished') {
              replacedWhileOpen++;
              continue;
            }
            throw err;
          }
        }
      }
    })();
    await Promise.all([writer, reader]);
    expect(opened).toBeGreaterThan(20);
    console.log(`[atomic write] ${opened} files read whole during 120 writes; ${replacedWhileOpen} replaced mid-read`);
  });

  it('an import racing snapshot rewrites never quarantines a good snapshot', async () => {
    const db = await openRequestDb(env);
    try {
      const importer = importerFor(env, db.kysely);
      const ids = Array.from({ length: 800 }, () => randomUUID());
      let writing = true;
      const writer = (async () => {
        for (let i = 1; i <= 30; i++) {
          await writeUsersSnapshot(
            env,
            ids.map((id, j) => userRec(id, `user${j}`, i)),
            { users: i, password_changes: 0 },
          );
        }
      })().finally(() => {
        writing = false;
      });
      let passes = 0;
      const reader = (async () => {
        while (writing) {
          const r = await importer.importAll();
          expect(r.quarantined).toEqual([]);
          passes++;
        }
      })();
      await Promise.all([writer, reader]);
      await importer.importAll();
      expect(await db.kysely.selectFrom('quarantine_log').selectAll().execute()).toEqual([]);
      expect((await credentialOf(db, ids[0] as string))?.password_version).toBe(30);
      expect(passes).toBeGreaterThan(2);
    } finally {
      await db.close();
    }
  });

  it('ignores a leftover temporary file (a writer killed before its rename)', async () => {
    const db = await openRequestDb(env);
    try {
      const importer = importerFor(env, db.kysely);
      const dir = streamDir(env.config.exportDir, 'password_changes');
      await fs.mkdir(dir, { recursive: true });
      const user = randomUUID();
      const whole = await fs.readFile(await writeBatch(env, 'password_changes', 1, [pcRecord(user, 2)]));
      await fs.rm(path.join(dir, batchFileName(1)));
      const leftovers = [`.${batchFileName(1)}.4242.deadbeef.tmp`, `${batchFileName(1)}.tmp`];
      for (const name of leftovers) await fs.writeFile(path.join(dir, name), whole.subarray(0, 700));
      const result = await importer.importAll();
      expect(result).toMatchObject({ files: [], quarantined: [], waiting: {} });
      expect((await fs.readdir(dir)).sort()).toEqual([...leftovers].sort());
      expect(await db.kysely.selectFrom('quarantine_log').selectAll().execute()).toEqual([]);
      expect(await credentialOf(db, user)).toBeUndefined();
      // The real file, when its rename lands, is applied as usual.
      await writeBatch(env, 'password_changes', 1, [pcRecord(user, 2)]);
      expect((await importer.importAll()).files).toHaveLength(1);
      expect((await credentialOf(db, user))?.password_version).toBe(2);
    } finally {
      await db.close();
    }
  });
});
