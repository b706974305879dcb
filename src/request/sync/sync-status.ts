import type { Kysely } from 'kysely';
import { type Static, Type } from 'typebox';
import { STREAMS, type Stream } from '../../exchange/index.js';
import type { RequestDatabase } from '../db/schema.js';
import { listHeldFiles } from '../importer/held-files.js';
import { pendingBatches } from './pending.js';
import { Freshness, readStaleness } from './staleness.js';
import { listImportStreams, quarantineCounts, recentQuarantined } from './sync.repository.js';

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);

const QuarantineEntry = Type.Object({
  file: Type.String({
    description: 'The copy in the quarantine folder (the file in the exchange folder when none was made)',
  }),
  code: Type.String(),
  reason: Type.String(),
  quarantined_at: Type.String(),
});

const StreamStatus = Type.Object({
  last_file: Nullable(Type.String()),
  last_applied_at: Nullable(Type.String()),
  last_key_id: Nullable(
    Type.String({ description: 'Id of the key that signed last_file (as `netsync keys show` prints it)' }),
  ),
  last_seq: Type.Integer({ description: 'Newest batch applied (or covered by an applied snapshot)' }),
  snapshot_seq: Type.Integer({ description: 'Stamp of the newest snapshot applied' }),
  newest_seen: Type.Integer({ description: 'Newest sequence number seen in the exchange folder' }),
  behind: Type.Integer({ description: 'newest_seen - last_seq: batches written but not applied yet' }),
  lag_seconds: Nullable(
    Type.Number({ description: 'Age of the oldest unapplied batch file in the folder; 0 when caught up' }),
  ),
  waiting_for: Nullable(Type.Integer({ description: 'The missing batch this stream cannot pass' })),
  waiting_since: Nullable(Type.String()),
  generation: Nullable(
    Type.String({ description: "The Response database's generation this stream follows (null: none applied yet)" }),
  ),
  waiting_for_generation: Nullable(
    Type.String({
      description: 'A newer generation seen (the Response database was restored): the stream waits for its snapshot',
    }),
  ),
  quarantine: Type.Object({ count: Type.Integer(), recent: Type.Array(QuarantineEntry) }),
});

const HeldEntry = Type.Object({
  file: Type.String({
    description: 'The held file, <stream>/<name> in the exchange folder: what `netsync sync confirm` takes',
  }),
  stream: Type.String(),
  kind: Type.Union([Type.Literal('batch'), Type.Literal('snapshot')]),
  seq: Type.Integer({ description: "A batch's sequence number; a snapshot's stamp for its own stream" }),
  removals: Type.Integer({ description: 'Accounts it would delete, deactivate or (a snapshot) no longer list' }),
  limit: Type.Integer({ description: 'The limit it exceeds: MAX_ACCOUNT_REMOVALS when it was held' }),
  since: Type.String({ description: 'When a file of this name was first held' }),
  confirmed_at: Nullable(Type.String({ description: 'When an operator confirmed it: the next import applies it' })),
});

export const SyncStatus = Type.Object({
  checked_at: Type.String(),
  // The signed heartbeat and staleness (staleness.ts): is the copy step delivering what was written?
  ...Freshness,
  streams: Type.Object(
    Object.fromEntries(STREAMS.map((s) => [s, StreamStatus])) as Record<Stream, typeof StreamStatus>,
  ),
  held: Type.Array(HeldEntry, {
    description: 'Files the safety valve holds: each would remove more accounts than MAX_ACCOUNT_REMOVALS at once',
  }),
});

export type SyncStatus = Static<typeof SyncStatus>;

const RECENT_QUARANTINED = 5;

/**
 * Per stream, how far the importer got and how far behind the Response Network it is, and the files the
 * safety valve holds (GET /sync/status, `netsync sync status`). Everything comes from the importer's bookkeeping plus one listing of each
 * stream's folder (names only, and one stat), so it stays cheap to poll.
 */
export async function readSyncStatus(
  db: Kysely<RequestDatabase>,
  exchangeDir: string,
  /** EXPORT_INTERVAL_S, which staleness is judged by (its default when not given). */
  exportIntervalS = 60,
): Promise<SyncStatus> {
  const now = Date.now();
  const freshness = await readStaleness(db, exportIntervalS);
  const states = await listImportStreams(db);
  const counts = await quarantineCounts(db);
  const streams = {} as Record<Stream, Static<typeof StreamStatus>>;
  for (const stream of STREAMS) {
    const s = states.find((r) => r.stream === stream);
    if (!s) continue;
    const folder = await pendingBatches(exchangeDir, stream, s.last_seq);
    const newestSeen = Math.max(s.newest_seen, folder.newest);
    const behind = Math.max(0, newestSeen - s.last_seq);
    let lag: number | null = null;
    if (behind === 0) lag = 0;
    else if (folder.oldestAt !== undefined) lag = Math.max(0, (now - folder.oldestAt) / 1000);
    else if (s.waiting_since) lag = Math.max(0, (now - Date.parse(s.waiting_since)) / 1000);
    streams[stream] = {
      last_file: s.last_file,
      last_applied_at: s.last_applied_at,
      last_key_id: s.last_key_id,
      last_seq: s.last_seq,
      snapshot_seq: s.snapshot_seq,
      newest_seen: newestSeen,
      behind,
      lag_seconds: lag === null ? null : Math.round(lag * 1000) / 1000,
      waiting_for: s.waiting_for,
      waiting_since: s.waiting_since,
      generation: s.generation,
      waiting_for_generation: s.rebase_to,
      quarantine: {
        count: counts.get(stream) ?? 0,
        recent: await recentQuarantined(db, stream, RECENT_QUARANTINED),
      },
    };
  }
  const held = (await listHeldFiles(db)).map((h) => ({
    file: `${h.stream}/${h.name}`,
    stream: h.stream,
    kind: h.kind,
    seq: Number(h.seq),
    removals: Number(h.removals),
    limit: Number(h.max_removals),
    since: h.held_at,
    confirmed_at: h.confirmed_at,
  }));
  return { checked_at: new Date(now).toISOString(), ...freshness, streams, held };
}
