import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { batchFileName, type Stream, streamDir, writeExchangeFile } from '../../src/exchange/index.js';
import { runResponseTask } from '../../src/response/tasks/registry.js';
import { changePassword, createUser } from '../../src/response/users/users.service.js';
import {
  exportCtx,
  fakeHash,
  importerFor,
  openRequestDb,
  openResponseDb,
  pcRecord,
  requestCredentials,
  signerOf,
  TEST_GENERATION,
  userRec,
} from '../helpers/exchange.js';
import { dialects, type TestEnv, testEnv } from '../helpers/system.js';

async function batch(env: TestEnv, stream: Stream, seq: number, records: unknown[], requires?: Record<string, number>) {
  const written = await writeExchangeFile(
    streamDir(env.config.exchangeDir, stream),
    batchFileName(seq),
    {
      kind: 'batch',
      stream,
      seq,
      generation: TEST_GENERATION,
      created_at: new Date().toISOString(),
      ...(requires ? { requires } : {}),
    },
    records.map((r) => JSON.stringify(r)),
    signerOf(env),
  );
  return written.path;
}

describe.each(dialects())('password changes and the users they name (%s)', (dialect) => {
  let env: TestEnv;
  afterEach(() => env.cleanup());

  it('stamps each password batch with the users batches that hold its users, written first', async () => {
    env = testEnv(dialect);
    const resp = await openResponseDb(env);
    const user = await createUser(resp.kysely, { username: 'ann', hashedPassword: fakeHash('a1') });
    await changePassword(resp.kysely, user.id, fakeHash('a2'));
    // Only the password task runs: it must still send the user it names.
    const result = await runResponseTask(exportCtx(env, resp.kysely), 'sync_password_to_request_network', {});
    expect(result.files.map((f) => f.replace(env.config.exchangeDir, ''))).toEqual([
      '/users/000000000001.json',
      '/password_changes/000000000001.json',
    ]);
    const header = JSON.parse(fs.readFileSync(result.files[1] as string, 'utf8')).header;
    expect(header.requires).toEqual({ users: 1 });
    const req = await openRequestDb(env);
    await importerFor(env, req.kysely).importAll();
    expect((await requestCredentials(req.kysely)).get(user.id)?.password_version).toBe(2);
    await resp.close();
    await req.close();
  });

  it('waits for a users batch it requires, then applies both', async () => {
    env = testEnv(dialect);
    const req = await openRequestDb(env);
    const id = randomUUID();
    const pw = await batch(env, 'password_changes', 1, [pcRecord(id, 2)], { users: 1 });
    const importer = importerFor(env, req.kysely);
    let result = await importer.importAll();
    expect(result.quarantined).toEqual([]);
    expect(fs.existsSync(pw)).toBe(true);
    expect((await requestCredentials(req.kysely)).has(id)).toBe(false);

    await batch(env, 'users', 1, [userRec(id, 'late', 1)]);
    result = await importer.importAll();
    expect(result.applied).toEqual({ users: 1, password_changes: 1 });
    expect((await requestCredentials(req.kysely)).get(id)?.password_version).toBe(2);
    expect(fs.existsSync(pw)).toBe(true); // applied, and left where it is: the Request side only reads
    await req.close();
  });

  it('refuses and quarantines a batch naming a user the users stream never had', async () => {
    env = testEnv(dialect);
    const req = await openRequestDb(env);
    const known = randomUUID();
    await batch(env, 'users', 1, [userRec(known, 'known', 1)]);
    const ghost = randomUUID();
    await batch(env, 'password_changes', 1, [pcRecord(known, 2), pcRecord(ghost, 2)], { users: 1 });
    const result = await importerFor(env, req.kysely).importAll();
    expect(result.quarantined).toHaveLength(1);
    const logged = await req.kysely.selectFrom('quarantine_log').selectAll().execute();
    expect(logged).toMatchObject([{ stream: 'password_changes', code: 'unknown_user' }]);
    expect(logged[0]?.reason).toContain(ghost);
    // Nothing of the file applied: the known user's password did not move either.
    expect((await requestCredentials(req.kysely)).get(known)?.password_version).toBe(1);
    await req.close();
  });
});
