import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { batchFileName, generateSigningKey, parseSigningKey } from '../../src/exchange/index.js';
import type { SyncStatus } from '../../src/request/sync/sync-status.js';
import { post, runCli } from '../helpers/cli.js';
import { craftFile, freshSigningKey, pcRecord } from '../helpers/exchange.js';
import {
  type Copier,
  environOfTree,
  filesContaining,
  getJson,
  loginOn,
  type Machine,
  machine,
  startCopier,
  startMachine,
  stopMachine,
  tempRoot,
} from '../helpers/machines.js';
import { READ_ONLY, readOnlyUnsupported } from '../helpers/read-only.js';
import { waitFor } from '../helpers/system.js';

vi.setConfig({ testTimeout: 300_000, hookTimeout: 300_000 });

const unsupported = readOnlyUnsupported();
if (unsupported) console.log(`[netsync tests] two-networks test skipped: ${unsupported}`);

const EXPORT_INTERVAL_S = 2;
/** Small, so a restore that drops a few accounts trips the safety valve. */
const MAX_ACCOUNT_REMOVALS = 3;

/**
 * Issue 10's acceptance, end to end: two networks that share nothing but files. A Response side (its own
 * folder, database and Redis) writes folder A; a copier mirrors A onto B; Request sides (each with its own
 * folder, database and Redis) read B through a read-only view the operating system enforces. Each side
 * runs as `netsync up <side>` would on a machine of its own.
 */
