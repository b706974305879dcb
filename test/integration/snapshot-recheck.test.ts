import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { streamDir } from '../../src/exchange/index.js';
import type { Db } from '../../src/platform/db.js';
import type { RequestDatabase } from '../../src/request/db/schema.js';
import type { Importer } from '../../src/request/importer/importer.js';
import { importerFor, openRequestDb, requestCredentials, userRec, writeUsersSnapshot } from '../helpers/exchange.js';
import { type TestEnv, testEnv } from '../helpers/system.js';

/**
 * The importer remembers a snapshot file it found already applied and does not read it again while the
 * file and the applied stamps stay as they were. Whatever changes the file must still be seen.
 */
describe('a snapshot the importer remembers as applied', () => {
  let env: TestEnv;
  let db: Db<RequestDatabase>;
  let importer: Importer;
  const alice = randomUUID();
  const file = () => path.join(streamDir(env.config.exchangeDir, 'users'), 'users_latest.json');

  beforeEach(async () => {
    env = testEnv('sqlite');
    db = await openRequestDb(env);
    importer = importerFor(env, db.kysely);
    await writeUsersSnapshot(env, [userRec(alice, 'alice', 3)], { users: 1, password_changes: 2 });
    expect((await importer.importAll()).files).toEqual([file()]);
    // Found already applied (and remembered) on this pass, skipped on the next.
    expect(await importer.importAll()).toMatchObject({ files: [], quarantined: [] });
    expect(await importer.importAll()).toMatchObject({ files: [], quarantined: [] });
  });
  afterEach(async () => {
    await db.close();
    await env.cleanup();
  });

  it('is read again when altered in place, even with its size and modification time put back (as utimes can)', async () => {
    const st = await fs.stat(file());
    const text = await fs.readFile(file(), 'utf8');
    // The header (what every pass authenticates; records are checked only when a snapshot is applied).
    const [header, ...rest] = text.split('\n');
    const altered = (header as string).replace(/"count":1/, '"count":2');
    expect(altered).not.toBe(header);
    await fs.writeFile(file(), [altered, ...rest].join('\n'));
    await fs.utimes(file(), st.atime, st.mtime);
    const result = await importer.importAll();
    expect(result.quarantined).toHaveLength(1);
    expect((await requestCredentials(db.kysely)).get(alice)?.password_version).toBe(3);
  });

  it('is read again when a newer one replaces it, and applied', async () => {
    await writeUsersSnapshot(env, [userRec(alice, 'alice', 4)], { users: 1, password_changes: 3 });
    expect((await importer.importAll()).files).toEqual([file()]);
    expect((await requestCredentials(db.kysely)).get(alice)?.password_version).toBe(4);
  });

  it('is judged again when the applied stamps moved past it, and refused as a replay', async () => {
    await db.kysely.updateTable('import_streams').set({ snapshot_seq: 5 }).where('stream', '=', 'users').execute();
    const result = await importer.importAll();
    expect(result.quarantined).toHaveLength(1);
  });
});
