import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isGeneration } from '../../src/exchange/index.js';
import type { Db } from '../../src/platform/db.js';
import type { RequestDatabase } from '../../src/request/db/schema.js';
import { readSyncStatus } from '../../src/request/sync/sync-status.js';
import type { ResponseDatabase } from '../../src/response/db/schema.js';
import { currentGeneration } from '../../src/response/generation.js';
import { runResponseTask } from '../../src/response/tasks/registry.js';
import { changePassword, createUser } from '../../src/response/users/users.service.js';
import { runCli } from '../helpers/cli.js';
import {
  backupResponse,
  exportCtx,
  fakeHash,
  importerFor,
  memoryLogger,
  openRequestDb,
  openResponseDb,
  requestCredentials,
  restoreResponse,
  TEST_GENERATION,
  userRec,
  writeBatch,
  writeUsersSnapshot,
} from '../helpers/exchange.js';
import {
  bearer,
  canLogin,
  dialects,
  EVENT_DEADLINE_MS,
  startSystem,
  type TestEnv,
  type TestSystem,
  testEnv,
  waitFor,
} from '../helpers/system.js';

/**
 * A Response database restored from an older backup hands out sequence numbers (and record versions) the
 * Request sides already applied. A new generation id makes them re-base on its snapshots, so nothing
 * made after the restore is skipped as "already applied", and nothing made only after the backup stays.
 */
describe.each(dialects())('a Response database restored from an older backup (%s)', (dialect) => {
  let sys: TestSystem;
  let resp: Db<ResponseDatabase>;
  let req: Db<RequestDatabase>;
  beforeAll(async () => {
    sys = await startSystem({ dialect });
    resp = await openResponseDb(sys.env);
    req = await openRequestDb(sys.env);
  });
  afterAll(async () => {
    await resp.close();
    await req.close();
    await sys.stop();
  });

  const post = (url: string, payload: Record<string, string>) =>
    sys.response.inject({ method: 'POST', url, headers: bearer(sys.adminToken), payload });
  const reset = async (id: string, password: string) =>
    expect((await post(`/users/${id}/reset-password`, { new_password: password })).statusCode).toBe(200);
  const arrives = (username: string, password: string) =>
    waitFor(() => canLogin(sys.request, username, password), EVENT_DEADLINE_MS, `${username} on the Request side`);

  it('after `netsync generation new`, a reset with a lower password_version logs in; users made after the backup are gone', async () => {
    const john = (await post('/users', { username: 'john', password: 'Secret123' })).json() as { id: string };
    await arrives('john', 'Secret123');
    await reset(john.id, 'Second234');
    await arrives('john', 'Second234');
    const backup = await backupResponse(resp.kysely);
    const before = (await currentGeneration(resp.kysely)).generation;

    // After the backup: two more resets (password_version 4) and a new user, all applied on the Request side.
    await reset(john.id, 'Third3456');
    await reset(john.id, 'Fourth456');
    const carol = (await post('/users', { username: 'carol', password: 'Kestrel99' })).json() as { id: string };
    await arrives('john', 'Fourth456');
    await arrives('carol', 'Kestrel99');
    const applied = (await requestCredentials(req.kysely)).get(john.id);
    expect(applied?.password_version).toBe(4);

    // The Response database is restored from the backup, and the operator gives it a new generation.
    await restoreResponse(resp.kysely, backup);
    const cli = runCli(['generation', 'new', '--json'], sys.env.env);
    expect(await cli.exited).toBe(0);
    const made = JSON.parse(cli.output()) as { generation: string; previous_generation: string };
    expect(made.previous_generation).toBe(before);
    expect(isGeneration(made.generation) && made.generation > before).toBe(true);

    // A reset after the restore: password_version 3, lower than the 4 the Request side applied.
    await reset(john.id, 'Restored567');
    await arrives('john', 'Restored567');
    expect((await requestCredentials(req.kysely)).get(john.id)?.password_version).toBe(3);
    expect(await canLogin(sys.request, 'john', 'Fourth456')).toBe(false);
    // carol was made after the backup: the new generation never had her.
    expect(await canLogin(sys.request, 'carol', 'Kestrel99')).toBe(false);
    expect(
      await req.kysely.selectFrom('users').select('id').where('id', '=', carol.id).executeTakeFirst(),
    ).toBeUndefined();
    expect((await requestCredentials(req.kysely)).has(carol.id)).toBe(false);

    const status = await readSyncStatus(req.kysely, sys.env.config.exchangeDir);
    for (const s of Object.values(status.streams)) {
      expect(s.generation).toBe(made.generation);
      expect(s.waiting_for_generation).toBeNull();
    }
  });
});

