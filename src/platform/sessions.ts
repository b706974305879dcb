import type { Redis } from 'ioredis';
import { Type } from 'typebox';
import { Unavailable } from './errors.js';
import { type App, AUTH_ERRORS, authenticate, ErrorResponse, type SessionCheck, type TokenClaims } from './http.js';
import type { Logger } from './logger.js';
import { within } from './within.js';

/**
 * Sessions that end when the account changes, and at logout.
 *
 * A token carries `sv`, the account's session version when it was issued: a number the network derives
 * from what it holds of the account (`version + password_version` on both networks, so it changes with
 * every change of the account and of its password, deletion and the admin and active flags included),
 * or null while the account may hold no session (deleted, inactive). A token is good while `sv` still
 * equals the account's, and while its id (`jti`) is not on the deny list that logout writes.
 *
 * Asking the database or Redis on every request is what this avoids (the MGET per request it replaced
 * was a sixth of a small read's CPU). Each API process remembers the versions it read and the tokens it
 * found not denied, and listens on the network's session channel in Redis: after every commit that
 * changes accounts, the writer publishes their ids (or "all"); logout writes the deny-list entry and
 * publishes the token's id. A process forgets what a message names, and forgets everything whenever it
 * (re)subscribes, since messages sent while it was not listening are lost.
 *
 * "At once": Redis hands a message to every subscriber's connection when it answers the publisher, so a
 * change published before a request arrives is already in the process's socket when the request is
 * read; a check lets the event loop turn twice before it trusts what it remembers, so that message is
 * read first. A value read while any message arrived is not kept (it may predate the change).
 *
 * While this process is not listening (Redis down or reconnecting), every request reads the account's
 * version from the database (an account change still ends tokens at once), logout answers 503, and a
 * token logged out before the outage is accepted until Redis answers again or the token expires.
 */

/** How long a version read from the database is used, at most, even while no message names it. */
const REMEMBER_MS = 60_000;
/** How many accounts' versions (and token verdicts) a process remembers; the oldest go first. */
const REMEMBERED_MAX = 50_000;
/** Past this many accounts in one change, "all accounts" is published instead of each one. */
const MARK_EACH_MAX = 1000;
/** How long a request waits for Redis before it reads the database instead. */
const REDIS_DEADLINE_MS = 500;

/** The Redis keys and channel of one network's sessions, under its key prefix (e.g. `netsync:response`). */
export function sessionKeys(prefix: string) {
  return {
    /** Messages: `*` (every account changed), `u:<id>,<id>...` (these accounts), `r:<jti>` (logged out). */
    channel: `${prefix}:sessions:changes`,
    revoked: (jti: string) => `${prefix}:sessions:revoked:${jti}`,
  };
}

/**
 * What ends sessions: publishing which accounts a commit changed, and denying one token at logout. The
 * Request worker holds only this (the importer changes accounts); an API process holds a `Sessions`,
 * which also checks tokens.
 */
export class SessionSignals {
  protected readonly keys: ReturnType<typeof sessionKeys>;
  /** Accounts ("*": all) whose change could not be published; published when the connection is back. */
  private readonly unsent = new Set<string>();

  constructor(
    protected readonly redis: Redis,
    prefix: string,
    protected readonly logger: Logger,
  ) {
    this.keys = sessionKeys(prefix);
    redis.on('ready', () => {
      this.reconnected();
      if (this.unsent.size > 0) void this.send([...this.unsent]);
    });
  }

  /** Called when the connection is (back) up. */
  protected reconnected(): void {}

  /**
   * Ends every token of these accounts issued before the change the caller has just committed.
   * Never throws: the change is committed; a change Redis did not take is published when it answers again.
   */
  async accountsChanged(ids: readonly string[] | 'all'): Promise<void> {
    await this.send(ids === 'all' || ids.length > MARK_EACH_MAX || this.unsent.has('*') ? ['*'] : ids);
  }

  private async send(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    const message = ids.includes('*') ? '*' : `u:${ids.join(',')}`;
    const done =
      this.redis.status === 'ready'
        ? await within(this.redis.publish(this.keys.channel, message), 2000).catch(() => undefined)
        : undefined;
    const failed = done === undefined;
    for (const id of ids) {
      if (failed) this.unsent.add(id);
      else this.unsent.delete(id);
    }
    if (!failed && message === '*') this.unsent.clear();
    if (failed)
      this.logger.warn({ accounts: ids.length }, 'Redis did not take the session change; retried when it answers');
  }

  /**
   * Denies the token `claims` belong to until it expires.
   * @throws Unavailable while Redis does not answer: the logout did not happen, and the caller may retry
   */
  async revoke(claims: TokenClaims & { exp?: number }): Promise<void> {
    const ttlS = Math.max(1, Math.ceil((claims.exp ?? 0) - Date.now() / 1000));
    // Only on a ready connection: a command queued through an outage would end the token at some later time.
    const exec =
      this.redis.status === 'ready'
        ? this.redis
            .multi()
            .set(this.keys.revoked(claims.jti), '1', 'EX', ttlS)
            .publish(this.keys.channel, `r:${claims.jti}`)
            .exec()
        : undefined;
    const done = exec && (await within(exec, REDIS_DEADLINE_MS).catch(() => undefined));
    if (!done || done.some(([err]) => err)) {
      exec?.catch(() => undefined);
      throw new Unavailable('Redis is unavailable, so the token could not be ended; try again shortly');
    }
  }
}

/**
 * The account's current session version, read from the network's database: null when the account may
 * hold no session (unknown, deleted, inactive).
 */
export type SessionVersionOf = (userId: string) => Promise<number | null>;

interface Remembered {
  version: number | null;
  at: number;
}

