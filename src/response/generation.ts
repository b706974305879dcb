import path from 'node:path';
import type { Kysely } from 'kysely';
import {
  compareGenerations,
  type Header,
  listBatchFiles,
  nextGeneration,
  peekHeader,
  SNAPSHOT_OF,
  STREAMS,
  type Stream,
  streamDir,
} from '../exchange/index.js';
import type { Logger } from '../platform/logger.js';
import type { ResponseDatabase } from './db/schema.js';

/*
 * The Response database's generation (exchange/generation.ts). A database restored from a backup goes
 * back in time: its counters hand out sequence numbers Request sides already applied, which they would
 * skip as done. A new generation tells them to re-base on its snapshots instead. It is made by
 * `netsync generation new` after a restore, or here, when the exporter finds in its folder what this
 * database cannot have written.
 */

type Db = Kysely<ResponseDatabase>;

export const currentGeneration = (db: Db) => db.selectFrom('exchange_generation').selectAll().executeTakeFirstOrThrow();

/**
 * Replaces generation `from` by a new one whose snapshots are still to be written, newer than `from` and
 * than `floor` (the newest generation the exchange folder shows: Request sides may follow that one).
 * @returns the new id, or undefined when `from` was no longer current (another process replaced it)
 */
export async function replaceGeneration(
  db: Db,
  from: string,
  floor?: string,
  now = new Date(),
): Promise<string | undefined> {
  const generation = nextGeneration(floor !== undefined && floor > from ? floor : from, now);
  const replaced = await db
    .updateTable('exchange_generation')
    .set({ generation, created_at: now.toISOString(), snapshots_at: null })
    .where('generation', '=', from)
    .executeTakeFirst();
  return Number(replaced.numUpdatedRows) === 1 ? generation : undefined;
}

/** Notes that `generation`'s snapshots of every stream are written: its batches may follow. */
export async function markSnapshotsWritten(db: Db, generation: string): Promise<void> {
  await db
    .updateTable('exchange_generation')
    .set({ snapshots_at: new Date().toISOString() })
    .where('generation', '=', generation)
    .where('snapshots_at', 'is', null)
    .execute();
}

/** The newest generation the snapshots in the exchange folder carry, or undefined when there are none. */
export async function newestGenerationIn(exchangeDir: string): Promise<string | undefined> {
  let newest: string | undefined;
  for (const [stream, spec] of Object.entries(SNAPSHOT_OF)) {
    if (!spec) continue;
    const g = (await peekHeader(path.join(streamDir(exchangeDir, stream as Stream), spec.file)))?.generation;
    if (typeof g === 'string' && (newest === undefined || g > newest)) newest = g;
  }
  return newest;
}

/**
 * What in the exchange folder this database, of `generation`, cannot have written, or undefined: a file
 * of its own generation numbered past its counter for that stream, or a file of a newer generation (it
 * was restored from a backup taken before that generation was made). The folder is read before the
 * counters: a file in place was claimed, and its counter committed, before it was written, so a file
 * another exporter is writing right now is never taken for one.
 */
export async function findRewind(
  db: Db,
  exchangeDir: string,
  streams: readonly Stream[],
  generation: string,
): Promise<string | undefined> {
  const found: { stream: Stream; seq: number; header: Header; file: string }[] = [];
  const counters = async () =>
    new Map(
      (await db.selectFrom('export_streams').select(['stream', 'last_seq']).execute()).map((r) => [
        r.stream,
        r.last_seq,
      ]),
    );
  const before = await counters();
  for (const stream of streams) {
    const dir = streamDir(exchangeDir, stream);
    // Names first: in normal running no batch is past the counter, so no file is opened. After a new
    // generation began, the old one's files past the counter stay until this generation writes over them;
    // only the first is opened: this database writes in order, so had it written any of them, it wrote
    // that one (or it was pruned, and is not there).
    const first = (await listBatchFiles(dir)).find((b) => b.seq > (before.get(stream) ?? 0));
    if (first) {
      const header = await peekHeader(path.join(dir, first.name));
      if (header) found.push({ stream, seq: first.seq, header, file: `${stream}/${first.name}` });
    }
  }
  for (const [stream, spec] of Object.entries(SNAPSHOT_OF)) {
    if (!spec?.covers.some((s) => streams.includes(s))) continue;
    const header = await peekHeader(path.join(streamDir(exchangeDir, stream as Stream), spec.file));
    if (!header) continue;
    for (const s of spec.covers) {
      const seq = header.covers?.[s] ?? 0;
      found.push({ stream: s, seq, header, file: `${stream}/${spec.file}` });
    }
  }
  if (found.length === 0) return undefined;
  const after = await counters();
  for (const { stream, seq, header, file } of found) {
    if (typeof header.generation !== 'string') continue;
    const order = compareGenerations(header.generation, generation);
    if (order > 0) return `${file} is of generation ${header.generation}, newer than this database's ${generation}`;
    const counter = after.get(stream) ?? 0;
    if (order === 0 && seq > counter) {
      return `${file} holds ${stream} ${seq} of this database's generation ${generation}, but this database has handed out only up to ${counter}`;
    }
  }
  return undefined;
}

/**
 * Before an export writes anything: makes a new generation when the folder shows this database went back
 * in time, and writes a new generation's snapshots of every stream (`snapshotAll`) before any of its
 * batches, so a Request side meets the snapshot it re-bases on first.
 * @returns the snapshot files written (none, mostly)
 */
export async function settleGeneration(
  db: Db,
  exchangeDir: string,
  logger: Logger,
  snapshotAll: () => Promise<string[]>,
  streams: readonly Stream[] = STREAMS,
): Promise<string[]> {
  let current = await currentGeneration(db);
  const rewind = await findRewind(db, exchangeDir, streams, current.generation);
  if (rewind !== undefined) {
    const made = await replaceGeneration(db, current.generation, await newestGenerationIn(exchangeDir));
    if (made !== undefined) {
      logger.warn(
        { previous_generation: current.generation, generation: made },
        `the exchange folder holds files this database cannot have written (${rewind}): it went back in time ` +
          `(restored from a backup?); starting new generation ${made}, Request sides re-base on its snapshots`,
      );
    }
    current = await currentGeneration(db);
  }
  if (current.snapshots_at === null) {
    const files = await snapshotAll();
    await markSnapshotsWritten(db, current.generation);
    return files;
  }
  return [];
}
