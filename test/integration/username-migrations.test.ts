import { randomUUID } from 'node:crypto';
import type { Kysely, Migration } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { type Db, migrate, openDb } from '../../src/platform/db.js';
import { requestMigrations } from '../../src/request/db/migrations.js';
import type { RequestDatabase } from '../../src/request/db/schema.js';
import { findAccount } from '../../src/request/users/users.repository.js';
import { responseMigrations } from '../../src/response/db/migrations.js';
import type { ResponseDatabase } from '../../src/response/db/schema.js';
import { findUserByName, insertUser } from '../../src/response/users/users.repository.js';
import { dialects, type TestEnv, testEnv } from '../helpers/system.js';

/** The migrations that ran before `name`, as a database made by the previous version holds them. */
const migrationsBefore = (all: Record<string, Migration>, name: string) =>
  Object.fromEntries(Object.entries(all).filter(([n]) => n < name));

const NOW = '2026-01-01T00:00:00.000Z';
const HASH = `$2b$04$${'a'.repeat(53)}`;

async function addResponseUser(db: Kysely<ResponseDatabase>, username: string, deleted = false) {
  // Written as the previous version wrote it: no username_key column yet.
  await (db as unknown as Kysely<Record<string, Record<string, unknown>>>)
    .insertInto('users')
    .values({
      id: randomUUID(),
      username,
      email: null,
      hashed_password: HASH,
      is_admin: 0,
      is_active: 1,
      profile_type_id: null,
      created_at: NOW,
      updated_at: NOW,
      deleted_at: deleted ? NOW : null,
      version: 1,
      password_version: 1,
      password_changed_at: NOW,
    })
    .execute();
}

describe.each(dialects())('upgrading to usernames compared without regard to case (%s)', (dialect) => {
  let env: TestEnv;
  const open: Db<unknown>[] = [];
  afterEach(async () => {
    for (const db of open.splice(0)) await db.close();
    await env?.cleanup();
  });

  it('the Response side gives existing users their key: they log in in any case, and a clash is refused after', async () => {
    env = testEnv(dialect);
    const db = await openDb<ResponseDatabase>(env.config.responseDatabaseUrl);
    open.push(db as Db<unknown>);
    const all = responseMigrations(db.dialect);
    await migrate(db, migrationsBefore(all, '0007_username_key'));
    await addResponseUser(db.kysely, 'Alice');
    await addResponseUser(db.kysely, 'bob', true);
    await addResponseUser(db.kysely, 'BOB'); // a deleted user's name, taken again in another case
    await migrate(db, all);
    expect((await findUserByName(db.kysely, 'ALICE'))?.username).toBe('Alice');
    expect((await findUserByName(db.kysely, 'Bob'))?.username).toBe('BOB');
    await expect(insertUser(db.kysely, { username: 'alice', hashedPassword: HASH })).rejects.toThrow();
  });

  it('the Response side stops, naming them, when two live users differ only in case', async () => {
    env = testEnv(dialect);
    const db = await openDb<ResponseDatabase>(env.config.responseDatabaseUrl);
    open.push(db as Db<unknown>);
    const all = responseMigrations(db.dialect);
    await migrate(db, migrationsBefore(all, '0007_username_key'));
    await addResponseUser(db.kysely, 'John');
    await addResponseUser(db.kysely, 'john');
    await expect(migrate(db, all)).rejects.toThrow(/differ only in case or form: "John" and "john"/);
  });

  it('the Request side gives synced users their key, so they log in in any case', async () => {
    env = testEnv(dialect);
    const db = await openDb<RequestDatabase>(env.config.requestDatabaseUrl);
    open.push(db as Db<unknown>);
    await migrate(db, migrationsBefore(requestMigrations, '0006_username_key'));
    const id = randomUUID();
    const raw = db.kysely as unknown as Kysely<Record<string, Record<string, unknown>>>;
    await raw
      .insertInto('users')
      .values({
        id,
        username: 'Carol',
        email: null,
        is_active: 1,
        is_admin: 0,
        profile_type_id: null,
        created_at: NOW,
        updated_at: NOW,
        deleted_at: null,
        version: 1,
        synced_at: NOW,
      })
      .execute();
    await raw
      .insertInto('credentials')
      .values({ user_id: id, hashed_password: HASH, password_version: 1, changed_at: NOW, synced_at: NOW })
      .execute();
    await migrate(db, requestMigrations);
    expect((await findAccount(db.kysely, 'CAROL'))?.id).toBe(id);
  });
});