/** Lets the event loop read what is already in its sockets (see "At once" above). */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** An API process's view of its network's sessions: checks each token, and signals its own changes. */
export class Sessions extends SessionSignals implements SessionCheck {
  private readonly remembered = new Map<string, Remembered>();
  /** Tokens found on the deny list (false) or not (true) since this process last subscribed. */
  private readonly tokens = new Map<string, boolean>();
  /** Moves with every message heard and every (re)subscription: a read that saw it move is not kept. */
  private epoch = 0;
  private listening = false;
  /** Until the first subscription succeeds or fails, a check waits for it (briefly) instead of reading the database. */
  private starting = true;
  private readonly subscriber: Redis;
  private subscribed: Promise<void>;
  private onSubscribed: () => void = () => undefined;

  constructor(
    redis: Redis,
    prefix: string,
    logger: Logger,
    private readonly versionOf: SessionVersionOf,
    private readonly now: () => number = Date.now,
  ) {
    super(redis, prefix, logger);
    this.subscribed = new Promise((resolve) => {
      this.onSubscribed = resolve;
    });
    // A connection of its own: a subscribed connection can do nothing else. It lives as long as `redis`.
    this.subscriber = redis.duplicate();
    this.subscriber.on('error', () => undefined);
    this.subscriber.on('message', (_channel: string, message: string) => this.heard(message));
    this.subscriber.on('ready', () => {
      this.subscriber.subscribe(this.keys.channel).then(
        () => {
          this.forget();
          this.listening = true;
          this.starting = false;
          this.onSubscribed();
        },
        (err: Error) => {
          this.starting = false;
          this.logger.warn(
            { err: err.message },
            'could not subscribe to session changes; checking tokens in the database',
          );
        },
      );
    });
    this.subscriber.on('close', () => {
      this.listening = false;
      this.subscribed = new Promise((resolve) => {
        this.onSubscribed = resolve;
      });
    });
    redis.on('end', () => this.subscriber.disconnect());
  }

  /** Stops listening (the connection given to the constructor is the caller's to close). */
  close(): void {
    this.subscriber.disconnect();
  }

  protected override reconnected(): void {
    // Changes may have been published while this process could not hear them.
    this.forget();
  }

  override async accountsChanged(ids: readonly string[] | 'all'): Promise<void> {
    this.epoch++;
    if (ids === 'all') this.remembered.clear();
    else for (const id of ids) this.remembered.delete(id);
    await super.accountsChanged(ids);
  }

  override async revoke(claims: TokenClaims & { exp?: number }): Promise<void> {
    await super.revoke(claims);
    this.epoch++;
    this.keep(this.tokens, claims.jti, false);
  }

  async accepts(claims: TokenClaims): Promise<boolean> {
    if (typeof claims.sv !== 'number' || typeof claims.jti !== 'string') return false;
    // The first checks of a process wait (briefly) for its subscription, as the MGET they replace did.
    if (!this.listening && this.starting && this.redis.status === 'ready') {
      await within(this.subscribed, REDIS_DEADLINE_MS);
      this.starting = false;
    }
    if (!this.listening) return (await this.versionOf(claims.sub)) === claims.sv;
    await turn();
    await turn();
    const epoch = this.epoch;
    let stands = this.tokens.get(claims.jti);
    if (stands === false) return false;
    const seen = this.remembered.get(claims.sub);
    let version = seen && this.now() - seen.at < REMEMBER_MS ? seen.version : undefined;
    if (stands === undefined || version === undefined) {
      const [denied, read] = await Promise.all([
        stands === undefined ? this.denied(claims.jti) : false,
        version === undefined ? this.versionOf(claims.sub) : version,
      ]);
      if (denied === true) stands = false;
      if (denied === false) stands = true;
      version = read;
      // A message heard meanwhile may be about this account or token: use what was read, keep nothing.
      if (this.epoch === epoch && this.listening) {
        if (denied !== undefined) this.keep(this.tokens, claims.jti, denied === false);
        this.keep(this.remembered, claims.sub, { version, at: this.now() });
      }
    }
    return stands !== false && version === claims.sv;
  }

  /** Whether the token is on the deny list; undefined while Redis does not answer. */
  private async denied(jti: string): Promise<boolean | undefined> {
    if (this.redis.status !== 'ready') return undefined;
    const value = await within(this.redis.exists(this.keys.revoked(jti)), REDIS_DEADLINE_MS).catch(() => undefined);
    return value === undefined ? undefined : value > 0;
  }

  private heard(message: string): void {
    this.epoch++;
    if (message === '*') this.remembered.clear();
    else if (message.startsWith('u:')) for (const id of message.slice(2).split(',')) this.remembered.delete(id);
    else if (message.startsWith('r:')) this.keep(this.tokens, message.slice(2), false);
  }

  private forget(): void {
    this.epoch++;
    this.remembered.clear();
    this.tokens.clear();
  }

  private keep<V>(map: Map<string, V>, key: string, value: V): void {
    map.delete(key);
    map.set(key, value);
    if (map.size > REMEMBERED_MAX) map.delete(map.keys().next().value as string);
  }
}

/** POST /auth/logout: ends the token it is called with (204); other tokens of the account stay good. */
export function registerLogout(app: App, sessions: SessionSignals): void {
  app.post(
    '/auth/logout',
    {
      preHandler: [authenticate],
      schema: {
        tags: ['auth'],
        summary: 'End the session of the token this is called with',
        security: [{ bearer: [] }],
        response: { 204: Type.Null(), 503: ErrorResponse, ...AUTH_ERRORS },
      },
    },
    async (req, reply) => {
      await sessions.revoke(req.user);
      req.log.info({ user_id: req.user.sub }, 'logged out');
      return reply.status(204).send(null);
    },
  );
}
