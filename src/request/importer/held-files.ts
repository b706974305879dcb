import type { Insertable, Kysely, Selectable } from 'kysely';
import { nowIso } from '../../platform/db.js';
import type { HeldFilesTable, RequestDatabase } from '../db/schema.js';

/*
 * `held_files`: the files the safety valve holds (valve.ts), one row per name in a stream folder. The
 * exchange folder is read-only to the Request side, so holding a file is this record and nothing else.
 */

type Db = Kysely<RequestDatabase>;
export type HeldFileRow = Selectable<HeldFilesTable>;

export const heldFile = (db: Db, stream: string, name: string): Promise<HeldFileRow | undefined> =>
  db.selectFrom('held_files').selectAll().where('stream', '=', stream).where('name', '=', name).executeTakeFirst();

/** Every held file, oldest first. */
export const listHeldFiles = (db: Db): Promise<HeldFileRow[]> =>
  db.selectFrom('held_files').selectAll().orderBy('held_at').orderBy('stream').orderBy('name').execute();

/**
 * Records that a file is held. A file of the same name held before (a snapshot rewritten, a mirror's new
 * copy) takes over its row: since when stays, unless that row was confirmed (this file removes more than
 * the operator confirmed, so it is a new hold that needs its own confirmation).
 * @returns true when this is a new hold (to log once), false when it only refreshes one; undefined when
 *   another importer changed the row meanwhile (the next pass judges again)
 */
export async function recordHeld(
  db: Db,
  held: Omit<Insertable<HeldFilesTable>, 'held_at' | 'confirmed_at'>,
): Promise<boolean | undefined> {
  const prev = await heldFile(db, held.stream, held.name);
  if (!prev) {
    const inserted = await db
      .insertInto('held_files')
      .values({ ...held, held_at: nowIso(), confirmed_at: null })
      .onConflict((oc) => oc.columns(['stream', 'name']).doNothing())
      .executeTakeFirst();
    return Number(inserted.numInsertedOrUpdatedRows ?? 0) === 1 ? true : undefined;
  }
  const updated = await db
    .updateTable('held_files')
    .set({ ...held, held_at: prev.confirmed_at === null ? prev.held_at : nowIso(), confirmed_at: null })
    .where('stream', '=', held.stream)
    .where('name', '=', held.name)
    // Compare-and-set: an operator's confirmation that lands meanwhile is not wiped out.
    .where('confirmed_at', prev.confirmed_at === null ? 'is' : '=', prev.confirmed_at)
    .executeTakeFirst();
  if (Number(updated.numUpdatedRows) !== 1) return undefined;
  return prev.confirmed_at !== null;
}

/** Forgets the hold on `name` (it was applied, or can no longer apply). Inside the applying transaction. */
export async function releaseHeld(db: Db, stream: string, name: string): Promise<void> {
  await db.deleteFrom('held_files').where('stream', '=', stream).where('name', '=', name).execute();
}

/** Forgets held batches at or below the position: a snapshot moved the stream past them. */
export async function releaseCoveredBatches(db: Db, stream: string, position: number): Promise<void> {
  await db
    .deleteFrom('held_files')
    .where('stream', '=', stream)
    .where('kind', '=', 'batch')
    .where('seq', '<=', position)
    .execute();
}

/**
 * Marks the held file confirmed, so the importer applies it (with up to the removals it was held for).
 * @returns the row as confirmed now (or as confirmed before), undefined when no such file is held
 */
export async function confirmHeld(db: Db, stream: string, name: string): Promise<HeldFileRow | undefined> {
  await db
    .updateTable('held_files')
    .set({ confirmed_at: nowIso() })
    .where('stream', '=', stream)
    .where('name', '=', name)
    .where('confirmed_at', 'is', null)
    .execute();
  return heldFile(db, stream, name);
}
