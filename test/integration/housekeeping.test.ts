import { afterEach, describe, expect, it } from 'vitest';
import { runResponseTask } from '../../src/response/jobs/registry.js';
import { changePassword, createUser } from '../../src/response/users/users.service.js';
import {
  exportCtx,
  fakeHash,
  importerFor,
  openRequestDb,
  openResponseDb,
  requestCredentials,
} from '../helpers/exchange.js';
import { dialects, type TestEnv, testEnv } from '../helpers/system.js';

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
    const resp = await openResponseDb(env);
    const ctx = exportCtx(env, resp.kysely);
    for (let round = 0; round < 5; round++) {
      await createUser(resp.kysely, { username: `r${round}`, hashedPassword: fakeHash(`r${round}`) });
      await Promise.all([
        runResponseTask(ctx, 'export_users', { snapshot: true }),
        runResponseTask(ctx, 'export_users', { snapshot: true }),
      ]);
    }
    const req = await openRequestDb(env);
    const result = await importerFor(env, req.kysely).importAll();
    expect(result.quarantined).toEqual([]);
    const n = await req.kysely
      .selectFrom('users')
      .select((eb) => eb.fn.countAll().as('n'))
      .executeTakeFirstOrThrow();
    expect(Number(n.n)).toBe(5);
    await resp.close();
    await req.close();
  });
});
