import { afterEach, describe, expect, it } from 'vitest';
import { batchFileName, type Stream } from '../../src/exchange/index.js';
import type { Db } from '../../src/platform/db.js';
import type { ResponseDatabase } from '../../src/response/db/schema.js';
import { exportSnapshot } from '../../src/response/exporter.js';
import { createProfileType, deleteProfileType } from '../../src/response/profile-types/profile-types.service.js';
import { changeSetting, createSetting, deleteSetting } from '../../src/response/settings/settings.service.js';
import { RESPONSE_TASKS, runResponseTask } from '../../src/response/tasks/registry.js';
import { changePassword, changeUser, createUser, deleteUser } from '../../src/response/users/users.service.js';
import {
  batchNames,
  exportCtx,
  fakeHash,
  heldSnapshotSource,
  importerFor,
  openRequestDb,
  openResponseDb,
  syncedState,
} from '../helpers/exchange.js';
import { dialects, type TestEnv, testEnv } from '../helpers/system.js';

const count = async (db: Db<ResponseDatabase>, table: 'outbox' | 'export_batches', stream: Stream) =>
  Number(
    (
      await db.kysely
        .selectFrom(table)
        .select((eb) => eb.fn.countAll().as('n'))
        .where('stream', '=', stream)
        .executeTakeFirstOrThrow()
    ).n,
  );

/**
 * The scheduled (snapshot) export removes batch files older than the retention whose
 * changes the snapshot it wrote carries, with their outbox and export_batches rows; a Request side that
 * was away longer catches up from the snapshots and loses nothing.
 */
