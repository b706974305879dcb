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

/**
 * When the oldest change not yet in the exchange folder was made: waiting to be claimed into a batch,
 * or claimed into a batch whose file is not written yet. Undefined when nothing waits.
 */
export async function oldestUnexportedChange(db: Kysely<ResponseDatabase>): Promise<string | undefined> {
  const unclaimed = await db
    .selectFrom('outbox')
    .select((eb) => eb.fn.min('created_at').as('oldest'))
    .where('batch_seq', 'is', null)
    .executeTakeFirst();
  const unwritten = await db
    .selectFrom('export_batches')
    .select((eb) => eb.fn.min('created_at').as('oldest'))
    .where('written_at', 'is', null)
    .executeTakeFirst();
  return [unclaimed?.oldest, unwritten?.oldest].filter((v): v is string => typeof v === 'string').sort()[0];
}

/**
 * The streams with changes not yet in the exchange folder: outbox rows waiting to be claimed, or batches
 * claimed whose file is not written yet (a worker died between the two). Both lookups use an index.
 */
export async function streamsNotExported(db: Kysely<ResponseDatabase>): Promise<Stream[]> {
  const unclaimed = await db.selectFrom('outbox').select('stream').distinct().where('batch_seq', 'is', null).execute();
  const unwritten = await db
    .selectFrom('export_batches')
    .select('stream')
    .distinct()
    .where('written_at', 'is', null)
    .execute();
  return [...new Set([...unclaimed, ...unwritten].map((r) => r.stream))].sort();
}
