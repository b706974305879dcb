import path from 'node:path';
import {
  type BatchFile,
  batchFileName,
  openExchangeFile,
  RefusedFile,
  type Stream,
  streamDir,
} from '../../exchange/index.js';
import { nowIso } from '../../platform/db.js';
import { unmetRequirements } from './apply-file.js';
import { announceGeneration, relationOf } from './generation.js';
import { identityOf } from './identity.js';
import { adoptGeneration, advancePosition, setNewestSeen, setWaiting, streamState } from './import-streams.js';
import type { BatchListings } from './listings.js';
import { type ImportContext, type ImportPass, LostRace, noteApplied } from './pass.js';
import { refusedBefore } from './quarantine.js';
import { applyWithinLimit, forgetCoveredHolds, HeldFile, hold, valveFor } from './valve.js';

/**
 * Applies a stream's batches in sequence order from its position + 1, until a gap or a batch that waits
 * (or that the safety valve holds: the batches after it wait behind it). Files stay in the folder once
 * applied (the Request side only reads it), and files may arrive in any order (a mirror copies them so):
 * the position alone says which are done. The next batch is opened by its name, so applying never lists
 * the folder; a listing (reused while the folder is unchanged) only tells how far the folder goes and
 * whether the stream waits for a missing batch.
 */
export async function importBatches(pass: ImportPass, stream: Stream, listings: BatchListings): Promise<void> {
  const { db } = pass.ctx;
  const dir = streamDir(pass.ctx.exchangeDir, stream);
  let state = await streamState(db, stream);
  if (state.rebase_to !== null) {
    // A newer generation was seen: its batches count from its snapshot, which has not been applied yet.
    pass.result.rebasing[stream] = state.rebase_to;
    return;
  }
  let later = await listings.known(dir, state.last_seq, pass);
  let outcome: Outcome = 'missing';
  // A folder unchanged since a listing that lacks the next batch cannot hold it: it is not looked for.
  if (later === undefined || later[0]?.seq === state.last_seq + 1) {
    for (;;) {
      const seq = state.last_seq + 1;
      outcome = await importBatch(pass, stream, path.join(dir, batchFileName(seq)), seq, state.generation);
      if (outcome !== 'next') break;
      state = await streamState(db, stream);
    }
    later = await listings.after(dir, state.last_seq, pass);
  }
  await forgetCoveredHolds(db, stream, state.last_seq);
  const newest = later.at(-1)?.seq ?? 0;
  if (newest > state.newest_seen) await setNewestSeen(db, stream, newest);
  await recordWaiting(pass, stream, later, { seq: state.last_seq + 1, outcome });
}

/**
 * Notes (or clears) the batch a stream waits for, keeping when the wait began. A refused batch counts as
 * missing (so does one of an older generation); a held one is present: the stream waits behind it, not
 * for it. Only a snapshot or a corrected copy gets the stream past a refused batch. `later` are the batches listed
 * past the position; `tried` is how the batch after it fared.
 */
async function recordWaiting(
  { ctx, result }: ImportPass,
  stream: Stream,
  later: readonly BatchFile[],
  tried: { seq: number; outcome: Outcome },
): Promise<void> {
  // Read again: another importer may have moved the position since.
  const state = await streamState(ctx.db, stream);
  const next = state.last_seq + 1;
  const present =
    next === tried.seq ? tried.outcome === 'wait' || tried.outcome === 'held' : later.some((b) => b.seq === next);
  const blocked = !present && later.some((b) => b.seq > next);
  const waitingFor = blocked ? next : null;
  if (waitingFor !== null) result.waiting[stream] = waitingFor;
  if (waitingFor === state.waiting_for) return;
  if (waitingFor !== null) {
    ctx.logger.warn({ stream, waiting_for: waitingFor }, `stream ${stream} waits for missing batch ${waitingFor}`);
  }
  await setWaiting(ctx.db, stream, waitingFor);
}

/**
 * 'next': applied (here or by another importer); 'missing': no file under the name (yet, or any more).
 */
type Outcome = 'next' | 'wait' | 'refused' | 'held' | 'older' | 'missing';

/**
 * Applies batch `seq`, the stream's next; 'wait' when what it names has not arrived or it is of a newer
 * generation, 'refused' when bad, 'held' when it would remove more accounts than allowed (valve.ts),
 * 'older' when it is of an older generation than `generation` (the stream's): a file the new generation
 * has not written over yet, which counts as missing.
 */
async function importBatch(
  pass: ImportPass,
  stream: Stream,
  file: string,
  seq: number,
  generation: string | null,
): Promise<Outcome> {
  const { ctx } = pass;
  const now = nowIso();
  const name = path.basename(file);
  // Taken before the file is opened: if a new file takes the name meanwhile, a refusal is not pinned on it.
  const identity = await identityOf(file);
  if (identity === undefined) return 'missing';
  if (await refusedBefore(ctx.db, stream, name, identity)) return 'refused';
  if (pass.olderGeneration.has(stream, name, identity)) return 'older';
  const valve = await valveFor(ctx, stream, name, identity);
  if (valve.held) return 'held';
  try {
    const opened = await openBatch(ctx, stream, file, seq);
    const relation = relationOf(generation, opened.header.generation);
    if (relation === 'older') {
      ctx.logger.debug(
        { stream, seq, generation: opened.header.generation },
        `${stream}/${name} is of an older generation`,
      );
      pass.olderGeneration.add(stream, name, identity);
      return 'older';
    }
    if (relation === 'newer') {
      await announceGeneration(ctx, opened.header.generation, `${stream}/${name}`);
      return 'wait';
    }
    const unmet = await unmetRequirements(ctx.db, opened.header.requires);
    if (unmet.length > 0) {
      // What it names has not arrived yet (its batch is on its way, or a snapshot will bring it).
      ctx.logger.debug({ stream, seq, unmet }, `${stream}/${name} waits for ${unmet.join(', ')}`);
      return 'wait';
    }
    const { count, removals } = await ctx.db.transaction().execute(async (trx) => {
      // Compare-and-set on the stream's position, first: only one importer can apply batch `seq`.
      const applied = { file: name, keyId: opened.header.key_id, at: now };
      if (!(await advancePosition(trx, stream, seq, applied))) throw new LostRace();
      if (relation === 'adopt') await adoptGeneration(trx, stream, opened.header.generation);
      return applyWithinLimit(trx, stream, name, opened, now, valve.limit);
    });
    ctx.logger.info({ stream, seq, count, ...(removals > 0 && { removals }) }, `applied ${stream}/${name}`);
    await noteApplied(pass, stream, file, count);
    return 'next';
  } catch (err) {
    if (err instanceof LostRace) return 'next';
    if (err instanceof HeldFile) {
      await hold(pass, { stream, name, kind: 'batch', seq, path: file }, { identity, position: valve.position }, err);
      return 'held';
    }
    // Gone since it was found: pruned by the Response side, or removed by a mirror.
    if (err instanceof RefusedFile && err.code === 'vanished') return 'missing';
    if (err instanceof RefusedFile) {
      await pass.refuse(file, stream, err, identity);
      return 'refused';
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
