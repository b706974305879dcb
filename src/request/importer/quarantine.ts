import fs from 'node:fs/promises';
import path from 'node:path';
import type { Kysely } from 'kysely';
import type { RefusedFile, Stream } from '../../exchange/index.js';
import { nowIso } from '../../platform/db.js';
import type { Logger } from '../../platform/logger.js';
import type { RequestDatabase } from '../db/schema.js';

/**
 * Moves a refused file out of the exchange folder into `<quarantine>/<stream>/`, logs why (once: the
 * file is gone from where the importer looks) and records it for /sync/status.
 * @returns where the file went, or undefined when it had already gone
 */
export async function quarantine(
  ctx: { readonly db: Kysely<RequestDatabase>; readonly quarantineDir: string; readonly logger: Logger },
  file: string,
  stream: Stream,
  refusal: RefusedFile,
): Promise<string | undefined> {
  const dir = path.join(ctx.quarantineDir, stream);
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  const target = path.join(dir, `${nowIso().replace(/[:.]/g, '-')}-${path.basename(file)}`);
  try {
    await fs.rename(file, target);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code !== 'EXDEV') throw err;
    await fs.copyFile(file, target);
    await fs.rm(file, { force: true });
  }
  ctx.logger.error(
    { stream, file: path.basename(file), code: refusal.code, reason: refusal.message, quarantined_to: target },
    `refused ${stream}/${path.basename(file)}: ${refusal.message}; moved to quarantine`,
  );
  await ctx.db
    .insertInto('quarantine_log')
    .values({ file: target, stream, code: refusal.code, reason: refusal.message, quarantined_at: nowIso() })
    .execute();
  return target;
}
