import type { Kysely } from 'kysely';
import {
  batchFileName,
  removeStaleTempFiles,
  SNAPSHOT_OF,
  type Stream,
  streamDir,
  writeExchangeFile,
} from '../exchange/index.js';
import { nowIso } from '../platform/db.js';
import type { ResponseDatabase } from './db/schema.js';

export interface ExportContext {
  readonly db: Kysely<ResponseDatabase>;
  readonly exportDir: string;
  readonly exchangeKey: string;
  /** Most records one batch file holds. */
  readonly batchSize: number;
}

/** The seed's task result shape. */
export interface ExportResult {
  status: 'success';
  count: number;
  file: string | null;
  files: string[];
  exported_at: string;
}

/** Adds a change to export; call it inside the transaction that makes the change. */
export async function appendOutbox(trx: Kysely<ResponseDatabase>, stream: Stream, record: unknown): Promise<void> {
  await trx
    .insertInto('outbox')
    .values({ stream, payload: JSON.stringify(record), created_at: nowIso(), batch_seq: null })
    .execute();
}

class NothingToClaim extends Error {}

/**
 * Hands the next sequence number to the oldest unclaimed changes of `stream`. The first statement
 * bumps the stream's counter, which takes the write lock (SQLite) or the row lock (PostgreSQL) before
 * anything is read, so two exporters in two processes never claim the same change or the same number.
 * @returns the claimed batch, or undefined when nothing was waiting
 */
async function claimBatch(ctx: ExportContext, stream: Stream): Promise<{ seq: number; count: number } | undefined> {
  try {
    return await ctx.db.transaction().execute(async (trx) => {
      const { last_seq: seq } = await trx
        .updateTable('export_streams')
        .set((eb) => ({ last_seq: eb('last_seq', '+', 1) }))
        .where('stream', '=', stream)
        .returning('last_seq')
        .executeTakeFirstOrThrow();
      const claimed = await trx
        .updateTable('outbox')
        .set({ batch_seq: seq })
        .where('id', 'in', (eb) =>
          eb
            .selectFrom('outbox')
            .select('id')
            .where('stream', '=', stream)
            .where('batch_seq', 'is', null)
            .orderBy('id')
            .limit(ctx.batchSize),
        )
        .executeTakeFirst();
      const count = Number(claimed.numUpdatedRows);
      if (count === 0) throw new NothingToClaim(); // rolls the counter back
      await trx
        .insertInto('export_batches')
        .values({ stream, seq, count, created_at: nowIso(), written_at: null })
        .execute();
      return { seq, count };
    });
  } catch (err) {
    if (err instanceof NothingToClaim) return undefined;
    throw err;
  }
}

/**
 * Writes every claimed batch of `stream` whose file is not yet known to be in place, oldest first.
 * A batch's content is fixed at claim time, so a batch written twice (two exporters, or one that
 * crashed after the rename) is the same file both times.
 */
async function writeClaimedBatches(ctx: ExportContext, stream: Stream): Promise<{ files: string[]; count: number }> {
  const pending = await ctx.db
    .selectFrom('export_batches')
    .select(['seq', 'count', 'created_at'])
    .where('stream', '=', stream)
    .where('written_at', 'is', null)
    .orderBy('seq')
    .execute();
  const files: string[] = [];
  let count = 0;
  for (const batch of pending) {
    const rows = await ctx.db
      .selectFrom('outbox')
      .select('payload')
      .where('stream', '=', stream)
      .where('batch_seq', '=', batch.seq)
      .orderBy('id')
      .execute();
    const written = await writeExchangeFile(
      streamDir(ctx.exportDir, stream),
      batchFileName(batch.seq),
      { kind: 'batch', stream, seq: batch.seq, created_at: batch.created_at },
      rows.map((r) => r.payload),
      ctx.exchangeKey,
    );
    await ctx.db
      .updateTable('export_batches')
      .set({ written_at: nowIso() })
      .where('stream', '=', stream)
      .where('seq', '=', batch.seq)
      .execute();
    files.push(written.path);
    count += batch.count;
  }
  return { files, count };
}

/** Claims all waiting changes of the streams given into batches and writes every unwritten batch. */
export async function exportChanges(ctx: ExportContext, streams: readonly Stream[]): Promise<ExportResult> {
  const files: string[] = [];
  let count = 0;
  for (const stream of streams) {
    while ((await claimBatch(ctx, stream)) !== undefined) {}
    const written = await writeClaimedBatches(ctx, stream);
    files.push(...written.files);
    count += written.count;
  }
  return { status: 'success', count, file: files.at(-1) ?? null, files, exported_at: nowIso() };
}

/** Outbox rows stay this long after their batch file is written, then go: the snapshot carries their state. */
export const OUTBOX_RETENTION_MS = 60 * 60 * 1000;
/** A temporary file this old was left by a writer that died. */
export const STALE_TEMP_MS = 10 * 60 * 1000;

/**
 * The scheduled run's tidying: drops outbox rows of batches written over an hour ago (their files are in
 * the exchange folder, and the snapshot carries their state) and temporary files of dead writers.
 */
async function housekeeping(ctx: ExportContext, streams: readonly Stream[]): Promise<void> {
  const cutoff = new Date(Date.now() - OUTBOX_RETENTION_MS).toISOString();
  for (const stream of streams) {
    await ctx.db
      .deleteFrom('outbox')
      .where('stream', '=', stream)
      .where('batch_seq', 'in', (eb) =>
        eb
          .selectFrom('export_batches')
          .select('seq')
          .where('stream', '=', stream)
          .where('written_at', 'is not', null)
          .where('written_at', '<', cutoff),
      )
      .execute();
    await removeStaleTempFiles(streamDir(ctx.exportDir, stream), STALE_TEMP_MS);
  }
}

/** Source of a snapshot's records: the current rows of its table as exchange records, streamed. */
export type SnapshotSource = (trx: Kysely<ResponseDatabase>) => AsyncIterable<string>;

/**
 * Writes `<stream>_latest.json`: every row, deletions included as tombstones, stamped with the newest
 * batch of each covered stream. It is read in one transaction (a consistent snapshot: REPEATABLE READ on
 * PostgreSQL, a WAL read snapshot on SQLite), so each batch up to the stamp is reflected in it.
 */
export async function exportSnapshot(
  ctx: ExportContext,
  stream: Stream,
  source: SnapshotSource,
): Promise<ExportResult> {
  const spec = SNAPSHOT_OF[stream];
  if (!spec) throw new Error(`stream ${stream} has no snapshot`);
  const written = await ctx.db
    .transaction()
    .setIsolationLevel('repeatable read')
    .execute(async (trx) => {
      const stamps = await trx
        .selectFrom('export_streams')
        .select(['stream', 'last_seq'])
        .where('stream', 'in', [...spec.covers])
        .execute();
      const covers = Object.fromEntries(stamps.map((s) => [s.stream, s.last_seq]));
      return writeExchangeFile(
        streamDir(ctx.exportDir, stream),
        spec.file,
        { kind: 'snapshot', stream, seq: covers[stream] ?? 0, covers, created_at: nowIso() },
        source(trx),
        ctx.exchangeKey,
        // Two snapshot exports may finish out of order; the older must not replace the newer.
        { replaces: (existing) => !spec.covers.some((s) => (existing.covers?.[s] ?? 0) > (covers[s] ?? 0)) },
      );
    });
  await housekeeping(ctx, spec.covers);
  return {
    status: 'success',
    count: written.header.count,
    file: written.path,
    files: [written.path],
    exported_at: nowIso(),
  };
}
