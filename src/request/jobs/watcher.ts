import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Queue } from 'bullmq';
import { watch } from 'chokidar';
import { isTempName, STREAMS } from '../../exchange/index.js';
import type { Logger } from '../../platform/logger.js';
import { IMPORT_TASK, type ImportJobData } from './registry.js';

/**
 * Enqueues an import within milliseconds of a file landing in the exchange folder, so a change does not
 * wait for the next scheduled run. Events within `coalesceMs` become one job; a job that is already
 * running when a file lands is followed by another, so no file waits for the schedule.
 */
export async function watchExchange(
  exportDir: string,
  queue: Queue,
  logger: Logger,
  coalesceMs = 5,
): Promise<{ close(): Promise<void> }> {
  // Watch folders that exist from the start: a file written right after its folder was made can be
  // missed while the watcher is still attaching to the new folder.
  for (const stream of STREAMS) await fs.mkdir(path.join(exportDir, stream), { recursive: true, mode: 0o700 });
  let timer: NodeJS.Timeout | undefined;
  const fire = () => {
    timer = undefined;
    const data: ImportJobData = { trigger: 'file' };
    queue.add(IMPORT_TASK, data, { jobId: randomUUID() }).catch((err: Error) => {
      logger.warn({ err: err.message }, 'could not enqueue an import for a new file; the schedule will pick it up');
    });
  };
  const watcher = watch(exportDir, {
    depth: 1,
    ignoreInitial: false,
    ignored: (p: string) => p !== exportDir && isTempName(path.basename(p)),
  });
  const onFile = () => {
    timer ??= setTimeout(fire, coalesceMs);
  };
  watcher.on('add', onFile).on('change', onFile).on('addDir', onFile);
  watcher.on('error', (err) => logger.warn({ err: (err as Error).message }, 'exchange folder watch error'));
  return {
    async close() {
      clearTimeout(timer);
      await watcher.close();
    },
  };
}
