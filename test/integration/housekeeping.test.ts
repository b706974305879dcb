import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openExchangeFile, streamDir } from '../../src/exchange/index.js';
import { exportSnapshot } from '../../src/response/exporter.js';
import { RESPONSE_TASKS, runResponseTask } from '../../src/response/tasks/registry.js';
import { changePassword, createUser } from '../../src/response/users/users.service.js';
import {
  exportCtx,
  fakeHash,
  heldSnapshotSource,
  importerFor,
  openRequestDb,
  openResponseDb,
  requestCredentials,
  trustedOf,
} from '../helpers/exchange.js';
import { dialects, type TestEnv, testEnv } from '../helpers/system.js';

const snapshotHeader = async (env: TestEnv, file: string) =>
  (await openExchangeFile(file, 'users', trustedOf(env), { maxBytes: env.config.maxFileBytes })).header;

describe.each(dialects())('the scheduled export tidies up (%s)', (dialect) => {
  let env: TestEnv;
  afterEach(() => env.cleanup());

  it('drops outbox rows an hour after their batch is written, and still converges', async () => {
    env = testEnv(dialect);
    const resp = await openResponseDb(env);
    const req = await openRequestDb(env);
    const ctx = exportCtx(env, resp.kysely);
    const users = [];
    for (let i = 0; i < 5; i++)
      users.push(await createUser(resp.kysely, { username: `u${i}`, hashedPassword: fakeHash(`u${i}`) }));
    for (const u of users) await changePassword(resp.kysely, u.id, fakeHash(`${u.id}-2`));
    await runResponseTask(ctx, 'export_users', {});
    expect(
      Number(
        (
          await resp.kysely
            .selectFrom('outbox')
            .select((eb) => eb.fn.countAll().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      ),
    ).toBe(10);

    const twoHoursAgo = new Date(Date.now() - 2 * 3600_000).toISOString();
    await resp.kysely.updateTable('export_batches').set({ written_at: twoHoursAgo }).execute();
    await changePassword(resp.kysely, users[0]!.id, fakeHash('fresh'));
    await runResponseTask(ctx, 'export_users', { snapshot: true });

    const left = await resp.kysely.selectFrom('outbox').select(['stream', 'batch_seq']).execute();
    expect(left).toEqual([{ stream: 'password_changes', batch_seq: 2 }]); // the fresh change, written just now
    await importerFor(env, req.kysely).importAll();
    const creds = await requestCredentials(req.kysely);
    expect(creds.get(users[0]!.id)?.password_version).toBe(3);
    expect(creds.get(users[4]!.id)?.password_version).toBe(2);
    await resp.close();
    await req.close();
  });

  it('never lets an older snapshot replace a newer one when two exports finish out of order', async () => {
    env = testEnv(dialect);
    // Two connections, as two worker processes have: the older export holds its read snapshot open
    // while the newer one commits a change and writes its snapshot to the end.
    const older = await openResponseDb(env);
    const newer = await openResponseDb(env);
    for (let i = 0; i < 4; i++)
      await createUser(newer.kysely, { username: `r${i}`, hashedPassword: fakeHash(`r${i}`) });
    await runResponseTask(exportCtx(env, newer.kysely), 'export_users', {});

    // The source is asked for rows only after the export read its stamps in its transaction.
    const held = heldSnapshotSource(RESPONSE_TASKS.export_users.snapshot.source);
    const olderExport = exportSnapshot(exportCtx(env, older.kysely), 'users', held.source);
    await held.read;

    await createUser(newer.kysely, { username: 'r4', hashedPassword: fakeHash('r4') });
    await runResponseTask(exportCtx(env, newer.kysely), 'export_users', { snapshot: true });
    const file = path.join(streamDir(env.config.exchangeDir, 'users'), 'users_latest.json');
    const newest = await snapshotHeader(env, file);
    held.release();
    await olderExport;

    // The newer snapshot (stamped with the fifth user's batch) is still the one in place.
    expect(await snapshotHeader(env, file)).toEqual(newest);
    expect(newest.covers?.users).toBe(2);
    const req = await openRequestDb(env);
    const result = await importerFor(env, req.kysely).importAll();
    expect(result.quarantined).toEqual([]);
    const n = await req.kysely
      .selectFrom('users')
      .select((eb) => eb.fn.countAll().as('n'))
      .executeTakeFirstOrThrow();
    expect(Number(n.n)).toBe(5);
    await older.close();
    await newer.close();
    await req.close();
  });
});
