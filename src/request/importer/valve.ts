import type { Kysely } from 'kysely';
import type { ExchangeFile, Stream, UserRecord } from '../../exchange/index.js';
import type { RequestDatabase } from '../db/schema.js';
import { applyFile } from './apply-file.js';
import { heldFile, recordHeld, releaseCoveredBatches, releaseHeld } from './held-files.js';
import { streamState } from './import-streams.js';
import type { ImportContext, ImportPass } from './pass.js';

/*
 * The safety valve (MAX_ACCOUNT_REMOVALS): a users file that would delete or deactivate more accounts
 * than the limit at once is held, not applied, until an operator confirms it (`netsync sync confirm`) or
 * raises the limit. A mass removal is more often a mistake upstream (a restored or rebuilt Response
 * database, a script gone wrong) than a wish, and on the isolated side it locks people out. Holding is a
 * row in `held_files`: the exchange folder is read-only to the Request side.
 *
 * The count is made inside the transaction that applies the file, chunk by chunk before each is applied,
 * and a file over the limit rolls back: the file is read once, and the count is exactly what applying it
 * would do against what the Request side holds at that moment.
 */

type Trx = Kysely<RequestDatabase>;

/** Streams whose records are accounts: the only ones the valve judges. */
const ACCOUNT_STREAMS: readonly Stream[] = ['users'];
const judged = (stream: Stream) => ACCOUNT_STREAMS.includes(stream);

/** Applying the file would remove more accounts than `limit`: thrown inside the transaction, to roll it back. */
export class HeldFile extends Error {
  constructor(
    readonly removals: number,
    readonly limit: number,
  ) {
    super(`it would remove ${removals} accounts, more than ${limit}`);
  }
}

/** Held still (leave it unread), or how many accounts it may remove and the stream's position now. */
export type ValveVerdict = { held: true } | { held: false; limit: number; position: number };

/**
 * What the valve says about `name` in `stream`'s folder, which holds `identity`, before it is opened.
 * Held still when this very file was held with the stream where it is now, over a limit that still
 * stands: the verdict would be the same, so it is neither read nor logged again. Otherwise it may remove
 * up to MAX_ACCOUNT_REMOVALS accounts, or as many as an operator confirmed for this name (a snapshot
 * rewritten since the confirmation, removing no more, is covered by it).
 */
export async function valveFor(
  ctx: ImportContext,
  stream: Stream,
  name: string,
  identity: string | undefined,
): Promise<ValveVerdict> {
  if (!judged(stream)) return { held: false, limit: Number.POSITIVE_INFINITY, position: 0 };
  const configured = ctx.maxAccountRemovals === 0 ? Number.POSITIVE_INFINITY : ctx.maxAccountRemovals;
  const position = (await streamState(ctx.db, stream)).last_seq;
  const row = await heldFile(ctx.db, stream, name);
  if (!row) return { held: false, limit: configured, position };
  if (row.confirmed_at !== null) return { held: false, limit: Math.max(configured, row.removals), position };
  const same = row.identity === identity && Number(row.position) === position;
  if (same && row.removals > configured) return { held: true };
  return { held: false, limit: configured, position };
}

/**
 * Applies `file` inside `trx` (see applyFile), and forgets any hold on its name. A file of an account
 * stream that would remove more than `limit` accounts throws HeldFile instead, after reading it whole,
 * so the caller's transaction rolls back.
 * @returns how many records it held, and how many accounts it removed
 */
export async function applyWithinLimit(
  trx: Trx,
  stream: Stream,
  name: string,
  file: ExchangeFile<Stream>,
  now: string,
  limit: number,
  /** The snapshot a stream re-bases on (see applyFile). */
  replace = false,
): Promise<{ count: number; removals: number }> {
  if (!judged(stream)) return { count: await applyFile(trx, stream, file, now, { replace }), removals: 0 };
  const removals = new Removals(file.header.kind === 'snapshot');
  await removals.start(trx);
  // Only account streams get here, so the records are users.
  const count = await applyFile(trx, stream, file, now, {
    replace,
    beforeChunk: (chunk) => removals.see(trx, chunk as readonly UserRecord[]),
  });
  const total = removals.total();
  if (total > limit) throw new HeldFile(total, limit);
  await releaseHeld(trx, stream, name);
  return { count, removals: total };
}

