import type { Kysely } from 'kysely';
import { STREAMS, type Stream } from '../../exchange/index.js';
import { nowIso } from '../../platform/db.js';
import type { RequestDatabase } from '../db/schema.js';

/*
 * The importer's bookkeeping in `import_streams`, one row per stream: its position (`last_seq`, the
 * newest batch applied), the stamp of the last snapshot applied (`snapshot_seq`), the newest batch seen
 * in the folder, and the missing batch it waits for. Functions taking `trx` run inside the transaction
 * that applies a file, so a position moves only together with the records.
 */

type Db = Kysely<RequestDatabase>;

export function streamState(db: Db, stream: Stream) {
  return db.selectFrom('import_streams').selectAll().where('stream', '=', stream).executeTakeFirstOrThrow();
}

/** The applied snapshot stamps of `streams`, and the same (with the generations) as one comparable string. */
export async function appliedStamps(db: Db, streams: readonly Stream[]) {
  const rows = await db
    .selectFrom('import_streams')
    .select(['stream', 'snapshot_seq', 'generation', 'rebase_to'])
    .where('stream', 'in', [...streams])
    .orderBy('stream')
    .execute();
  return {
    seqs: new Map(rows.map((r) => [r.stream, r.snapshot_seq])),
    text: rows.map((r) => `${r.stream}=${r.snapshot_seq}@${r.generation}>${r.rebase_to}`).join(','),
  };
}

export async function setNewestSeen(db: Db, stream: Stream, newest: number): Promise<void> {
  await db.updateTable('import_streams').set({ newest_seen: newest }).where('stream', '=', stream).execute();
}

/** Notes the batch `stream` waits for (null: none), and since when. */
export async function setWaiting(db: Db, stream: Stream, waitingFor: number | null): Promise<void> {
  await db
    .updateTable('import_streams')
    .set({ waiting_for: waitingFor, waiting_since: waitingFor === null ? null : nowIso() })
    .where('stream', '=', stream)
    .execute();
}

/** The file last applied to a stream: its name, the id of the key that signed it, and when. */
export interface AppliedFile {
  readonly file: string;
  readonly keyId: string;
  readonly at: string;
}

/**
 * Compare-and-set of the position, `seq - 1 → seq`: true for the one importer that moved it. The newest
 * batch seen rises with it: a batch is applied by its name, before any listing has seen it.
 */
export async function advancePosition(trx: Db, stream: Stream, seq: number, applied: AppliedFile) {
  const moved = await trx
    .updateTable('import_streams')
    .set((eb) => ({
      last_seq: seq,
      last_file: applied.file,
      last_key_id: applied.keyId,
      last_applied_at: applied.at,
      newest_seen: eb.case().when('newest_seen', '<', seq).then(seq).else(eb.ref('newest_seen')).end(),
    }))
    .where('stream', '=', stream)
    .where('last_seq', '=', seq - 1)
    .executeTakeFirst();
  return Number(moved.numUpdatedRows) === 1;
}

/** Raises the applied snapshot stamp of `stream` to `seq` where it is lower: true when it did. */
export async function claimSnapshotStamp(trx: Db, stream: Stream, seq: number): Promise<boolean> {
  const claimed = await trx
    .updateTable('import_streams')
    .set({ snapshot_seq: seq })
    .where('stream', '=', stream)
    .where('snapshot_seq', '<', seq)
    .executeTakeFirst();
  return Number(claimed.numUpdatedRows) > 0;
}

export async function setLastApplied(trx: Db, stream: Stream, applied: AppliedFile): Promise<void> {
  await trx
    .updateTable('import_streams')
    .set({ last_file: applied.file, last_key_id: applied.keyId, last_applied_at: applied.at })
    .where('stream', '=', stream)
    .execute();
}

/** Moves the position (and the newest batch seen) up to `seq` where it is lower; never down. */
export async function raisePosition(trx: Db, stream: Stream, seq: number): Promise<void> {
  await trx
    .updateTable('import_streams')
    .set((eb) => ({
      last_seq: eb.case().when('last_seq', '<', seq).then(seq).else(eb.ref('last_seq')).end(),
      newest_seen: eb.case().when('newest_seen', '<', seq).then(seq).else(eb.ref('newest_seen')).end(),
    }))
    .where('stream', '=', stream)
    .execute();
}

/** Sets the generation of a stream that has none yet: the first file it applies names the one it follows. */
export async function adoptGeneration(trx: Db, stream: Stream, generation: string): Promise<void> {
  await trx
    .updateTable('import_streams')
    .set({ generation })
    .where('stream', '=', stream)
    .where('generation', 'is', null)
    .execute();
}

/**
 * Notes that `generation`, newer than the one they follow, was seen: every stream following an older one
 * stops applying batches until it re-bases on that generation's snapshot.
 * @returns the streams that had not noted it yet (so the news is logged once, across importers)
 */
export async function noteNewGeneration(db: Db, generation: string): Promise<Stream[]> {
  const noted = await db
    .updateTable('import_streams')
    .set({ rebase_to: generation })
    .where('generation', '<', generation)
    .where((eb) => eb.or([eb('rebase_to', 'is', null), eb('rebase_to', '<', generation)]))
    .returning('stream')
    .execute();
  return noted.map((r) => r.stream).filter((s) => (STREAMS as readonly string[]).includes(s));
}

/**
 * Moves `stream` onto `generation` at the stamp `seq` of its snapshot, whatever it held before: the
 * position and snapshot stamp are set (they may go down: a restored database counts from lower numbers).
 * A compare-and-set on the generation: true for the one importer that moved it.
 */
export async function rebaseStream(trx: Db, stream: Stream, generation: string, seq: number): Promise<boolean> {
  const moved = await trx
    .updateTable('import_streams')
    .set((eb) => ({
      generation,
      snapshot_seq: seq,
      last_seq: seq,
      newest_seen: seq,
      waiting_for: null,
      waiting_since: null,
      rebase_to: eb.case().when('rebase_to', '>', generation).then(eb.ref('rebase_to')).else(null).end(),
    }))
    .where('stream', '=', stream)
    .where((eb) => eb.or([eb('generation', 'is', null), eb('generation', '<', generation)]))
    .executeTakeFirst();
  return Number(moved.numUpdatedRows) === 1;
}
