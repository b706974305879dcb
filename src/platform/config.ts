import { isIP } from 'node:net';
import path from 'node:path';
import { BadKey, parseSigningKey, parseTrustedKeys, type SigningKey, type TrustedKeys } from '../exchange/keys.js';
import { usernameProblem } from '../exchange/usernames.js';

/**
 * Configuration read once, at the edge, into a frozen object. Every module takes what it needs from
 * here; none reads `process.env` itself. A bad value fails fast with the variable's name and the fix.
 */
export interface Config {
  /** Shared default for both networks' Redis. Default `redis://127.0.0.1:6380/0`, as in the seed. */
  readonly redisUrl: string;
  readonly responseRedisUrl: string;
  readonly requestRedisUrl: string;
  /** Where SQLite files, generated secrets and a Redis started by `up` live. Default `./data`. */
  readonly dataDir: string;
  /** The exchange folder: the only thing the two networks share. Default `./exports`. */
  readonly exchangeDir: string;
  /**
   * Where the Request side keeps a copy of each file it refuses. Default `$DATA_DIR/quarantine`; never
   * inside the exchange folder, which the Request side only reads.
   */
  readonly quarantineDir: string;
  /** Larger exchange files are refused unread. Default 256 MiB. */
  readonly maxFileBytes: number;
  /**
   * The Request side holds a users file that would delete or deactivate more accounts than this at once,
   * until an operator confirms it. Default 500 (Microsoft Entra Connect's accidental-delete threshold);
   * 0 turns the valve off.
   */
  readonly maxAccountRemovals: number;
  readonly responseDatabaseUrl: string;
  readonly requestDatabaseUrl: string;
  readonly host: string;
  readonly responsePort: number;
  readonly requestPort: number;
  readonly adminUsername: string | undefined;
  readonly adminPassword: string | undefined;
  /** EXCHANGE_SIGNING_KEY: the Response side's private key; never set on a Request side. */
  readonly exchangeSigningKey: SigningKey | undefined;
  /** EXCHANGE_TRUSTED_KEYS: the public keys a Request side accepts files from. */
  readonly exchangeTrustedKeys: TrustedKeys | undefined;
  readonly responseJwtSecret: string | undefined;
  readonly requestJwtSecret: string | undefined;
  readonly exportIntervalS: number;
  readonly importIntervalS: number;
  /**
   * The Response side's scheduled export removes batch files older than this once a snapshot it wrote
   * carries their changes. Default 7 days: a Request side away longer catches up from the snapshots.
   */
  readonly exchangeRetentionS: number;
  /**
   * The Response side's audit rows older than this many days are pruned by its scheduled
   * `prune_audit_log` task. Default 365; 0 keeps every row.
   */
  readonly auditRetentionDays: number;
  /** BullMQ key prefix; each network appends its own name so one Redis can hold both. */
  readonly queuePrefix: string;
  readonly logLevel: string;
  /** How long an access token lives, on both networks. Default 3600 s. */
  readonly tokenTtlS: number;
  /**
   * Failed logins allowed per client and username in 15 minutes before 429, counted in the network's Redis
   * so every API process of the network shares the count. Default 10; 0 turns this limit off.
   */
  readonly loginMaxFailures: number;
  /**
   * Failed logins allowed per client over all usernames in 15 minutes before 429, so a client cannot try a
   * new username each time. Default 50; 0 turns this limit off.
   */
  readonly loginMaxFailuresPerClient: number;
  /**
   * Failed logins allowed per username over all clients in 15 minutes before 429: bounds the bcrypt work a
   * guesser with many addresses can cause, and slows only the account guessed at. Default 100; 0 turns
   * this limit off.
   */
  readonly loginMaxFailuresPerAccount: number;
  /**
   * Browser origins (`https://host[:port]`) allowed to call the APIs from their pages (CORS). Default none:
   * CORS is closed, and browsers refuse cross-origin pages the answers.
   */
  readonly corsOrigins: readonly string[];
  /**
   * Addresses or CIDR ranges of the proxies (load balancers) in front of the APIs whose X-Forwarded-For is
   * believed, so the login throttle counts per real client. Default none: the client is the peer address.
   */
  readonly trustProxy: readonly string[];
  /** How long running jobs get to finish at shutdown before they go back to the queue. Default 10 s. */
  readonly shutdownGraceS: number;
  /**
   * How many processes `netsync <side> api` serves its port from (platform/api-processes.ts). Default 1;
   * one per core is what lets reads use the whole machine.
   */
  readonly apiProcesses: number;
  /** bcrypt cost for new hashes. 12 in production; tests may lower it. */
  readonly bcryptCost: number;
}

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    reason: string,
  ) {
    super(`${variable}: ${reason}`);
    this.name = 'ConfigError';
  }
}

