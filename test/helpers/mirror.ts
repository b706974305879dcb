import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';

/*
 * A copier the tests control file by file, doing what `rsync -a --delete-delay` does: each new or changed
 * file (by size and modification time) is written under a temporary name `.name.XXXXXX` in its
 * destination folder, given the source's times and mode, and renamed into place; files gone from the
 * source go last. The Request side must never see a partial file or care about the order.
 */

/** Copies `rel` (`<stream>/<name>`) from `from` to `to` through an rsync-style temporary name. */
export async function copyInto(from: string, to: string, rel: string): Promise<void> {
  const source = path.join(from, rel);
  const target = path.join(to, rel);
  const st = await fs.stat(source);
  const bytes = await fs.readFile(source);
  await fs.mkdir(path.dirname(target), { recursive: true, mode: 0o700 });
  const tmp = path.join(path.dirname(target), `.${path.basename(rel)}.${randomBytes(3).toString('hex')}`);
  await fs.writeFile(tmp, bytes, { mode: st.mode & 0o777 });
  await fs.utimes(tmp, st.atime, st.mtime);
  await fs.rename(tmp, target);
}

/** The files under `dir`, as `<stream>/<name>` (temporary files left out). */
export async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const stream of await fs.readdir(dir).catch(() => [] as string[])) {
    for (const name of await fs.readdir(path.join(dir, stream)).catch(() => [] as string[])) {
      if (!name.startsWith('.')) out.push(path.join(stream, name));
    }
  }
  return out.sort();
}

/** One pass of the copier: new and changed files copied in, then files gone from `from` removed. */
export async function mirrorOnce(from: string, to: string): Promise<void> {
  const wanted = await filesUnder(from);
  for (const rel of wanted) {
    const [a, b] = await Promise.all([
      fs.stat(path.join(from, rel)),
      fs.stat(path.join(to, rel)).catch(() => undefined),
    ]);
    if (b?.size === a.size && b.mtimeMs === a.mtimeMs) continue;
    await copyInto(from, to, rel).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err; // pruned or replaced while we looked: the next pass sees it
    });
  }
  const keep = new Set(wanted);
  for (const rel of await filesUnder(to)) if (!keep.has(rel)) await fs.rm(path.join(to, rel), { force: true });
}

/** Each file under `dir` with its inode, size and times: equal listings mean nothing there changed. */
export async function listingWithInodes(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    for (const e of await fs.readdir(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      const st = await fs.lstat(p);
      out.push(`${path.relative(dir, p)} ${st.ino} ${st.size} ${st.mtimeMs} ${st.ctimeMs} ${st.mode.toString(8)}`);
      if (e.isDirectory()) await walk(p);
    }
  };
  await walk(dir);
  return out.sort();
}

/** True when `command` runs here (`command --version` exits 0). */
export const hasCommand = (command: string): boolean =>
  spawnSync(command, ['--version'], { stdio: 'ignore' }).status === 0;
