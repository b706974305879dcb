/** Rows per page when a whole table is read a page at a time (a snapshot: ~2.5 MB of users rows). */
export const KEYSET_PAGE = 5000;

/**
 * Every row of a table, a page at a time, by its unique text key `id`: `page(after)` returns the next
 * rows with `id > after`, in `id` order, at most `KEYSET_PAGE`. One query per page, each an index range
 * scan, so reading a million rows neither holds them all nor pays a round trip (or, on SQLite, an
 * async step through the query builder) per row; inside one REPEATABLE READ transaction the pages
 * are one consistent state.
 */
export async function* keysetPages<R extends { id: string }>(
  page: (after: string, limit: number) => Promise<R[]>,
): AsyncGenerator<R[]> {
  // Every key sorts after the empty string, in any collation.
  let after = '';
  for (;;) {
    const rows = await page(after, KEYSET_PAGE);
    if (rows.length > 0) yield rows;
    if (rows.length < KEYSET_PAGE) return;
    after = (rows.at(-1) as R).id;
  }
}
