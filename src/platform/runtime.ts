import type { Redis } from 'ioredis';
import type { SigningKey, TrustedKeys } from '../exchange/keys.js';
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

/** The Response worker's signing key, or a refusal to start that says how to get one. */
export function requireSigningKey(rt: Runtime): SigningKey {
  const key = rt.secrets.exchangeSigningKey;
  if (key === undefined) {
    throw new ConfigError(
      'EXCHANGE_SIGNING_KEY',
      'is not set: the Response worker signs every exchange file with it. Make a key pair with ' +
        '`netsync keys generate`, set EXCHANGE_SIGNING_KEY on the Response side and its public key in ' +
        'EXCHANGE_TRUSTED_KEYS on each Request side (or run `netsync up`, which keeps a pair under DATA_DIR)',
    );
  }
  return key;
}

/** The public keys the Request worker accepts files from, or a refusal to start that says where to get them. */
export function requireTrustedKeys(rt: Runtime): TrustedKeys {
  const keys = rt.secrets.exchangeTrustedKeys;
  if (keys === undefined) {
    throw new ConfigError(
      'EXCHANGE_TRUSTED_KEYS',
      'is not set: the Request worker accepts only files signed by a key it trusts. Run `netsync keys show` ' +
        'on the Response side and set EXCHANGE_TRUSTED_KEYS to the public key it prints',
    );
  }
  return keys;
}

/**
 * A Request part (api, worker or beat) started on its own refuses a private key in its environment: the
 * isolated side must hold nothing that can sign a file every Request side accepts. `netsync up` runs
 * both sides in one process for a laptop, so it holds the key by design and does not call this.
 */
export function refuseSigningKey(config: Config): void {
  if (config.exchangeSigningKey !== undefined) {
    throw new ConfigError(
      'EXCHANGE_SIGNING_KEY',
      'is set, but this is a Request part: the isolated side must not hold a key that can forge exchange ' +
        'files. Remove it here; this side needs only EXCHANGE_TRUSTED_KEYS (the public key `netsync keys show` ' +
        'prints on the Response side)',
    );
  }
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