/** The exporter notices by itself that its database went back in time. */
describe.each(dialects())('detecting a restore (%s)', (dialect) => {
  let env: TestEnv;
  let resp: Db<ResponseDatabase>;
  let req: Db<RequestDatabase>;
  afterEach(async () => {
    await resp.close();
    await req.close();
    await env.cleanup();
  });

  it('makes a new generation when its folder holds its own files past its counters, snapshots first, and the Request side re-bases', async () => {
    env = testEnv(dialect);
    resp = await openResponseDb(env);
    req = await openRequestDb(env);
    const { logger, entries } = memoryLogger();
    const ctx = { ...exportCtx(env, resp.kysely), logger };
    const importer = importerFor(env, req.kysely, { logger });

    const kept = await createUser(resp.kysely, { username: 'kept', hashedPassword: fakeHash('kept-1') });
    await runResponseTask(ctx, 'export_users', { snapshot: true });
    const backup = await backupResponse(resp.kysely);
    const before = (await currentGeneration(resp.kysely)).generation;
    for (let v = 2; v <= 4; v++) {
      await changePassword(resp.kysely, kept.id, fakeHash(`kept-${v}`));
      await runResponseTask(ctx, 'sync_password_to_request_network', {});
    }
    const lost = await createUser(resp.kysely, { username: 'lost', hashedPassword: fakeHash('lost') });
    await runResponseTask(ctx, 'export_users', {});
    await importer.importAll();
    expect((await requestCredentials(req.kysely)).get(kept.id)?.password_version).toBe(4);

    // Restored, and nobody told it. The next change reuses password_changes 1 and version 2.
    await restoreResponse(resp.kysely, backup);
    await changePassword(resp.kysely, kept.id, fakeHash('kept-after-restore'));
    const run = await runResponseTask(ctx, 'sync_password_to_request_network', {});
    const after = (await currentGeneration(resp.kysely)).generation;
    expect(after > before).toBe(true);
    const warning = entries.find((e) => String(e.msg).includes('it went back in time'));
    expect(warning).toMatchObject({ level: 40, previous_generation: before, generation: after });
    // Every stream's snapshot went out before the new generation's first batch.
    const names = run.files.map((f) => f.slice(env.config.exchangeDir.length + 1));
    expect(names.slice(0, 3).sort()).toEqual([
      'profile_types/profile_types_latest.json',
      'settings/settings_latest.json',
      'users/users_latest.json',
    ]);
    expect(names.at(-1)).toBe('password_changes/000000000001.json');

    await importer.importAll();
    const creds = await requestCredentials(req.kysely);
    expect(creds.get(kept.id)).toEqual({ hashed_password: fakeHash('kept-after-restore'), password_version: 2 });
    expect(creds.has(lost.id)).toBe(false);
    expect(
      await req.kysely.selectFrom('users').select('id').where('id', '=', lost.id).executeTakeFirst(),
    ).toBeUndefined();
    expect(entries.filter((e) => String(e.msg).startsWith(`new generation ${after}`))).toHaveLength(1);

    // Later changes follow in the new generation, and a second look finds nothing to re-base.
    await changePassword(resp.kysely, kept.id, fakeHash('kept-later'));
    await runResponseTask(ctx, 'sync_password_to_request_network', {});
    await importer.importAll();
    expect((await requestCredentials(req.kysely)).get(kept.id)?.hashed_password).toBe(fakeHash('kept-later'));
    expect((await currentGeneration(resp.kysely)).generation).toBe(after);
  });

  it('a batch of a newer generation waits for its snapshot; files of an older generation are ignored, not refused', async () => {
    env = testEnv(dialect);
    resp = await openResponseDb(env);
    req = await openRequestDb(env);
    const { logger, entries } = memoryLogger();
    const importer = importerFor(env, req.kysely, { logger });
    const id = '6f1c2a4e-8b1d-4c3e-9f2a-1b2c3d4e5f60';
    const newer = '20270101T000000Z-0000000a';
    const username = async () =>
      (await req.kysely.selectFrom('users').select('username').where('id', '=', id).executeTakeFirstOrThrow()).username;

    await writeBatch(env, 'users', 1, [userRec(id, 'dora', 1)]);
    await writeBatch(env, 'users', 2, [userRec(id, 'dora-2', 1, 2)]);
    await importer.importAll();
    // A mirror copies the new generation's batch 3 before its snapshot: the stream waits for the snapshot.
    await writeBatch(env, 'users', 3, [userRec(id, 'dora-3', 5, 2)], undefined, newer);
    await importer.importAll();
    let status = await readSyncStatus(req.kysely, env.config.exchangeDir);
    expect(status.streams.users).toMatchObject({
      generation: TEST_GENERATION,
      waiting_for_generation: newer,
      last_seq: 2,
    });
    expect(await username()).toBe('dora-2');

    // Its snapshot arrives, stamped users 2 and holding version 1: it replaces what the old generation
    // left (version 2), and the new generation's batch 3 follows.
    await writeUsersSnapshot(
      env,
      [userRec(id, 'dora-snap', 5, 1)],
      { users: 2, password_changes: 0 },
      undefined,
      newer,
    );
    await importer.importAll();
    status = await readSyncStatus(req.kysely, env.config.exchangeDir);
    expect(status.streams.users).toMatchObject({ generation: newer, waiting_for_generation: null, last_seq: 3 });
    expect(status.streams.password_changes).toMatchObject({ generation: newer, waiting_for_generation: null });
    expect(await username()).toBe('dora-3');
    expect((await requestCredentials(req.kysely)).get(id)?.password_version).toBe(5);

    // Files of the old generation that a mirror still holds are ignored, neither applied nor refused.
    await writeBatch(env, 'users', 4, [userRec(id, 'dora-old', 9, 9)]);
    await writeUsersSnapshot(env, [userRec(id, 'dora-old', 9, 9)], { users: 9, password_changes: 9 });
    await importer.importAll();
    await importer.importAll();
    status = await readSyncStatus(req.kysely, env.config.exchangeDir);
    expect(status.streams.users).toMatchObject({ generation: newer, last_seq: 3 });
    expect(status.streams.users.quarantine.count).toBe(0);
    expect(await username()).toBe('dora-3');
    expect(entries.filter((e) => Number(e.level) >= 50)).toEqual([]);
    expect(entries.filter((e) => String(e.msg).startsWith(`new generation ${newer}`))).toHaveLength(1);

    // The new generation's batch 4 takes the name (a new file): applied.
    await writeBatch(env, 'users', 4, [userRec(id, 'dora-4', 5, 3)], undefined, newer);
    await importer.importAll();
    expect(await username()).toBe('dora-4');
  });
});
