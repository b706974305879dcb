import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  generateSigningKey,
  identityOf,
  parseSigningKey,
  peekHeader,
  SNAPSHOT_OF,
  streamDir,
} from '../../src/exchange/index.js';
import { currentGeneration, replaceGeneration } from '../../src/response/generation.js';
import { runResponseTask } from '../../src/response/tasks/registry.js';
import { exportsSettled, openHandles, type SyncHandles } from '../helpers/sync-data.js';
import { bearer, dialects, startSystem, type TestSystem } from '../helpers/system.js';

type Kind = 'settings' | 'profile_types' | 'users';
const TASK = {
  settings: 'export_settings_to_request_network',
  profile_types: 'export_profile_types',
  users: 'export_users',
} as const;
const KINDS = Object.keys(TASK) as Kind[];

/**
 * Cost grows with change, not with size (issue 13): the scheduled export rewrites a snapshot only when its
 * streams changed since the one in place, or it is not the file last written, or the generation or key is
 * new. The runs here are the scheduled run's (`snapshot: true`), driven by hand.
 */
describe.each(dialects())('a snapshot is rewritten only when something changed (%s)', (dialect) => {
  let sys: TestSystem;
  let h: SyncHandles;
  let n = 0;

  beforeAll(async () => {
    sys = await startSystem({ dialect, watch: false });
    h = await openHandles(sys);
  });
  afterAll(async () => {
    await h?.close();
    await sys?.stop();
  });

  const file = (kind: Kind) => path.join(streamDir(sys.env.config.exchangeDir, kind), SNAPSHOT_OF[kind]!.file);
  const scheduled = (kind: Kind, ctx = h.exportCtx) => runResponseTask(ctx, TASK[kind], { snapshot: true });
  const newSetting = async () => {
    const res = await sys.response.inject({
      method: 'POST',
      url: '/settings',
      headers: bearer(sys.adminToken),
      payload: { key: `unchanged.k${++n}`, value: n },
    });
    expect(res.statusCode).toBe(201);
    await exportsSettled(h.response.kysely, ['settings']);
  };
  /** Every stream written once, so each test starts from snapshots in place that match the database. */
  const settle = async () => {
    for (const kind of KINDS) await scheduled(kind);
  };

  it('an unchanged stream writes no new file, and says so', async () => {
    await settle();
    for (const kind of KINDS) {
      const before = await identityOf(file(kind));
      expect(before).toBeDefined();
      const result = await scheduled(kind);
      expect(result).toMatchObject({ status: 'success', snapshot: 'unchanged', count: 0, file: null, files: [] });
      expect(await identityOf(file(kind))).toBe(before);
    }
  });

  it("deciding that nothing changed never reads the stream's table", async () => {
    await settle();
    const queries: string[] = [];
    const watched = h.exportCtx.db.withPlugin({
      transformQuery: ({ node }) => {
        queries.push(JSON.stringify(node));
        return node;
      },
      transformResult: async ({ result }) => result,
    });
    const readsTable = (table: string) =>
      queries.some((q) => q.includes(`"identifier":{"kind":"IdentifierNode","name":"${table}"}`));
    const ctx = { ...h.exportCtx, db: watched };
    expect((await scheduled('settings', ctx)).snapshot).toBe('unchanged');
    expect(queries.length).toBeGreaterThan(0);
    expect(readsTable('settings')).toBe(false);
    // The same watch sees a written snapshot read it.
    await fs.rm(file('settings'));
    expect((await scheduled('settings', ctx)).snapshot).toBe('written');
    expect(readsTable('settings')).toBe(true);
  });

  it('a change makes the next run write one, stamped past it; the run after that writes none', async () => {
    await settle();
    const before = await peekHeader(file('settings'));
    await newSetting();
    const result = await scheduled('settings');
    expect(result).toMatchObject({ snapshot: 'written', file: file('settings') });
    const after = await peekHeader(file('settings'));
    expect(after?.seq).toBeGreaterThan(before?.seq ?? 0);
    expect(after?.count).toBe((before?.count ?? 0) + 1);
    expect((await scheduled('settings')).snapshot).toBe('unchanged');
    // Another stream's change is not this one's.
    await newSetting();
    expect((await scheduled('profile_types')).snapshot).toBe('unchanged');
  });

  it('a password change alone rewrites the users snapshot (it covers password_changes)', async () => {
    const made = await sys.response.inject({
      method: 'POST',
      url: '/users',
      headers: bearer(sys.adminToken),
      payload: { username: 'pat', password: 'Secret123' },
    });
    expect(made.statusCode).toBe(201);
    await exportsSettled(h.response.kysely, ['users', 'password_changes']);
    await settle();
    const before = await peekHeader(file('users'));
    const reset = await sys.response.inject({
      method: 'POST',
      url: `/users/${made.json().id}/reset-password`,
      headers: bearer(sys.adminToken),
      payload: { new_password: 'NewPass456' },
    });
    expect(reset.statusCode).toBeLessThan(300);
    await exportsSettled(h.response.kysely, ['password_changes']);
    expect((await scheduled('users')).snapshot).toBe('written');
    const after = await peekHeader(file('users'));
    expect(after?.covers?.password_changes).toBeGreaterThan(before?.covers?.password_changes ?? 0);
    expect(after?.covers?.users).toBe(before?.covers?.users);
  });

  it('a snapshot file deleted or replaced in the folder is written again', async () => {
    await settle();
    await fs.rm(file('settings'));
    expect((await scheduled('settings')).snapshot).toBe('written');
    expect(await peekHeader(file('settings'))).toBeDefined();
    // Altered in place: another identity than the file written.
    await fs.appendFile(file('profile_types'), ' ');
    expect((await scheduled('profile_types')).snapshot).toBe('written');
    expect((await scheduled('profile_types')).snapshot).toBe('unchanged');
  });

  it('a new generation writes every snapshot, then they are unchanged again', async () => {
    await settle();
    const { generation } = await currentGeneration(h.response.kysely);
    const made = await replaceGeneration(h.response.kysely, generation);
    expect(made).toBeDefined();
    // Any export writes the new generation's snapshots before anything else.
    await runResponseTask(h.exportCtx, 'export_heartbeat', {});
    for (const kind of KINDS) expect((await peekHeader(file(kind)))?.generation).toBe(made);
    for (const kind of KINDS) expect((await scheduled(kind)).snapshot).toBe('unchanged');
  });

  it('a new signing key rewrites the snapshots, and a manual run writes one whatever changed', async () => {
    await settle();
    const signingKey = parseSigningKey(generateSigningKey());
    const rotated = { ...h.exportCtx, signingKey };
    expect((await scheduled('settings', rotated)).snapshot).toBe('written');
    expect((await peekHeader(file('settings')))?.key_id).toBe(signingKey.id);
    expect((await scheduled('settings', rotated)).snapshot).toBe('unchanged');
    const before = await identityOf(file('settings'));
    const manual = await runResponseTask(rotated, TASK.settings, { snapshot: true, rewrite: true });
    expect(manual.snapshot).toBe('written');
    expect(await identityOf(file('settings'))).not.toBe(before);
  });
});
