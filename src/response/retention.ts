import fs from 'node:fs/promises';
import path from 'node:path';
import type { ExpressionBuilder, Kysely } from 'kysely';
import { batchFileName, type Stream, streamDir } from '../exchange/index.js';
import type { ResponseDatabase } from './db/schema.js';

/*
 * Pruning: the exchange folder would otherwise keep every batch file for ever, since the Request side only
 * reads it (and any number of Request sides may read it, so none can say a file is no longer needed). A
 * batch is removed once it is older than the retention and a snapshot already written carries its
 * changes: a Request side that was away longer catches up from that snapshot, which holds every record's
 * newest state, deletions included.
 */

/**
 * Removes the batch files of `stream` numbered up to `coveredSeq` (the stamp of a snapshot in place) and
 * written over `retentionS` ago, then their outbox rows and their `export_batches` rows, counting them in
 * `export_streams` (pruned_count, pruned_through). Files go first: a crash in between leaves rows whose
 * files are gone (removed again next time), never a file no row names any more.
 * @returns how many batches were pruned (by this call)
 */
export async function pruneBatches(
  db: Kysely<ResponseDatabase>,
  exchangeDir: string,
  stream: Stream,
  coveredSeq: number,
  retentionS: number,
  now = Date.now(),
): Promise<number> {
  const cutoff = new Date(now - retentionS * 1000).toISOString();
  // A batch not yet written (written_at null) is left alone: its file is still to come.
  const prunable = (eb: ExpressionBuilder<ResponseDatabase, 'export_batches'>) =>
    eb.and([
      eb('stream', '=', stream),
      eb('seq', '<=', coveredSeq),
      eb('written_at', 'is not', null),
      eb('written_at', '<', cutoff),
    ]);
  const batches = await db.selectFrom('export_batches').select('seq').where(prunable).orderBy('seq').execute();
  if (batches.length === 0) return 0;
  const dir = streamDir(exchangeDir, stream);
  for (const { seq } of batches) await fs.rm(path.join(dir, batchFileName(seq)), { force: true });
  // The rows and the counters move together, so the counters (`netsync sync status`) stay exact. They
  // count the rows this transaction deleted: an exporter pruning the same batches at once counts none twice.
  return db.transaction().execute(async (trx) => {
    // The outbox rows usually went an hour after their file was written (housekeeping); any left go now.
    await trx
      .deleteFrom('outbox')
      .where('stream', '=', stream)
      .where('batch_seq', 'in', (eb) => eb.selectFrom('export_batches').select('seq').where(prunable))
      .execute();
    const deleted = await trx.deleteFrom('export_batches').where(prunable).returning('seq').execute();
    if (deleted.length > 0) await countPruned(trx, stream, deleted.length, Math.max(...deleted.map((d) => d.seq)));
    return deleted.length;
  });
}

/** Adds `count` to the stream's pruned batches and raises the newest pruned to `through`. */
async function countPruned(trx: Kysely<ResponseDatabase>, stream: Stream, count: number, through: number) {
  await trx
    .updateTable('export_streams')
    .set((eb) => ({
      pruned_count: eb('pruned_count', '+', count),
      pruned_through: eb
        .case()
        .when(eb.or([eb('pruned_through', 'is', null), eb('pruned_through', '<', through)]))
        .then(through)
        .else(eb.ref('pruned_through'))
        .end(),
    }))
    .where('stream', '=', stream)
    .execute();
}
