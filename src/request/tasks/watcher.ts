import { type FSWatcher, watch } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Queue } from 'bullmq';
import { HEARTBEAT_FILE, isStream, isTempName, STREAMS } from '../../exchange/index.js';
import { addCoalesced, addUncoalesced, RUN_HOLD_MS } from '../../platform/coalescing.js';
import type { Logger } from '../../platform/logger.js';
import { IMPORT_TASK, type ImportTaskData } from './registry.js';

/** How often the watcher looks for folders that appeared, went or were replaced: a few stats, no listing. */
const RECHECK_MS = 1000;

/**
 * Enqueues an import within milliseconds of a file landing in the exchange folder, so a change does not
 * wait for the next scheduled run. Events within `coalesceMs` become one job, and so do files landing
 * while an import waits to start; a job that is already running when a file lands is followed by
 * another, so no file waits for the schedule.
 *
 * One plain fs.watch per stream folder (inotify, FSEvents, ReadDirectoryChangesW): an event costs next
 * to nothing. A watcher that re-reads and stats the whole folder on every event (as chokidar does) would
 * spend most of the Request worker's CPU once hundreds of batch files wait.
 *
 * It never creates anything: the exchange folder is the Response side's (or a mirror's), and may be
 * read-only here. Folders that do not exist yet, or are replaced (a mirror made them again), are watched
 * once they appear, seen by an event in the folder above or by a stat every second; the scheduled import
 * runs whatever the watcher misses.
 */
export async function watchExchange(
  exchangeDir: string,
  queue: Queue,
  logger: Logger,
  coalesceMs = 5,
): Promise<{ close(): Promise<void> }> {
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  // Until the run lock of a worker this one replaces has surely lapsed (see below).
  const freshUntil = Date.now() + RUN_HOLD_MS;
  const fire = () => {
    timer = undefined;
    const data: ImportTaskData = { trigger: 'file' };
    // Coalesced (platform/coalescing.ts): while an import waits, files landing join it (from every
    // watcher, in every process). Not in the first seconds after a start, though: a worker killed in an
    // import may still hold that kind's run lock (for up to RUN_HOLD_MS), and a coalesced job would wait
    // for it — the files a restarted Response side writes at once after a crash would wait with it.
    const added =
      Date.now() < freshUntil
        ? addUncoalesced(queue, IMPORT_TASK, data)
        : addCoalesced(queue, IMPORT_TASK, data, 'import-on-file');
    added.catch((err: Error) => {
      logger.warn({ err: err.message }, 'could not enqueue an import for a new file; the schedule will pick it up');
    });
  };
  const wake = () => {
    if (!closed) timer ??= setTimeout(fire, coalesceMs);
  };
  // A name that appeared (not one that went, nor a temporary file a writer or rsync will rename) wakes it.
  const onStreamEvent = (dir: string) => (name: string | null) => {
    if (name === null) return wake();
    if (isTempName(name)) return;
    fs.access(path.join(dir, name)).then(wake, () => undefined);
  };
  const folders = new FolderWatches(logger);
  const refresh = serialized(async (wakeOnNew: boolean) => {
    let attached = await folders.sync(exchangeDir, (name) => {
      // A stream folder made (or made again) shows here first: watch it now rather than at the next stat.
      if (name === null || isStream(name)) void refresh(true);
      // A new heartbeat (every EXPORT_INTERVAL_S): read at once, so freshness does not wait for the schedule.
      else if (name === HEARTBEAT_FILE) wake();
    });
    for (const stream of STREAMS) {
      const dir = path.join(exchangeDir, stream);
      attached = (await folders.sync(dir, onStreamEvent(dir))) || attached;
    }
    // Files may have landed in a new folder before its watch began.
    if (attached && wakeOnNew) wake();
  });
  await refresh(false);
  if (folders.count < STREAMS.length + 1) {
    logger.info({ dir: exchangeDir }, 'the exchange folder or a stream folder is not there yet; watching for it');
  }
  const recheck = setInterval(() => void refresh(true), RECHECK_MS);
  recheck.unref();
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
      clearInterval(recheck);
      folders.closeAll();
    },
  };
}

/** The folders being watched, each with the inode it was watched as. */
class FolderWatches {
  private readonly watches = new Map<string, { watcher: FSWatcher; ino: number; dev: number }>();
  private closed = false;

  constructor(private readonly logger: Logger) {}

  /**
   * Watches `dir` if it is a folder that is not watched yet (or was replaced since), and stops watching
   * one that went. True when a watch began.
   */
  async sync(dir: string, onEvent: (name: string | null) => void): Promise<boolean> {
    const st = await fs.stat(dir).catch(() => undefined);
    if (this.closed) return false; // a look that was under way when the watcher closed
    const held = this.watches.get(dir);
    if (held && st?.isDirectory() && held.ino === st.ino && held.dev === st.dev) return false;
    held?.watcher.close();
    this.watches.delete(dir);
    if (!st?.isDirectory()) return false;
    try {
      const watcher = watch(dir, (_event, name) => onEvent(name === null ? null : String(name)));
      watcher.on('error', (err) => {
        this.logger.warn({ err: err.message, dir }, 'exchange folder watch error; the schedule still imports');
        watcher.close();
        if (this.watches.get(dir)?.watcher === watcher) this.watches.delete(dir);
      });
      this.watches.set(dir, { watcher, ino: st.ino, dev: st.dev });
      return true;
    } catch (err) {
      this.logger.warn(
        { err: (err as Error).message, dir },
        'cannot watch exchange folder; the schedule still imports',
      );
      return false;
    }
  }

  get count(): number {
    return this.watches.size;
  }

  closeAll(): void {
    this.closed = true;
    for (const { watcher } of this.watches.values()) watcher.close();
    this.watches.clear();
  }
}

/** `fn` run one call at a time: a call made while one runs waits for it, then runs once more. */
function serialized<A>(fn: (arg: A) => Promise<void>): (arg: A) => Promise<void> {
  let running: Promise<void> = Promise.resolve();
  return (arg) => {
    running = running.then(
      () => fn(arg),
      () => fn(arg),
    );
    return running.catch(() => undefined);
  };
}
