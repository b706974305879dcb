import fs from 'node:fs/promises';
import path from 'node:path';
import type { Kysely } from 'kysely';
import {
  type ExchangeFile,
  IMPORT_ORDER,
  isStream,
  listBatchFiles,
  openExchangeFile,
  type RecordOf,
  RefusedFile,
  SNAPSHOT_OF,
  type Stream,
  streamDir,
} from '../../exchange/index.js';
import { nowIso } from '../../platform/db.js';
import type { Logger } from '../../platform/logger.js';
import type { RequestDatabase } from '../db/schema.js';
import { APPLY_CHUNK, applyRecords, unknownReferences } from './apply.js';
import { quarantine } from './quarantine.js';

export interface ImportContext {
  readonly db: Kysely<RequestDatabase>;
  readonly exportDir: string;
  readonly quarantineDir: string;
  readonly exchangeKey: string;
  readonly maxFileBytes: number;
  readonly logger: Logger;
}

export interface ImportResult {
  status: 'success';
  /** Files applied, per stream. */
  applied: Partial<Record<Stream, number>>;
  count: number;
  files: string[];
  quarantined: string[];
  /** Streams waiting for a missing batch: the sequence number each waits for. */
  waiting: Partial<Record<Stream, number>>;
  imported_at: string;
}

/** Another importer applied the same file first; ours rolled back. */
class LostRace extends Error {}

async function streamState(db: Kysely<RequestDatabase>, stream: Stream) {
  return db.selectFrom('import_streams').selectAll().where('stream', '=', stream).executeTakeFirstOrThrow();
}

/**
 * Applies a file's records in chunks inside `trx`; the file's checks finish before the caller commits.
 * A batch stamped with `requires` must name only records that exist by then: anything else is refused.
 */
async function applyFile<S extends Stream>(
  trx: Kysely<RequestDatabase>,
  stream: S,
  file: ExchangeFile<S>,
  now: string,
) {
  const checkReferences = file.header.requires !== undefined;
  let chunk: RecordOf[S][] = [];
  let count = 0;
  const flush = async () => {
    if (checkReferences) {
      const unknown = await unknownReferences(trx, stream, chunk);
      if (unknown) throw new RefusedFile('unknown_user', `names user ${unknown}, which the users stream never had`);
    }
    await applyRecords(trx, stream, chunk, now);
    chunk = [];
  };
  for await (const record of file.records()) {
    chunk.push(record);
    count++;
    if (chunk.length >= APPLY_CHUNK) await flush();
  }
  await flush();
  return count;
}

/** The streams a batch refers to whose import has not reached the batch's `requires` stamp yet. */
async function unmetRequirements(db: Kysely<RequestDatabase>, requires: Record<string, number> | undefined) {
  const unmet: string[] = [];
  for (const [stream, seq] of Object.entries(requires ?? {})) {
    if (!isStream(stream)) continue;
    const state = await streamState(db, stream);
    if (state.last_seq < seq) unmet.push(`${stream} ${seq}`);
  }
  return unmet;
}

const removeConsumed = (file: string) => fs.rm(file, { force: true });

/** Which file a path holds now: a file renamed in is another inode; one written to has another ctime. */
const identityOf = (file: string) =>
  fs.lstat(file).then(
    (st) => (st.isFile() ? `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}` : undefined),
    () => undefined,
  );

export class Importer {
  /**
   * Per stream: the snapshot file last found already applied, and the applied stamps it was judged
   * against. Every import pass looks at every snapshot; reading and authenticating an unchanged one
   * again was a fifth of the Request worker's time under load (the bench, case 2).
   */
  private readonly settled = new Map<Stream, { file: string; stamps: string }>();

  constructor(private readonly ctx: ImportContext) {}

  /** One pass over every stream, in dependency order; repeats while a pass finds new work. */
  async importAll(): Promise<ImportResult> {
    const result: ImportResult = {
      status: 'success',
      applied: {},
      count: 0,
      files: [],
      quarantined: [],
      waiting: {},
      imported_at: '',
    };
    for (let pass = 0; pass < 100; pass++) {
      const before = result.files.length + result.quarantined.length;
      result.waiting = {};
      for (const stream of IMPORT_ORDER) {
        await this.importSnapshot(stream, result);
        await this.importBatches(stream, result);
      }
      if (result.files.length + result.quarantined.length === before) break;
    }
    result.imported_at = nowIso();
    return result;
  }

  private async refuse(file: string, stream: Stream, err: RefusedFile, result: ImportResult): Promise<void> {
    const moved = await quarantine(this.ctx, file, stream, err);
    if (moved) result.quarantined.push(moved);
  }

