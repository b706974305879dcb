import type { Kysely } from 'kysely';
import type { Stream } from '../../exchange/index.js';
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

/** The applied snapshot stamps of `streams`, and the same as one comparable string. */
export async function appliedStamps(db: Db, streams: readonly Stream[]) {
  const rows = await db
    .selectFrom('import_streams')
    .select(['stream', 'snapshot_seq'])
    .where('stream', 'in', [...streams])
    .orderBy('stream')
    .execute();
  return {
    seqs: new Map(rows.map((r) => [r.stream, r.snapshot_seq])),
    text: rows.map((r) => `${r.stream}=${r.snapshot_seq}`).join(','),
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

/**
 * Compare-and-set of the position, `seq - 1 → seq`: true for the one importer that moved it. The newest
 * batch seen rises with it: a batch is applied by its name, before any listing has seen it.
 */
export async function advancePosition(trx: Db, stream: Stream, seq: number, file: string, now: string) {
  const moved = await trx
    .updateTable('import_streams')
    .set((eb) => ({
      last_seq: seq,
      last_file: file,
      last_applied_at: now,
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

export async function setLastApplied(trx: Db, stream: Stream, file: string, now: string): Promise<void> {
  await trx
    .updateTable('import_streams')
    .set({ last_file: file, last_applied_at: now })
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
