import { type Compilable, CompiledQuery, type Kysely } from 'kysely';
import type { Dialect } from './db.js';

/**
 * The plan the database would follow for `query`, one line per step: SQLite's `EXPLAIN QUERY PLAN`
 * details, PostgreSQL's `EXPLAIN` text. For checking that a list page is read from an index (tests and
 * `npm run bench`), not for use on a request's path.
 */
export async function queryPlan(db: Kysely<unknown>, dialect: Dialect, query: Compilable): Promise<string[]> {
  const { sql, parameters } = query.compile();
  const prefix = dialect === 'sqlite' ? 'EXPLAIN QUERY PLAN ' : 'EXPLAIN ';
  const { rows } = await db.executeQuery(CompiledQuery.raw(prefix + sql, [...parameters]));
  return rows.map((r) =>
    dialect === 'sqlite'
      ? String((r as { detail: string }).detail)
      : String((r as Record<string, string>)['QUERY PLAN']),
  );
}

/**
 * The steps of a plan that read more than a page: a table scanned whole, or rows sorted (which needs
 * every matching row first). An ordered walk of an index that a LIMIT stops (SQLite's
 * `SCAN t USING INDEX`, PostgreSQL's `Index Scan`) is what a first page should do, so it is not one.
 * `merged`: the subqueries of a query that merges a few bounded index reads (the audit list by actor):
 * reading them and sorting what they give touches at most a page from each. `lookups`: small tables
 * joined to each row (the profile types), which PostgreSQL may rightly read whole once per page.
 */
export function fullReads(
  dialect: Dialect,
  plan: readonly string[],
  opts: { merged?: readonly string[]; lookups?: readonly string[] } = {},
): string[] {
  const bounded = [...(opts.merged ?? []), ...(opts.lookups ?? [])];
  const scan =
    dialect === 'sqlite' ? /^SCAN (\w+)( AS \w+)?$|^SCAN (\w+) (?!USING)/ : /(?:Seq|Bitmap Heap) Scan on (\w+)/;
  const sort = dialect === 'sqlite' ? /TEMP B-TREE/ : /\bSort\b/;
  return plan.filter((line) => {
    const m = scan.exec(line.trim());
    if (m) return !bounded.includes(m[1] ?? m[3] ?? '');
    return !opts.merged?.length && sort.test(line);
  });
}
