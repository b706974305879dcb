import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Redis, type RedisOptions } from 'ioredis';

/**
 * A connection for BullMQ: workers block on Redis, so requests must wait for a reconnect rather than
 * fail (`maxRetriesPerRequest: null`). Reconnects back off up to 2 s, forever.
 */
export function redisConnection(url: string, extra: RedisOptions = {}): Redis {
  return new Redis(url, {
    maxRetriesPerRequest: null,
    retryStrategy: (times) => Math.min(100 * times, 2000),
    ...extra,
  });
}

/** PING with a deadline on a throw-away connection: true when Redis answers. */
export async function pingRedis(url: string, timeoutMs = 1000): Promise<boolean> {
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);
export const isLoopback = (url: string): boolean => LOOPBACK.has(new URL(url).hostname);

export function findOnPath(cmd: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, cmd);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {}
  }
  return undefined;
}

export interface SpawnedRedis {
  readonly url: string;
  stop(): Promise<void>;
}

export const REDIS_MISSING =
  'no Redis answers at REDIS_URL and no redis-server is on PATH: install one (Debian/Ubuntu: ' +
  'apt-get install redis-server; macOS: brew install redis) or set REDIS_URL to a running Redis';

/**
 * Starts `redis-server` on the URL's port with its data (append-only file) under `dir`, and waits
 * until it answers. Used by `netsync up` and the test set-up when nothing answers on a loopback URL.
 */
export async function spawnRedis(url: string, dir: string): Promise<SpawnedRedis> {
  const bin = findOnPath('redis-server');
  if (!bin) throw new Error(REDIS_MISSING);
  const u = new URL(url);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const port = u.port || '6379';
  const child = spawn(
    bin,
    [
      '--port',
      port,
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--appendonly',
      'yes',
      '--save',
      '',
      '--daemonize',
      'no',
      '--logfile',
      path.join(dir, 'redis.log'),
    ],
    { stdio: 'ignore' },
  );
  let exited = false;
  child.on('exit', () => {
    exited = true;
  });
  const deadline = Date.now() + 10_000;
  while (!(await pingRedis(url, 300))) {
    if (exited) throw new Error(`redis-server exited at start; see ${path.join(dir, 'redis.log')}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`redis-server did not answer on port ${port} within 10 s`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    stop: () =>
      new Promise<void>((resolve) => {
        if (exited) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
