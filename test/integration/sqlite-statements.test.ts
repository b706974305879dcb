import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Db, openDb } from '../../src/platform/db.js';

interface T {
  t: { id: number; name: string };
}

/** openDb keeps prepared statements by their SQL text; these are the cases where reuse could go wrong. */
describe('SQLite prepared-statement reuse', () => {
  let dir: string;
  let db: Db<T>;
  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'netsync-stmt-'));
    db = await openDb<T>(`sqlite:${path.join(dir, 'x.sqlite')}`);
    await sql`create table t (id integer primary key, name text not null)`.execute(db.kysely);
    await db.kysely
      .insertInto('t')
      .values([1, 2, 3].map((id) => ({ id, name: `n${id}` })))
      .execute();
  });
  afterEach(async () => {
    await db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const all = () => db.kysely.selectFrom('t').select(['id', 'name']).orderBy('id');

  it('runs a query again after a stream of it ended, and after a stream of it was abandoned', async () => {
    const seen: number[] = [];
    for await (const row of all().stream(1)) seen.push(row.id);
    expect(seen).toEqual([1, 2, 3]);
    expect((await all().execute()).map((r) => r.id)).toEqual([1, 2, 3]);
    for await (const row of all().stream(1)) if (row.id === 1) break;
    expect((await all().execute()).map((r) => r.id)).toEqual([1, 2, 3]);
    const again: number[] = [];
    for await (const row of all().stream(1)) again.push(row.id);
    expect(again).toEqual([1, 2, 3]);
  });

  it('gives the same answers with more distinct statements than it keeps', async () => {
    for (let i = 0; i < 1200; i++) {
      const rows = await db.kysely
        .selectFrom('t')
        .select(sql<number>`${sql.lit(i)}`.as('k'))
        .where('id', '=', 1 + (i % 3))
        .execute();
      expect(rows).toEqual([{ k: i }]);
    }
    expect((await all().execute()).map((r) => r.name)).toEqual(['n1', 'n2', 'n3']);
  });

  it('sees a schema change made after a statement was kept', async () => {
    const star = () => db.kysely.selectFrom('t').selectAll().where('id', '=', 1);
    expect(await star().execute()).toEqual([{ id: 1, name: 'n1' }]);
    await sql`alter table t add column extra text default 'x'`.execute(db.kysely);
    expect(await star().execute()).toEqual([{ id: 1, name: 'n1', extra: 'x' }]);
  });
});
