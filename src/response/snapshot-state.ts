import path from 'node:path';
import type { Kysely } from 'kysely';
import { identityOf, peekFile, SNAPSHOT_OF, type Stream, streamDir } from '../exchange/index.js';
import { nowIso } from '../platform/db.js';
import type { ResponseDatabase } from './db/schema.js';
import { currentGeneration } from './generation.js';

/*
 * Cost grows with change, not with size: a scheduled export rewrites a stream's snapshot only when the
 * stream changed since the one in place. Every change reaches the exchange folder through the outbox, and
 * the scheduled run claims what waits before it decides, so "changed" is "a covered stream's counter
 * (export_streams.last_seq) moved past the stamps of the snapshot last written". The decision reads a few
 * tiny rows and stats one file: it never counts or reads the stream's table. The Request side's freshness
 * comes from the heartbeat, not from a snapshot's age.
 */

type Db = Kysely<ResponseDatabase>;

/**
 * The stamps of the snapshot of `stream` in place when it need not be rewritten, or undefined when it
 * must be: none was recorded, the generation or signing key is not the one recorded, a covered stream
 * moved past its stamp, or the file is gone or is not the file recorded (pruned by hand, replaced,
 * altered).
 */
export async function unchangedSnapshot(
  db: Db,
  exchangeDir: string,
  stream: Stream,
  keyId: string,
): Promise<Record<string, number> | undefined> {
  const spec = SNAPSHOT_OF[stream];
  if (!spec) return undefined;
  const last = await db.selectFrom('export_snapshots').selectAll().where('stream', '=', stream).executeTakeFirst();
  if (!last || last.key_id !== keyId) return undefined;
  const { generation, snapshots_at } = await currentGeneration(db);
  if (last.generation !== generation || snapshots_at === null) return undefined;
  const covers = JSON.parse(last.covers) as Record<string, number>;
  const counters = await db
    .selectFrom('export_streams')
    .select(['stream', 'last_seq'])
    .where('stream', 'in', [...spec.covers])
    .execute();
  if (counters.length !== spec.covers.length || counters.some((c) => covers[c.stream] !== c.last_seq)) return undefined;
  const inPlace = await identityOf(path.join(streamDir(exchangeDir, stream), spec.file));
  return inPlace === last.identity ? covers : undefined;
}

/**
 * Records the snapshot of `stream` now in place (the one just written, or a newer one another exporter
 * put there), read from the file itself. A file replaced between the write and this read is recorded as
 * what it is; at worst the next run finds its stamps behind the counters and writes once more.
 */
export async function recordSnapshot(db: Db, exchangeDir: string, stream: Stream): Promise<void> {
  const spec = SNAPSHOT_OF[stream];
  if (!spec) return;
  const found = await peekFile(path.join(streamDir(exchangeDir, stream), spec.file));
  if (!found) return;
  const row = {
    generation: found.header.generation,
    covers: JSON.stringify(found.header.covers ?? {}),
    key_id: found.header.key_id,
    identity: found.identity,
    written_at: nowIso(),
  };
  await db
    .insertInto('export_snapshots')
    .values({ stream, ...row })
    .onConflict((oc) => oc.column('stream').doUpdateSet(row))
    .execute();
}
