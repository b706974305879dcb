import { IMPORT_ORDER } from '../../exchange/index.js';
import { nowIso } from '../../platform/db.js';
import { SyncHistorySampler } from '../sync/sync-history.js';
import { importBatches } from './batches.js';
import { OlderGenerationFiles } from './generation.js';
import { HeartbeatCheck } from './heartbeat.js';
import { BatchListings } from './listings.js';
import type { ImportContext, ImportPass, ImportResult } from './pass.js';
import { quarantine } from './quarantine.js';
import { importSnapshot, SettledSnapshots } from './snapshot.js';

export type { ImportContext, ImportResult } from './pass.js';

/**
 * Applies what the exchange folder holds, stream by stream in dependency order: first the stream's
 * snapshot (snapshot.ts), then its batches in sequence order (batches.ts). It only reads the exchange
 * folder, which may be read-only or a mirror: what it applied and what it refused are in its database.
 * docs/exchange-protocol.md states what it guarantees.
 */
export class Importer {
  /** Snapshots found already applied, kept across passes so an unchanged one is not read again. */
  private readonly settled = new SettledSnapshots();
  private readonly olderGeneration = new OlderGenerationFiles();
  private readonly heartbeat: HeartbeatCheck;
  /** Stream folders as last listed, kept across passes so an unchanged folder is not listed again. */
  private readonly listings = new BatchListings();
  /** Samples each stream's lag after the passes, for GET /sync/history. */
  private readonly history: SyncHistorySampler;

  constructor(private readonly ctx: ImportContext) {
    this.heartbeat = new HeartbeatCheck(ctx);
    this.history = new SyncHistorySampler(ctx.db, ctx.exchangeDir, ctx.exportIntervalS ?? 60, ctx.logger);
  }

  /** One pass over every stream, in dependency order; repeats while a pass finds new work. */
  async importAll(): Promise<ImportResult> {
    const result: ImportResult = {
      status: 'success',
      applied: {},
      count: 0,
      files: [],
      quarantined: [],
      held: [],
      waiting: {},
      rebasing: {},
      imported_at: '',
    };
    const pass: ImportPass = {
      ctx: this.ctx,
      result,
      olderGeneration: this.olderGeneration,
      refuse: async (file, stream, err, identity) => {
        const recorded = await quarantine(this.ctx, file, stream, err, identity);
        if (recorded) result.quarantined.push(recorded);
      },
    };
    for (let round = 0; round < 100; round++) {
      const before = result.files.length + result.quarantined.length;
      result.waiting = {};
      result.rebasing = {};
      for (const stream of IMPORT_ORDER) {
        await importSnapshot(pass, stream, this.settled);
        await importBatches(pass, stream, this.listings);
      }
      if (result.files.length + result.quarantined.length === before) break;
    }
    // After the files: what the heartbeat names is judged against what was just applied too.
    await this.heartbeat.run();
    await this.history.afterPass();
    result.imported_at = nowIso();
    return result;
  }
}
