import path from 'node:path';
import type { Kysely } from 'kysely';
import {
  type ExchangeFile,
  type Header,
  openExchangeFile,
  RefusedFile,
  SNAPSHOT_OF,
  type Stream,
  streamDir,
} from '../../exchange/index.js';
import { nowIso } from '../../platform/db.js';
import type { RequestDatabase } from '../db/schema.js';
import { announceGeneration, relationOf } from './generation.js';
import { identityOf } from './identity.js';
import {
  adoptGeneration,
  appliedStamps,
  claimSnapshotStamp,
  raisePosition,
  rebaseStream,
  setLastApplied,
  streamState,
} from './import-streams.js';
import { type ImportPass, LostRace, noteApplied } from './pass.js';
import { refusedBefore } from './quarantine.js';
import { applyWithinLimit, forgetHold, HeldFile, hold, valveFor } from './valve.js';

/** A snapshot's stamp for one stream it covers: the newest batch of that stream it reflects. */
type Stamp = [Stream, number];

/**
 * Per stream: the snapshot file last found already applied, and the applied stamps it was judged
 * against. Every import pass looks at every snapshot, and reading and authenticating an unchanged one
 * again costs a fifth of the Request worker's time under load.
 */
export class SettledSnapshots {
  private readonly settled = new Map<Stream, { file: string; stamps: string }>();

  /** True when `identity` is the file last judged already applied, against stamps that still hold. */
  async holds(db: Kysely<RequestDatabase>, stream: Stream, identity: string | undefined, covers: readonly Stream[]) {
    const settled = this.settled.get(stream);
    if (identity === undefined || settled?.file !== identity) return false;
    // The same file as last time, judged already applied against these stamps: if they still hold,
    // the judgement would be the same again.
    return (await appliedStamps(db, covers)).text === settled.stamps;
  }

  /**
   * Remembers the snapshot at `file`, read as `identity`, as one to leave alone (of an older generation
   * than the stream follows) while the stream's stamps and generation stay as they are now.
   */
  async ignore(
    db: Kysely<RequestDatabase>,
    stream: Stream,
    file: string,
    identity: string | undefined,
    covers: readonly Stream[],
  ) {
    const fresh = await appliedStamps(db, covers);
    if (identity !== undefined && (await identityOf(file)) === identity) {
      this.settled.set(stream, { file: identity, stamps: fresh.text });
    }
  }

  /**
   * Remembers the snapshot at `file`, read as `identity`, as already applied: only when nothing replaced
   * the file while it was read, and with stamps read afresh that still match it (another importer may
   * have moved them meanwhile).
   */
  async remember(
    db: Kysely<RequestDatabase>,
    stream: Stream,
    file: string,
    identity: string | undefined,
    covers: readonly Stream[],
    stamps: readonly Stamp[],
  ): Promise<void> {
    const fresh = await appliedStamps(db, covers);
    if (
      identity !== undefined &&
      (await identityOf(file)) === identity &&
      stamps.every(([s, seq]) => fresh.seqs.get(s) === seq)
    ) {
      this.settled.set(stream, { file: identity, stamps: fresh.text });
    }
  }
}

/**
 * Judges a stream's snapshot against the applied stamps: newer in any stream it covers, applied; all
 * equal, skipped; older in any, refused (the rollback rule). Stamps compare within one generation
 * (generation.ts): a snapshot of a newer generation than the stream follows is re-based on, one of an
 * older generation is ignored.
 */
