import { afterEach, describe, expect, it } from 'vitest';
import type { Db } from '../../src/platform/db.js';
import type { ResponseDatabase } from '../../src/response/db/schema.js';
import { readExportStatus } from '../../src/response/export-status.js';
import { runResponseTask } from '../../src/response/tasks/registry.js';
import { changePassword, createUser } from '../../src/response/users/users.service.js';
import { runCli } from '../helpers/cli.js';
import { exportCtx, fakeHash, openResponseDb } from '../helpers/exchange.js';
import { dialects, sideEnv, type TestEnv, testEnv } from '../helpers/system.js';

/**
 * `netsync sync status` on the Response side: per stream, what it has written to the exchange folder,
 * what pruning removed (kept in counters, since pruning deletes the batches' rows), the snapshot that
 * carries the stream, and the changes committed but not exported yet.
 */
describe.each(dialects())('the Response side sync status (%s)', (dialect) => {
  let env: TestEnv;
  let resp: Db<ResponseDatabase>;
  afterEach(async () => {
    await resp?.close();
    await env?.cleanup();
  });

  /** What pruning sees once the batches' files were written eight days ago (the retention is 7 days). */
  const ageBatches = () =>
    resp.kysely
      .updateTable('export_batches')
      .set({ written_at: new Date(Date.now() - 8 * 86_400_000).toISOString() })
      .where('written_at', 'is not', null)
      .execute();
  const scheduledExport = () =>
    runResponseTask({ ...exportCtx(env, resp.kysely), retentionS: env.config.exchangeRetentionS }, 'export_users', {
      snapshot: true,
    });
  const cli = async (args: string[], side: 'response' | 'request' = 'response') => {
    const run = runCli(['sync', 'status', ...args], sideEnv(env.env, side), env.dir);
    expect(await run.exited, run.output()).toBe(0);
    return run.output();
  };

  it('shows what was written, pruned and not exported yet; pruned counts survive the rows', async () => {
    env = testEnv(dialect);
    resp = await openResponseDb(env);
    const empty = await readExportStatus(resp.kysely, env.config.exchangeDir);
    expect(empty.streams.users).toEqual({
      newest_written_seq: 0,
      batches_in_folder: 0,
      oldest_in_folder_seq: null,
      pruned_count: 0,
      newest_pruned_seq: null,
      snapshot: null,
      unexported_rows: 0,
      oldest_unexported_at: null,
      oldest_unexported_age_seconds: null,
    });

    // Users batches 1..3, password_changes batch 1.
    const users = [];
    for (const name of ['ada', 'bob', 'cy']) {
      users.push(await createUser(resp.kysely, { username: name, hashedPassword: fakeHash(name) }));
      await runResponseTask(exportCtx(env, resp.kysely), 'export_users', {});
    }
    for (const u of users) await changePassword(resp.kysely, u.id, fakeHash(`${u.id}:2`));
    await runResponseTask(exportCtx(env, resp.kysely), 'sync_password_to_request_network', {});
    // Two resets committed, not exported yet.
    const before = Date.now();
    await changePassword(resp.kysely, users[0]!.id, fakeHash('a:3'));
    await changePassword(resp.kysely, users[1]!.id, fakeHash('b:3'));

    const written = await readExportStatus(resp.kysely, env.config.exchangeDir);
    expect(written.side).toBe('response');
    expect(written.streams.users).toMatchObject({
      newest_written_seq: 3,
      batches_in_folder: 3,
      oldest_in_folder_seq: 1,
      pruned_count: 0,
      snapshot: null,
      unexported_rows: 0,
    });
    const waiting = written.streams.password_changes;
    expect(waiting).toMatchObject({ newest_written_seq: 1, batches_in_folder: 1, unexported_rows: 2 });
    expect(Date.parse(waiting.oldest_unexported_at as string)).toBeGreaterThanOrEqual(before - 1000);
    expect(waiting.oldest_unexported_age_seconds).toBeGreaterThanOrEqual(0);

    // Eight days later the scheduled export writes password batch 2 and the snapshot, which carries
    // users 1..3 and password changes 1..2, and prunes the old batches (not batch 2: just written).
    await ageBatches();
    expect((await scheduledExport()).pruned).toBe(4);
    const pruned = await readExportStatus(resp.kysely, env.config.exchangeDir);
    expect(pruned.streams.users).toMatchObject({
      newest_written_seq: 3,
      batches_in_folder: 0,
      oldest_in_folder_seq: null,
      pruned_count: 3,
      newest_pruned_seq: 3,
      snapshot: { file: 'users/users_latest.json', seq: 3 },
      unexported_rows: 0,
      oldest_unexported_at: null,
    });
    expect(pruned.streams.password_changes).toMatchObject({
      newest_written_seq: 2,
      batches_in_folder: 1,
      oldest_in_folder_seq: 2,
      pruned_count: 1,
      newest_pruned_seq: 1,
      snapshot: { file: 'users/users_latest.json', seq: 2 },
      unexported_rows: 0,
    });
    expect(Date.parse(pruned.streams.users.snapshot?.created_at as string)).toBeGreaterThanOrEqual(before - 1000);
    // The rows are gone; the counters are what remembers them.
    const rows = await resp.kysely
      .selectFrom('export_batches')
      .select('stream')
      .where('stream', '=', 'users')
      .execute();
    expect(rows).toEqual([]);

    // The next pruning adds to the counts.
    await ageBatches();
    await scheduledExport();
    const again = (await readExportStatus(resp.kysely, env.config.exchangeDir)).streams.password_changes;
    expect(again).toMatchObject({ newest_written_seq: 2, batches_in_folder: 0, pruned_count: 2, newest_pruned_seq: 2 });

    // The command, with the Response side's configuration (it holds the signing key): the same report.
    const printed = JSON.parse(await cli(['--json']));
    const fresh = await readExportStatus(resp.kysely, env.config.exchangeDir);
    expect(printed.side).toBe('response');
    expect(printed.streams).toEqual(fresh.streams);
    const lines = (await cli([])).trim().split('\n');
    expect(lines[0]).toMatch(
      /^STREAM\s+WRITTEN\s+IN FOLDER\s+OLDEST\s+PRUNED\s+PRUNED TO\s+SNAPSHOT\s+SNAPSHOT AT\s+UNEXPORTED\s+OLDEST UNEXPORTED S$/,
    );
    const columns = (stream: string) => lines.find((l) => l.startsWith(`${stream} `))?.split(/\s{2,}/) ?? [];
    expect(columns('users').slice(0, 7)).toEqual(['users', '3', '0', '-', '3', '3', '3']);
    expect(columns('password_changes').slice(0, 7)).toEqual(['password_changes', '2', '0', '-', '2', '2', '2']);
    expect(columns('settings').slice(0, 7)).toEqual(['settings', '0', '0', '-', '0', '-', '-']);
    // --side request on the same machine shows the other side's report.
    const other = JSON.parse(await cli(['--side', 'request', '--json']));
    expect(other.side).toBeUndefined();
    expect(other.streams.users.last_seq).toBe(0);
  });
});
