import { createHmac, randomBytes } from 'node:crypto';
import type { IRedisClient, Queue } from 'bullmq';
import type { Config } from './config.js';
import type { Logger } from './logger.js';
import { queueClient } from './queue.js';
import { within } from './within.js';

/**
 * The failed-login throttle: a sliding window (a log of failure times, not fixed buckets, so no burst at a
 * bucket's edge) per client and username, one per client over all usernames, and one per username over
 * all clients (so a guesser with many addresses still causes bounded bcrypt work, and slows only the
 * account it guesses at). An attempt is counted
 * as a failure when it starts, before the password is checked, and un-counted when it succeeds: so
 * parallel guesses cannot all slip past the check while the first is still hashing.
 */
export interface LoginThrottle {
  /** Starts an attempt by `client` (its address) to log in as `username`. */
  begin(client: string, username: string): Promise<LoginAttempt>;
}

export type LoginAttempt =
  | {
      readonly allowed: false /** Whole seconds until the client may try again (at least 1). */;
      readonly retryAfterS: number;
    }
  | {
      readonly allowed: true;
      /** The password was right: forget this client's failures for this username, and this attempt. */
      succeeded(): Promise<void>;
      /** No verdict was reached (the database failed): the attempt does not count. */
      abandoned(): Promise<void>;
    };

export interface ThrottleLimits {
  /** Failures allowed per client and username in the window; 0 turns this limit off. */
  readonly perUsername: number;
  /** Failures allowed per client over all usernames in the window; 0 turns this limit off. */
  readonly perClient: number;
  /** Failures allowed per username over all clients in the window; 0 or absent turns this limit off. */
  readonly perAccount?: number;
  readonly windowMs: number;
}

/** The window both limits count in. */
export const LOGIN_WINDOW_MS = 15 * 60_000;

/**
 * Spellings that name one account share one count: `John` and `john`, or a name in two Unicode forms,
 * cannot be alternated for twice the guesses.
 */
const sameAccount = (username: string) => username.normalize('NFKC').toLowerCase();

const off = (limits: ThrottleLimits) =>
  limits.perUsername === 0 && limits.perClient === 0 && (limits.perAccount ?? 0) === 0;
const ALWAYS: LoginAttempt = { allowed: true, succeeded: async () => undefined, abandoned: async () => undefined };

/**
 * The throttle of one process, in memory: the stand-in while Redis is unavailable. Each process counts
 * alone, so it bounds guesses at (processes x limit), instead of not at all.
 */
export class MemoryLoginThrottle implements LoginThrottle {
  /** Failure times per key, oldest first; never longer than the key's limit. */
  private readonly failures = new Map<string, number[]>();

  constructor(
    readonly limits: ThrottleLimits,
    private readonly now: () => number = Date.now,
  ) {}

  async begin(client: string, username: string): Promise<LoginAttempt> {
    if (off(this.limits)) return ALWAYS;
    const now = this.now();
    const keys = [
      { key: `u\u0000${client}\u0000${sameAccount(username)}`, limit: this.limits.perUsername },
      { key: `c\u0000${client}`, limit: this.limits.perClient },
      { key: `a\u0000${sameAccount(username)}`, limit: this.limits.perAccount ?? 0 },
    ].filter((k) => k.limit > 0);
    let waitMs = 0;
    for (const { key, limit } of keys) {
      const recent = this.recent(key, now);
      if (recent.length >= limit)
        waitMs = Math.max(waitMs, (recent[recent.length - limit] as number) + this.limits.windowMs - now);
    }
    if (waitMs > 0) return { allowed: false, retryAfterS: Math.max(1, Math.ceil(waitMs / 1000)) };
    for (const { key } of keys) {
      this.failures.set(key, [...this.recent(key, now), now]);
      // A bound on memory under a flood of clients: the oldest key goes first.
      if (this.failures.size > 100_000) this.failures.delete(this.failures.keys().next().value as string);
    }
    const forget = (key: string, all: boolean) => {
      const times = this.failures.get(key);
      if (!times) return;
      const i = times.indexOf(now);
      if (all) this.failures.delete(key);
      else if (i >= 0) times.splice(i, 1);
    };
    return {
      allowed: true,
      succeeded: async () => {
        for (const { key } of keys) forget(key, key.startsWith('u'));
      },
      abandoned: async () => {
        for (const { key } of keys) forget(key, false);
      },
    };
  }

  private recent(key: string, now: number): number[] {
    return (this.failures.get(key) ?? []).filter((t) => t > now - this.limits.windowMs);
  }
}

/**
 * One atomic step per attempt, on Redis's clock (so API processes with skewed clocks agree): drop what
 * left the window, refuse with the wait when a limit is reached, else record the attempt in both logs.
 * KEYS: per-client-and-username log, per-client log, per-username log. ARGV: window ms, the first two
 * limits, a unique suffix, the third limit.
 * Returns {wait ms, member}: wait 0 means allowed.
 */
const BEGIN = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
local limits = { tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[5]) }
local wait = 0
for i = 1, 3 do
  if limits[i] > 0 then
    redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
    local n = redis.call('ZCARD', KEYS[i])
    if n >= limits[i] then
      local oldest = redis.call('ZRANGE', KEYS[i], n - limits[i], n - limits[i], 'WITHSCORES')
      wait = math.max(wait, tonumber(oldest[2]) + window - now)
    end
  end
end
if wait > 0 then return { wait, '' } end
local member = string.format('%d-%s', now, ARGV[4])
for i = 1, 3 do
  if limits[i] > 0 then
    redis.call('ZADD', KEYS[i], now, member)
    redis.call('PEXPIRE', KEYS[i], window)
  end
