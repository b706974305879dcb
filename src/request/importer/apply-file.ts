import type { Kysely } from 'kysely';
import { type ExchangeFile, isStream, type RecordOf, RefusedFile, type Stream } from '../../exchange/index.js';
import type { RequestDatabase } from '../db/schema.js';
import { APPLY_CHUNK, applyRecords, keyOf, removeAbsent, unknownReferences } from './apply.js';
import { streamState } from './import-streams.js';

/**
 * Applies a file's records in chunks inside `trx`; the file's checks finish before the caller commits.
 * A batch stamped with `requires` must name only records that exist by then: anything else is refused.
 * `beforeChunk` sees each chunk just before it is applied (the safety valve counts removals there).
 * `replace`: the file is the snapshot a stream re-bases on; its records win whatever their versions, and
 * rows it does not hold are removed.
 * @returns how many records the file held
 */
export async function applyFile<S extends Stream>(
  trx: Kysely<RequestDatabase>,
  stream: S,
  file: ExchangeFile<S>,
  now: string,
  opts: { replace?: boolean; beforeChunk?: (chunk: readonly RecordOf[S][]) => Promise<void> } = {},
): Promise<number> {
  const checkReferences = file.header.requires !== undefined;
  const kept = opts.replace ? new Set<string>() : undefined;
  let chunk: RecordOf[S][] = [];
  let count = 0;
  const flush = async () => {
    if (checkReferences) {
      const unknown = await unknownReferences(trx, stream, chunk);
      if (unknown) throw new RefusedFile('unknown_user', `names user ${unknown}, which the users stream never had`);
    }
    await opts.beforeChunk?.(chunk);
    await applyRecords(trx, stream, chunk, now, kept ? 'replace' : 'newer');
    chunk = [];
  };
  for await (const record of file.records()) {
    chunk.push(record);
    kept?.add(keyOf(stream, record));
    count++;
    if (chunk.length >= APPLY_CHUNK) await flush();
  }
  await flush();
  if (kept) await removeAbsent(trx, stream, kept);
  return count;
}

/** The streams a batch refers to whose import has not reached the batch's `requires` stamp yet. */
export async function unmetRequirements(
  db: Kysely<RequestDatabase>,
  requires: Record<string, number> | undefined,
): Promise<string[]> {
  const unmet: string[] = [];
  for (const [stream, seq] of Object.entries(requires ?? {})) {
    if (!isStream(stream)) continue;
    const state = await streamState(db, stream);
    if (state.last_seq < seq) unmet.push(`${stream} ${seq}`);
  }
  return unmet;
}
