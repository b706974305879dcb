import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { batchFileName } from '../../src/exchange/index.js';
import type { Db } from '../../src/platform/db.js';
import { createQueue } from '../../src/platform/queue.js';
import { redisConnection } from '../../src/platform/redis.js';
import type { RequestDatabase } from '../../src/request/db/schema.js';
import type { Importer } from '../../src/request/importer/importer.js';
import { startRequestWorker } from '../../src/request/start.js';
import { REQUEST_QUEUE } from '../../src/request/tasks/registry.js';
import type { ResponseDatabase } from '../../src/response/db/schema.js';
import { createSetting } from '../../src/response/settings/settings.service.js';
import { runResponseTask } from '../../src/response/tasks/registry.js';
import { changePassword, createUser } from '../../src/response/users/users.service.js';
import { exportCtx, fakeHash, syncedState } from '../helpers/exchange.js';
import { copyInto, hasCommand, mirrorOnce } from '../helpers/mirror.js';
import { type MirrorSides, openMirrorSides } from '../helpers/mirror-sides.js';
import { dialects, type TestEnv, testRuntime, waitFor } from '../helpers/system.js';

const SETTINGS_TASK = 'export_settings_to_request_network';

/** The README's copy from removable media: $1 the medium's exchange folder, $2 the Request side's EXPORT_DIR. */
const REMOVABLE_MEDIA_RECIPE =
  'rm -rf "$2.new" && cp -a "$1" "$2.new" && mv "$2" "$2.old" && mv "$2.new" "$2" && rm -rf "$2.old"';

/**
 * The Request side's exchange folder (B) may be a copy of the Response side's (A) kept
 * by another tool. Files then arrive in any order, pruned ones disappear, and a file being copied sits
 * under a temporary name until it is renamed into place. The importer converges whatever the order.
 */
if (!hasCommand('rsync')) console.log('[netsync tests] no rsync on PATH: the rsync loop test is skipped');

