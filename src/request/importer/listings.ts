import fs from 'node:fs/promises';
import { type BatchFile, listBatchFiles } from '../../exchange/index.js';
import { identityOfStats } from './identity.js';

/**
 * How long a folder must have been left alone, before a listing of it began, for that listing to be
 * trusted on later passes while the folder's identity stays the same. Folder times tick coarsely (a
 * jiffy on ext4, 1 s on ext3, 2 s on FAT media): a file added in the same tick as the listing changes
 * nothing a stat shows.
 */
const SETTLED_MS = 2000;

/**
 * Per stream folder: the batches listed past the position, when, and what the folder was then (device,
 * inode, size, modification and change time). Batches are applied by name (batches.ts), so a listing
 * serves only to tell how far the folder goes and whether the stream waits for a missing batch; yet the
 * folder keeps every batch applied (the Request side never deletes), and listing it on every pass made
 * each import cost in proportion to all the files ever kept. A listing is reused while the folder is
 * unchanged: within the pass that made it (a file landing meanwhile is the next pass's, as if it had
 * landed just after), and on later passes only when the folder had settled before it was listed.
 */
export class BatchListings {
  private readonly held = new Map<
    string,
    { folder: string; listedAt: number; after: number; batches: BatchFile[]; pass: object }
  >();

  /**
   * The batches in `dir` with a sequence number above `after`, oldest first, as a listing still good for
   * `pass` shows them (none when there is no folder); undefined when the folder must be listed again.
   */
  async known(dir: string, after: number, pass: object): Promise<BatchFile[] | undefined> {
    const looked = await this.look(dir, after, pass);
    return 'batches' in looked ? looked.batches : undefined;
  }

  /** The batches in `dir` with a sequence number above `after`, oldest first; listed when not known. */
  async after(dir: string, after: number, pass: object): Promise<BatchFile[]> {
    const looked = await this.look(dir, after, pass);
    if ('batches' in looked) return looked.batches;
    // The folder's identity is taken before the listing: a change in between makes the next look list again.
    const listedAt = Date.now();
    const batches = await listBatchFiles(dir, after);
    this.held.set(dir, { folder: looked.folder, listedAt, after, batches, pass });
    return batches;
  }

  private async look(dir: string, after: number, pass: object): Promise<{ batches: BatchFile[] } | { folder: string }> {
    const st = await fs.stat(dir).catch(() => undefined);
    if (!st) {
      this.held.delete(dir);
      return { batches: [] };
    }
    const folder = identityOfStats(st);
    const held = this.held.get(dir);
    if (held && held.folder === folder && held.after <= after) {
      const settled = Math.max(st.mtimeMs, st.ctimeMs) < held.listedAt - SETTLED_MS;
      if (held.pass === pass || settled) return { batches: held.batches.filter((b) => b.seq > after) };
    }
    return { folder };
  }
}
