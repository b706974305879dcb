import type { Compilable, CompiledQuery, Kysely, QueryResult } from 'kysely';

/**
 * A query Kysely builds and compiles once per dialect, then runs with new values.
 *
 * Building and compiling a one-row insert or update costs more CPU than SQLite spends running it, and
 * the commit path of every change (the change, its outbox row, its audit row) runs three of them: on a
 * busy Response side that CPU is what the API and the workers share. The SQL text is Kysely's own, so
 * it stays what the query builder would have sent, and the prepared-statement cache (db.ts) reuses it.
 *
 * `build` must make the same query whatever the values: values go in as parameters, never into the
 * shape (no `undefined` leaving a column out, no value choosing a branch). It is called once per dialect
 * with placeholders, to learn where each value goes; a parameter that is no placeholder (a constant the
 * query holds, such as the `1` in `version + 1`) keeps its value.
 */
export function precompiled<DB, V extends readonly unknown[], O>(
  build: (db: Kysely<DB>, ...values: V) => Compilable<O>,
): (db: Kysely<DB>, ...values: V) => Promise<QueryResult<O>> {
  // A transaction is a Kysely of its own, but shares its database's adapter: one entry per dialect.
  const compiledFor = new WeakMap<object, { query: CompiledQuery<O>; slots: (number | undefined)[] }>();
  return async (db, ...values) => {
    const adapter = db.getExecutor().adapter;
    let compiled = compiledFor.get(adapter);
    if (!compiled) {
      const placeholders = values.map((_, i) => `\u0000precompiled ${i}\u0000`) as unknown as V;
      const query = build(db, ...placeholders).compile();
      const slots = query.parameters.map((p) => {
        const i = placeholders.indexOf(p as V[number]);
        return i === -1 ? undefined : i;
      });
      const used = new Set(slots.filter((s) => s !== undefined));
      if (used.size !== values.length)
        throw new Error(`precompiled query uses ${used.size} of ${values.length} values`);
      compiled = { query, slots };
      compiledFor.set(adapter, compiled);
    }
    const { query, slots } = compiled;
    const parameters = slots.map((slot, i) => (slot === undefined ? query.parameters[i] : values[slot]));
    return db.executeQuery({ ...query, parameters });
  };
}
