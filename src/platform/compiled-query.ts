import type { Compilable, CompiledQuery, Kysely } from 'kysely';

/**
 * A query of the hot read paths, built by Kysely once per database and run with new values each time.
 *
 * Building a query and compiling it to SQL was ~5% of the CPU of `GET /users/{id}` (the statement
 * itself is prepared once either way: platform/db.ts keeps SQLite's, pg sends the same text). `build` is
 * called once with a stand-in for each argument; each stand-in's place among the query's parameters is
 * where that argument goes on every run. Only values passed as arguments change between runs: what
 * `build` writes in as a constant stays as compiled.
 */
export function compiledQuery<DB, Args extends readonly unknown[], Row>(
  build: (db: Kysely<DB>, ...args: Args) => Compilable<Row>,
): (db: Kysely<DB>, ...args: Args) => Promise<Row[]> {
  const compiled = new WeakMap<Kysely<DB>, { query: CompiledQuery<Row>; slots: number[] }>();
  return async (db, ...args) => {
    let kept = compiled.get(db);
    if (!kept) {
      const standIns = args.map((_, i) => `\u0000arg${i}\u0000`);
      const query = build(db, ...(standIns as unknown as Args)).compile();
      const slots = query.parameters.map((p) => (typeof p === 'string' ? standIns.indexOf(p) : -1));
      if (standIns.some((_, i) => !slots.includes(i))) throw new Error('compiledQuery: an argument is not a parameter');
      kept = { query, slots };
      compiled.set(db, kept);
    }
    const { query, slots } = kept;
    const parameters = query.parameters.map((p, i) => ((slots[i] as number) >= 0 ? args[slots[i] as number] : p));
    return (await db.executeQuery<Row>({ ...query, parameters })).rows;
  };
}
