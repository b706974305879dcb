import { type Kysely, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Db, openDb } from '../../src/platform/db.js';
import { precompiled } from '../../src/platform/precompiled.js';
import { dialects, testEnv } from '../helpers/system.js';

interface T {
  t: { id: string; name: string | null; n: number };
}

const insert = precompiled((db: Kysely<T>, id: string, name: string | null) =>
  db.insertInto('t').values({ id, name, n: 0 }),
);
// Values out of the order they appear in the SQL, and a constant (the 1) between them.
const bump = precompiled((db: Kysely<T>, name: string | null, id: string) =>
  db
    .updateTable('t')
    .set((eb) => ({ name, n: eb('n', '+', 1) }))
    .where('id', '=', id)
    .returning(['id', 'name', 'n']),
);

describe.each(dialects())('precompiled queries (%s)', (dialect) => {
  const env = testEnv(dialect);
  let db: Db<T>;
  beforeAll(async () => {
    db = await openDb<T>(env.config.responseDatabaseUrl);
    await sql`create table t (id text primary key, name text, n integer not null)`.execute(db.kysely);
  });
  afterAll(async () => {
    await db.close();
    await env.cleanup();
  });

  it('runs with each call its own values, in and out of a transaction, as the query builder would', async () => {
    await insert(db.kysely, 'a', 'first');
    await db.kysely.transaction().execute(async (trx) => {
      await insert(trx, 'b', null);
      await insert(trx, 'c', 'third');
    });
    expect((await bump(db.kysely, 'changed', 'b')).rows).toEqual([{ id: 'b', name: 'changed', n: 1 }]);
    expect((await bump(db.kysely, null, 'b')).rows).toEqual([{ id: 'b', name: null, n: 2 }]);
    expect((await bump(db.kysely, 'x', 'nobody')).rows).toEqual([]);
    expect(await db.kysely.selectFrom('t').selectAll().orderBy('id').execute()).toEqual([
      { id: 'a', name: 'first', n: 0 },
      { id: 'b', name: null, n: 2 },
      { id: 'c', name: 'third', n: 0 },
    ]);
  });

  it('reads with each call its own values, and the constants it was built with stay', async () => {
    const byNameAndId = precompiled((d: Kysely<T>, name: string, id: string) =>
      d.selectFrom('t').select(['id', 'name']).where('id', '=', id).where('n', '=', 0).where('name', '=', name),
    );
    expect((await byNameAndId(db.kysely, 'first', 'a')).rows).toEqual([{ id: 'a', name: 'first' }]);
    expect((await byNameAndId(db.kysely, 'third', 'c')).rows).toEqual([{ id: 'c', name: 'third' }]);
    expect((await byNameAndId(db.kysely, 'third', 'a')).rows).toEqual([]);
    // `n = 0` was built in: b (n = 2) stays out whatever is asked.
    await db.kysely.updateTable('t').set({ name: 'second' }).where('id', '=', 'b').execute();
    expect((await byNameAndId(db.kysely, 'second', 'b')).rows).toEqual([]);
  });

  it('refuses a query that leaves a value out', async () => {
    const dropsOne = precompiled((d: Kysely<T>, id: string, _unused: string) => d.selectFrom('t').where('id', '=', id));
    await expect(dropsOne(db.kysely, 'a', 'b')).rejects.toThrow(/uses 1 of 2 values/);
  });
});
