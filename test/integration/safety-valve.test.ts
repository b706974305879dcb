import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Kysely } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import {
  batchFileName,
  type PasswordChangeRecord,
  type SettingRecord,
  streamDir,
  type UserRecord,
  writeExchangeFile,
} from '../../src/exchange/index.js';
import type { Db } from '../../src/platform/db.js';
import type { App } from '../../src/platform/http.js';
import { hashPassword } from '../../src/platform/passwords.js';
import type { RequestDatabase } from '../../src/request/db/schema.js';
import { confirmHeld } from '../../src/request/importer/held-files.js';
import { Importer } from '../../src/request/importer/importer.js';
import { startRequestApi, startRequestWorker } from '../../src/request/start.js';
import { runCli } from '../helpers/cli.js';
import {
  importerFor,
  memoryLogger,
  openRequestDb,
  pcRecord,
  requestCredentials,
  signerOf,
  TEST_GENERATION,
  trustedOf,
  userRec,
  writeBatch,
  writeUsersSnapshot,
} from '../helpers/exchange.js';
import { requestToken } from '../helpers/sync-data.js';
import { bearer, dialects, sideEnv, type TestEnv, testEnv, testRuntime, waitFor } from '../helpers/system.js';

const AT = new Date(Date.UTC(2026, 0, 2)).toISOString();

/** `n` live, active accounts, as the users stream sends them. */
const accounts = (n: number, prefix = 'user'): UserRecord[] =>
  Array.from({ length: n }, (_, i) => userRec(randomUUID(), `${prefix}${i}`, 1));

/** The account's next version, deleted on the Response side. */
const deleted = (u: UserRecord): UserRecord => ({ ...u, version: u.version + 1, deleted_at: AT, updated_at: AT });

/** The account's next version, deactivated on the Response side. */
const deactivated = (u: UserRecord): UserRecord => ({ ...u, version: u.version + 1, is_active: false, updated_at: AT });

const setting = (key: string): SettingRecord => ({
  id: randomUUID(),
  key,
  value: 1,
  created_at: AT,
  updated_at: AT,
  deleted_at: null,
  version: 1,
});

/** A password_changes batch stamped with the users batch that holds its users, as the Response side writes it. */
async function writeRequiring(env: TestEnv, seq: number, records: PasswordChangeRecord[], users: number) {
  await writeExchangeFile(
    streamDir(env.config.exchangeDir, 'password_changes'),
    batchFileName(seq),
    {
      kind: 'batch',
      stream: 'password_changes',
      seq,
      created_at: AT,
      generation: TEST_GENERATION,
      requires: { users },
    },
    records.map((r) => JSON.stringify(r)),
    signerOf(env),
  );
}

