import type { Stats } from 'node:fs';
import fs from 'node:fs/promises';

/**
 * Which file a path holds, as text: device, inode, size, modification and change time. A file renamed
 * into place (a new export, a mirror's finished copy) is another inode; one written to in place has
 * another ctime even when its size and mtime are put back (utimes cannot set ctime). Read with lstat, so
 * a symlink is named for itself, never for what it points at.
 */
export const identityOfStats = (st: Stats): string => `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;

/** The identity of what `file` holds now, or undefined when nothing is there. */
export const identityOf = (file: string): Promise<string | undefined> =>
  fs.lstat(file).then(identityOfStats, () => undefined);
