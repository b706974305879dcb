import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { generateSigningKey, parseSigningKey } from '../../src/exchange/keys.js';
import { loadConfig } from '../../src/platform/config.js';
import { resolveSecrets, secretsFile } from '../../src/platform/secrets.js';
import {
  craftFile,
  importerFor,
  openRequestDb,
  pcRecord,
  requestCredentials,
  userRec,
  writeBatch,
  writeUsersSnapshot,
} from '../helpers/exchange.js';
import { sideEnv, type TestEnv, testEnv } from '../helpers/system.js';

/**
 * The Request side verifies with public keys and holds nothing that signs. What a
 * Request process has (its configuration and secrets) cannot make a file another Request side accepts,
 * and a key is rotated by trusting the new one beside the old before signing with it.
 */
describe('signing keys across the two sides', () => {
  const envs: TestEnv[] = [];
  afterEach(async () => {
    for (const e of envs.splice(0)) await e.cleanup();
  });
  const fresh = (extra: Record<string, string> = {}) => {
    const e = testEnv('sqlite', extra);
    envs.push(e);
    return e;
  };

  it('a Request process holds no private key, even where `netsync up` kept one', () => {
    const env = fresh();
    // `netsync up` ran in this folder once: the kept file holds both halves.
    resolveSecrets(loadConfig({ DATA_DIR: env.config.dataDir }), { makeSigningKey: true });
    const kept = JSON.parse(fs.readFileSync(secretsFile(env.config.dataDir), 'utf8'));
    expect(kept.exchangeSigningKey).toMatch(/^ed25519-private:/);

    // A Request part started here alone: it trusts the kept public key and never loads the private one.
    const config = loadConfig({ DATA_DIR: env.config.dataDir });
    const secrets = resolveSecrets(config, { makeSigningKey: false, side: 'request' });
    expect(secrets.exchangeSigningKey).toBeUndefined();
    expect(secrets.exchangeTrustedKeys?.map((k) => k.text)).toEqual([kept.exchangeTrustedKeys]);
    // A Response part alone signs with the kept key and trusts nothing.
    const response = resolveSecrets(config, { makeSigningKey: false, side: 'response' });
    expect(response.exchangeSigningKey?.publicKey.text).toBe(kept.exchangeTrustedKeys);
    expect(response.exchangeTrustedKeys).toBeUndefined();

    // What a Request side is configured with is only public text, which does not parse as a signing key.
    const requestEnv = sideEnv(env.env, 'request');
    expect(requestEnv.EXCHANGE_SIGNING_KEY).toBeUndefined();
    expect(() => parseSigningKey(requestEnv.EXCHANGE_TRUSTED_KEYS as string)).toThrow(/is a public key/);
    expect(() => loadConfig({ EXCHANGE_TRUSTED_KEYS: env.env.EXCHANGE_SIGNING_KEY })).toThrow(
      /^EXCHANGE_TRUSTED_KEYS: the key is a private signing key/,
    );
  });

  it('what a Request side can sign (its own new key) is refused on another Request side, and applies nothing', async () => {
    const env = fresh();
    const db = await openRequestDb(env);
    try {
      const importer = importerFor(env, db.kysely);
      const alice = randomUUID();
      await writeUsersSnapshot(env, [userRec(alice, 'alice', 1)], { users: 1, password_changes: 0 });
      await importer.importAll();
      // The best a Request host can do: make a key pair of its own, and sign with it, even under the
      // trusted key's id.
      const forger = parseSigningKey(generateSigningKey());
      await writeBatch(env, 'password_changes', 1, [pcRecord(alice, 5)], forger);
      const dir = path.join(env.config.exchangeDir, 'settings');
      fs.mkdirSync(dir, { recursive: true });
      const trustedId = env.config.exchangeTrustedKeys?.[0]?.id as string;
      fs.writeFileSync(
        path.join(dir, '000000000001.json'),
        craftFile({ stream: 'settings', seq: 1, key_id: trustedId }, [], forger),
      );
      const result = await importer.importAll();
      expect(result.quarantined).toHaveLength(2);
      const codes = await db.kysely.selectFrom('quarantine_log').select(['stream', 'code']).orderBy('stream').execute();
      expect(codes).toEqual([
        { stream: 'password_changes', code: 'unknown_key' },
        { stream: 'settings', code: 'bad_signature' },
      ]);
      expect((await requestCredentials(db.kysely)).get(alice)?.password_version).toBe(1);
    } finally {
      await db.close();
    }
  });

  it('rotates: files of the old and the new key both apply while both are trusted; then only the new', async () => {
    const oldKey = parseSigningKey(generateSigningKey());
    const newKey = parseSigningKey(generateSigningKey());
    const env = fresh({ EXCHANGE_TRUSTED_KEYS: `${oldKey.publicKey.text},${newKey.publicKey.text}` });
    const db = await openRequestDb(env);
    try {
      const alice = randomUUID();
      await writeUsersSnapshot(env, [userRec(alice, 'alice', 1)], { users: 1, password_changes: 0 }, oldKey);
      // Batch 1 was signed before the switch, batch 2 after it: both are in the folder at once.
      await writeBatch(env, 'password_changes', 1, [pcRecord(alice, 2)], oldKey);
      await writeBatch(env, 'password_changes', 2, [pcRecord(alice, 3)], newKey);
      const both = await importerFor(env, db.kysely).importAll();
      expect(both.quarantined).toEqual([]);
      expect((await requestCredentials(db.kysely)).get(alice)?.password_version).toBe(3);
      // The first scheduled export after the switch re-signs the snapshot with the new key.
      await writeUsersSnapshot(env, [userRec(alice, 'alice', 3)], { users: 1, password_changes: 2 }, newKey);
      expect((await importerFor(env, db.kysely).importAll()).quarantined).toEqual([]);

      // The old key dropped from the list: a file it signed is now refused, the new key's still apply.
      const config = loadConfig({ ...env.env, EXCHANGE_TRUSTED_KEYS: newKey.publicKey.text });
      const newOnly = importerFor({ ...env, config }, db.kysely);
      await writeBatch(env, 'password_changes', 3, [pcRecord(alice, 4)], oldKey);
      const refused = await newOnly.importAll();
      expect(refused.quarantined).toHaveLength(1);
      expect(await db.kysely.selectFrom('quarantine_log').select('code').execute()).toEqual([{ code: 'unknown_key' }]);
      await writeUsersSnapshot(env, [userRec(alice, 'alice', 4)], { users: 1, password_changes: 3 }, newKey);
      expect((await newOnly.importAll()).quarantined).toEqual([]);
      expect((await requestCredentials(db.kysely)).get(alice)?.password_version).toBe(4);
    } finally {
      await db.close();
    }
  });
});
