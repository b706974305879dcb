import type { Kysely } from 'kysely';
import type { RecordOf, Stream } from '../exchange/index.js';
import { nowIso } from '../platform/db.js';
import type { ResponseDatabase } from './db/schema.js';

/**
 * Adds a change to export. Call it with the transaction that makes the change, so the two commit
 * together; the record's type is the one its stream carries.
 */
export async function appendOutbox<S extends Stream>(
  trx: Kysely<ResponseDatabase>,
  stream: S,
  record: RecordOf[S],
): Promise<void> {
  await trx
    .insertInto('outbox')
    .values({ stream, payload: JSON.stringify(record), created_at: nowIso(), batch_seq: null })
    .execute();
}
