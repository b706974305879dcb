import type { Kysely } from 'kysely';
import type { RecordOf, Stream } from '../exchange/index.js';
import { nowIso } from '../platform/db.js';
import { precompiled } from '../platform/precompiled.js';
import type { ResponseDatabase } from './db/schema.js';

// Every change commits one of these: built once (platform/precompiled.ts), not per change.
const insertOutbox = precompiled((db: Kysely<ResponseDatabase>, stream: Stream, payload: string, createdAt: string) =>
  db.insertInto('outbox').values({ stream, payload, created_at: createdAt, batch_seq: null }),
);

/**
 * Adds a change to export. Call it with the transaction that makes the change, so the two commit
 * together; the record's type is the one its stream carries.
 */
export async function appendOutbox<S extends Stream>(
  trx: Kysely<ResponseDatabase>,
  stream: S,
  record: RecordOf[S],
): Promise<void> {
  await insertOutbox(trx, stream, JSON.stringify(record), nowIso());
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
