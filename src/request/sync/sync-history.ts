import { type Kysely, sql } from 'kysely';
import { type Static, Type } from 'typebox';
import { STREAMS } from '../../exchange/index.js';
import type { Logger } from '../../platform/logger.js';
import type { RequestDatabase } from '../db/schema.js';
import { readSyncStatus } from './sync-status.js';

/**
 * The history of each stream's sync lag, for the console's chart (GET /sync/history): after its passes
 * the importer samples GET /sync/status's `lag_seconds` and `behind` and keeps, per stream and minute, the
 * worst of the minute, so a short spike is not hidden by the catch-up that follows. Rows older than a day
 * go. Sampling reads what /sync/status reads (a listing of each stream folder), so a busy importer samples
 * at most every SAMPLE_EVERY_MS; the first pass of each minute always samples.
 */
export const SyncHistoryEntry = Type.Object({
  minute: Type.String({ description: 'The minute, ISO-8601 UTC (seconds zero)' }),
  stream: Type.String(),
  lag_s: Type.Union([Type.Number(), Type.Null()], {
    description: "The minute's highest lag_seconds as GET /sync/status reports it; null when unknown",
  }),
  behind: Type.Integer({ description: "The minute's highest count of batches written but not applied" }),
});
export type SyncHistoryEntry = Static<typeof SyncHistoryEntry>;

export const HistoryQuery = Type.Object({
  minutes: Type.Integer({ minimum: 1, maximum: 1440, default: 60 }),
});

const MINUTE_MS = 60_000;
/** Samples are kept this long. */
export const HISTORY_KEEP_MS = 24 * 60 * MINUTE_MS;
const SAMPLE_EVERY_MS = 5000;

const minuteOf = (ms: number) => new Date(Math.floor(ms / MINUTE_MS) * MINUTE_MS).toISOString();

/** Writes one sample per stream into its minute, keeping the minute's highest lag and backlog. */
export async function recordSamples(
  db: Kysely<RequestDatabase>,
  minute: string,
  samples: readonly { stream: string; lag_s: number | null; behind: number }[],
): Promise<void> {
  if (samples.length === 0) return;
  await db
    .insertInto('sync_history')
    .values(samples.map((s) => ({ minute, ...s })))
    .onConflict((oc) =>
      oc.columns(['minute', 'stream']).doUpdateSet({
        // Written the same way for SQLite and PostgreSQL (no max()/greatest(), which differ).
        lag_s: sql`case when excluded.lag_s is not null and (sync_history.lag_s is null or excluded.lag_s > sync_history.lag_s) then excluded.lag_s else sync_history.lag_s end`,
        behind: sql`case when excluded.behind > sync_history.behind then excluded.behind else sync_history.behind end`,
      }),
    )
    .execute();
}

/** Drops samples of minutes before `beforeIso`. */
export async function pruneSamples(db: Kysely<RequestDatabase>, beforeIso: string): Promise<void> {
  await db.deleteFrom('sync_history').where('minute', '<', beforeIso).execute();
}

/** GET /sync/history: the samples of the last `minutes` (the current one included), oldest first. */
export async function readSyncHistory(
  db: Kysely<RequestDatabase>,
  minutes: number,
  now = Date.now(),
): Promise<SyncHistoryEntry[]> {
  const from = new Date(Math.floor(now / MINUTE_MS) * MINUTE_MS - (minutes - 1) * MINUTE_MS).toISOString();
  const rows = await db
    .selectFrom('sync_history')
    .select(['minute', 'stream', 'lag_s', 'behind'])
    .where('minute', '>=', from)
    .orderBy('minute')
    .orderBy('stream')
    .execute();
  return rows.map((r) => ({ ...r, lag_s: r.lag_s === null ? null : Number(r.lag_s), behind: Number(r.behind) }));
}

/** The importer's sampler: one per importer, so its memory of the last sample is the process's. */
export class SyncHistorySampler {
  private lastSampleAt = 0;
  private lastMinute = '';
  private lastPrunedMinute = '';

  constructor(
    private readonly db: Kysely<RequestDatabase>,
    private readonly exchangeDir: string,
    private readonly exportIntervalS: number,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** Called after each pass. Never throws: a sample that cannot be written must not fail the import. */
  async afterPass(): Promise<void> {
    const now = this.now();
    const minute = minuteOf(now);
    if (minute === this.lastMinute && now - this.lastSampleAt < SAMPLE_EVERY_MS) return;
    this.lastSampleAt = now;
    this.lastMinute = minute;
    try {
      const status = await readSyncStatus(this.db, this.exchangeDir, this.exportIntervalS);
      const samples = STREAMS.flatMap((stream) => {
        const s = status.streams[stream];
        return s ? [{ stream, lag_s: s.lag_seconds, behind: s.behind }] : [];
      });
      await recordSamples(this.db, minute, samples);
      if (minute !== this.lastPrunedMinute) {
        await pruneSamples(this.db, new Date(now - HISTORY_KEEP_MS).toISOString());
        this.lastPrunedMinute = minute;
      }
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'could not record the sync lag sample');
    }
  }
}
