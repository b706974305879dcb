import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Kysely } from 'kysely';
import type { RefusedFile, Stream } from '../../exchange/index.js';
import { nowIso } from '../../platform/db.js';
import type { Logger } from '../../platform/logger.js';
import type { RequestDatabase } from '../db/schema.js';
import { identityOfStats } from './identity.js';

/*
 * The Request side never writes to the exchange folder (it may be a read-only mount, or a mirror another
 * tool keeps): a refused file stays where it is. It is recorded in the database by its name and identity,
 * so that very file is neither applied nor read and logged again on later passes, while a new file under
 * the same name (a corrected copy) is judged afresh. A copy goes to the Request side's own quarantine
 * folder for the operator.
 */

interface QuarantineContext {
  readonly db: Kysely<RequestDatabase>;
  readonly quarantineDir: string;
  readonly maxFileBytes: number;
  readonly logger: Logger;
}

/** True when this very file (`name` in `stream`'s folder, with `identity`) was refused before. */
export async function refusedBefore(
  db: Kysely<RequestDatabase>,
  stream: Stream,
  name: string,
  identity: string | undefined,
): Promise<boolean> {
  if (identity === undefined) return false;
  const row = await db
    .selectFrom('quarantine_log')
    .select('name')
    .where('stream', '=', stream)
    .where('name', '=', name)
    .where('identity', '=', identity)
    .executeTakeFirst();
  return row !== undefined;
}

/**
 * Records the refused `file`, judged as `identity`, logs why (once per file, across importers) and keeps
 * a copy in `<quarantine>/<stream>/`.
 * @returns where the refused file is recorded (the copy, or the file itself when none was made), or
 *   undefined when it was not recorded: another importer did it first, or the name no longer holds the
 *   file judged (the next pass judges what it holds now)
 */
export async function quarantine(
  ctx: QuarantineContext,
  file: string,
  stream: Stream,
  refusal: RefusedFile,
  identity: string | undefined,
): Promise<string | undefined> {
  if (identity === undefined) return undefined;
  const name = path.basename(file);
  const copy = await keepCopy(ctx, file, stream, identity);
  if (copy === 'replaced') return undefined;
  const recorded = copy ?? file;
  const inserted = await ctx.db
    .insertInto('quarantine_log')
    .values({
      file: recorded,
      stream,
      name,
      identity,
      code: refusal.code,
      reason: refusal.message,
      quarantined_at: nowIso(),
    })
    .onConflict((oc) => oc.columns(['stream', 'name', 'identity']).doNothing())
    .executeTakeFirst();
  if (Number(inserted.numInsertedOrUpdatedRows ?? 0) === 0) {
    if (copy !== undefined) await fs.rm(copy, { force: true });
    return undefined;
  }
  ctx.logger.error(
    { stream, file: name, code: refusal.code, reason: refusal.message, quarantined_to: recorded },
    `refused ${stream}/${name}: ${refusal.message}; ${copy ? 'copied to quarantine' : 'recorded (no copy)'}`,
  );
  return recorded;
}

/**
 * Copies the file judged into `<quarantine>/<stream>/<time>-<random>-<name>`: a regular file up to
 * MAX_EXCHANGE_FILE_BYTES byte for byte, a symlink as a link (never followed). A folder or a larger file
 * is not copied. A copy that fails (a full disk) is logged and skipped: the refusal still counts.
 * @returns the copy, undefined when none was made, 'replaced' when the name no longer holds that file
 */
async function keepCopy(
  ctx: QuarantineContext,
  file: string,
  stream: Stream,
  identity: string,
): Promise<string | 'replaced' | undefined> {
  const st = await fs.lstat(file).catch(() => undefined);
  if (!st || identityOfStats(st) !== identity) return 'replaced';
  if (!(st.isFile() && st.size <= ctx.maxFileBytes) && !st.isSymbolicLink()) return undefined;
  const dir = path.join(ctx.quarantineDir, stream);
  // Unique even when two importers copy the same file in the same millisecond.
  const stamp = `${nowIso().replace(/[:.]/g, '-')}-${randomBytes(3).toString('hex')}`;
  const target = path.join(dir, `${stamp}-${path.basename(file)}`);
  try {
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    if (st.isSymbolicLink()) await fs.symlink(await fs.readlink(file), target);
    else if (!(await copySameFile(file, target, identity))) return 'replaced';
    return target;
  } catch (err) {
    await fs.rm(target, { force: true }).catch(() => undefined);
    ctx.logger.warn(
      { err: (err as Error).message, stream, file: path.basename(file) },
      'could not copy a refused file to quarantine; it is recorded where it is',
    );
    return undefined;
  }
}

/** Copies `file` to `target` through one open descriptor, only when it is still the file `identity` names. */
async function copySameFile(file: string, target: string, identity: string): Promise<boolean> {
  const source = await fs.open(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  try {
    if (identityOfStats(await source.stat()) !== identity) return false;
    const copy = await fs.open(target, 'wx', 0o600);
    try {
      const chunk = Buffer.allocUnsafe(1 << 20);
      for (;;) {
        const { bytesRead } = await source.read(chunk, 0, chunk.length, null);
        if (bytesRead === 0) break;
        await copy.write(chunk, 0, bytesRead);
      }
      await copy.sync();
    } finally {
      await copy.close();
    }
    return true;
  } finally {
    await source.close();
  }
}
