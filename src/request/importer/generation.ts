import type { Kysely } from 'kysely';
import { compareGenerations, type Stream } from '../../exchange/index.js';
import type { Logger } from '../../platform/logger.js';
import type { RequestDatabase } from '../db/schema.js';
import { noteNewGeneration } from './import-streams.js';

/*
 * Generations (exchange/generation.ts). Each stream follows one generation of the Response database:
 * the first it applied a file of. Sequence numbers and snapshot stamps compare only within it. A file
 * of a newer generation means the Response database was restored or rebuilt: the stream stops applying
 * batches and waits for that generation's snapshot, which replaces its data (snapshot.ts). A file of an
 * older generation is ignored: a mirror may still hold it until the Response side overwrites or prunes it.
 *
 * Per stream rather than one for the whole side because the Response side writes a snapshot per stream
 * and a mirror may deliver them in any order: each stream re-bases as soon as its own snapshot is there.
 * users_latest.json covers users and password_changes, which re-base together in one transaction, so a
 * password batch's `requires` stamp is always compared within one generation.
 */

/** How a file's generation stands to the one a stream follows. */
export type GenerationRelation = 'adopt' | 'same' | 'older' | 'newer';

export function relationOf(followed: string | null, file: string): GenerationRelation {
  if (followed === null) return 'adopt';
  const order = compareGenerations(file, followed);
  return order === 0 ? 'same' : order < 0 ? 'older' : 'newer';
}

/** Says once (across importers) that a newer generation was seen, and makes every stream wait for its snapshot. */
export async function announceGeneration(
  ctx: { readonly db: Kysely<RequestDatabase>; readonly logger: Logger },
  generation: string,
  where: string,
): Promise<void> {
  const streams = await noteNewGeneration(ctx.db, generation);
  if (streams.length === 0) return;
  ctx.logger.warn(
    { generation, streams, seen_in: where },
    `new generation ${generation} of the Response database (seen in ${where}): it was restored or rebuilt; ` +
      `${streams.join(', ')} stop applying the old generation's batches and wait for its snapshots to re-base on`,
  );
}

/**
 * Files found to be of an older generation than their stream follows, by stream, name and identity: not
 * opened again while the same file holds the name (the Response side's next file of that number takes
 * it by a rename, so it has another identity). Kept in memory, so a restart reads each once more.
 */
export class OlderGenerationFiles {
  private readonly seen = new Set<string>();
  private static readonly MAX = 10_000;

  has(stream: Stream, name: string, identity: string | undefined): boolean {
    return identity !== undefined && this.seen.has(`${stream}/${name}@${identity}`);
  }

  add(stream: Stream, name: string, identity: string | undefined): void {
    if (identity === undefined) return;
    if (this.seen.size >= OlderGenerationFiles.MAX) this.seen.clear();
    this.seen.add(`${stream}/${name}@${identity}`);
  }
}
