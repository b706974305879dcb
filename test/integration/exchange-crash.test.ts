import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { PasswordChangeRecord } from '../../src/exchange/index.js';
import type { Db } from '../../src/platform/db.js';
import { createQueue } from '../../src/platform/queue.js';
import { redisConnection } from '../../src/platform/redis.js';
import type { RequestDatabase } from '../../src/request/db/schema.js';
import type { ResponseDatabase } from '../../src/response/db/schema.js';
import { RESPONSE_QUEUE } from '../../src/response/tasks/registry.js';
import { changePassword, createUser } from '../../src/response/users/users.service.js';
import {
  ChildPart,
  fakeHash,
  MonotonicCheck,
  openRequestDb,
  openResponseDb,
  outOfSync,
  unappliedBatches,
} from '../helpers/exchange.js';
import { dialects, type TestEnv, testEnv, waitFor } from '../helpers/system.js';

/**
 * Issue 4, guarantee 2 under SIGKILL: worker processes are killed right after they pick up an export or
 * an import (so, often, inside the claim transaction, between a file's rename and its bookkeeping, or
 * inside an import transaction), restarted, and at the end every change is on the Request side exactly
 * once, in its newest state, with nothing ever having gone back in between.
 */
vi.setConfig({ testTimeout: 300_000, hookTimeout: 120_000 });

const KILLS = process.env.NETSYNC_SOAK ? 40 : 6;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const countRows = async (q: Promise<{ n: string | number | bigint }>) => Number((await q).n);