export async function importSnapshot(pass: ImportPass, stream: Stream, settled: SettledSnapshots): Promise<void> {
  const spec = SNAPSHOT_OF[stream];
  if (!spec) return;
  const { db } = pass.ctx;
  const file = path.join(streamDir(pass.ctx.exchangeDir, stream), spec.file);
  const before = await identityOf(file);
  if (await settled.holds(db, stream, before, spec.covers)) return;
  // Refused before: it stays in the folder until the Response side writes a new one over it.
  if (await refusedBefore(db, stream, spec.file, before)) return;
  // Held by the safety valve, and nothing changed since: left unread until confirmed.
  const valve = await valveFor(pass.ctx, stream, spec.file, before);
  if (valve.held) return;
  const opened = await openSnapshot(pass, stream, file, before);
  if (!opened) return;
  const stamps = stampsOf(opened.header, stream, spec.covers);
  const relation = relationOf((await streamState(db, stream)).generation, opened.header.generation);
  if (relation === 'older') {
    // The new generation's snapshot is on its way (a mirror may not have copied it yet).
    pass.ctx.logger.debug(
      { stream, generation: opened.header.generation },
      `${stream}/${spec.file} is of an older generation`,
    );
    return settled.ignore(db, stream, file, before, spec.covers);
  }
  if (relation === 'newer') {
    await announceGeneration(pass.ctx, opened.header.generation, `${stream}/${spec.file}`);
    return rebaseOnSnapshot(pass, stream, { file, identity: before }, opened, stamps, valve);
  }
  const stamped = stamps.map(([s]) => s);
  const applied = (await appliedStamps(db, stamped)).seqs;
  const older = stamps.find(([s, seq]) => seq < (applied.get(s) ?? 0));
  if (older) {
    // The rollback rule: never go back to an older snapshot than one already applied.
    const [s, seq] = older;
    const reason = `snapshot stamped ${s} ${seq}, older than ${s} ${applied.get(s)} already applied`;
    await forgetHold(db, stream, spec.file);
    return pass.refuse(file, stream, new RefusedFile('replayed', reason), before);
  }
  if (stamps.every(([s, seq]) => seq === (applied.get(s) ?? 0))) {
    // Nothing to apply (an empty stream's snapshot, mostly), but it names the generation to follow.
    if (relation === 'adopt') {
      for (const [covered] of stamps) await adoptGeneration(db, covered, opened.header.generation);
    }
    // Already applied: remembered, so the next pass need not read it again.
    await forgetHold(db, stream, spec.file);
    return settled.remember(db, stream, file, before, spec.covers, stamps);
  }
  await applySnapshot(pass, stream, { file, identity: before }, opened, stamps, valve);
}

/** The snapshot at `file` (read as `identity`), authenticated; undefined when it vanished or was refused. */
async function openSnapshot(pass: ImportPass, stream: Stream, file: string, identity: string | undefined) {
  let opened: ExchangeFile<Stream>;
  try {
    opened = await openExchangeFile(file, stream, pass.ctx.trustedKeys, { maxBytes: pass.ctx.maxFileBytes });
  } catch (err) {
    if (!(err instanceof RefusedFile)) throw err;
    if (err.code !== 'vanished') await pass.refuse(file, stream, err, identity);
    return undefined;
  }
  if (opened.header.kind !== 'snapshot') {
    await pass.refuse(file, stream, new RefusedFile('wrong_place', 'a batch under a snapshot name'), identity);
    return undefined;
  }
  return opened;
}

/**
 * A snapshot's stamps, sorted: one lock order for every importer. A snapshot is placed by its stamp for
 * every stream it covers, not only its own: users_latest.json also covers password_changes, whose stamp
 * moves while the users stamp stays put. Judged by its own stamp alone, a snapshot newer only in
 * password changes would be skipped as "already applied" (and never heal a password_changes gap), and an
 * older one never refused. A covers entry for a stream the snapshot does not cover is ignored: it must
 * not move that stream's position.
 */
function stampsOf(header: Header, stream: Stream, covered: readonly Stream[]): Stamp[] {
  return Object.entries({ ...header.covers, [stream]: header.seq })
    .filter((c): c is Stamp => (covered as readonly string[]).includes(c[0]))
    .sort(([a], [b]) => a.localeCompare(b));
}

