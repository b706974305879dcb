import { type RawBuilder, sql } from 'kysely';

/** Case-insensitive "contains", the same on both dialects (ASCII case folding on SQLite). */
export const containsIgnoringCase = (column: string, text: string): RawBuilder<boolean> =>
  sql<boolean>`lower(${sql.ref(column)}) like lower(${`%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`}) escape '\\'`;