  private async importSnapshot(stream: Stream, result: ImportResult): Promise<void> {
    const spec = SNAPSHOT_OF[stream];
    if (!spec) return;
    const file = path.join(streamDir(this.ctx.exportDir, stream), spec.file);
    const before = await identityOf(file);
    const settled = this.settled.get(stream);
    if (before !== undefined && settled?.file === before) {
      // The same file as last time, judged already applied against these stamps: if they still hold,
      // the judgement would be the same again.
      if ((await this.appliedStamps(spec.covers)).text === settled.stamps) return;
    }
    let opened: ExchangeFile<typeof stream>;
    try {
      opened = await openExchangeFile(file, stream, this.ctx.exchangeKey, { maxBytes: this.ctx.maxFileBytes });
    } catch (err) {
      if (err instanceof RefusedFile && err.code === 'vanished') return;
      if (err instanceof RefusedFile) return this.refuse(file, stream, err, result);
      throw err;
    }
    const h = opened.header;
    if (h.kind !== 'snapshot') {
      return this.refuse(file, stream, new RefusedFile('wrong_place', 'a batch under a snapshot name'), result);
    }
    // A snapshot is placed by its stamp for every stream it covers, not only its own: users_latest.json
    // also covers password_changes, whose stamp moves while the users stamp stays put. Judged by its own
    // stamp alone, a snapshot newer only in password changes was skipped as "already applied" (so it never
    // healed a password_changes gap) and an older one was never refused. A covers entry for a stream the
    // snapshot does not cover is ignored: it must not move that stream's position.
    const covers = Object.entries({ ...h.covers, [stream]: h.seq })
      .filter((c): c is [Stream, number] => (spec.covers as readonly string[]).includes(c[0]))
      .sort(([a], [b]) => a.localeCompare(b)); // one lock order for every importer
    const applied = new Map(
      (
        await this.ctx.db
          .selectFrom('import_streams')
          .select(['stream', 'snapshot_seq'])
          .where(
            'stream',
            'in',
            covers.map(([s]) => s),
          )
          .execute()
      ).map((r) => [r.stream, r.snapshot_seq]),
    );
    const older = covers.find(([s, seq]) => seq < (applied.get(s) ?? 0));
    if (older) {
      // The rollback rule: never go back to an older snapshot than one already applied.
      const [s, seq] = older;
      return this.refuse(
        file,
        stream,
        new RefusedFile('replayed', `snapshot stamped ${s} ${seq}, older than ${s} ${applied.get(s)} already applied`),
        result,
      );
    }
    if (covers.every(([s, seq]) => seq === (applied.get(s) ?? 0))) {
      // Already applied. Remembered only when nothing replaced the file while it was read, and with
      // stamps read afresh that still match it (another importer may have moved them meanwhile).
      const fresh = await this.appliedStamps(spec.covers);
      if (
        before !== undefined &&
        (await identityOf(file)) === before &&
        covers.every(([s, seq]) => fresh.seqs.get(s) === seq)
      ) {
        this.settled.set(stream, { file: before, stamps: fresh.text });
      }
      return;
    }
    const now = nowIso();
    try {
      const count = await this.ctx.db.transaction().execute(async (trx) => {
        // Claim first (writes, so they take the locks): a racing importer applying the same snapshot loses.
        let advanced = 0;
        for (const [covered, seq] of covers) {
          const claimed = await trx
            .updateTable('import_streams')
            .set({ snapshot_seq: seq })
            .where('stream', '=', covered)
            .where('snapshot_seq', '<', seq)
            .executeTakeFirst();
          advanced += Number(claimed.numUpdatedRows);
        }
        if (advanced === 0) throw new LostRace();
        await trx
          .updateTable('import_streams')
          .set({ last_file: spec.file, last_applied_at: now })
          .where('stream', '=', stream)
          .execute();
        const n = await applyFile(trx, stream, opened, now);
        for (const [covered, seq] of covers) {
          await trx
            .updateTable('import_streams')
            .set((eb) => ({
              last_seq: eb.case().when('last_seq', '<', seq).then(seq).else(eb.ref('last_seq')).end(),
              newest_seen: eb.case().when('newest_seen', '<', seq).then(seq).else(eb.ref('newest_seen')).end(),
            }))
            .where('stream', '=', covered)
            .execute();
        }
        return n;
      });
      this.ctx.logger.info({ stream, seq: h.seq, count }, `applied snapshot ${stream}/${spec.file}`);
      result.files.push(file);
      result.count += count;
      result.applied[stream] = (result.applied[stream] ?? 0) + 1;
    } catch (err) {
      if (err instanceof LostRace) return;
      if (err instanceof RefusedFile && err.code !== 'vanished') return this.refuse(file, stream, err, result);
      if (err instanceof RefusedFile) return;
      throw err;
    }
  }