/** Applies the snapshot's records and moves the covered streams' stamps and positions: one transaction. */
async function applySnapshot(
  pass: ImportPass,
  stream: Stream,
  { file, identity }: { file: string; identity: string | undefined },
  opened: ExchangeFile<Stream>,
  stamps: readonly Stamp[],
  valve: { limit: number; position: number },
): Promise<void> {
  const name = path.basename(file);
  const now = nowIso();
  try {
    const { count, removals } = await pass.ctx.db.transaction().execute(async (trx) => {
      // Claim first (writes, so they take the locks): a racing importer applying the same snapshot loses.
      let advanced = 0;
      for (const [covered, seq] of stamps) {
        if (await claimSnapshotStamp(trx, covered, seq)) advanced++;
      }
      if (advanced === 0) throw new LostRace();
      // The first file a stream applies names the generation it follows.
      for (const [covered] of stamps) await adoptGeneration(trx, covered, opened.header.generation);
      await setLastApplied(trx, stream, { file: name, keyId: opened.header.key_id, at: now });
      const applied = await applyWithinLimit(trx, stream, name, opened, now, valve.limit);
      for (const [covered, seq] of stamps) await raisePosition(trx, covered, seq);
      return applied;
    });
    pass.ctx.logger.info(
      { stream, seq: opened.header.seq, count, ...(removals > 0 && { removals }) },
      `applied snapshot ${stream}/${name}`,
    );
    await noteApplied(pass, stream, file, count);
  } catch (err) {
    return settleFailure(pass, stream, { file, identity }, opened, valve, err);
  }
}

/**
 * Re-bases the covered streams on a newer generation's snapshot, in one transaction: its records replace
 * the stream's data whatever their versions (a restored database may hold lower ones than the old
 * generation reached), rows it lacks are removed, and positions and stamps are set to its stamps.
 */
async function rebaseOnSnapshot(
  pass: ImportPass,
  stream: Stream,
  { file, identity }: { file: string; identity: string | undefined },
  opened: ExchangeFile<Stream>,
  stamps: readonly Stamp[],
  valve: { limit: number; position: number },
): Promise<void> {
  const name = path.basename(file);
  const now = nowIso();
  const { generation } = opened.header;
  try {
    // A re-base that would remove many accounts (an old backup restored by mistake) is held like any file.
    const { count } = await pass.ctx.db.transaction().execute(async (trx) => {
      // Compare-and-set on the generation, first: a racing importer re-basing on the same snapshot loses.
      let moved = 0;
      for (const [covered, seq] of stamps) {
        if (await rebaseStream(trx, covered, generation, seq)) moved++;
      }
      if (moved === 0) throw new LostRace();
      await setLastApplied(trx, stream, { file: name, keyId: opened.header.key_id, at: now });
      return applyWithinLimit(trx, stream, name, opened, now, valve.limit, true);
    });
    pass.ctx.logger.warn(
      { stream, generation, stamps: Object.fromEntries(stamps), count },
      `re-based ${stream} on generation ${generation}: ${stream}/${name} replaced its data`,
    );
    await noteApplied(pass, stream, file, count);
  } catch (err) {
    return settleFailure(pass, stream, { file, identity }, opened, valve, err);
  }
}

/** After a snapshot's apply or re-base failed: held, refused, or nothing to do (lost a race, vanished). */
async function settleFailure(
  pass: ImportPass,
  stream: Stream,
  { file, identity }: { file: string; identity: string | undefined },
  opened: ExchangeFile<Stream>,
  valve: { position: number },
  err: unknown,
): Promise<void> {
  if (err instanceof LostRace) return;
  if (err instanceof HeldFile) {
    const held = { stream, name: path.basename(file), kind: 'snapshot' as const, seq: opened.header.seq, path: file };
    return hold(pass, held, { identity, position: valve.position }, err);
  }
  if (err instanceof RefusedFile && err.code !== 'vanished') return pass.refuse(file, stream, err, identity);
  if (err instanceof RefusedFile) return;
  throw err;
}