type Env = Readonly<Record<string, string | undefined>>;

function text(env: Env, name: string, fallback: string): string {
  const v = env[name];
  return v === undefined || v.trim() === '' ? fallback : v.trim();
}

function optional(env: Env, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v === '' ? undefined : v;
}

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new ConfigError(name, `must be a whole number from ${min} to ${max}, got "${raw}"`);
  }
  return n;
}

function list(env: Env, name: string): string[] {
  return (env[name] ?? '')
    .split(',')
    .map((v) => v.trim())
    .filter((v) => v !== '');
}

/** Browser origins: scheme, host and port only, as a browser sends them in `Origin`. No wildcard. */
function origins(env: Env, name: string): readonly string[] {
  return Object.freeze(
    list(env, name).map((v) => {
      let origin: string | undefined;
      try {
        const u = new URL(v);
        if (u.protocol === 'http:' || u.protocol === 'https:') origin = u.origin;
      } catch {}
      if (origin === undefined || origin !== v.replace(/\/$/, '')) {
        throw new ConfigError(
          name,
          `"${v}" is not an origin: give scheme, host and optional port, comma-separated (example: https://admin.example.org,http://localhost:5173); "*" is not accepted`,
        );
      }
      return origin;
    }),
  );
}

/** Proxy addresses or CIDR ranges (`10.0.0.0/8`, `::1`), or proxy-addr's names `loopback`, `linklocal`, `uniquelocal`. */
function proxies(env: Env, name: string): readonly string[] {
  return Object.freeze(
    list(env, name).map((v) => {
      const [address, bits, extra] = v.split('/');
      const family = isIP(address ?? '');
      const named = ['loopback', 'linklocal', 'uniquelocal'].includes(v);
      const okBits =
        bits === undefined ||
        (/^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128) && extra === undefined);
      if (!named && (family === 0 || !okBits)) {
        throw new ConfigError(
          name,
          `"${v}" is not an address or CIDR range: list the proxies in front of the APIs, comma-separated (example: 10.0.0.5,10.1.0.0/16,loopback)`,
        );
      }
      return v;
    }),
  );
}

function redisUrl(name: string, value: string): string {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw new ConfigError(name, `is not a URL: "${value}" (example: redis://127.0.0.1:6379/0)`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
    throw new ConfigError(name, `must start with redis:// or rediss://, got "${u.protocol}//"`);
  }
  return value;
}

