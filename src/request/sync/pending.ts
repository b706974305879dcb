import fs from 'node:fs/promises';
import path from 'node:path';
import { listBatchFiles, type Stream, streamDir } from '../../exchange/index.js';

/**
 * What a stream's folder holds past the importer's position `lastSeq`: the newest sequence number there
 * (0 when nothing lies past it), and when the oldest batch not yet applied landed (its mtime; undefined
 * when none waits). Applied batches stay in the folder (the Request side only reads it) until the
 * Response side prunes them, so the position alone tells which still wait. Names and one stat: cheap
 * enough for every poll and scrape.
 */
export async function pendingBatches(
  exchangeDir: string,
  stream: Stream,
  lastSeq: number,
): Promise<{ newest: number; oldestAt: number | undefined }> {
  const dir = streamDir(exchangeDir, stream);
  const batches = await listBatchFiles(dir, lastSeq).catch(() => []);
  const oldest = batches[0];
  const stat = oldest && (await fs.stat(path.join(dir, oldest.name)).catch(() => undefined));
  return { newest: batches.at(-1)?.seq ?? 0, oldestAt: stat?.mtimeMs };
}
