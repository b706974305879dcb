import fs from 'node:fs/promises';
import { isTempName, seqOfBatchName } from './streams.js';

export interface BatchFile {
  readonly seq: number;
  /** The file's name in its stream folder. */
  readonly name: string;
}

/**
 * The batch files in a stream folder, oldest first: names that carry a sequence number, never a
 * writer's temporary file. A folder that does not exist (yet) holds none.
 */
export async function listBatchFiles(dir: string): Promise<BatchFile[]> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const batches: BatchFile[] = [];
  for (const name of names) {
    if (isTempName(name)) continue;
    const seq = seqOfBatchName(name);
    if (seq !== undefined) batches.push({ seq, name });
  }
  return batches.sort((a, b) => a.seq - b.seq);
}