function databaseUrl(name: string, value: string): string {
  if (/^postgres(ql)?:\/\//.test(value) || value.startsWith('sqlite:')) return value;
  throw new ConfigError(
    name,
    `must be sqlite:<file> or postgres://user@host:port/db, got "${value.replace(/:[^:@/]*@/, ':***@')}"`,
  );
}

/** A key variable parsed, or a ConfigError naming it (the message never repeats the value). */
function key<T>(env: Env, name: string, parse: (text: string) => T): T | undefined {
  const v = optional(env, name);
  if (v === undefined) return undefined;
  try {
    return parse(v);
  } catch (err) {
    if (err instanceof BadKey) throw new ConfigError(name, err.message);
    throw err;
  }
}

/** The quarantine folder, refused when it lies inside the exchange folder (the Request side only reads that). */
function quarantineDir(value: string, exchangeDir: string): string {
  const inside = path.relative(exchangeDir, value);
  if (inside === '' || (!inside.startsWith('..') && !path.isAbsolute(inside))) {
    throw new ConfigError(
      'QUARANTINE_DIR',
      `must be outside EXPORT_DIR (${exchangeDir}): the Request side never writes there`,
    );
  }
  return value;
}

export function loadConfig(env: Env = process.env, cwd = process.cwd()): Config {
  const dataDir = path.resolve(cwd, text(env, 'DATA_DIR', './data'));
  const shared = redisUrl('REDIS_URL', text(env, 'REDIS_URL', 'redis://127.0.0.1:6380/0'));
  const host = text(env, 'HOST', '127.0.0.1');
  const exchangeDir = path.resolve(cwd, text(env, 'EXPORT_DIR', './exports'));
  const adminUsername = optional(env, 'ADMIN_USERNAME');
  const adminUsernameProblem = adminUsername === undefined ? undefined : usernameProblem(adminUsername);
  if (adminUsernameProblem) throw new ConfigError('ADMIN_USERNAME', adminUsernameProblem);
  return Object.freeze({
    redisUrl: shared,
    responseRedisUrl: redisUrl('RESPONSE_REDIS_URL', text(env, 'RESPONSE_REDIS_URL', shared)),
    requestRedisUrl: redisUrl('REQUEST_REDIS_URL', text(env, 'REQUEST_REDIS_URL', shared)),
    dataDir,
    exchangeDir,
    quarantineDir: quarantineDir(
      path.resolve(cwd, text(env, 'QUARANTINE_DIR', path.join(dataDir, 'quarantine'))),
      exchangeDir,
    ),
    maxFileBytes: integer(env, 'MAX_EXCHANGE_FILE_BYTES', 256 * 1024 * 1024, 1024, 2 ** 40),
    maxAccountRemovals: integer(env, 'MAX_ACCOUNT_REMOVALS', 500, 0, 1_000_000_000),
    responseDatabaseUrl: databaseUrl(
      'RESPONSE_DATABASE_URL',
      text(env, 'RESPONSE_DATABASE_URL', `sqlite:${path.join(dataDir, 'response.sqlite')}`),
    ),
    requestDatabaseUrl: databaseUrl(
      'REQUEST_DATABASE_URL',
      text(env, 'REQUEST_DATABASE_URL', `sqlite:${path.join(dataDir, 'request.sqlite')}`),
    ),
    host,
    responsePort: integer(env, 'RESPONSE_PORT', 8000, 0, 65535),
    requestPort: integer(env, 'REQUEST_PORT', 8001, 0, 65535),
    adminUsername,
    adminPassword: optional(env, 'ADMIN_PASSWORD'),
    exchangeSigningKey: key(env, 'EXCHANGE_SIGNING_KEY', parseSigningKey),
    exchangeTrustedKeys: key(env, 'EXCHANGE_TRUSTED_KEYS', parseTrustedKeys),
    responseJwtSecret: optional(env, 'RESPONSE_JWT_SECRET'),
    requestJwtSecret: optional(env, 'REQUEST_JWT_SECRET'),
    exportIntervalS: integer(env, 'EXPORT_INTERVAL_S', 60, 1, 86_400),
    importIntervalS: integer(env, 'IMPORT_INTERVAL_S', 60, 1, 86_400),
    exchangeRetentionS: integer(env, 'EXCHANGE_RETENTION_S', 7 * 86_400, 0, 10 * 365 * 86_400),
    auditRetentionDays: integer(env, 'AUDIT_RETENTION_DAYS', 365, 0, 100 * 366),
    queuePrefix: text(env, 'QUEUE_PREFIX', 'netsync'),
    logLevel: text(env, 'LOG_LEVEL', 'info'),
    bcryptCost: integer(env, 'BCRYPT_COST', 12, 4, 15),
    shutdownGraceS: integer(env, 'SHUTDOWN_GRACE_S', 10, 0, 3600),
    apiProcesses: integer(env, 'API_PROCESSES', 1, 1, 64),
    loginMaxFailures: integer(env, 'LOGIN_MAX_FAILURES', 10, 0, 1_000_000),
    loginMaxFailuresPerClient: integer(env, 'LOGIN_MAX_FAILURES_PER_CLIENT', 50, 0, 1_000_000),
    loginMaxFailuresPerAccount: integer(env, 'LOGIN_MAX_FAILURES_PER_ACCOUNT', 100, 0, 1_000_000),
    corsOrigins: origins(env, 'CORS_ORIGINS'),
    trustProxy: proxies(env, 'TRUST_PROXY'),
    tokenTtlS: integer(env, 'TOKEN_TTL_S', 3600, 1, 30 * 86_400),
  });
}

/** The configuration with every secret replaced, safe to print or log. */
export function maskedConfig(config: Config): Record<string, unknown> {
  const mask = (v: string | undefined) => (v === undefined ? undefined : '***');
  const maskUrl = (v: string) => v.replace(/(\/\/[^:/@]*:)[^@]*@/, '$1***@');
  return {
    ...config,
    redisUrl: maskUrl(config.redisUrl),
    responseRedisUrl: maskUrl(config.responseRedisUrl),
    requestRedisUrl: maskUrl(config.requestRedisUrl),
    responseDatabaseUrl: maskUrl(config.responseDatabaseUrl),
    requestDatabaseUrl: maskUrl(config.requestDatabaseUrl),
    adminPassword: mask(config.adminPassword),
    exchangeSigningKey: config.exchangeSigningKey === undefined ? undefined : '***',
    // Public keys: nothing secret, and worth seeing while a key is rotated.
    exchangeTrustedKeys: config.exchangeTrustedKeys?.map((k) => k.text).join(','),
    responseJwtSecret: mask(config.responseJwtSecret),
    requestJwtSecret: mask(config.requestJwtSecret),
  };
}