/**
 * Counts the accounts a file removes: live and active on the Request side before the file, deleted or
 * inactive once its newest record for them is applied (a record applies only over an older version). A
 * snapshot is the whole set, so a live account it does not list counts too: the Response side no longer
 * has it. Keeps one small entry per account the file names that was live before it (a file's records
 * are already bounded by MAX_EXCHANGE_FILE_BYTES); a snapshot's accounts that were not live cannot
 * count, and each is named once (one record per row of the Response side's table), so they are not
 * kept: a million-account snapshot applied to an empty Request side keeps nothing (it kept ~200 MB).
 */
class Removals {
  private liveBefore = 0;
  private readonly seen = new Map<string, { wasLive: boolean; version: number; removed: boolean }>();

  constructor(private readonly snapshot: boolean) {}

  async start(trx: Trx): Promise<void> {
    if (!this.snapshot) return;
    const row = await trx
      .selectFrom('users')
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .where('deleted_at', 'is', null)
      .where('is_active', '=', 1)
      .executeTakeFirstOrThrow();
    // PostgreSQL answers count(*) as a bigint, which pg hands over as a string.
    this.liveBefore = Number(row.n);
  }

  /** Called with each chunk before it is applied: an account first named here is still as it was before the file. */
  async see(trx: Trx, chunk: readonly UserRecord[]): Promise<void> {
    const fresh = [...new Set(chunk.map((r) => r.id))].filter((id) => !this.seen.has(id));
    if (fresh.length > 0) {
      const rows = await trx
        .selectFrom('users')
        .select(['id', 'version', 'deleted_at', 'is_active'])
        .where('id', 'in', fresh)
        .execute();
      const held = new Map(rows.map((r) => [r.id, r]));
      for (const id of fresh) {
        const r = held.get(id);
        const live = r !== undefined && r.deleted_at === null && Number(r.is_active) === 1;
        if (this.snapshot && !live) continue;
        this.seen.set(id, { wasLive: live, version: r ? Number(r.version) : Number.NEGATIVE_INFINITY, removed: !live });
      }
    }
    for (const r of chunk) {
      const s = this.seen.get(r.id);
      if (s && r.version > s.version) {
        s.version = r.version;
        s.removed = r.deleted_at !== null || !r.is_active;
      }
    }
  }

  total(): number {
    let removed = 0;
    let listedLive = 0;
    for (const s of this.seen.values()) {
      if (!s.wasLive) continue;
      listedLive++;
      if (s.removed) removed++;
    }
    return this.snapshot ? removed + (this.liveBefore - listedLive) : removed;
  }
}

/**
 * Records a file the valve holds, judged as `identity` with the stream at `position`, and logs it once
 * per hold (a held snapshot rewritten by the next export, still over the limit, is the same hold).
 */
export async function hold(
  pass: ImportPass,
  file: { stream: Stream; name: string; kind: 'batch' | 'snapshot'; seq: number; path: string },
  judgedAs: { identity: string | undefined; position: number },
  held: HeldFile,
): Promise<void> {
  const { ctx, result } = pass;
  // Gone meanwhile: whatever takes the name next is judged afresh.
  if (judgedAs.identity === undefined) return;
  const isNew = await recordHeld(ctx.db, {
    stream: file.stream,
    name: file.name,
    kind: file.kind,
    seq: file.seq,
    identity: judgedAs.identity,
    position: judgedAs.position,
    removals: held.removals,
    max_removals: held.limit,
  });
  result.held.push(file.path);
  const shown = `${file.stream}/${file.name}`;
  const fields = { stream: file.stream, file: file.name, seq: file.seq, removals: held.removals, limit: held.limit };
  if (isNew) {
    ctx.logger.warn(
      fields,
      `held ${shown}: it would delete or deactivate ${held.removals} accounts, more than MAX_ACCOUNT_REMOVALS ` +
        `(${held.limit}); the stream waits. If that is intended: netsync sync confirm ${shown}`,
    );
  } else {
    ctx.logger.debug(fields, `${shown} is still held`);
  }
}

/** Forgets a hold on `name`: the file can no longer apply (a snapshot already applied, or refused). */
export async function forgetHold(db: Trx, stream: Stream, name: string): Promise<void> {
  if (judged(stream)) await releaseHeld(db, stream, name);
}

/** Forgets held batches at or below the stream's position: a snapshot moved the stream past them. */
export async function forgetCoveredHolds(db: Trx, stream: Stream, position: number): Promise<void> {
  if (judged(stream)) await releaseCoveredBatches(db, stream, position);
}