/** Accounts that can log in on the Request side: neither deleted nor deactivated. */
async function liveAccounts(db: Kysely<RequestDatabase>): Promise<number> {
  const row = await db
    .selectFrom('users')
    .select((eb) => eb.fn.countAll<number | string>().as('n'))
    .where('deleted_at', 'is', null)
    .where('is_active', '=', 1)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

const heldRows = (db: Kysely<RequestDatabase>) =>
  db.selectFrom('held_files').select(['stream', 'name', 'kind', 'seq', 'removals', 'max_removals']).execute();

const heldWarnings = (entries: Record<string, unknown>[]) =>
  entries.filter((e) => typeof e.msg === 'string' && e.msg.startsWith('held '));

/** The importer driven by hand, with a small limit (MAX_ACCOUNT_REMOVALS=3) so files stay small. */
describe.each(dialects())('the safety valve, MAX_ACCOUNT_REMOVALS=3 (%s)', (dialect) => {
  let env: TestEnv;
  let req: Db<RequestDatabase>;
  afterEach(async () => {
    await req?.close();
    await env?.cleanup();
  });

  /** A Request side holding `n` live accounts (users batch 1), with a limit of 3. */
  async function withAccounts(n: number) {
    env = testEnv(dialect, { MAX_ACCOUNT_REMOVALS: '3' });
    req = await openRequestDb(env);
    const log = memoryLogger();
    const importer = importerFor(env, req.kysely, { logger: log.logger });
    const users = accounts(n);
    await writeBatch(env, 'users', 1, users);
    expect((await importer.importAll()).applied).toEqual({ users: 1 });
    expect(await liveAccounts(req.kysely)).toBe(n);
    return { users, importer, log };
  }

  it('holds a snapshot that removes more accounts than the limit; other streams keep flowing', async () => {
    const { users, importer, log } = await withAccounts(10);
    // The whole set, five of them deleted; batch 2 is gone (pruned), so only the snapshot can bring it.
    const snapshot = await writeUsersSnapshot(
      env,
      users.map((u, i) => (i < 5 ? deleted(u) : u)),
      { users: 2, password_changes: 0 },
    );
    await writeBatch(env, 'settings', 1, [setting('app.title')]);

    const first = await importer.importAll();
    expect(first.held).toEqual([snapshot]);
    expect(first.applied).toEqual({ settings: 1 });
    expect(await liveAccounts(req.kysely)).toBe(10);
    expect(await heldRows(req.kysely)).toEqual([
      { stream: 'users', name: 'users_latest.json', kind: 'snapshot', seq: 2, removals: 5, max_removals: 3 },
    ]);
    expect(heldWarnings(log.entries)).toHaveLength(1);
    expect(heldWarnings(log.entries)[0]).toMatchObject({ level: 40, stream: 'users', removals: 5, limit: 3 });

    // The same file on the next passes: neither judged nor logged again, and still not applied.
    const again = await importer.importAll();
    expect(again.held).toEqual([]);
    expect(again.files).toEqual([]);
    expect(heldWarnings(log.entries)).toHaveLength(1);
    expect(await liveAccounts(req.kysely)).toBe(10);

    // The next export rewrites the snapshot (another file, the same removals): judged again, the same
    // hold, not logged again.
    await writeUsersSnapshot(
      env,
      users.map((u, i) => (i < 5 ? deleted(u) : u)),
      { users: 2, password_changes: 0 },
    );
    expect((await importer.importAll()).held).toEqual([snapshot]);
    expect(heldWarnings(log.entries)).toHaveLength(1);
    expect(await liveAccounts(req.kysely)).toBe(10);
  });

  it('counts the live accounts a snapshot does not list as removed', async () => {
    const { users, importer } = await withAccounts(10);
    // Six of ten listed: a Response side that no longer has four accounts.
    await writeUsersSnapshot(env, users.slice(0, 6), { users: 2, password_changes: 0 });
    expect((await importer.importAll()).held).toHaveLength(1);
    expect(await heldRows(req.kysely)).toMatchObject([{ removals: 4 }]);
  });

  it('holds a batch that deactivates more than the limit; later batches wait behind it until confirmed', async () => {
    const { users, importer, log } = await withAccounts(10);
    const held = await writeBatch(env, 'users', 2, users.slice(0, 4).map(deactivated));
    const newcomer = userRec(randomUUID(), 'newcomer', 1);
    await writeBatch(env, 'users', 3, [newcomer]);

    const first = await importer.importAll();
    expect(first.held).toEqual([held]);
    expect(first.files).toEqual([]);
    expect(await liveAccounts(req.kysely)).toBe(10);
    expect(await heldRows(req.kysely)).toEqual([
      { stream: 'users', name: '000000000002.json', kind: 'batch', seq: 2, removals: 4, max_removals: 3 },
    ]);
    const position = await req.kysely
      .selectFrom('import_streams')
      .select(['last_seq', 'waiting_for'])
      .where('stream', '=', 'users')
      .executeTakeFirstOrThrow();
    // Held, not missing: the stream does not report a gap.
    expect(position).toEqual({ last_seq: 1, waiting_for: null });
    expect((await importer.importAll()).files).toEqual([]);

    // What `netsync sync confirm users/000000000002.json` does; the next import applies it, then batch 3.
    expect(await confirmHeld(req.kysely, 'users', '000000000002.json')).toMatchObject({ removals: 4 });
    const confirmed = await importer.importAll();
    expect(confirmed.files.map((f) => path.basename(f))).toEqual(['000000000002.json', '000000000003.json']);
    expect(await liveAccounts(req.kysely)).toBe(10 - 4 + 1);
    expect(await heldRows(req.kysely)).toEqual([]);
    expect(heldWarnings(log.entries)).toHaveLength(1);
  });

  it('lets password changes of synced users through; one needing the held users batch waits', async () => {
    const { users, importer } = await withAccounts(10);
    const [a, b] = users as [UserRecord, UserRecord];
    await writeBatch(env, 'users', 2, users.slice(2, 6).map(deleted));
    await writeRequiring(env, 1, [pcRecord(a.id, 2)], 1);
    await writeRequiring(env, 2, [pcRecord(b.id, 2)], 2);
    const result = await importer.importAll();
    expect(result.held).toHaveLength(1);
    expect(result.applied).toEqual({ password_changes: 1 });
    const versions = await requestCredentials(req.kysely);
    expect([versions.get(a.id)?.password_version, versions.get(b.id)?.password_version]).toEqual([2, 1]);
  });

  it('applies a file at the limit at once, and counts only accounts it really removes', async () => {
    const { users, importer } = await withAccounts(10);
    const [a, b, c, d, e] = users as [UserRecord, UserRecord, UserRecord, UserRecord, UserRecord];
    // Three removals exactly (not more than 3): d deleted then restored in the same batch, e's older
    // copy, and new accounts created deleted or inactive do not count.
    await writeBatch(env, 'users', 2, [
      deleted(a),
      deactivated(b),
      deleted(c),
      deleted(d),
      { ...deleted(d), version: d.version + 2, deleted_at: null },
      { ...e, is_active: false },
      deleted(userRec(randomUUID(), 'born-deleted', 1)),
      deactivated(userRec(randomUUID(), 'born-inactive', 1)),
    ]);
    const result = await importer.importAll();
    expect(result.held).toEqual([]);
    expect(result.applied).toEqual({ users: 1 });
    expect(await liveAccounts(req.kysely)).toBe(7);

    // Accounts already removed are not removed again: a snapshot re-sending the tombstones applies too.
    await writeUsersSnapshot(env, [deleted(a), deactivated(b), deleted(c), ...users.slice(3)], {
      users: 2,
      password_changes: 0,
    });
    expect((await importer.importAll()).held).toEqual([]);
  });

  it('judges each file: a held snapshot whose removals the batches brought one by one is no longer held', async () => {
    const { users, importer } = await withAccounts(10);
    await writeBatch(env, 'users', 2, users.slice(0, 2).map(deleted));
    await writeBatch(env, 'users', 3, users.slice(2, 4).map(deleted));
    await writeUsersSnapshot(
      env,
      users.map((u, i) => (i < 4 ? deleted(u) : u)),
      { users: 3, password_changes: 0 },
    );
    const result = await importer.importAll();
    // The snapshot (4 removals) is held; batches 2 and 3 (2 each) apply; the snapshot, judged again
    // against what the Request side now holds, removes nothing more and applies.
    expect(result.held).toHaveLength(1);
    expect(result.files.map((f) => path.basename(f))).toEqual([
      '000000000002.json',
      '000000000003.json',
      'users_latest.json',
    ]);
    expect(await liveAccounts(req.kysely)).toBe(6);
    expect(await heldRows(req.kysely)).toEqual([]);
  });

  it('forgets a held batch that a snapshot moved the stream past', async () => {
    const { users, importer } = await withAccounts(10);
    await writeBatch(env, 'users', 2, users.slice(0, 4).map(deleted));
    expect((await importer.importAll()).held).toHaveLength(1);
    // The Response side undid the deletions; its snapshot carries the accounts live again.
    await writeUsersSnapshot(
      env,
      users.map((u, i) => (i < 4 ? { ...u, version: u.version + 2 } : u)),
      { users: 3, password_changes: 0 },
    );
    expect((await importer.importAll()).files.map((f) => path.basename(f))).toEqual(['users_latest.json']);
    expect(await liveAccounts(req.kysely)).toBe(10);
    expect(await heldRows(req.kysely)).toEqual([]);
  });

  /** The importer of a Request worker restarted with MAX_ACCOUNT_REMOVALS=`limit`. */
  const restartedWith = (limit: number) =>
    new Importer({
      db: req.kysely,
      exchangeDir: env.config.exchangeDir,
      quarantineDir: env.config.quarantineDir,
      trustedKeys: trustedOf(env),
      maxFileBytes: env.config.maxFileBytes,
      maxAccountRemovals: limit,
      logger: memoryLogger().logger,
    });

  it('releases a held file when the limit is raised', async () => {
    const { users, importer } = await withAccounts(10);
    await writeBatch(env, 'users', 2, users.slice(0, 5).map(deleted));
    expect((await importer.importAll()).held).toHaveLength(1);
    expect((await restartedWith(4).importAll()).files).toEqual([]);
    expect((await restartedWith(5).importAll()).applied).toEqual({ users: 1 });
    expect(await liveAccounts(req.kysely)).toBe(5);
    expect(await heldRows(req.kysely)).toEqual([]);
  });

  it('holds nothing with MAX_ACCOUNT_REMOVALS=0', async () => {
    const { users } = await withAccounts(10);
    await writeUsersSnapshot(env, [], { users: 2, password_changes: 0 });
    await writeBatch(env, 'users', 3, users.map(deleted));
    expect((await restartedWith(0).importAll()).held).toEqual([]);
    expect(await liveAccounts(req.kysely)).toBe(0);
  });
});

/**
 * The default limit (500), as an operator meets it: the Request side's worker and API running, the held
 * snapshot in GET /sync/status, and the real `netsync sync confirm` applying it.
 */
describe.each(dialects())('the safety valve at its default, confirmed with netsync sync confirm (%s)', (dialect) => {
  let env: TestEnv;
  let stop: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await stop?.();
    await env?.cleanup();
  });

  it('holds a snapshot deleting 600 of 700 accounts until confirmed; settings keep flowing', async () => {
    env = testEnv(dialect);
    expect(env.config.maxAccountRemovals).toBe(500);
    const rt = testRuntime(env.config);
    stop = () => rt.lifecycle.stop();
    // The Request side alone, as on its own machine; imports run when asked (no watcher).
    await startRequestWorker(rt, { watch: false });
    const api: App = await startRequestApi(rt, { listen: false });
    const req = await openRequestDb(env);
    rt.lifecycle.add({ name: 'test request db', stop: () => req.close() });
    const importer = importerFor(env, req.kysely);

    const operator = {
      ...userRec(randomUUID(), 'operator', 1),
      hashed_password: await hashPassword('Sync-pass-42', 4),
    };
    const users = accounts(700);
    await writeBatch(env, 'users', 1, [operator, ...users]);
    await importer.importAll();
    const token = await requestToken(api, 'operator');
    const status = async () => (await api.inject({ url: '/sync/status', headers: bearer(token) })).json();

    const snapshot = [operator, ...users.map((u, i) => (i < 600 ? deleted(u) : u))];
    await writeUsersSnapshot(env, snapshot, { users: 2, password_changes: 0 });
    await writeBatch(env, 'settings', 1, [setting('app.title')]);
    const result = await importer.importAll();
    expect(result.applied).toEqual({ settings: 1 });
    expect(result.held).toHaveLength(1);
    expect(await liveAccounts(req.kysely)).toBe(701);

    const before = await status();
    expect(before.held).toEqual([
      {
        file: 'users/users_latest.json',
        stream: 'users',
        kind: 'snapshot',
        seq: 2,
        removals: 600,
        limit: 500,
        since: expect.any(String),
        confirmed_at: null,
      },
    ]);
    expect(before.streams.settings.last_seq).toBe(1);
    expect(before.streams.users.last_seq).toBe(1);
    const heldGauge = async () =>
      /^netsync_held_files\{stream="users",network="request"\} (\d+)$/m.exec(
        (await api.inject({ url: '/metrics' })).body,
      )?.[1];
    expect(await heldGauge()).toBe('1');

    const cliEnv = sideEnv(env.env, 'request');
    const table = runCli(['sync', 'status'], cliEnv, env.dir);
    expect(await table.exited, table.output()).toBe(0);
    expect(table.output()).toMatch(/HELD FILE\s+REMOVALS\s+LIMIT/);
    expect(table.output()).toMatch(/users\/users_latest\.json\s+600\s+500/);
    expect(table.output()).toContain('netsync sync confirm <file>');

    const wrong = runCli(['sync', 'confirm', 'users/000000000002.json'], cliEnv, env.dir);
    expect(await wrong.exited, wrong.output()).toBe(2);
    expect(wrong.output()).toContain('Held now: users/users_latest.json (600 removals)');

    const confirm = runCli(['sync', 'confirm', 'users/users_latest.json'], cliEnv, env.dir);
    expect(await confirm.exited, confirm.output()).toBe(0);
    expect(confirm.output()).toContain(
      'Confirmed users/users_latest.json: it deletes or deactivates 600 accounts (limit 500).',
    );
    expect(confirm.output()).toMatch(/Sent import_settings_and_passwords\[[0-9a-f-]+\] to the request queue/);

    // The worker runs the import the command sent.
    await waitFor(async () => (await liveAccounts(req.kysely)) === 101, undefined, 'the held snapshot to apply');
    const after = await status();
    expect(after.held).toEqual([]);
    expect(await heldGauge()).toBe('0');
    expect(after.streams.users.last_seq).toBe(2);
    expect(await fs.readdir(streamDir(env.config.exchangeDir, 'users'))).toContain('users_latest.json');

    const gone = runCli(['sync', 'confirm', 'users/users_latest.json'], cliEnv, env.dir);
    expect(await gone.exited, gone.output()).toBe(2);
    expect(gone.output()).toContain('nothing is held now');
  });
});