describe.skipIf(unsupported !== undefined)('two networks that share nothing but files', () => {
  let root: string;
  let A: string;
  let B: string;
  let response: Machine;
  const requests: Machine[] = [];
  let copier: Copier | undefined;
  let admin: string;
  const signing = generateSigningKey();
  const trusted = parseSigningKey(signing).publicKey;

  beforeAll(async () => {
    root = tempRoot();
    A = path.join(root, 'A');
    B = path.join(root, 'B');
    fs.mkdirSync(A, { recursive: true });
    fs.mkdirSync(B, { recursive: true });
    response = await machine(root, 'response', 'response', {
      EXPORT_DIR: A,
      EXCHANGE_SIGNING_KEY: signing,
      ADMIN_USERNAME: 'admin',
      ADMIN_PASSWORD: 'Admin-pass-1',
      EXPORT_INTERVAL_S: String(EXPORT_INTERVAL_S),
      // Batches go as soon as a snapshot carries them: a late Request side must catch up from snapshots.
      EXCHANGE_RETENTION_S: '0',
    });
    for (const name of ['request-1', 'request-2']) requests.push(await requestMachine(name));
    copier = startCopier(A, B);
    await Promise.all([startMachine(response, 'response'), ...requests.map((m) => startMachine(m, 'request'))]);
    admin = (await loginOn(response, 'admin', 'Admin-pass-1')) as string;
    expect(admin).toBeDefined();
  });

  afterAll(async () => {
    await copier?.stop();
    await Promise.all([response, ...requests].filter(Boolean).map(stopMachine));
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  const requestMachine = (name: string) =>
    machine(root, name, 'request', {
      EXPORT_DIR: B,
      RO_DIR: B,
      EXCHANGE_TRUSTED_KEYS: trusted.text,
      EXPORT_INTERVAL_S: String(EXPORT_INTERVAL_S),
      MAX_ACCOUNT_REMOVALS: String(MAX_ACCOUNT_REMOVALS),
    });
  const createUser = async (username: string, password: string) => {
    const res = await post(`${response.baseUrl}/users`, { username, password }, admin);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body.id as string;
  };
  const resetPassword = async (id: string, password: string) => {
    const res = await post(`${response.baseUrl}/users/${id}/reset-password`, { new_password: password }, admin);
    expect(res.status).toBe(200);
  };
  const untilLogin = (m: Machine, username: string, password: string) =>
    waitFor(async () => (await loginOn(m, username, password)) !== undefined, 60_000, `${username} on ${m.name}`);
  const statusOf = async (m: Machine, token: string) => {
    const res = await getJson<SyncStatus>(m, '/sync/status', token);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return res.body;
  };
  /**
   * Writes a file into A as the Response side would (temporary name, then rename): the copier carries it.
   * Each gets a modification time a second past the last one's: rsync's quick check skips a file whose
   * size and time (to the second) are unchanged, and two forgeries of one name are the same size.
   */
  let lastDrop = 0;
  const dropIntoA = (stream: string, name: string, text: string) => {
    fs.mkdirSync(path.join(A, stream), { recursive: true });
    const tmp = path.join(A, stream, `.${name}.forged`);
    fs.writeFileSync(tmp, text, { mode: 0o600 });
    lastDrop = Math.max(Math.floor(Date.now() / 1000), lastDrop + 1);
    fs.utimesSync(tmp, lastDrop, lastDrop);
    fs.renameSync(tmp, path.join(A, stream, name));
  };
  let ana: string;

  it('carries a new user and a password reset to both Request sides', async () => {
    ana = await createUser('ana', 'Tulip-key-1');
    for (const m of requests) await untilLogin(m, 'ana', 'Tulip-key-1');
    await resetPassword(ana, 'Tulip-key-2');
    for (const m of requests) await untilLogin(m, 'ana', 'Tulip-key-2');
    for (const m of requests) expect(await loginOn(m, 'ana', 'Tulip-key-1')).toBeUndefined();
  });

  it('refuses on both, and applies on neither, a file signed with a key they do not trust — or by a Request side', async () => {
    // The Request sides' processes and data hold no private key: nothing there can sign.
    for (const m of requests) {
      expect(environOfTree(m.running?.child.pid as number).filter((v) => v.includes('ed25519-private:'))).toEqual([]);
      expect(filesContaining(m.env.DATA_DIR as string, 'ed25519-private:')).toEqual([]);
    }
    // Two forgeries of the next password batch, each setting ana's password to one the forger knows: one
    // signed with a key nobody trusts, one claiming the trusted key's id (the best a Request machine, which
    // holds that public key, could do).
    const forgeries = [
      { code: 'unknown_key', key: freshSigningKey(), header: {} },
      { code: 'bad_signature', key: freshSigningKey(), header: { key_id: trusted.id } },
    ];
    // Both under the name of the batch the Request sides wait for next: the second replaces the first, as
    // a copier replaces a changed file.
    // (From the Request sides' position: the folder may hold no batch at all once pruning has run.)
    const tokens = await Promise.all(requests.map((m) => loginOn(m, 'ana', 'Tulip-key-2')));
    const positions = await Promise.all(
      requests.map(async (m, i) => (await statusOf(m, tokens[i] as string)).streams.password_changes.last_seq),
    );
    const seq = Math.max(...positions) + 1;
    const name = batchFileName(seq);
    for (const f of forgeries) {
      const text = craftFile(
        { stream: 'password_changes', seq, ...f.header },
        [JSON.stringify(pcRecord(ana, 99))],
        f.key,
      );
      dropIntoA('password_changes', name, text);
      for (const [i, m] of requests.entries()) {
        await waitFor(
          async () => {
            const refused = (await statusOf(m, tokens[i] as string)).streams.password_changes.quarantine.recent;
            return refused.some((r) => r.code === f.code);
          },
          60_000,
          `${m.name} to refuse the ${f.code} forgery`,
        );
      }
      // Applied on neither: ana's password is still the one the Response side set.
      for (const m of requests) expect(await loginOn(m, 'ana', 'Tulip-key-2')).toBeDefined();
    }
    // The Response side's next batch takes the forged name; both Request sides apply it.
    await resetPassword(ana, 'Tulip-key-3');
    for (const m of requests) await untilLogin(m, 'ana', 'Tulip-key-3');
  });

  it('brings a Request side started after the early batches were pruned up to date from the snapshots', async () => {
    const bob = await createUser('bob', 'Maple-key-1');
    await resetPassword(bob, 'Maple-key-2');
    await waitFor(
      async () => !fs.existsSync(path.join(B, 'users', batchFileName(1))),
      60_000,
      'the first users batch to be pruned and the pruning mirrored',
    );
    const late = await requestMachine('request-3');
    requests.push(late);
    await startMachine(late, 'request');
    await untilLogin(late, 'bob', 'Maple-key-2');
    await untilLogin(late, 'ana', 'Tulip-key-3');
    // Only an admin sees every synced user on a Request side.
    await untilLogin(late, 'admin', 'Admin-pass-1');
    const token = (await loginOn(late, 'admin', 'Admin-pass-1')) as string;
    const names = async (m: Machine, t: string) =>
      (await getJson<{ username: string }[]>(m, '/users?limit=1000', t)).body.map((u) => u.username).sort();
    expect(await names(late, token)).toEqual(await names(response, admin));
  });

  it('shows both Request sides stale within three export intervals of the copier stopping, and fresh once it runs again', async () => {
    const tokens = await Promise.all(requests.map((m) => loginOn(m, 'ana', 'Tulip-key-3')));
    const stale = async (m: Machine, i: number) => (await statusOf(m, tokens[i] as string)).stale;
    for (const [i, m] of requests.entries()) {
      await waitFor(async () => !(await stale(m, i)), 60_000, `${m.name} to be fresh`);
    }
    await copier?.stop();
    const stoppedAt = performance.now();
    // The newest heartbeat a Request side can hold was written before the copier stopped: three intervals
    // later at most it is stale (plus a little for the polling and a copy that was under way).
    const deadline = 3 * EXPORT_INTERVAL_S * 1000 + 2000;
    await Promise.all(requests.map((m, i) => waitFor(() => stale(m, i), deadline, `${m.name} to report stale`)));
    console.log(
      `[two networks] stale on every Request side ${Math.round(performance.now() - stoppedAt)} ms after the copier stopped (interval ${EXPORT_INTERVAL_S} s)`,
    );
    for (const m of requests) expect((await getJson(m, '/ready')).status).toBe(503);
    copier = startCopier(A, B);
    for (const [i, m] of requests.entries()) {
      await waitFor(async () => !(await stale(m, i)), 60_000, `${m.name} to be fresh again`);
      expect((await getJson(m, '/ready')).status).toBe(200);
    }
  });

  it('after the Response database is replaced by an older backup, later changes still arrive; the accounts it drops wait for a confirmation', async () => {
    const db = path.join(response.env.DATA_DIR as string, 'response.sqlite');
    const backup = path.join(root, 'response-backup.sqlite');
    const live = new Database(db, { readonly: true });
    await live.backup(backup);
    live.close();
    // After the backup: four accounts (more than MAX_ACCOUNT_REMOVALS) and a reset of ana, all applied.
    const late = ['cyrus', 'darya', 'elham', 'farid'];
    for (const name of late) await createUser(name, 'Later-key-1');
    await resetPassword(ana, 'Tulip-key-4');
    for (const m of requests) {
      for (const name of late) await untilLogin(m, name, 'Later-key-1');
      await untilLogin(m, 'ana', 'Tulip-key-4');
    }

    // The restore, as an operator does it: stop, put the backup in place, give it a new generation, start.
    await stopMachine(response);
    for (const f of [db, `${db}-wal`, `${db}-shm`]) fs.rmSync(f, { force: true });
    fs.copyFileSync(backup, db);
    const made = runCli(['generation', 'new'], response.env, response.dir);
    expect(await made.exited, made.output()).toBe(0);
    await startMachine(response, 'response');
    admin = (await loginOn(response, 'admin', 'Admin-pass-1')) as string;
    // ana's password version is now lower than what the Request sides applied before the restore.
    await resetPassword(ana, 'Tulip-key-5');
    await createUser('golnar', 'Newer-key-1');

    // The new generation's users snapshot would remove the four accounts the backup lacks: held on each.
    const tokens = await Promise.all(requests.map((m) => loginOn(m, 'admin', 'Admin-pass-1')));
    for (const [i, m] of requests.entries()) {
      await waitFor(
        async () => (await statusOf(m, tokens[i] as string)).held.some((h) => h.removals === late.length),
        60_000,
        `${m.name} to hold the snapshot that drops ${late.length} accounts`,
      );
      expect(await loginOn(m, 'cyrus', 'Later-key-1')).toBeDefined(); // nothing removed yet
    }
    for (const m of requests) {
      const confirm = runCli(['sync', 'confirm', 'users/users_latest.json'], m.env, m.dir, READ_ONLY);
      expect(await confirm.exited, confirm.output()).toBe(0);
      expect(confirm.output()).toContain(`deactivates ${late.length} accounts`);
    }
    for (const m of requests) {
      await untilLogin(m, 'ana', 'Tulip-key-5');
      await untilLogin(m, 'golnar', 'Newer-key-1');
      expect(await loginOn(m, 'ana', 'Tulip-key-4')).toBeUndefined();
      for (const name of late) expect(await loginOn(m, name, 'Later-key-1')).toBeUndefined();
    }
  });

  it('never wrote under B: no Request process logged a refused write', async () => {
    for (const m of requests) {
      expect(m.running?.output()).not.toMatch(/EROFS|EACCES|read-only file system/i);
    }
  });
});
