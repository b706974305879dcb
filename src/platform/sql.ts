import { type RawBuilder, sql } from 'kysely';

/** `LIKE` pattern text matching anything that starts with `prefix` taken literally. */
export const likePrefix = (prefix: string): string => `${prefix.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

/** `column LIKE pattern ESCAPE '\'`, which SQLite and PostgreSQL read the same way. */
export const startsWith = (column: string, prefix: string): RawBuilder<boolean> =>
  sql<boolean>`${sql.ref(column)} like ${likePrefix(prefix)} escape '\\'`;

/** Case-insensitive "contains", the same on both dialects (ASCII case folding on SQLite). */
export const containsIgnoringCase = (column: string, text: string): RawBuilder<boolean> =>
  sql<boolean>`lower(${sql.ref(column)}) like lower(${`%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`}) escape '\\'`;
