import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { compiledQuery } from '../../src/platform/compiled-query.js';
import { type Db, openDb } from '../../src/platform/db.js';
import { dialects, uniqueName } from '../helpers/system.js';

interface T {
  t: { id: string; name: string; deleted: number };
}

/** A query compiled once runs with each call's own values, on both dialects, and its constants stay. */
describe.each(dialects())('compiledQuery (%s)', (dialect) => {
  let db: Db<T>;
  const schema = uniqueName('cq');
  beforeAll(async () => {
    db = await openDb<T>(dialect === 'sqlite' ? 'sqlite::memory:' : `${inject('postgresUrl')}?schema=${schema}`);
    await sql`create table t (id text primary key, name text not null, deleted integer not null)`.execute(db.kysely);
    await db.kysely
      .insertInto('t')
      .values([
        { id: 'a', name: 'one', deleted: 0 },
        { id: 'b', name: 'two', deleted: 0 },
        { id: 'c', name: 'three', deleted: 1 },
      ])
      .execute();
  });
  afterAll(async () => {
    if (dialect === 'postgres') await sql`drop schema ${sql.id(schema)} cascade`.execute(db.kysely);
    await db.close();
  });

  const byIdAndName = compiledQuery((k: typeof db.kysely, name: string, id: string) =>
    k.selectFrom('t').select(['id', 'name']).where('id', '=', id).where('deleted', '=', 0).where('name', '=', name),
  );

  it('binds each call its own values, in the order the query uses them, and keeps the constants', async () => {
    expect(await byIdAndName(db.kysely, 'one', 'a')).toEqual([{ id: 'a', name: 'one' }]);
    expect(await byIdAndName(db.kysely, 'two', 'b')).toEqual([{ id: 'b', name: 'two' }]);
    expect(await byIdAndName(db.kysely, 'two', 'a')).toEqual([]);
    // `deleted = 0` was compiled in: the deleted row stays out.
    expect(await byIdAndName(db.kysely, 'three', 'c')).toEqual([]);
  });

  it('refuses a query that does not use an argument as a parameter', async () => {
    const unused = compiledQuery((k: typeof db.kysely, _id: string) => k.selectFrom('t').select('id'));
    await expect(unused(db.kysely, 'a')).rejects.toThrow(/not a parameter/);
  });
});
