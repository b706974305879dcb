import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchFileName, STREAMS, streamDir } from '../../src/exchange/index.js';
import { runResponseTask } from '../../src/response/tasks/registry.js';
import {
  exportsSettled,
  lastSeq,
  makeUser,
  openHandles,
  requestToken,
  type SyncHandles,
} from '../helpers/sync-data.js';
import { bearer, dialects, startSystem, type TestSystem } from '../helpers/system.js';

/** The importer is driven by hand (no watcher), so the test can open a gap and corrupt a file on purpose. */
describe.each(dialects())('GET /sync/status (%s)', (dialect) => {
  let sys: TestSystem;
  let h: SyncHandles;
  let token: string;
  const admin = () => bearer(sys.adminToken);

  beforeAll(async () => {
    sys = await startSystem({ dialect, watch: false });
    h = await openHandles(sys);
    await makeUser(sys, 'alice');
    await exportsSettled(h.response.kysely, ['users']);
    await h.importer.importAll();
    token = await requestToken(sys.request, 'alice', 1000);
  });
  afterAll(async () => {
    await h?.close();
    await sys?.stop();
  });

  const status = async () => {
    const res = await sys.request.inject({ url: '/sync/status', headers: bearer(token) });
    expect(res.statusCode).toBe(200);
    return res.json();
  };
  const settingsDir = () => streamDir(sys.env.config.exchangeDir, 'settings');
  const newSetting = async (key: string) => {
    const res = await sys.response.inject({
      method: 'POST',
      url: '/settings',
      headers: admin(),
      payload: { key, value: 1 },
    });
    expect(res.statusCode).toBe(201);
    await exportsSettled(h.response.kysely, ['settings']); // one batch file per setting
  };

  it('needs a token', async () => {
    expect((await sys.request.inject({ url: '/sync/status' })).statusCode).toBe(401);
    const bad = await sys.request.inject({ url: '/sync/status', headers: bearer('not.a.token') });
    expect(bad.statusCode).toBe(401);
  });

  it('reports every stream; a caught-up stream is 0 behind with the last file it applied', async () => {
    const s = await status();
    expect(Object.keys(s.streams).sort()).toEqual([...STREAMS].sort());
    const users = s.streams.users;
    const seq = await lastSeq(h.response.kysely, 'users');
    expect(seq).toBeGreaterThan(0);
    expect(users).toMatchObject({
      last_seq: seq,
      newest_seen: seq,
      behind: 0,
      lag_seconds: 0,
      waiting_for: null,
      waiting_since: null,
      last_file: batchFileName(seq),
      // The id `netsync keys show` prints for the key that signed it.
      last_key_id: h.exportCtx.signingKey.id,
      quarantine: { count: 0, recent: [] },
    });
    expect(Date.parse(users.last_applied_at)).toBeGreaterThan(0);
    expect(Date.parse(s.checked_at)).toBeGreaterThan(0);
    // Applied batch files stay in the folder (the Request side never deletes): they count as applied.
    expect(await fs.readdir(streamDir(sys.env.config.exchangeDir, 'users'))).toContain(batchFileName(seq));
  });

  it('shows a gap: how far behind, the batch it waits for, since when, and how old the oldest waiting file is', async () => {
    const base = await lastSeq(h.response.kysely, 'settings');
    for (const k of ['gap.a', 'gap.b', 'gap.c']) await newSetting(k);
    expect(await lastSeq(h.response.kysely, 'settings')).toBe(base + 3);
    await fs.rename(
      path.join(settingsDir(), batchFileName(base + 2)),
      path.join(sys.env.dir, 'held-back.json'), // lost on the way, for now
    );
    const imported = await h.importer.importAll();
    expect(imported.waiting.settings).toBe(base + 2);

    const s = (await status()).streams.settings;
    expect(s).toMatchObject({
      last_seq: base + 1,
      newest_seen: base + 3,
      behind: 2,
      waiting_for: base + 2,
      last_file: batchFileName(base + 1),
    });
    expect(Date.parse(s.waiting_since)).toBeGreaterThan(0);
    expect(s.lag_seconds).toBeGreaterThanOrEqual(0);
    await new Promise((r) => setTimeout(r, 50));
    expect((await status()).streams.settings.lag_seconds).toBeGreaterThanOrEqual(0.05);
  });

  it('lists quarantined files with code, reason and when; the count grows per refusal', async () => {
    const base = (await status()).streams.settings.last_seq as number;
    // A corrupted copy arrives under the missing batch's name.
    const good = await fs.readFile(path.join(settingsDir(), batchFileName(base + 2)), 'utf8');
    const corrupt = good.replace('"gap.c"', '"gap.x"');
    expect(corrupt).not.toBe(good);
    await fs.writeFile(path.join(settingsDir(), batchFileName(base + 1)), corrupt);
    const imported = await h.importer.importAll();
    expect(imported.quarantined).toHaveLength(1);

    const s = (await status()).streams.settings;
    expect(s.quarantine.count).toBe(1);
    expect(s.quarantine.recent).toHaveLength(1);
    const [entry] = s.quarantine.recent;
    expect(entry.code).toMatch(/^(bad_checksum|wrong_place)$/);
    expect(entry.reason).toEqual(expect.any(String));
    expect(entry.file).toContain(sys.env.config.quarantineDir);
    expect(Date.parse(entry.quarantined_at)).toBeGreaterThan(0);
    expect((await status()).streams.users.quarantine).toEqual({ count: 0, recent: [] });
    expect(s.waiting_for).toBe(base + 1); // still waiting: the refused file was no substitute
  });

  it('after a snapshot the stream is caught up again: 0 behind, nothing waited for', async () => {
    await runResponseTask(h.exportCtx, 'export_settings_to_request_network', { snapshot: true });
    await h.importer.importAll();
    const s = (await status()).streams.settings;
    const seq = await lastSeq(h.response.kysely, 'settings');
    expect(s).toMatchObject({
      last_seq: seq,
      snapshot_seq: seq,
      behind: 0,
      lag_seconds: 0,
      waiting_for: null,
      last_file: 'settings_latest.json',
    });
    const synced = await sys.request.inject({ url: '/settings?prefix=gap.', headers: bearer(token) });
    expect(synced.json().map((x: { key: string }) => x.key)).toEqual(['gap.a', 'gap.b', 'gap.c']);
  });
});
