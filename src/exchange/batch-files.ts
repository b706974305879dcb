import fs from 'node:fs/promises';
import { batchFileName, isTempName, seqOfBatchName } from './streams.js';

export interface BatchFile {
  readonly seq: number;
  /** The file's name in its stream folder. */
  readonly name: string;
}

/**
 * The batch files in a stream folder with a sequence number above `after`, oldest first: names that
 * carry a sequence number, never a writer's temporary file. A folder that does not exist (yet) holds none.
 *
 * Batch names are zero-padded to one width, so comparing names as text orders them as numbers: everything
 * at or below `after` is dropped with one comparison, before any parsing. An importer's folder keeps every
 * batch it applied, and listing it on every pass must not cost more per file than the kernel's listing.
 */
export async function listBatchFiles(dir: string, after = 0): Promise<BatchFile[]> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const cut = batchFileName(after);
  const batches: BatchFile[] = [];
  for (const name of names) {
    if (name <= cut || isTempName(name)) continue;
    const seq = seqOfBatchName(name);
    if (seq !== undefined) batches.push({ seq, name });
  }
  return batches.sort((a, b) => a.seq - b.seq);
}
