import { randomUUID } from 'node:crypto';
import type { Job, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { within } from './within.js';

/*
 * Coalesced jobs: one run carries every change committed before it starts, instead of one job per
 * change. A caller commits its change first, then adds.
 *
 * - A key names a kind of run. Adds with one key are interchangeable: any run of that key does what
 *   each of them asked, so a job keeps the data of the add that made it and adds that join it only get
 *   its id. The Response API keys an export on its task name, or `<task>.snapshot` for a run that also
 *   writes the snapshot (it does more than a plain run, so only its own kind joins it); the Request
 *   watcher keys the imports that files landing ask for on `import-on-file`.
 * - A job absorbs adds while it waits: an add finding a job waiting with its key (BullMQ deduplication)
 *   returns that job's id instead of adding another. It waits in the queue, then for the run of its
 *   kind before it (below), absorbing all the while.
 * - It stops absorbing before it reads anything: `beginCoalescedRun` drops its key first, then the
 *   handler runs. Whatever was committed before an add it absorbed is therefore still ahead of it, and
 *   an add from then on makes a new job, which runs after this one.
 * - The key lapses COALESCE_MS after the add that set it, even if its job never starts: a worker killed
 *   between taking the job and dropping the key would otherwise leave every later add joining a job
 *   that waits for BullMQ's stall check (30 s). A healthy job waiting longer is joined by no one after
 *   that and runs all the same; the next add makes a job of its own.
 * - In one process, callers arriving while an add of the same key is in flight (a lane) share the add
 *   that follows it, sent when it returns and so after each of their commits: one Redis round trip for
 *   all of them.
 * - Runs of one key go one at a time across processes (a lock in Redis beside the queue's keys): runs
 *   side by side would only queue for the same database lock and cut the same changes into more,
 *   smaller batches, so more workers would carry less. The lock is a throttle, not what keeps runs
 *   correct (the database's locks do that), so it gives way rather than wait long: a dead holder's lock
 *   lapses after RUN_HOLD_MS, a wait ends after RUN_WAIT_MS, and a worker shutting down stops waiting.
 * - The id a caller gets back is the job that will carry its change: that job still held its key when
 *   the caller's add found or made it, so it reads after that add, and so after the caller's commit. A
 *   caller that gets no id (Redis did not take the add in time) leaves its change to the next scheduled
 *   run, which finds it all the same.
 * - `addUncoalesced` makes a job that joins nothing, for when a waiting job may never start soon: a
 *   worker starting up looks at the folder at once, since the waiting job it would join may belong to
 *   the worker it replaces, killed before it started. For the same reason a Request watcher adds jobs of
 *   their own during its first RUN_HOLD_MS, while the run lock may still be that worker's, and a
 *   Response worker starting up exports what waits with jobs of their own (response/tasks/catch-up.ts).
 */

/** How long a key keeps absorbing adds after the add that set it. */
const COALESCE_MS = 2000;

/**
 * Adds a job meaning "run `name` soon", coalesced on `key` (see the rules above).
 * @returns the id of the job that will carry the caller's change
 */
export function addCoalesced(queue: Queue, name: string, data: object, key: string): Promise<string> {
  const lane = laneOf(queue, key);
  const send = (): Promise<string> => {
    lane.busy = true;
    const sent = sendCoalesced(queue, name, data, key);
    const after = () => {
      lane.busy = false;
      const sendNext = lane.sendNext;
      lane.next = undefined;
      lane.sendNext = undefined;
      sendNext?.();
    };
    sent.then(after, after);
    return sent;
  };
  if (!lane.busy) return send();
  lane.next ??= new Promise<string>((resolve, reject) => {
    lane.sendNext = () => send().then(resolve, reject);
  });
  return lane.next;
}

/**
 * addCoalesced for a caller that must answer soon (an HTTP request after its commit).
 * @returns the id of the job that will carry the change, or undefined when Redis did not take the add
 * within `ms` (it may still land later); rejects when Redis refuses it
 */
export function addCoalescedWithin(
  queue: Queue,
  name: string,
  data: object,
  key: string,
  ms: number,
): Promise<string | undefined> {
  return within(addCoalesced(queue, name, data, key), ms);
}

/** Adds a job of its own: it joins no waiting job and absorbs no add. @returns its id */
export async function addUncoalesced(queue: Queue, name: string, data: object): Promise<string> {
  const job = await queue.add(name, data, { jobId: randomUUID() });
  return job.id as string;
}

/** Per queue and key, in this process: whether an add is in flight, and the add that will follow it. */
interface Lane {
  busy: boolean;
  next?: Promise<string>;
  sendNext?: () => void;
}
const lanes = new WeakMap<Queue, Map<string, Lane>>();

function laneOf(queue: Queue, key: string): Lane {
  const keys = lanes.get(queue) ?? new Map<string, Lane>();
  lanes.set(queue, keys);
  const lane = keys.get(key) ?? { busy: false };
  keys.set(key, lane);
  return lane;
}

async function sendCoalesced(queue: Queue, name: string, data: object, key: string): Promise<string> {
  // A job with this key waits (has not dropped the key, so has read nothing): it carries the caller's
  // change. Asking is a plain GET, where the add it saves builds a job and runs a script.
  const waiting = await queue.getDeduplicationJobId(key);
  if (waiting) return waiting;
  const job = await queue.add(name, data, { jobId: randomUUID(), deduplication: { id: key, ttl: COALESCE_MS } });
  return job.id as string;
}

/**
 * The worker's first step for every job. A coalesced one waits until no run of its kind runs in any
 * process (still absorbing adds), then stops absorbing; only then may the handler read anything.
 * @returns what ends the run (releases its lock), or undefined for a job that was not coalesced
 */
export async function beginCoalescedRun(
  job: Job,
  connection: Redis,
  stopping: () => boolean,
): Promise<(() => Promise<void>) | undefined> {
  if (!job.deduplicationId) return undefined;
  const release = await runAlone(connection, `${job.queueQualifiedName}:run:${job.deduplicationId}`, stopping);
  try {
    // Drops the key only while it still names this job (it may have lapsed and been set by a newer add).
    await job.removeDeduplicationKey();
  } catch (err) {
    await release().catch(() => undefined);
    throw err;
  }
  return release;
}

/**
 * How long the run lock outlives its holder: a run renews it every half of this while it runs, so only
 * a holder that died (SIGKILL, lost host) lets it lapse, and the next run waits at most this long.
 */
export const RUN_HOLD_MS = 5000;
/** How long a run waits for the one before it, at most; then it starts anyway. */
const RUN_WAIT_MS = 10_000;
/**
 * A waiting run asks for the lock after 2 ms, then twice as long each time up to 16 ms: asking every
 * 2 ms throughout made a Redis round trip per 2 ms per waiting run (a run waits for a whole run before
 * it), about between an eighth and a half of the Redis commands of the throughput bench. A run waiting longer starts up to 16 ms
 * after the lock is free, with that much more absorbed.
 */
const POLL_MS = 2;
const MAX_POLL_MS = 16;

const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0`;
const RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0`;

/** Waits until no other run holds `key` (in any process), takes it, and returns its release. */
async function runAlone(redis: Redis, key: string, stopping: () => boolean): Promise<() => Promise<void>> {
  const token = randomUUID();
  const until = Date.now() + RUN_WAIT_MS;
  let pause = POLL_MS;
  while (Date.now() < until && !stopping()) {
    if ((await redis.set(key, token, 'PX', RUN_HOLD_MS, 'NX')) === 'OK') {
      const renew = setInterval(() => {
        redis.eval(RENEW, 1, key, token, RUN_HOLD_MS).catch(() => undefined);
      }, RUN_HOLD_MS / 2);
      renew.unref();
      return async () => {
        clearInterval(renew);
        await redis.eval(RELEASE, 1, key, token);
      };
    }
    await new Promise((r) => setTimeout(r, pause));
    pause = Math.min(pause * 2, MAX_POLL_MS);
  }
  return async () => undefined;
}
