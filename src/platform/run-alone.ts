import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';

/**
 * How long the lock outlives its holder: a run renews it every half of this while it runs, so only a
 * holder that died (SIGKILL, lost host) lets it lapse, and the next run waits at most this long.
 */
const HOLD_MS = 5000;
/** How long a run waits for the one before it, at most; then it starts anyway. */
const WAIT_MS = 10_000;
const POLL_MS = 2;

const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0`;
const RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0`;

/**
 * Waits until no other run holds `key` (in any process), takes it, and returns its release. Coalesced
 * jobs of one kind run one at a time this way: runs side by side would only queue for the same database
 * lock and split the same changes into more, smaller batches (the bench, case 2: four worker processes
 * per side carried a third of what one did).
 *
 * It is a throttle, not what keeps runs correct (the database's locks do that), so it gives way rather
 * than wait long: a holder that died is passed after HOLD_MS, a long wait ends after WAIT_MS, and
 * `stopping()` (the worker is shutting down) ends it at once.
 */
export async function runAlone(redis: Redis, key: string, stopping: () => boolean): Promise<() => Promise<void>> {
  const token = randomUUID();
  const until = Date.now() + WAIT_MS;
  while (Date.now() < until && !stopping()) {
    if ((await redis.set(key, token, 'PX', HOLD_MS, 'NX')) === 'OK') {
      const renew = setInterval(() => {
        redis.eval(RENEW, 1, key, token, HOLD_MS).catch(() => undefined);
      }, HOLD_MS / 2);
      renew.unref();
      return async () => {
        clearInterval(renew);
        await redis.eval(RELEASE, 1, key, token);
      };
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  return async () => undefined;
}
