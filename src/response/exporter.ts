import type { Kysely } from 'kysely';
import {
  batchFileName,
  REQUIRES,
  removeStaleTempFiles,
  type SigningKey,
  SNAPSHOT_OF,
  type Stream,
  streamDir,
  writeExchangeFile,
} from '../exchange/index.js';
import { nowIso } from '../platform/db.js';
import type { Logger } from '../platform/logger.js';
import type { ResponseDatabase } from './db/schema.js';
import { currentGeneration } from './generation.js';
import { pruneBatches } from './retention.js';
import { recordSnapshot, unchangedSnapshot } from './snapshot-state.js';

export interface ExportContext {
  readonly db: Kysely<ResponseDatabase>;
  readonly exchangeDir: string;
  readonly signingKey: SigningKey;
  /** Most records one batch file holds. */
  readonly batchSize: number;
  /**
   * Batch files older than this, once a snapshot written carries them, are pruned by the snapshot export
   * (EXCHANGE_RETENTION_S; retention.ts). Undefined: none are.
   */
  readonly retentionS?: number;
  /** Where the exporter says it started a new generation (generation.ts). */
  readonly logger: Logger;
}

/** The seed's task result shape. */
export interface ExportResult {
  status: 'success';
  count: number;
  file: string | null;
  files: string[];
  exported_at: string;
  /** Snapshot runs: how many batch files the snapshot's stamps let go (see `retentionS`). */
  pruned?: number;
  /**
   * Snapshot runs: `written`, or `unchanged` when nothing changed since the snapshot in place, which
   * stays (no file is written: `file` is null and `count` 0).
   */
  snapshot?: 'written' | 'unchanged';
}

class NothingToClaim extends Error {}

/**
 * Claims the oldest unclaimed rows of `stream` (at most `batchSize`) into the batch numbered by the
 * stream's counter, which the caller has just bumped. Returns how many rows it took.
 */
async function claimRows(trx: Kysely<ResponseDatabase>, stream: Stream, seq: number, batchSize: number) {
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
        .limit(batchSize),
    )
    .executeTakeFirst();
  return Number(claimed.numUpdatedRows);
}

const bumpCounter = async (trx: Kysely<ResponseDatabase>, stream: Stream, by: 1 | -1) =>
  (
    await trx
      .updateTable('export_streams')
      .set((eb) => ({ last_seq: eb('last_seq', '+', by) }))
      .where('stream', '=', stream)
      .returning('last_seq')
      .executeTakeFirstOrThrow()
  ).last_seq;

/**
 * Claims every waiting row of `stream` into batches and returns the stream's newest batch number.
 * Used inside another stream's claim, for the streams its records refer to.
 */
async function claimAllOf(trx: Kysely<ResponseDatabase>, stream: Stream, batchSize: number): Promise<number> {
  for (;;) {
    const seq = await bumpCounter(trx, stream, 1);
    const count = await claimRows(trx, stream, seq, batchSize);
    if (count === 0) return bumpCounter(trx, stream, -1);
    await trx
      .insertInto('export_batches')
      .values({ stream, seq, count, created_at: nowIso(), written_at: null, requires: null })
      .execute();
  }
}

/**
 * Hands the next sequence number to the oldest unclaimed changes of `stream`. The first statement
 * bumps the stream's counter, which takes the write lock (SQLite) or the row lock (PostgreSQL) before
 * anything is read, so two exporters in two processes never claim the same change or the same number.
 *
 * A stream whose records refer to another (REQUIRES) then claims the other's waiting rows too, in the
 * same transaction and after its own: a referenced row committed before a claimed row is visible by then
 * (READ COMMITTED reads afresh per statement), so the batch's `requires` stamp covers what it names.
 * Locks are taken in that order (stream, then what it requires) by every exporter.
 * @returns the claimed batch, or undefined when nothing was waiting
 */
