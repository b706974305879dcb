import type { Redis } from 'ioredis';
import { type Config, ConfigError } from './config.js';
import type { Logger } from './logger.js';
import { redisConnection } from './redis.js';
import type { Secrets } from './secrets.js';
import type { Lifecycle } from './shutdown.js';
import { within } from './within.js';

/** What every part of either network starts from. */
export interface Runtime {
  readonly config: Config;
  readonly secrets: Secrets;
  readonly logger: Logger;
  readonly lifecycle: Lifecycle;
}

/** The exchange key, or a refusal to start that says how to get one. */
export function requireExchangeKey(rt: Runtime): string {
  const key = rt.secrets.exchangeKey;
  if (key === undefined) {
    throw new ConfigError(
      'EXCHANGE_KEY',
      'is not set: both networks must share one key to authenticate exchange files. Set the same ' +
        'EXCHANGE_KEY on both sides (make one with: openssl rand -hex 32), or run `netsync up`, which keeps one ' +
        'under DATA_DIR',
    );
  }
  return key;
}

/** A Redis connection registered for shutdown, and a health check for it. */
export function openRedis(rt: Runtime, url: string, name: string): { redis: Redis; ping: () => Promise<boolean> } {
  const redis = redisConnection(url);
  redis.on('error', () => undefined); // reconnects by itself; health checks report the outage
  rt.lifecycle.add({ name, stop: async () => void redis.disconnect() });
  // Only a ready connection is asked, so checks made during an outage do not pile up in its offline queue.
  const ping = async () => redis.status === 'ready' && (await within(redis.ping(), 500)) === 'PONG';
  return { redis, ping };
}