describe.each(dialects())('a Request side reading a mirror of the exchange folder (%s)', (dialect) => {
  let env: TestEnv;
  let resp: Db<ResponseDatabase>;
  let req: Db<RequestDatabase>;
  let importer: Importer;
  let A: string;
  let B: string;
  const settingsFile = (seq: number) => path.join('settings', batchFileName(seq));

  let sides: MirrorSides;
  beforeEach(async () => {
    sides = await openMirrorSides(dialect, 'm.k');
    ({ env, resp, req, importer, A, B } = sides);
  });
  afterEach(() => sides.close());
  const settingBatches = (n: number) => sides.settingBatches(n);
  const inSync = async () => {
    const [request, response] = await syncedState(resp.kysely, req.kysely);
    return JSON.stringify(request) === JSON.stringify(response);
  };
  const settingsPosition = async () =>
    (
      await req.kysely
        .selectFrom('import_streams')
        .selectAll()
        .where('stream', '=', 'settings')
        .executeTakeFirstOrThrow()
    ).last_seq;

  it('applies a snapshot that arrives before the batches it covers; those batches are then skipped unread', async () => {
    const users = [];
    for (const name of ['ann', 'ben', 'cat']) {
      users.push(await createUser(resp.kysely, { username: name, hashedPassword: fakeHash(name) }));
      await runResponseTask(exportCtx(env, resp.kysely), 'export_users', {});
    }
    await changePassword(resp.kysely, users[0]!.id, fakeHash('ann-2'));
    await runResponseTask(exportCtx(env, resp.kysely), 'export_users', { snapshot: true });

    await copyInto(A, B, 'users/users_latest.json');
    expect((await importer.importAll()).applied).toEqual({ users: 1 });
    expect(await inSync()).toBe(true);

    // The batches arrive afterwards, damaged on the way: they are behind the position, so never opened.
    for (const rel of ['users/000000000001.json', 'users/000000000003.json', 'password_changes/000000000001.json']) {
      await copyInto(A, B, rel);
      const file = path.join(B, rel);
      const bytes = await fs.readFile(file);
      bytes[bytes.length - 10] = (bytes[bytes.length - 10] as number) ^ 1;
      await fs.writeFile(file, bytes);
    }
    const result = await importer.importAll();
    expect(result).toMatchObject({ files: [], quarantined: [], waiting: {} });
    expect(await inSync()).toBe(true);
  });

  it('holds batch 9 that arrives before batch 8, and applies both when 8 lands', async () => {
    await settingBatches(9);
    for (let seq = 1; seq <= 7; seq++) await copyInto(A, B, settingsFile(seq));
    expect((await importer.importAll()).applied).toEqual({ settings: 7 });

    await copyInto(A, B, settingsFile(9));
    expect((await importer.importAll()).waiting).toEqual({ settings: 8 });
    expect(await settingsPosition()).toBe(7);
    expect(await inSync()).toBe(false);

    await copyInto(A, B, settingsFile(8));
    const result = await importer.importAll();
    expect(result.applied).toEqual({ settings: 2 });
    expect(result.waiting).toEqual({});
    expect(await inSync()).toBe(true);
  });

  it('waits when batches were pruned before they were copied, and the snapshot that let them go heals it', async () => {
    await settingBatches(5);
    for (const seq of [1, 2, 4, 5]) await copyInto(A, B, settingsFile(seq));
    expect((await importer.importAll()).waiting).toEqual({ settings: 3 });

    // The Response side writes its snapshot and prunes 1..5; the next copy removes them from B as well.
    const snap = await runResponseTask({ ...exportCtx(env, resp.kysely), retentionS: 0 }, SETTINGS_TASK, {
      snapshot: true,
    });
    expect(snap.pruned).toBe(5);
    await mirrorOnce(A, B);
    expect(await fs.readdir(path.join(B, 'settings'))).toEqual(['settings_latest.json']);
    const result = await importer.importAll();
    expect(result).toMatchObject({ quarantined: [], waiting: {} });
    expect(await settingsPosition()).toBe(5);
    expect(await inSync()).toBe(true);
  });

  it('ignores a file still being copied under an rsync temporary name until it is renamed into place', async () => {
    await settingBatches(7);
    for (let seq = 1; seq <= 6; seq++) await copyInto(A, B, settingsFile(seq));
    await importer.importAll();
    const whole = await fs.readFile(path.join(A, settingsFile(7)));
    const partial = path.join(B, 'settings', `.${batchFileName(7)}.Ab12Cd`);
    await fs.writeFile(partial, whole.subarray(0, Math.floor(whole.length / 2)));
    expect(await importer.importAll()).toMatchObject({ files: [], quarantined: [], waiting: {} });
    expect(await settingsPosition()).toBe(6);

    await fs.writeFile(partial, whole);
    await fs.rename(partial, path.join(B, settingsFile(7)));
    expect((await importer.importAll()).applied).toEqual({ settings: 1 });
    expect(await inSync()).toBe(true);
  });

  it('the watcher imports when a mirror makes the exchange folder after the worker started, and when it swaps it', async () => {
    const rt = testRuntime({ ...env.config, exchangeDir: B });
    const redis = redisConnection(env.config.redisUrl);
    const queue = createQueue(REQUEST_QUEUE, env.config.queuePrefix, redis);
    const imports = async () => (await queue.getJobCounts('completed')).completed ?? 0;
    try {
      await startRequestWorker(rt); // B does not exist yet; no schedule runs in tests, only the watcher
      // The import every worker runs at start is over (it found nothing): what follows is the watcher's.
      await waitFor(async () => (await imports()) >= 1, undefined, 'the start-up import');
      await settingBatches(2);
      await mirrorOnce(A, B);
      await waitFor(inSync, undefined, 'the first copy to be imported through the watcher');

      // A plain copy from removable media, as the README gives it: copied whole into a staging folder on
      // the same filesystem, then moved into place (the folder the watcher watched is replaced).
      await settingBatches(1);
      execFileSync('sh', ['-c', REMOVABLE_MEDIA_RECIPE, 'sh', A, B]);
      await waitFor(inSync, undefined, 'the swapped-in copy to be imported through the watcher');
    } finally {
      await rt.lifecycle.stop();
      await queue.close();
      redis.disconnect();
    }
  });

  it.skipIf(!hasCommand('rsync'))(
    'converges while `rsync -a --delete-delay` copies in a loop as the Response side writes and prunes',
    async () => {
      const rt = testRuntime({ ...env.config, exchangeDir: B });
      let loop: ChildProcess | undefined;
      try {
        await startRequestWorker(rt);
        // The README's loop, with a shorter pause.
        loop = spawn('sh', ['-c', 'while sleep 0.2; do rsync -a --delete-delay "$0/" "$1/"; done', A, B], {
          stdio: 'ignore',
        });
        const pruning = { ...exportCtx(env, resp.kysely), retentionS: 0 };
        const user = await createUser(resp.kysely, { username: 'rita', hashedPassword: fakeHash('rita') });
        for (let i = 0; i < 20; i++) {
          await changePassword(resp.kysely, user.id, fakeHash(`rita-${i}`));
          await runResponseTask(exportCtx(env, resp.kysely), 'sync_password_to_request_network', {});
          await createSetting(resp.kysely, `r.k${i}`, i);
          await runResponseTask(pruning, SETTINGS_TASK, { snapshot: i % 5 === 4 });
          if (i % 7 === 6) await runResponseTask(pruning, 'export_users', { snapshot: true });
        }
        await waitFor(inSync, undefined, 'the Request side to converge through the rsync loop');
        expect(await req.kysely.selectFrom('quarantine_log').selectAll().execute()).toEqual([]);
      } finally {
        loop?.kill();
        await rt.lifecycle.stop();
      }
    },
  );
});