describe.each(dialects())('SIGKILL in the middle of exports and imports (%s)', (dialect) => {
  let env: TestEnv | undefined;
  let response: Db<ResponseDatabase> | undefined;
  let request: Db<RequestDatabase> | undefined;
  const everyChild: ChildPart[] = [];
  afterEach(async () => {
    await Promise.all(everyChild.map((c) => c.kill()));
    await response?.close();
    await request?.close();
    await env?.cleanup();
  });

  it(`${KILLS} kills of export and import workers lose nothing, apply nothing twice, never go back`, async () => {
    env = testEnv(dialect);
    const theEnv = env;
    const resp = await openResponseDb(env);
    response = resp;
    const req = await openRequestDb(env);
    request = req;
    const monotonic = new MonotonicCheck();
    const users: string[] = [];
    for (let i = 0; i < 20; i++) {
      const u = await createUser(resp.kysely, { username: `victim${i}`, hashedPassword: fakeHash(`victim${i}`) });
      users.push(u.id);
      monotonic.committed.set(`${u.id}:1`, u.hashed_password);
    }
    const redis = redisConnection(env.config.redisUrl);
    const queue = createQueue(RESPONSE_QUEUE, env.config.queuePrefix, redis);
    const start = (side: 'response' | 'request') => {
      const child = new ChildPart(theEnv.env, side, 'worker');
      everyChild.push(child);
      return child;
    };
    const parts = { export1: start('response'), export2: start('response'), import: start('request') };
    try {
      const t0 = performance.now();
      await Promise.all(Object.values(parts).map((p) => p.ready()));
      const tReady = performance.now();
      await queue.add('export_users', {}, { jobId: randomUUID() });

      const committed: PasswordChangeRecord[] = [];
      let running = true;
      // Rounds of 40 changes then two export jobs, so batches are big enough for a kill to land inside
      // one; the pause keeps this process from starving the children on a 2-core machine.
      const writer = (async () => {
        while (running) {
          await Promise.all(
            Array.from({ length: 4 }, async () => {
              for (let i = 0; i < 10; i++) {
                const user = users[Math.floor(Math.random() * users.length)] as string;
                const hash = fakeHash(randomUUID());
                const rec = await changePassword(resp.kysely, user, hash);
                if (!rec) throw new Error(`no user ${user}`);
                committed.push(rec);
                monotonic.committed.set(`${user}:${rec.password_version}`, hash);
              }
            }),
          );
          for (let j = 0; j < 2; j++) {
            await queue.add('sync_password_to_request_network', {}, { jobId: randomUUID() });
          }
          await sleep(50);
        }
      })();
      const watcher = (async () => {
        while (running) {
          await monotonic.check(req.kysely);
          await sleep(10);
        }
      })();

      const kills: { target: string; midJob: boolean }[] = [];
      const order = ['export1', 'import', 'export2', 'import'] as const;
      for (let k = 0; k < KILLS; k++) {
        const target = order[k % order.length] as keyof typeof parts;
        const part = parts[target];
        const from = part.lines.length;
        await part.waitForLine(/^Received task/, 60_000, from);
        await sleep(Math.random() * 15);
        const after = part.messages(from);
        const received = after.filter((m) => m.startsWith('Received task')).length;
        const finished = after.filter((m) => / succeeded in | raised: /.test(m)).length;
        await part.kill();
        kills.push({ target, midJob: finished < received });
        parts[target] = start(target === 'import' ? 'request' : 'response');
      }
      running = false;
      const tKills = performance.now();
      await Promise.all([writer, watcher]);
      await Promise.all(Object.values(parts).map((p) => p.ready()));
      // A job killed mid-run is retried only after BullMQ's stall check (30 s); a fresh export writes
      // whatever a killed one claimed but did not write, and its files wake the importer.
      await queue.add('sync_password_to_request_network', {}, { jobId: randomUUID() });
      await queue.add('export_users', {}, { jobId: randomUUID() });

      await waitFor(
        async () => {
          await monotonic.check(req.kysely);
          if ((await outOfSync(resp.kysely, req.kysely)).length > 0) return false;
          const left = [
            ...(await unappliedBatches(theEnv, req.kysely, 'password_changes')),
            ...(await unappliedBatches(theEnv, req.kysely, 'users')),
          ];
          return left.length === 0;
        },
        60_000,
        'the Request Network to catch up after the kills',
      );

      const tCaughtUp = performance.now();
      // Response side: every change claimed into exactly one batch, numbers 1..N without a gap, all written.
      const unclaimed = await countRows(
        resp.kysely
          .selectFrom('outbox')
          .select((eb) => eb.fn.countAll().as('n'))
          .where('batch_seq', 'is', null)
          .executeTakeFirstOrThrow(),
      );
      expect(unclaimed).toBe(0);
      const batches = await resp.kysely
        .selectFrom('export_batches')
        .selectAll()
        .where('stream', '=', 'password_changes')
        .orderBy('seq')
        .execute();
      expect(batches.map((b) => Number(b.seq))).toEqual(batches.map((_, i) => i + 1));
      expect(batches.reduce((n, b) => n + Number(b.count), 0)).toBe(committed.length);

      // Request side: at the same position, nothing refused, each batch applied by one commit only.
      const imported = await req.kysely
        .selectFrom('import_streams')
        .selectAll()
        .where('stream', '=', 'password_changes')
        .executeTakeFirstOrThrow();
      expect(imported.last_seq).toBe(batches.length);
      expect(imported.waiting_for).toBeNull();
      expect(await req.kysely.selectFrom('quarantine_log').selectAll().execute()).toEqual([]);
      const appliedLogs = everyChild
        .filter((c) => c.side === 'request')
        .flatMap((c) => c.lines)
        .flatMap((l) => {
          try {
            const e = JSON.parse(l) as { msg?: string; stream?: string; seq?: number };
            return e.msg?.startsWith('applied password_changes/') ? [e.seq as number] : [];
          } catch {
            return [];
          }
        });
      expect(appliedLogs.length).toBe(new Set(appliedLogs).size);
      expect(await outOfSync(resp.kysely, req.kysely)).toEqual([]);

      const mid = kills.filter((k) => k.midJob);
      console.log(
        `[crash, ${dialect}] ${kills.length} SIGKILLs (${mid.filter((k) => k.target !== 'import').length} mid-export, ` +
          `${mid.filter((k) => k.target === 'import').length} mid-import); ${committed.length} changes in ${batches.length} ` +
          `batches; ${appliedLogs.length} batch commits logged, none twice; ${monotonic.checks} monotonic checks; ` +
          `start ${((tReady - t0) / 1000).toFixed(1)} s, kills ${((tKills - tReady) / 1000).toFixed(1)} s, ` +
          `catch-up ${((tCaughtUp - tKills) / 1000).toFixed(1)} s`,
      );
    } finally {
      await queue.close();
      redis.disconnect();
    }
  });
});
