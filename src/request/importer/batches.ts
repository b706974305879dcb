import fs from 'node:fs/promises';
import path from 'node:path';
import {
  type BatchFile,
  listBatchFiles,
  openExchangeFile,
  RefusedFile,
  type Stream,
  streamDir,
} from '../../exchange/index.js';
import { nowIso } from '../../platform/db.js';
import { applyFile, unmetRequirements } from './apply-file.js';
import { advancePosition, setNewestSeen, setWaiting, streamState } from './import-streams.js';
import { type ImportContext, type ImportPass, LostRace, noteApplied } from './pass.js';

const removeConsumed = (file: string) => fs.rm(file, { force: true });

/** Applies a stream's batches in sequence order from its position + 1, until a gap or a batch that waits. */
export async function importBatches(pass: ImportPass, stream: Stream): Promise<void> {
  const { db } = pass.ctx;
  const dir = streamDir(pass.ctx.exchangeDir, stream);
  const batches = await listBatchFiles(dir);
  let state = await streamState(db, stream);
  const newest = batches.at(-1)?.seq ?? 0;
  if (newest > state.newest_seen) await setNewestSeen(db, stream, newest);
  for (const { seq, name } of batches) {
    const file = path.join(dir, name);
    if (seq <= state.last_seq) {
      // Applied before (or covered by a snapshot): what it holds is committed, so it may go.
      await removeConsumed(file);
      continue;
    }
    if (seq !== state.last_seq + 1) break; // a gap: wait for the missing batch
    const outcome = await importBatch(pass, stream, file, seq);
    if (outcome === 'stop') break;
    state = await streamState(db, stream);
  }
  await recordWaiting(pass, stream, batches);
}

/** Notes (or clears) the batch a stream waits for, keeping when the wait began. */
async function recordWaiting({ ctx, result }: ImportPass, stream: Stream, batches: BatchFile[]): Promise<void> {
  const state = await streamState(ctx.db, stream);
  const blocked = batches.some((b) => b.seq > state.last_seq + 1) && !batches.some((b) => b.seq === state.last_seq + 1);
  const waitingFor = blocked ? state.last_seq + 1 : null;
  if (waitingFor !== null) result.waiting[stream] = waitingFor;
  if (waitingFor === state.waiting_for) return;
  if (waitingFor !== null) {
    ctx.logger.warn({ stream, waiting_for: waitingFor }, `stream ${stream} waits for missing batch ${waitingFor}`);
  }
  await setWaiting(ctx.db, stream, waitingFor);
}

/** Applies batch `seq`, the stream's next. 'stop' when the stream must wait (or its batch was refused). */
async function importBatch(pass: ImportPass, stream: Stream, file: string, seq: number): Promise<'next' | 'stop'> {
  const { ctx } = pass;
  const now = nowIso();
  try {
    const opened = await openBatch(ctx, stream, file, seq);
    const unmet = await unmetRequirements(ctx.db, opened.header.requires);
    if (unmet.length > 0) {
      // What it names has not arrived yet (its batch is on its way, or a snapshot will bring it).
      ctx.logger.debug({ stream, seq, unmet }, `${stream}/${path.basename(file)} waits for ${unmet.join(', ')}`);
      return 'stop';
    }
    const count = await ctx.db.transaction().execute(async (trx) => {
      // Compare-and-set on the stream's position, first: only one importer can apply batch `seq`.
      if (!(await advancePosition(trx, stream, seq, path.basename(file), now))) throw new LostRace();
      return applyFile(trx, stream, opened, now);
    });
    // Only now, after the commit, may the file go.
    await removeConsumed(file);
    ctx.logger.info({ stream, seq, count }, `applied ${stream}/${path.basename(file)}`);
    noteApplied(pass.result, stream, file, count);
    return 'next';
  } catch (err) {
    if (err instanceof LostRace) return 'next';
    if (err instanceof RefusedFile && err.code === 'vanished') return 'next';
    if (err instanceof RefusedFile) {
      await pass.refuse(file, stream, err);
      return 'stop';
    }
    throw err;
  }
}

/** Opens and authenticates the batch file named `seq`, refusing one that holds anything else. */
async function openBatch(ctx: ImportContext, stream: Stream, file: string, seq: number) {
  const opened = await openExchangeFile(file, stream, ctx.trustedKeys, { maxBytes: ctx.maxFileBytes });
  if (opened.header.kind !== 'batch' || opened.header.seq !== seq) {
    throw new RefusedFile('wrong_place', `file named ${seq} holds ${opened.header.kind} ${opened.header.seq}`);
  }
  return opened;
}