end
return { 0, member }
`;

/**
 * The end of an allowed attempt. KEYS: the three logs, as BEGIN's. ARGV: the attempt's member, and
 * '1' when it succeeded (the client's failures for that username are forgotten) or '0' when abandoned.
 */
const END = `
if ARGV[2] == '1' then redis.call('DEL', KEYS[1]) else redis.call('ZREM', KEYS[1], ARGV[1]) end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
return 0
`;

/** Command names the scripts are defined under on the queue's connection (BullMQ's own scripts live there too). */
const BEGIN_CMD = 'netsyncLoginThrottleBegin';
const END_CMD = 'netsyncLoginThrottleEnd';

export interface RedisThrottleOptions {
  /** The network's Redis (the API's queue connection); may be down. */
  readonly redis: () => Promise<IRedisClient>;
  /**
   * Keys are `<keyPrefix>:c:<client>`, `<keyPrefix>:u:<client>:<hmac of the username>` and
   * `<keyPrefix>:a:<hmac of the username>`.
   */
  readonly keyPrefix: string;
  /**
   * Keys a username's HMAC, so Redis never holds a typed name in clear (people type their password in
   * the username field); the same in every process of the network (its token secret).
   */
  readonly secret: string;
  readonly limits: ThrottleLimits;
  readonly logger: Logger;
  /** How long an attempt waits for Redis before the in-memory throttle decides instead. */
  readonly deadlineMs?: number;
}

/**
 * The throttle shared by every API process of a network, in its Redis: neither a second process nor a
 * restart gives more guesses. While Redis is unavailable each process falls back to counting alone in
 * memory (logins keep working, still throttled per process), and says so in its log once a minute.
 */
export class RedisLoginThrottle implements LoginThrottle {
  private readonly fallback: MemoryLoginThrottle;
  private lastWarning = 0;
  /** Connections the scripts are defined on. */
  private readonly defined = new WeakSet<IRedisClient>();

  constructor(private readonly opts: RedisThrottleOptions) {
    this.fallback = new MemoryLoginThrottle(opts.limits);
  }

  async begin(client: string, username: string): Promise<LoginAttempt> {
    const { limits, keyPrefix } = this.opts;
    if (off(limits)) return ALWAYS;
    const account = createHmac('sha256', this.opts.secret).update(sameAccount(username)).digest('base64url');
    const userKey = `${keyPrefix}:u:${client}:${account}`;
    const clientKey = `${keyPrefix}:c:${client}`;
    const accountKey = `${keyPrefix}:a:${account}`;
    const answer = await this.ask((redis) =>
      redis.runCommand(BEGIN_CMD, [
        userKey,
        clientKey,
        accountKey,
        limits.windowMs,
        limits.perUsername,
        limits.perClient,
        randomBytes(6).toString('hex'),
        limits.perAccount ?? 0,
      ]),
    );
    if (answer === undefined) return this.fallback.begin(client, username);
    const [waitMs, member] = answer as [number, string];
    if (waitMs > 0) return { allowed: false, retryAfterS: Math.max(1, Math.ceil(waitMs / 1000)) };
    // Best effort: when Redis fails here, the attempt stays counted as a failure, erring towards safety.
    const end = (succeeded: boolean) => async () =>
      void (await this.ask((redis) =>
        redis.runCommand(END_CMD, [userKey, clientKey, accountKey, member, succeeded ? '1' : '0']),
      ));
    return { allowed: true, succeeded: end(true), abandoned: end(false) };
  }

  /**
   * Runs `op` when Redis is connected and answers within the deadline; undefined otherwise. The API's
   * connection waits through outages (BullMQ needs that), so a command must not be queued on it then.
   */
  private async ask<T>(op: (redis: IRedisClient) => Promise<T>): Promise<T | undefined> {
    const ms = this.opts.deadlineMs ?? 1000;
    try {
      const redis = await within(this.opts.redis(), ms);
      if (redis?.status === 'ready') {
        if (!this.defined.has(redis)) {
          redis.defineCommand(BEGIN_CMD, { numberOfKeys: 3, lua: BEGIN });
          redis.defineCommand(END_CMD, { numberOfKeys: 3, lua: END });
          this.defined.add(redis);
        }
        const answer = await within(
          op(redis).then((value) => ({ value })),
          ms,
        );
        if (answer) return answer.value;
      }
    } catch (err) {
      this.warn((err as Error).message);
      return undefined;
    }
    this.warn('Redis is not connected or did not answer in time');
    return undefined;
  }

  private warn(reason: string): void {
    if (Date.now() - this.lastWarning < 60_000) return;
    this.lastWarning = Date.now();
    this.opts.logger.warn(
      { reason },
      'login throttle: Redis is unavailable; each API process counts failed logins alone until it returns',
    );
  }
}

/** What a network's API gives its throttle. */
export interface ThrottleDeps {
  readonly config: Config;
  readonly queue: Queue;
  readonly jwtSecret: string;
  readonly logger: Logger;
}

/** The login throttle of one network's API, in that network's Redis, with the limits from the configuration. */
export function networkLoginThrottle(deps: ThrottleDeps, network: 'response' | 'request'): LoginThrottle {
  return new RedisLoginThrottle({
    redis: () => queueClient(deps.queue),
    keyPrefix: `${deps.config.queuePrefix}:login-throttle:${network}`,
    secret: deps.jwtSecret,
    limits: {
      perUsername: deps.config.loginMaxFailures,
      perClient: deps.config.loginMaxFailuresPerClient,
      perAccount: deps.config.loginMaxFailuresPerAccount,
      windowMs: LOGIN_WINDOW_MS,
    },
    logger: deps.logger,
  });
}
