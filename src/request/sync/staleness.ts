import type { Kysely, Selectable } from 'kysely';
import { type Static, Type } from 'typebox';
import type { ExchangeHeartbeatTable, RequestDatabase } from '../db/schema.js';

/*
 * Staleness: whether this Request side can trust that it sees what the Response side wrote. Judged from
 * the newest heartbeat accepted (importer/heartbeat.ts) and the time now, so the API, /ready, the metrics
 * and `netsync sync status` all say the same, even when no file arrives at all. The Response side writes
 * a heartbeat every EXPORT_INTERVAL_S; this side must be given the same value.
 */

/** How many export intervals a heartbeat may age before this side is stale. */
export const STALE_AFTER_INTERVALS = 3;

export type HeartbeatRow = Selectable<ExchangeHeartbeatTable>;

export const readHeartbeatRow = (db: Kysely<RequestDatabase>): Promise<HeartbeatRow | undefined> =>
  db.selectFrom('exchange_heartbeat').selectAll().where('id', '=', 1).executeTakeFirst();

/** Batches a heartbeat named that were not in the folder, by stream, as the importer records them. */
export type Missing = Record<string, { seq: number; since: string; present: number }>;

export const Freshness = {
  heartbeat: Type.Union([
    Type.Object({
      created_at: Type.String({
        description: "When the Response side wrote the newest heartbeat (the Response side's clock)",
      }),
      age_s: Type.Number({ description: 'How old it is now, in seconds (0 when the clocks disagree the other way)' }),
      generation: Type.String(),
    }),
    Type.Null(),
  ]),
  heartbeat_status: Type.Union([Type.Literal('ok'), Type.Literal('stale'), Type.Literal('no heartbeat yet')]),
  stale: Type.Boolean({
    description: 'The copy step may have stopped: the heartbeat is too old, or names batches that are not here',
  }),
  stale_reasons: Type.Array(Type.String()),
};
const FreshnessObject = Type.Object(Freshness);
export type Staleness = Static<typeof FreshnessObject>;

/**
 * Judges staleness at `now` (ms): stale when the newest heartbeat is older than 3 × `exportIntervalS`, or
 * when a batch it named has been missing from the folder for more than one interval. Before any
 * heartbeat was ever seen: "no heartbeat yet", and stale only once the importer has looked for one for
 * 3 intervals (a Request side set up before its Response side wrote its first heartbeat is not stale).
 */
export function judgeStaleness(row: HeartbeatRow | undefined, exportIntervalS: number, now: number): Staleness {
  const limitS = STALE_AFTER_INTERVALS * exportIntervalS;
  const reasons: string[] = [];
  if (!row?.created_at || !row.generation) {
    const since = row?.watching_since ? Date.parse(row.watching_since) : undefined;
    if (since !== undefined && now - since > limitS * 1000) {
      reasons.push(
        `no heartbeat in the exchange folder since this side started looking (${row?.watching_since}), ` +
          `over ${STALE_AFTER_INTERVALS} × EXPORT_INTERVAL_S (${limitS} s): is the copy step running?`,
      );
    }
    const stale = reasons.length > 0;
    return { heartbeat: null, heartbeat_status: stale ? 'stale' : 'no heartbeat yet', stale, stale_reasons: reasons };
  }
  const ageS = Math.max(0, (now - Date.parse(row.created_at)) / 1000);
  if (ageS > limitS) {
    reasons.push(
      `the newest heartbeat was written ${Math.round(ageS)} s ago (${row.created_at}), over ` +
        `${STALE_AFTER_INTERVALS} × EXPORT_INTERVAL_S (${limitS} s): the copy step may have stopped`,
    );
  }
  const missing = row.missing ? (JSON.parse(row.missing) as Missing) : {};
  for (const [stream, m] of Object.entries(missing)) {
    const forS = (now - Date.parse(m.since)) / 1000;
    if (forS > exportIntervalS) {
      reasons.push(
        `the heartbeat names ${stream} batch ${m.seq}, not in the exchange folder for ${Math.round(forS)} s ` +
          `(newest here: ${m.present}): files are held back or lost on the way`,
      );
    }
  }
  const stale = reasons.length > 0;
  return {
    heartbeat: { created_at: row.created_at, age_s: Math.round(ageS * 1000) / 1000, generation: row.generation },
    heartbeat_status: stale ? 'stale' : 'ok',
    stale,
    stale_reasons: reasons,
  };
}

/** The staleness of the Request side whose database is `db`, now. */
export async function readStaleness(db: Kysely<RequestDatabase>, exportIntervalS: number): Promise<Staleness> {
  return judgeStaleness(await readHeartbeatRow(db), exportIntervalS, Date.now());
}
