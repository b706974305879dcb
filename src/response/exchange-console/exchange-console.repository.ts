import { type Kysely, sql } from 'kysely';
import type { Stream } from '../../exchange/index.js';
import type { ResponseDatabase } from '../db/schema.js';

/** The generation this database writes, or null before it has one. */
export async function currentGeneration(db: Kysely<ResponseDatabase>): Promise<string | null> {
  const row = await db.selectFrom('exchange_generation').select('generation').executeTakeFirst();
  return row?.generation ?? null;
}

/** When the newest written batch of `stream` still on record was written; null when none is. */
export async function newestWrittenAt(db: Kysely<ResponseDatabase>, stream: Stream): Promise<string | null> {
  const row = await db
    .selectFrom('export_batches')
    .select((eb) => eb.fn.max('written_at').as('at'))
    .where('stream', '=', stream)
    .where('written_at', 'is not', null)
    .executeTakeFirst();
  return typeof row?.at === 'string' ? row.at : null;
}

/**
 * Changes written to batch files since `fromIso`, summed per minute (`YYYY-MM-DDTHH:MM`, the first 16
 * characters of the ISO text both dialects store). Batches pruned by retention are no longer counted.
 */
export async function changesPerMinute(
  db: Kysely<ResponseDatabase>,
  fromIso: string,
): Promise<{ minute: string; changes: number }[]> {
  const minute = sql<string>`substr(written_at, 1, 16)`;
  const rows = await db
    .selectFrom('export_batches')
    .select([minute.as('minute'), (eb) => eb.fn.sum<number | string>('count').as('changes')])
    .where('written_at', '>=', fromIso)
    .groupBy(minute)
    .execute();
  // PostgreSQL answers sum() of an integer as a bigint, which pg hands over as a string.
  return rows.map((r) => ({ minute: r.minute, changes: Number(r.changes) }));
}