async function claimBatch(ctx: ExportContext, stream: Stream): Promise<{ seq: number; count: number } | undefined> {
  try {
    return await ctx.db.transaction().execute(async (trx) => {
      const seq = await bumpCounter(trx, stream, 1);
      const count = await claimRows(trx, stream, seq, ctx.batchSize);
      if (count === 0) throw new NothingToClaim(); // rolls the counter back
      const requires: Record<string, number> = {};
      for (const other of REQUIRES[stream] ?? []) requires[other] = await claimAllOf(trx, other, ctx.batchSize);
      await trx
        .insertInto('export_batches')
        .values({
          stream,
          seq,
          count,
          created_at: nowIso(),
          written_at: null,
          requires: REQUIRES[stream] ? JSON.stringify(requires) : null,
        })
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
    .select(['seq', 'count', 'created_at', 'requires'])
    .where('stream', '=', stream)
    .where('written_at', 'is', null)
    .orderBy('seq')
    .execute();
  const files: string[] = [];
  let count = 0;
  if (pending.length === 0) return { files, count };
  // Read at write time, not claim time: a batch claimed before `netsync generation new` goes out in the
  // new generation, after its snapshots, which already carry it.
  const { generation } = await currentGeneration(ctx.db);
  for (const batch of pending) {
    const rows = await ctx.db
      .selectFrom('outbox')
      .select('payload')
      .where('stream', '=', stream)
      .where('batch_seq', '=', batch.seq)
      .orderBy('id')
      .execute();
    const written = await writeExchangeFile(
      streamDir(ctx.exchangeDir, stream),
      batchFileName(batch.seq),
      {
        kind: 'batch',
        stream,
        seq: batch.seq,
        generation,
        created_at: batch.created_at,
        ...(batch.requires ? { requires: JSON.parse(batch.requires) as Record<string, number> } : {}),
      },
      rows.map((r) => r.payload),
      ctx.signingKey,
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

/**
 * True when `stream` has changes no batch holds yet. Read without a lock, so a scheduled run with nothing
 * waiting takes no write lock; a change committed just after is one a claim would have missed too (its
 * own fast-path run, or the next scheduled one, exports it).
 */
const hasWaiting = async (db: Kysely<ResponseDatabase>, stream: Stream) =>
  (await db
    .selectFrom('outbox')
    .select('id')
    .where('stream', '=', stream)
    .where('batch_seq', 'is', null)
    .limit(1)
    .executeTakeFirst()) !== undefined;

/** Claims all waiting changes of the streams given into batches and writes every unwritten batch. */
export async function exportChanges(ctx: ExportContext, streams: readonly Stream[]): Promise<ExportResult> {
  const files: string[] = [];
  let count = 0;
  for (const stream of streams) {
    if (await hasWaiting(ctx.db, stream)) while ((await claimBatch(ctx, stream)) !== undefined) {}
    // What the stream's batches refer to goes out first, so the importer need not wait for it.
    for (const s of [...(REQUIRES[stream] ?? []), stream]) {
      const written = await writeClaimedBatches(ctx, s);
      files.push(...written.files);
      if (s === stream) count += written.count;
    }
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
 * Nothing reads a written batch's rows again (a batch is written from its rows only while `written_at`
 * is null), so they need not live as long as its file; pruning (retention.ts) removes the file later.
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
    await removeStaleTempFiles(streamDir(ctx.exchangeDir, stream), STALE_TEMP_MS);
  }
}

/** Source of a snapshot's records: the current rows of its table as exchange-record lines, a page at a time. */
export type SnapshotSource = (trx: Kysely<ResponseDatabase>) => AsyncIterable<readonly string[]>;

/**
 * Writes `<stream>_latest.json`: every row, deletions included as tombstones, stamped with the newest
 * batch of each covered stream. It is read in one transaction (a consistent snapshot: REPEATABLE READ on
 * PostgreSQL, a WAL read snapshot on SQLite), so each batch up to the stamp is reflected in it.
 *
 * Unless `always`, a stream unchanged since the snapshot in place (snapshot-state.ts) is not written
 * again: the result says `unchanged`, and only the tidying and pruning run.
 */
export async function exportSnapshot(
  ctx: ExportContext,
  stream: Stream,
  source: SnapshotSource,
  opts: { always?: boolean } = {},
): Promise<ExportResult> {
  const spec = SNAPSHOT_OF[stream];
  if (!spec) throw new Error(`stream ${stream} has no snapshot`);
  const kept = opts.always ? undefined : await unchangedSnapshot(ctx.db, ctx.exchangeDir, stream, ctx.signingKey.id);
  if (kept) {
    const pruned = await tidyAfterSnapshot(ctx, spec.covers, kept);
    return { status: 'success', count: 0, file: null, files: [], exported_at: nowIso(), pruned, snapshot: 'unchanged' };
  }
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
      const { generation } = await currentGeneration(trx);
      return writeExchangeFile(
        streamDir(ctx.exchangeDir, stream),
        spec.file,
        { kind: 'snapshot', stream, seq: covers[stream] ?? 0, generation, covers, created_at: nowIso() },
        source(trx),
        ctx.signingKey,
        // Two snapshot exports may finish out of order; the older must not replace the newer. Stamps
        // compare within a generation only: a new generation's snapshot replaces an older one's whatever
        // their numbers (a restored database counts from lower ones).
        {
          replaces: (existing) =>
            existing.generation !== generation
              ? !(existing.generation > generation)
              : !spec.covers.some((s) => (existing.covers?.[s] ?? 0) > (covers[s] ?? 0)),
        },
      );
    });
  await recordSnapshot(ctx.db, ctx.exchangeDir, stream);
  // The stamps just written: a snapshot kept in place instead of ours (`kept`) is newer, so it carries
  // at least as much.
  const pruned = await tidyAfterSnapshot(ctx, spec.covers, written.header.covers ?? {});
  return {
    status: 'success',
    count: written.header.count,
    file: written.path,
    files: [written.path],
    exported_at: nowIso(),
    pruned,
    snapshot: 'written',
  };
}

/** What every snapshot run does, written or not: housekeeping, and pruning what the snapshot in place carries. */
async function tidyAfterSnapshot(
  ctx: ExportContext,
  covered: readonly Stream[],
  covers: Record<string, number>,
): Promise<number> {
  await housekeeping(ctx, covered);
  let pruned = 0;
  if (ctx.retentionS !== undefined) {
    for (const s of covered) pruned += await pruneBatches(ctx.db, ctx.exchangeDir, s, covers[s] ?? 0, ctx.retentionS);
  }
  return pruned;
}
