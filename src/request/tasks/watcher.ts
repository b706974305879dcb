import { type FSWatcher, watch } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Queue } from 'bullmq';
import { isStream, isTempName, STREAMS } from '../../exchange/index.js';
import { addCoalesced, addUncoalesced } from '../../platform/coalescing.js';
import type { Logger } from '../../platform/logger.js';
import { IMPORT_TASK, type ImportTaskData } from './registry.js';

/**
 * Enqueues an import within milliseconds of a file landing in the exchange folder, so a change does not
 * wait for the next scheduled run. Events within `coalesceMs` become one job, and so do files landing
 * while an import waits to start; a job that is already running when a file lands is followed by
 * another, so no file waits for the schedule.
 *
 * One plain fs.watch per stream folder (inotify, FSEvents, ReadDirectoryChangesW): an event costs next
 * to nothing. A watcher that re-reads and stats the whole folder on every event (as chokidar does) would
 * spend most of the Request worker's CPU once hundreds of batch files wait.
 */
export async function watchExchange(
  exchangeDir: string,
  queue: Queue,
  logger: Logger,
  coalesceMs = 5,
): Promise<{ close(): Promise<void> }> {
  // Watch folders that exist from the start: a file written right after its folder was made can be
  // missed while the watcher is still attaching to the new folder.
  for (const stream of STREAMS) await fs.mkdir(path.join(exchangeDir, stream), { recursive: true, mode: 0o700 });
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  const fire = () => {
    timer = undefined;
    const data: ImportTaskData = { trigger: 'file' };
    // Coalesced (platform/coalescing.ts): while an import waits, files landing join it (from every
    // watcher, in every process).
    addCoalesced(queue, IMPORT_TASK, data, 'import-on-file').catch((err: Error) => {
      logger.warn({ err: err.message }, 'could not enqueue an import for a new file; the schedule will pick it up');
    });
  };
  const wake = () => {
    if (!closed) timer ??= setTimeout(fire, coalesceMs);
  };
  const watchers = new Map<string, FSWatcher>();
  const attach = (dir: string, onEvent: (name: string | null) => void) => {
    watchers.get(dir)?.close();
    try {
      const watcher = watch(dir, (_event, name) => onEvent(name === null ? null : String(name)));
      watcher.on('error', (err) => {
        logger.warn({ err: err.message, dir }, 'exchange folder watch error; the schedule still imports');
        watcher.close();
        if (watchers.get(dir) === watcher) watchers.delete(dir);
      });
      watchers.set(dir, watcher);
    } catch (err) {
      logger.warn({ err: (err as Error).message, dir }, 'cannot watch exchange folder; the schedule still imports');
    }
  };
  // A name that appeared (not one the importer just deleted, nor a writer's temporary file) wakes it.
  const onStreamEvent = (dir: string) => (name: string | null) => {
    if (name === null) return wake();
    if (isTempName(name)) return;
    fs.access(path.join(dir, name)).then(wake, () => undefined);
  };
  for (const stream of STREAMS) {
    const dir = path.join(exchangeDir, stream);
    attach(dir, onStreamEvent(dir));
  }
  // The exchange folder itself: a stream folder made again (removed by hand, restored) is watched anew.
  attach(exchangeDir, (name) => {
    if (name === null || !isStream(name)) return;
    const dir = path.join(exchangeDir, name);
    attach(dir, onStreamEvent(dir));
    wake();
  });
  // Files that landed while no watcher ran: a job of its own, not coalesced. The waiting job it would
  // join may belong to the worker this one replaces, killed before it started; BullMQ revives that only
  // after its stall check (30 s).
  addUncoalesced(queue, IMPORT_TASK, { trigger: 'file' } satisfies ImportTaskData).catch((err: Error) => {
    logger.warn({ err: err.message }, 'could not enqueue an import at start; the schedule will pick files up');
  });
  return {
    async close() {
      closed = true;
      clearTimeout(timer);
      for (const watcher of watchers.values()) watcher.close();
      watchers.clear();
    },
  };
}
