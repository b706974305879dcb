import path from 'node:path';
import type { Kysely } from 'kysely';
import {
  compareGenerations,
  HEARTBEAT_FILE,
  type Heartbeat,
  isStream,
  listBatchFiles,
  RefusedFile,
  readHeartbeat,
  streamDir,
} from '../../exchange/index.js';
import { nowIso } from '../../platform/db.js';
import type { RequestDatabase } from '../db/schema.js';
import { judgeStaleness, type Missing, readHeartbeatRow } from '../sync/staleness.js';
import { announceGeneration } from './generation.js';
import { identityOf } from './identity.js';
import type { ImportContext } from './pass.js';

/**
 * The Request side's half of the heartbeat (exchange/heartbeat.ts), run at the end of every import pass
 * (on file events and every IMPORT_INTERVAL_S, so also when no file arrives): reads the heartbeat from
 * the exchange folder (never writing there), keeps the newest one it accepts in its database, notes the
 * batches it names that are not in the folder, and logs when this side becomes stale and when that clears.
 */
export class HeartbeatCheck {
  /** The heartbeat file last judged (its identity), so an unchanged one is not read and logged again. */
  private judged: string | undefined;

  constructor(private readonly ctx: ImportContext) {}

  async run(now = Date.now()): Promise<void> {
    const { db } = this.ctx;
    if (!(await readHeartbeatRow(db))?.watching_since) {
      await db
        .updateTable('exchange_heartbeat')
        .set({ watching_since: new Date(now).toISOString() })
        .where('id', '=', 1)
        .where('watching_since', 'is', null)
        .execute();
    }
    await this.readNewest();
    await this.noteMissing(now);
    await this.reportTransition(now);
  }

  /** Reads the heartbeat file when it changed, and keeps it when it is genuine and newer than the one kept. */
  private async readNewest(): Promise<void> {
    const { ctx } = this;
    const file = path.join(ctx.exchangeDir, HEARTBEAT_FILE);
    const identity = await identityOf(file);
    if (identity === undefined || identity === this.judged) return;
    let heartbeat: Heartbeat | undefined;
    try {
      heartbeat = await readHeartbeat(file, ctx.trustedKeys);
    } catch (err) {
      if (!(err instanceof RefusedFile)) throw err;
      // Never applied; logged once per file. The heartbeat kept before still counts (and ages).
      this.judged = identity;
      ctx.logger.error({ code: err.code, reason: err.message }, `ignored ${HEARTBEAT_FILE}: ${err.message}`);
      return;
    }
    this.judged = identity;
    if (!heartbeat) return;
    const kept = await readHeartbeatRow(ctx.db);
    if (kept?.created_at && kept.generation) {
      const older =
        compareGenerations(heartbeat.generation, kept.generation) < 0 ||
        (heartbeat.generation === kept.generation && heartbeat.created_at < kept.created_at);
      if (older) {
        // A replayed (or held-back) heartbeat must not make a cut transport look alive.
        ctx.logger.warn(
          { created_at: heartbeat.created_at, newest_seen: kept.created_at },
          `ignored ${HEARTBEAT_FILE} written ${heartbeat.created_at}: older than the newest seen (${kept.created_at})`,
        );
        return;
      }
      if (heartbeat.created_at === kept.created_at && heartbeat.generation === kept.generation) return;
    }
    await ctx.db
      .updateTable('exchange_heartbeat')
      .set({
        generation: heartbeat.generation,
        created_at: heartbeat.created_at,
        key_id: heartbeat.key_id,
        streams: JSON.stringify(heartbeat.streams),
        seen_at: nowIso(),
      })
      .where('id', '=', 1)
      // Two importers reading heartbeats at once: the newer wins (a newer generation's, whatever its time).
      .where((eb) =>
        eb.or([
          eb('created_at', 'is', null),
          eb('generation', '<', heartbeat.generation),
          eb.and([eb('generation', '=', heartbeat.generation), eb('created_at', '<', heartbeat.created_at)]),
        ]),
      )
      .execute();
    // A new generation shows in the heartbeat before any of its files needs to be opened.
    await announceGeneration(ctx, heartbeat.generation, HEARTBEAT_FILE);
  }

  /**
   * Notes, per stream, a batch the kept heartbeat names that is neither in the folder nor applied, and
   * since when; cleared once it (or a later snapshot) is here. A stream following another generation than
   * the heartbeat's is left out: its numbers do not compare.
   */
  private async noteMissing(now: number): Promise<void> {
    const { db, exchangeDir } = this.ctx;
    const kept = await readHeartbeatRow(db);
    if (!kept?.streams || !kept.generation) return;
    const before = kept.missing ? (JSON.parse(kept.missing) as Missing) : {};
    const missing: Missing = {};
    const positions = await db.selectFrom('import_streams').select(['stream', 'last_seq', 'generation']).execute();
    for (const [stream, named] of Object.entries(JSON.parse(kept.streams) as Record<string, number>)) {
      const state = positions.find((p) => p.stream === stream);
      if (!isStream(stream) || !state || (state.generation !== null && state.generation !== kept.generation)) continue;
      if (named <= state.last_seq) continue; // applied: no need to look in the folder
      const newestFile = (await listBatchFiles(streamDir(exchangeDir, stream))).at(-1)?.seq ?? 0;
      const present = Math.max(newestFile, state.last_seq);
      if (named <= present) continue;
      const earlier = before[stream];
      // Still missing what was missing before: the clock keeps running. Otherwise it starts now.
      missing[stream] =
        earlier && earlier.seq > present
          ? { ...earlier, present }
          : { seq: named, since: new Date(now).toISOString(), present };
    }
    const text = Object.keys(missing).length === 0 ? null : JSON.stringify(missing);
    if (text !== kept.missing) await writeMissing(db, text);
  }

  /** Logs once when this side becomes stale (a warning, with why) and once when that clears. */
  private async reportTransition(now: number): Promise<void> {
    const { db, logger, exportIntervalS } = this.ctx;
    const row = await readHeartbeatRow(db);
    const judged = judgeStaleness(row, exportIntervalS ?? 60, now);
    if (Boolean(row?.stale) === judged.stale) return;
    const moved = await db
      .updateTable('exchange_heartbeat')
      .set({ stale: judged.stale ? 1 : 0 })
      .where('id', '=', 1)
      .where('stale', '=', judged.stale ? 0 : 1)
      .executeTakeFirst();
    if (Number(moved.numUpdatedRows) === 0) return; // another importer said it
    if (judged.stale) {
      logger.warn(
        { stale_reasons: judged.stale_reasons },
        `this Request side is stale: ${judged.stale_reasons.join('; ')}`,
      );
    } else {
      logger.info({ heartbeat: judged.heartbeat }, 'this Request side is no longer stale');
    }
  }
}

async function writeMissing(db: Kysely<RequestDatabase>, missing: string | null): Promise<void> {
  await db.updateTable('exchange_heartbeat').set({ missing }).where('id', '=', 1).execute();
}
