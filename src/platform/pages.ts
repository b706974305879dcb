/** Rows per page when a whole table is streamed (a snapshot); also the cursor's fetch size. */
export const PAGE_ROWS = 1000;

/**
 * The rows of a streamed query (Kysely's `.stream()`: better-sqlite3's iterate, a pg cursor) handed on a
 * page at a time, so what consumes them (the exchange writer) takes no asynchronous step per row. Paging
 * by key with one query per page was tried: no less CPU on SQLite, and on PostgreSQL +70 MB RSS per
 * 100,000 rows of results against +8 MB through the cursor.
 */
export async function* pagesOf<R, T>(rows: AsyncIterable<R>, map: (row: R) => T): AsyncGenerator<T[]> {
  let page: T[] = [];
  for await (const row of rows) {
    page.push(map(row));
    if (page.length === PAGE_ROWS) {
      yield page;
      page = [];
    }
  }
  if (page.length > 0) yield page;
}
