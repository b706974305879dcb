import path from 'node:path';
import type { Kysely } from 'kysely';
import { listBatchFiles, peekHeader, SNAPSHOT_OF, STREAMS, type Stream, streamDir } from '../exchange/index.js';
import type { ResponseDatabase } from './db/schema.js';

/** Per stream, what the Response side has written to the exchange folder and pruned from it. */
export interface ExportStreamStatus {
  /** Newest batch whose file was written (pruned ones included); 0 before the first. */
  newest_written_seq: number;
  /** Batch files in the stream's folder now, and the oldest of them (null when none). */
  batches_in_folder: number;
  oldest_in_folder_seq: number | null;
  /** Batches pruning removed so far, and the newest of them (null before the first). */
  pruned_count: number;
  newest_pruned_seq: number | null;
  /** The snapshot that carries this stream (password changes: users_latest.json), as its header says. */
  snapshot: { file: string; seq: number; created_at: string } | null;
  /** Changes committed but not in a written file yet, and how old the oldest is. */
  unexported_rows: number;
  oldest_unexported_at: string | null;
  oldest_unexported_age_seconds: number | null;
}

export interface ExportStatus {
  side: 'response';
  checked_at: string;
  streams: Record<Stream, ExportStreamStatus>;
}

/**
 * What `netsync sync status` shows on the Response side: from its database (counters, outbox) and one
 * listing of each stream folder plus each snapshot's header line, so it stays cheap and works while the
 * API is down.
 */
export async function readExportStatus(db: Kysely<ResponseDatabase>, exchangeDir: string): Promise<ExportStatus> {
  const now = Date.now();
  const streams = {} as Record<Stream, ExportStreamStatus>;
  for (const stream of STREAMS) {
    const counters = await db
      .selectFrom('export_streams')
      .select(['pruned_count', 'pruned_through'])
      .where('stream', '=', stream)
      .executeTakeFirst();
    const prunedThrough = counters?.pruned_through == null ? null : Number(counters.pruned_through);
    const written = await newestWritten(db, stream);
    const folder = await listBatchFiles(streamDir(exchangeDir, stream)).catch(() => []);
    const waiting = await unexported(db, stream);
    streams[stream] = {
      newest_written_seq: Math.max(written, prunedThrough ?? 0),
      batches_in_folder: folder.length,
      oldest_in_folder_seq: folder[0]?.seq ?? null,
      pruned_count: Number(counters?.pruned_count ?? 0),
      newest_pruned_seq: prunedThrough,
      snapshot: await snapshotCarrying(exchangeDir, stream),
      unexported_rows: waiting.rows,
      oldest_unexported_at: waiting.oldest,
      oldest_unexported_age_seconds:
        waiting.oldest === null ? null : Math.round(Math.max(0, now - Date.parse(waiting.oldest))) / 1000,
    };
  }
  return { side: 'response', checked_at: new Date(now).toISOString(), streams };
}

async function newestWritten(db: Kysely<ResponseDatabase>, stream: Stream): Promise<number> {
  const row = await db
    .selectFrom('export_batches')
    .select((eb) => eb.fn.max('seq').as('newest'))
    .where('stream', '=', stream)
    .where('written_at', 'is not', null)
    .executeTakeFirst();
  return Number(row?.newest ?? 0);
}

/** Outbox rows of `stream` not in a written file: unclaimed, or claimed into a batch not written yet. */
async function unexported(db: Kysely<ResponseDatabase>, stream: Stream) {
  const row = await db
    .selectFrom('outbox')
    .select((eb) => [eb.fn.countAll<number | string>().as('n'), eb.fn.min('created_at').as('oldest')])
    .where('stream', '=', stream)
    .where((eb) =>
      eb.or([
        eb('batch_seq', 'is', null),
        eb(
          'batch_seq',
          'in',
          eb.selectFrom('export_batches').select('seq').where('stream', '=', stream).where('written_at', 'is', null),
        ),
      ]),
    )
    .executeTakeFirst();
  // PostgreSQL answers count(*) as a bigint, which pg hands over as a string.
  return { rows: Number(row?.n ?? 0), oldest: typeof row?.oldest === 'string' ? row.oldest : null };
}

/** The snapshot whose stamps cover `stream`, with its stamp for it; null when none was written yet. */
async function snapshotCarrying(exchangeDir: string, stream: Stream): Promise<ExportStreamStatus['snapshot']> {
  const owner = (Object.keys(SNAPSHOT_OF) as Stream[]).find((s) => SNAPSHOT_OF[s]?.covers.includes(stream));
  const spec = owner && SNAPSHOT_OF[owner];
  if (!owner || !spec) return null;
  const header = await peekHeader(path.join(streamDir(exchangeDir, owner), spec.file));
  if (!header) return null;
  return {
    file: `${owner}/${spec.file}`,
    seq: owner === stream ? header.seq : (header.covers?.[stream] ?? 0),
    created_at: header.created_at,
  };
}
