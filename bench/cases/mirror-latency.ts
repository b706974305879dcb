import fs from 'node:fs';
import path from 'node:path';
import { Cluster } from '../lib/cluster.js';
import { hasRsync, startRsyncLoop } from '../lib/copier.js';
import { type LatencyResult, measureResets } from './latency.js';

/**
 * Case 6, sync latency through a mirror: case 1's resets, but the Request side reads its own copy of the
 * exchange folder, kept by the README's `rsync` loop. The Response side writes folder A; the loop copies
 * A onto B every `INTERVAL_S`; the Request parts' EXPORT_DIR is B, so a change reaches them only through
 * the copy. A reset then waits for the next copy (on average half the interval), the copy itself, and the
 * import its landing file wakes. Each reset is sent at a random point of the loop's cycle (a wait of up to
 * one interval first, not timed): resets sent one after another as each syncs would all land just after
 * a copy and wait nearly the whole interval.
 */
export type MirrorLatencyResult =
  | (LatencyResult & { readonly interval_s: number; readonly copier: string })
  | { readonly skipped: string };

/** The loop's pause between two copies: the README's recipe. */
export const INTERVAL_S = 1;
/**
 * Polling at 10 ms (case 1 polls at 2): each sample is about half a second, and logging in 250 times a
 * reset would only load the two cores the copy and the import need.
 */
const POLL_MS = 10;

export async function runMirrorLatency(opts: { redisUrl: string; resets: number }): Promise<MirrorLatencyResult> {
  if (!hasRsync()) return { skipped: 'rsync is not installed (apt-get install rsync)' };
  const cluster = await Cluster.create({ name: 'mirror', redisUrl: opts.redisUrl });
  const A = cluster.exchangeDir;
  const B = path.join(cluster.dir, 'mirror');
  fs.mkdirSync(A, { recursive: true });
  fs.mkdirSync(B, { recursive: true });
  const copier = startRsyncLoop(A, B, INTERVAL_S);
  try {
    await cluster.startAll([
      ['response', 'api'],
      ['response', 'worker'],
      ['response', 'beat'],
    ]);
    await Promise.all(
      (['api', 'worker', 'beat'] as const).map((part) => cluster.start('request', part, [], { EXPORT_DIR: B })),
    );
    const result = await measureResets(cluster.responseUrl, cluster.requestUrl, {
      resets: opts.resets,
      pollMs: POLL_MS,
      spreadMs: INTERVAL_S * 1000,
    });
    return { ...result, interval_s: INTERVAL_S, copier: copier.command };
  } finally {
    await copier.stop();
    await cluster.stop();
  }
}
