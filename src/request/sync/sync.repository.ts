import type { Kysely, Selectable } from 'kysely';
import type { ImportStreamsTable, QuarantineLogTable, RequestDatabase } from '../db/schema.js';

/** How far the importer got on one stream. */
export type ImportStreamRow = Selectable<ImportStreamsTable>;

export type QuarantinedFileRow = Pick<Selectable<QuarantineLogTable>, 'file' | 'code' | 'reason' | 'quarantined_at'>;

/** The importer's progress, one row per stream it has started on. */
export const listImportStreams = (db: Kysely<RequestDatabase>): Promise<ImportStreamRow[]> =>
  db.selectFrom('import_streams').selectAll().execute();

/** How many files have been quarantined, by stream; a stream with none is absent. */
export async function quarantineCounts(db: Kysely<RequestDatabase>): Promise<Map<string, number>> {
  const rows = await db
    .selectFrom('quarantine_log')
    .select(['stream', (eb) => eb.fn.countAll<number | string>().as('n')])
    .groupBy('stream')
    .execute();
  // PostgreSQL answers count(*) as a bigint, which pg hands over as a string.
  return new Map(rows.map((r) => [r.stream, Number(r.n)]));
}

/** The `limit` files of `stream` quarantined last, newest first. */
export const recentQuarantined = (
  db: Kysely<RequestDatabase>,
  stream: string,
  limit: number,
): Promise<QuarantinedFileRow[]> =>
  db
    .selectFrom('quarantine_log')
    .select(['file', 'code', 'reason', 'quarantined_at'])
    .where('stream', '=', stream)
    .orderBy('quarantined_at', 'desc')
    .limit(limit)
    .execute();