  /** The applied snapshot stamps of `streams`, and the same as one comparable string. */
  private async appliedStamps(streams: readonly Stream[]) {
    const rows = await this.ctx.db
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

  private async importBatches(stream: Stream, result: ImportResult): Promise<void> {
    const dir = streamDir(this.ctx.exportDir, stream);
    const batches = await listBatchFiles(dir);
    let state = await streamState(this.ctx.db, stream);
    const newest = batches.at(-1)?.seq ?? 0;
    if (newest > state.newest_seen) {
      await this.ctx.db
        .updateTable('import_streams')
        .set({ newest_seen: newest })
        .where('stream', '=', stream)
        .execute();
    }
    for (const { seq, name } of batches) {
      const file = path.join(dir, name);
      if (seq <= state.last_seq) {
        // Applied before (or covered by a snapshot): what it holds is committed, so it may go.
        await removeConsumed(file);
        continue;
      }
      if (seq !== state.last_seq + 1) break; // a gap: wait for the missing batch
      const outcome = await this.importBatch(stream, file, seq, result);
      if (outcome === 'stop') break;
      state = await streamState(this.ctx.db, stream);
    }
    await this.recordWaiting(stream, batches, result);
  }

  /** Notes (or clears) the batch a stream waits for, keeping when the wait began. */
  private async recordWaiting(stream: Stream, batches: { seq: number }[], result: ImportResult): Promise<void> {
    const state = await streamState(this.ctx.db, stream);
    const blocked =
      batches.some((b) => b.seq > state.last_seq + 1) && !batches.some((b) => b.seq === state.last_seq + 1);
    const waitingFor = blocked ? state.last_seq + 1 : null;
    if (waitingFor !== null) result.waiting[stream] = waitingFor;
    if (waitingFor === state.waiting_for) return;
    if (waitingFor !== null) {
      this.ctx.logger.warn(
        { stream, waiting_for: waitingFor },
        `stream ${stream} waits for missing batch ${waitingFor}`,
      );
    }
    await this.ctx.db
      .updateTable('import_streams')
      .set({ waiting_for: waitingFor, waiting_since: waitingFor === null ? null : nowIso() })
      .where('stream', '=', stream)
      .execute();
  }

  private async importBatch(stream: Stream, file: string, seq: number, result: ImportResult): Promise<'next' | 'stop'> {
    const now = nowIso();
    try {
      const opened = await openExchangeFile(file, stream, this.ctx.exchangeKey, { maxBytes: this.ctx.maxFileBytes });
      if (opened.header.kind !== 'batch' || opened.header.seq !== seq) {
        throw new RefusedFile('wrong_place', `file named ${seq} holds ${opened.header.kind} ${opened.header.seq}`);
      }
      const unmet = await unmetRequirements(this.ctx.db, opened.header.requires);
      if (unmet.length > 0) {
        // What it names has not arrived yet (its batch is on its way, or a snapshot will bring it).
        this.ctx.logger.debug({ stream, seq, unmet }, `${stream}/${path.basename(file)} waits for ${unmet.join(', ')}`);
        return 'stop';
      }
      const count = await this.ctx.db.transaction().execute(async (trx) => {
        // Compare-and-set on the stream's position, first: only one importer can apply batch `seq`.
        const moved = await trx
          .updateTable('import_streams')
          .set({ last_seq: seq, last_file: path.basename(file), last_applied_at: now })
          .where('stream', '=', stream)
          .where('last_seq', '=', seq - 1)
          .executeTakeFirst();
        if (Number(moved.numUpdatedRows) !== 1) throw new LostRace();
        return applyFile(trx, stream, opened, now);
      });
      // Only now, after the commit, may the file go.
      await removeConsumed(file);
      this.ctx.logger.info({ stream, seq, count }, `applied ${stream}/${path.basename(file)}`);
      result.files.push(file);
      result.count += count;
      result.applied[stream] = (result.applied[stream] ?? 0) + 1;
      return 'next';
    } catch (err) {
      if (err instanceof LostRace) return 'next';
      if (err instanceof RefusedFile && err.code === 'vanished') return 'next';
      if (err instanceof RefusedFile) {
        await this.refuse(file, stream, err, result);
        return 'stop';
      }
      throw err;
    }
  }
}