describe.each(dialects())('the Response side prunes batch files a snapshot carries (%s)', (dialect) => {
  let env: TestEnv;
  let resp: Db<ResponseDatabase>;
  afterEach(async () => {
    await resp.close();
    await env.cleanup();
  });

  /** Users with a password change each, all exported as batches: users 1..n, password_changes 1. */
  async function usersExported(n: number, prefix = 'p') {
    const users = [];
    for (let i = 0; i < n; i++) {
      const name = `${prefix}${i}`;
      const u = await createUser(resp.kysely, { username: name, hashedPassword: fakeHash(name) });
      await runResponseTask(exportCtx(env, resp.kysely), 'export_users', {});
      users.push(u);
    }
    for (const u of users) await changePassword(resp.kysely, u.id, fakeHash(`${u.id}-2`));
    await runResponseTask(exportCtx(env, resp.kysely), 'sync_password_to_request_network', {});
    return users;
  }

  it('keeps batches younger than the retention, and prunes them once older', async () => {
    env = testEnv(dialect);
    resp = await openResponseDb(env);
    await usersExported(3);
    const ctx = { ...exportCtx(env, resp.kysely), retentionS: env.config.exchangeRetentionS };
    expect(ctx.retentionS).toBe(7 * 24 * 3600);
    const fresh = await runResponseTask(ctx, 'export_users', { snapshot: true });
    expect(fresh.pruned).toBe(0);
    expect(await batchNames(env, 'users')).toEqual([1, 2, 3].map(batchFileName));

    // Eight days later (as far as the bookkeeping knows): a snapshot carries them all, so they go.
    const eightDaysAgo = new Date(Date.now() - 8 * 24 * 3600_000).toISOString();
    await resp.kysely.updateTable('export_batches').set({ written_at: eightDaysAgo }).execute();
    const later = await runResponseTask(ctx, 'export_users', { snapshot: true });
    expect(later.pruned).toBe(4);
    expect(await batchNames(env, 'users')).toEqual([]);
    expect(await batchNames(env, 'password_changes')).toEqual([]);
    for (const s of ['users', 'password_changes'] as const) {
      expect(await count(resp, 'outbox', s)).toBe(0);
      expect(await count(resp, 'export_batches', s)).toBe(0);
    }
    // The numbering goes on from where it was: pruning never hands a number out again.
    await usersExported(1, 'q');
    expect(await batchNames(env, 'users')).toEqual([batchFileName(4)]);
  });

  it('never prunes a batch the snapshot does not carry (claimed after it read its stamps)', async () => {
    env = testEnv(dialect);
    resp = await openResponseDb(env);
    const other = await openResponseDb(env);
    try {
      await usersExported(2);
      // The snapshot reads its stamps (users 2), then waits while another exporter writes users batch 3.
      const held = heldSnapshotSource(RESPONSE_TASKS.export_users.snapshot.source);
      const snapshot = exportSnapshot({ ...exportCtx(env, resp.kysely), retentionS: 0 }, 'users', held.source);
      await held.read;
      await createUser(other.kysely, { username: 'late', hashedPassword: fakeHash('late') });
      await runResponseTask(exportCtx(env, other.kysely), 'export_users', {});
      held.release();
      const result = await snapshot;
      expect(result.pruned).toBe(3); // users 1 and 2, password_changes 1
      expect(await batchNames(env, 'users')).toEqual([batchFileName(3)]);
      expect(await count(resp, 'export_batches', 'users')).toBe(1);
      expect(await count(resp, 'outbox', 'users')).toBe(1);
    } finally {
      await other.close();
    }
  });

  it('a Request side started empty after the early batches were pruned catches up with nothing missing', async () => {
    env = testEnv(dialect);
    resp = await openResponseDb(env);
    const ctx = exportCtx(env, resp.kysely);
    const pruning = { ...ctx, retentionS: 0 };
    const flush = async () => {
      for (const task of ['export_profile_types', 'export_users', 'export_settings_to_request_network'] as const) {
        await runResponseTask(ctx, task, {});
      }
    };
    // Weeks of changes, as batches: made, changed, deleted, of every kind.
    const staff = await createProfileType(resp.kysely, { name: 'staff' });
    const gone = await createProfileType(resp.kysely, { name: 'temporary' });
    await deleteProfileType(resp.kysely, gone.id);
    const admin = await createUser(resp.kysely, { username: 'root', hashedPassword: fakeHash('root'), isAdmin: true });
    const users = [];
    for (let i = 0; i < 6; i++) {
      users.push(await createUser(resp.kysely, { username: `w${i}`, hashedPassword: fakeHash(`w${i}`) }));
      await flush();
    }
    await changeUser(resp.kysely, users[0]!.id, { profile_type_id: staff.id, email: 'w0@example.org' }, admin.id);
    await changeUser(resp.kysely, users[1]!.id, { is_active: false }, admin.id);
    await deleteUser(resp.kysely, users[2]!.id, admin.id);
    for (const u of users.slice(3)) await changePassword(resp.kysely, u.id, fakeHash(`${u.id}-2`));
    await createSetting(resp.kysely, 'app.title', 'netsync');
    await createSetting(resp.kysely, 'app.old', 1);
    await changeSetting(resp.kysely, 'app.title', { text: 'netsync', v: 2 });
    await deleteSetting(resp.kysely, 'app.old');
    await flush();
    await runResponseTask(ctx, 'sync_password_to_request_network', {});

    // The scheduled exports write their snapshots and prune every batch those carry.
    for (const task of ['export_profile_types', 'export_users', 'export_settings_to_request_network'] as const) {
      const result = await runResponseTask(pruning, task, { snapshot: true });
      expect(result.pruned).toBeGreaterThan(0);
    }
    for (const s of ['profile_types', 'users', 'password_changes', 'settings'] as const) {
      expect(await batchNames(env, s)).toEqual([]);
    }
    // Changes after the snapshots still travel as batches.
    await changePassword(resp.kysely, users[4]!.id, fakeHash('after'));
    await changeSetting(resp.kysely, 'app.title', 'after');
    await flush();
    await runResponseTask(ctx, 'sync_password_to_request_network', {});
    expect(await batchNames(env, 'password_changes')).toHaveLength(1);

    const req = await openRequestDb(env);
    try {
      const result = await importerFor(env, req.kysely).importAll();
      expect(result.quarantined).toEqual([]);
      expect(result.waiting).toEqual({});
      const [request, response] = await syncedState(resp.kysely, req.kysely);
      expect(response.users).toHaveLength(7);
      expect(response.settings).toHaveLength(2);
      expect(request).toEqual(response);
    } finally {
      await req.close();
    }
  });
});
