import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchFileName, streamDir } from '../../src/exchange/index.js';
import { runCli } from '../helpers/cli.js';
import {
  exportsSettled,
  lastSeq,
  makeUser,
  openHandles,
  requestToken,
  type SyncHandles,
} from '../helpers/sync-data.js';
import { bearer, sideEnv, startSystem, type TestSystem } from '../helpers/system.js';

/** `netsync sync status` reads the Request database and folder itself: the same report as GET /sync/status. */
describe('netsync sync status', () => {
  let sys: TestSystem;
  let h: SyncHandles;
  let token: string;

  beforeAll(async () => {
    sys = await startSystem({ watch: false });
    h = await openHandles(sys);
    await makeUser(sys, 'carol');
    await exportsSettled(h.response.kysely, ['users']);
    await h.importer.importAll();
    token = await requestToken(sys.request, 'carol', 1000);
    // A damaged copy of the next password batch: refused, and counted.
    const next = (await lastSeq(h.response.kysely, 'password_changes')) + 1;
    const dir = streamDir(sys.env.config.exchangeDir, 'password_changes');
    await fs.mkdir(dir, { recursive: true });
    await fs.writeFile(path.join(dir, batchFileName(next)), '{"header": not json');
    await h.importer.importAll();
  });
  afterAll(async () => {
    await h?.close();
    await sys?.stop();
  });

  const cli = async (args: string[]) => {
    const run = runCli(['sync', 'status', ...args], sideEnv(sys.env.env, 'request'), sys.env.dir);
    expect(await run.exited, run.output()).toBe(0);
    return run.output();
  };

  it('prints the same per-stream numbers as GET /sync/status, as JSON', async () => {
    const api = (await sys.request.inject({ url: '/sync/status', headers: bearer(token) })).json();
    const printed = JSON.parse(await cli(['--json']));
    for (const stream of ['users', 'password_changes', 'settings', 'profile_types'] as const) {
      const { lag_seconds: _a, ...fromApi } = api.streams[stream];
      const { lag_seconds: _b, ...fromCli } = printed.streams[stream];
      expect(fromCli).toEqual(fromApi);
    }
    expect(printed.streams.users.last_seq).toBeGreaterThan(0);
    expect(printed.streams.users.last_key_id).toBe(h.exportCtx.signingKey.id);
    expect(printed.streams.password_changes.quarantine.count).toBe(1);
  });

  it('prints a table a person reads: one line per stream', async () => {
    const lines = (await cli([])).trim().split('\n');
    expect(lines[0]).toMatch(
      /^STREAM\s+APPLIED\s+NEWEST\s+BEHIND\s+LAG S\s+WAITING FOR\s+REFUSED\s+LAST FILE\s+KEY ID\s+APPLIED AT$/,
    );
    const columns = (stream: string) => lines.find((l) => l.startsWith(`${stream} `))?.split(/\s{2,}/) ?? [];
    const [, applied, newest, behind] = columns('users');
    expect(Number(applied)).toBeGreaterThan(0);
    expect(newest).toBe(applied);
    expect(behind).toBe('0');
    expect(columns('password_changes')[6]).toBe('1'); // REFUSED
    expect(columns('settings')[6]).toBe('0');
    expect(columns('users')[8]).toBe(h.exportCtx.signingKey.id); // KEY ID
    // Under the table: the heartbeat (none written in this test, and not yet 3 intervals of looking).
    expect(lines).toContain('heartbeat   no heartbeat yet');
    // Below, the refused files with their reasons.
    const refused = lines.findIndex((l) => l.startsWith('REFUSED FILE'));
    expect(refused).toBeGreaterThan(4);
    expect(lines[refused + 1]).toMatch(
      /^\S+\/password_changes\/\S+\s+password_changes\s+truncated\s+\S+\s+no header line$/,
    );
  });

  it('reports the Request side by default where no signing key is configured, and with --side request', async () => {
    const byDefault = JSON.parse(await cli(['--json']));
    const asked = JSON.parse(await cli(['--side', 'request', '--json']));
    expect(asked.streams.users.last_seq).toBe(byDefault.streams.users.last_seq);
    expect(byDefault.side).toBeUndefined(); // the same document as GET /sync/status
  });
});
