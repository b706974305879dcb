import type { Kysely } from 'kysely';
import { removeStaleTempFiles, STREAMS, type Stream, writeHeartbeat } from '../exchange/index.js';
import { nowIso } from '../platform/db.js';
import type { ResponseDatabase } from './db/schema.js';
import { type ExportContext, type ExportResult, STALE_TEMP_MS } from './exporter.js';
import { currentGeneration } from './generation.js';

/**
 * Per stream, the newest batch whose file is written: every batch below the oldest one still unwritten
 * (batches are written in order; a pruned batch was written). What a heartbeat names must be in the
 * folder already, or a Request side would wait for a file that is still being written.
 */
export async function newestWritten(db: Kysely<ResponseDatabase>): Promise<Record<Stream, number>> {
  const counters = await db.selectFrom('export_streams').select(['stream', 'last_seq']).execute();
  const unwritten = await db
    .selectFrom('export_batches')
    .select(['stream', (eb) => eb.fn.min<number>('seq').as('first')])
    .where('written_at', 'is', null)
    .groupBy('stream')
    .execute();
  const newest = Object.fromEntries(STREAMS.map((s) => [s, 0])) as Record<Stream, number>;
  for (const { stream, last_seq } of counters) newest[stream] = last_seq;
  for (const { stream, first } of unwritten) newest[stream] = Math.min(newest[stream], Number(first) - 1);
  return newest;
}

/**
 * The `export_heartbeat` task: writes `heartbeat.json` (exchange/heartbeat.ts) with this database's
 * generation and the newest batch written of each stream, every EXPORT_INTERVAL_S, so a Request side can
 * tell a quiet Response side from a cut transport.
 */
export async function exportHeartbeat(ctx: ExportContext): Promise<ExportResult> {
  const { generation } = await currentGeneration(ctx.db);
  const streams = await newestWritten(ctx.db);
  const written = await writeHeartbeat(ctx.exchangeDir, { generation, created_at: nowIso(), streams }, ctx.signingKey);
  // A heartbeat writer killed mid-write leaves its temporary file beside the stream folders.
  await removeStaleTempFiles(ctx.exchangeDir, STALE_TEMP_MS);
  // Not counted as an exported file: it carries no change.
  return { status: 'success', count: 0, file: written.path, files: [], exported_at: nowIso() };
}
