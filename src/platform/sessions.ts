import { randomBytes } from 'node:crypto';
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
 * Reading the account's version from the database on every request is what this avoids. Each API
 * process remembers the versions it read; in the network's Redis, a per-user **marker** (and one for
 * all users) changes after every commit that changes an account. Each request reads the markers and the
 * deny-list entry in one MGET, and reads the database only when a marker moved since the version was
 * remembered. A marker is a fresh random value, never a count, so it can never come back to one a
 * process remembered. The version is read after the marker, and the writer moves the marker after its
 * commit: a remembered version is never older than the marker it is filed under.
 *
 * While Redis does not answer, every request reads the account's version from the database (an account
 * change still ends tokens at once), logout answers 503, and a token logged out before the outage is
 * accepted until Redis answers again or the token expires. A process drops everything it remembers when
 * its connection comes back, and retries the markers it could not move.
 */

/** How long a version read from the database is used while its markers stand still. */
const REMEMBER_MS = 60_000;
/** Markers outlive anything remembered under them, so one expiring cannot look like "no change". */
const MARKER_TTL_S = 2 * 86_400;
/** How many accounts' versions a process remembers; the oldest go first. */
const REMEMBERED_MAX = 50_000;
/** Past this many accounts in one change, the marker for all users is moved instead of each one. */
const MARK_EACH_MAX = 1000;
/** How long a request waits for Redis before it reads the database instead. */
const REDIS_DEADLINE_MS = 500;

/** The Redis keys of one network's sessions, under its key prefix (e.g. `netsync:response`). */
export function sessionKeys(prefix: string) {
  return {
    all: `${prefix}:sessions:all`,
    user: (id: string) => `${prefix}:sessions:user:${id}`,
    revoked: (jti: string) => `${prefix}:sessions:revoked:${jti}`,
  };
}

const marker = () => randomBytes(9).toString('base64url');

/**
 * What ends sessions: moving an account's marker after a commit changed the account, and denying one
 * token at logout. The Request worker holds only this (the importer changes accounts); an API process
 * holds a `Sessions`, which also checks tokens.
 */
export class SessionSignals {
  protected readonly keys: ReturnType<typeof sessionKeys>;
  /** Accounts ("*": all) whose markers could not be moved; moved when the connection is back. */
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
   * Never throws: the change is committed; a marker Redis did not take is moved when it answers again.
   */
  async accountsChanged(ids: readonly string[] | 'all'): Promise<void> {
    await this.send(ids === 'all' || ids.length > MARK_EACH_MAX ? ['*'] : ids);
  }

  private async send(ids: readonly string[]): Promise<void> {
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.set(id === '*' ? this.keys.all : this.keys.user(id), marker(), 'EX', MARKER_TTL_S);
    const done = this.redis.status === 'ready' ? await within(pipeline.exec(), 2000).catch(() => undefined) : undefined;
    const failed = !done || done.some(([err]) => err);
    for (const id of ids) {
      if (failed) this.unsent.add(id);
      else this.unsent.delete(id);
    }
    if (failed)
      this.logger.warn({ accounts: ids.length }, 'Redis did not take the session change; retried when it answers');
  }

  /**
   * Denies the token `claims` belong to until it expires.
   * @throws Unavailable while Redis does not answer: the logout did not happen, and the caller may retry
   */
  async revoke(claims: TokenClaims & { exp?: number }): Promise<void> {
    const ttlS = Math.max(1, Math.ceil((claims.exp ?? 0) - Date.now() / 1000));
    const ok =
      this.redis.status === 'ready' &&
      (await within(this.redis.set(this.keys.revoked(claims.jti), '1', 'EX', ttlS), REDIS_DEADLINE_MS).catch(
        () => undefined,
      )) === 'OK';
    if (!ok) throw new Unavailable('Redis is unavailable, so the token could not be ended; try again shortly');
  }
}

/**
 * The account's current session version, read from the network's database: null when the account may
 * hold no session (unknown, deleted, inactive).
 */
export type SessionVersionOf = (userId: string) => Promise<number | null>;

interface Remembered {
  /** The markers (all, user) it was read under. */
  tag: string;
  version: number | null;
  at: number;
}

/** An API process's view of its network's sessions: checks each token, and signals its own changes. */
export class Sessions extends SessionSignals implements SessionCheck {
  private readonly remembered = new Map<string, Remembered>();

  constructor(
    redis: Redis,
    prefix: string,
    logger: Logger,
    private readonly versionOf: SessionVersionOf,
    private readonly now: () => number = Date.now,
  ) {
    super(redis, prefix, logger);
  }

  protected override reconnected(): void {
    // Markers may have moved (or Redis lost them) while this process could not see them.
    this.remembered.clear();
  }

  override async accountsChanged(ids: readonly string[] | 'all'): Promise<void> {
    if (ids === 'all') this.remembered.clear();
    else for (const id of ids) this.remembered.delete(id);
    await super.accountsChanged(ids);
  }

  async accepts(claims: TokenClaims): Promise<boolean> {
    if (typeof claims.sv !== 'number' || typeof claims.jti !== 'string') return false;
    const marks = await this.markers(claims.sub, claims.jti);
    if (!marks) return (await this.versionOf(claims.sub)) === claims.sv;
    const [all, user, revoked] = marks;
    if (revoked !== null) return false;
    const tag = `${all ?? ''}/${user ?? ''}`;
    const seen = this.remembered.get(claims.sub);
    if (seen && seen.tag === tag && this.now() - seen.at < REMEMBER_MS) return seen.version === claims.sv;
    const version = await this.versionOf(claims.sub);
    this.remember(claims.sub, { tag, version, at: this.now() });
    return version === claims.sv;
  }

  /** The markers and the deny-list entry in one round trip, or undefined while Redis does not answer. */
  private async markers(userId: string, jti: string): Promise<(string | null)[] | undefined> {
    if (this.redis.status !== 'ready') return undefined;
    const keys = [this.keys.all, this.keys.user(userId), this.keys.revoked(jti)];
    return within(this.redis.mget(keys), REDIS_DEADLINE_MS).catch(() => undefined);
  }

  private remember(userId: string, entry: Remembered): void {
    this.remembered.delete(userId);
    this.remembered.set(userId, entry);
    if (this.remembered.size > REMEMBERED_MAX) this.remembered.delete(this.remembered.keys().next().value as string);
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
