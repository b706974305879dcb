import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { batchFileName, generateSigningKey, parseSigningKey } from '../../src/exchange/index.js';
import type { SyncStatus } from '../../src/request/sync/sync-status.js';
import { post } from '../helpers/cli.js';
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
import { readOnlyUnsupported } from '../helpers/read-only.js';
import { waitFor } from '../helpers/system.js';

vi.setConfig({ testTimeout: 300_000, hookTimeout: 300_000 });

const unsupported = readOnlyUnsupported();
if (unsupported) console.log(`[netsync tests] two-networks test skipped: ${unsupported}`);

const EXPORT_INTERVAL_S = 2;

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
  /** Writes a file into A as the Response side would (temporary name, then rename): the copier carries it. */
  const dropIntoA = (stream: string, name: string, text: string) => {
    fs.mkdirSync(path.join(A, stream), { recursive: true });
    const tmp = path.join(A, stream, `.${name}.forged`);
    fs.writeFileSync(tmp, text, { mode: 0o600 });
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
    const token = (await loginOn(late, 'ana', 'Tulip-key-3')) as string;
    const names = async (m: Machine, t: string) =>
      (await getJson<{ username: string }[]>(m, '/users?limit=1000', t)).body.map((u) => u.username).sort();
    expect(await names(late, token)).toEqual(await names(response, admin));
  });

  it('never wrote under B: no Request process logged a refused write', async () => {
    for (const m of requests) {
      expect(m.running?.output()).not.toMatch(/EROFS|EACCES|read-only file system/i);
    }
  });
});
