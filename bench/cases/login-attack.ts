import { Redis } from 'ioredis';
import { ADMIN, Cluster, cpuSecondsOf, type Proc } from '../lib/cluster.js';
import { call, login } from '../lib/http.js';
import { type Summary, summarize } from '../lib/stats.js';

/**
 * Case 9, login under attack (issue 13 item 5): a burst of failed logins for one username on the Response
 * API, sent `concurrency` at a time, while a normal user logs in again and again from an address of its
 * own. The throttle must turn the burst away before bcrypt: every 401 of the burst is one bcrypt
 * verification, every 429 is none. The API sits behind a trusted proxy (TRUST_PROXY), so the bench sets
 * each request's client address with X-Forwarded-For: one address for the whole burst, or a new one
 * for each request (the case a per-client limit cannot bound). The throttle's limits are the defaults.
 */
export interface LoginAttackScenario {
  readonly name: string;
  /** The normal user's login latency while the burst ran ("quiet": with no burst). */
  readonly normal_ms: Summary;
  readonly burst_s: number;
  /** Answers to the burst: 401 (a bcrypt verification each), 429 (refused before bcrypt), anything else. */
  readonly verifications: number;
  readonly throttled: number;
  readonly other: number;
  /** CPU seconds the API process used during the scenario. */
  readonly api_cpu_s: number;
}

export interface LoginAttackResult {
  readonly bcrypt_cost: number;
  readonly burst: number;
  readonly concurrency: number;
  readonly scenarios: LoginAttackScenario[];
}

const NORMAL = { username: 'bench_normal', password: 'Normal-user-1' };
const VICTIM = { username: 'bench_victim', password: 'Victim-user-1' };
const NORMAL_CLIENT = '192.0.2.1';
const QUIET_LOGINS = 40;

async function attempt(url: string, client: string, username: string, password: string): Promise<number> {
  const res = await fetch(`${url}/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-forwarded-for': client },
    body: JSON.stringify({ username, password }),
  });
  await res.arrayBuffer();
  return res.status;
}

/** The normal user's logins, one after another, until `done` says stop; their latencies in ms. */
async function normalLogins(url: string, done: () => boolean): Promise<number[]> {
  const samples: number[] = [];
  while (!done()) {
    const t = performance.now();
    const status = await attempt(url, NORMAL_CLIENT, NORMAL.username, NORMAL.password);
    if (status !== 200) throw new Error(`the normal user's login answered ${status}`);
    samples.push(performance.now() - t);
  }
  return samples;
}

/** Sends `n` failed logins for the victim, `concurrency` at a time; counts the answers by status. */
async function burst(url: string, n: number, concurrency: number, clientOf: (i: number) => string) {
  const counts = new Map<number, number>();
  let next = 0;
  const sender = async () => {
    for (let i = next++; i < n; i = next++) {
      const status = await attempt(url, clientOf(i), VICTIM.username, `wrong-guess-${i}`);
      counts.set(status, (counts.get(status) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, sender));
  return counts;
}

async function clearThrottle(redisUrl: string, prefix: string): Promise<void> {
  const redis = new Redis(redisUrl);
  try {
    let cursor = '0';
    do {
      const [nextCursor, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:login-throttle:*`, 'COUNT', 1000);
      cursor = nextCursor;
      if (keys.length) await redis.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

export async function runLoginAttack(opts: {
  redisUrl: string;
  burst: number;
  concurrency: number;
  bcryptCost: number;
}): Promise<LoginAttackResult> {
  const cluster = await Cluster.create({
    name: 'login-attack',
    redisUrl: opts.redisUrl,
    env: {
      BCRYPT_COST: String(opts.bcryptCost),
      // The defaults (the cluster turns the throttle off for the other cases).
      LOGIN_MAX_FAILURES: '10',
      LOGIN_MAX_FAILURES_PER_CLIENT: '50',
      LOGIN_MAX_FAILURES_PER_ACCOUNT: '100',
      TRUST_PROXY: '127.0.0.1,::1',
      LOG_LEVEL: 'warn',
    },
  });
  try {
    let api: Proc = await cluster.start('response', 'api');
    const url = cluster.responseUrl;
    const admin = await login(url, ADMIN.username, ADMIN.password);
    for (const user of [NORMAL, VICTIM]) {
      const made = await call(`${url}/users`, { token: admin, body: user });
      if (made.status !== 201) throw new Error(`creating ${user.username}: ${made.status}`);
    }
    const scenarios: LoginAttackScenario[] = [];
    const run = async (name: string, clientOf: ((i: number) => string) | null) => {
      await clearThrottle(opts.redisUrl, cluster.prefix);
      const cpu0 = cpuSecondsOf(api.pid);
      const t = performance.now();
      let counts = new Map<number, number>();
      let samples: number[];
      if (clientOf === null) {
        let left = QUIET_LOGINS;
        samples = await normalLogins(url, () => left-- <= 0);
      } else {
        let over = false;
        [counts, samples] = await Promise.all([
          burst(url, opts.burst, opts.concurrency, clientOf).finally(() => {
            over = true;
          }),
          normalLogins(url, () => over),
        ]);
      }
      const verifications = counts.get(401) ?? 0;
      const throttled = counts.get(429) ?? 0;
      scenarios.push({
        name,
        normal_ms: summarize(samples),
        burst_s: (performance.now() - t) / 1000,
        verifications,
        throttled,
        other: (clientOf === null ? 0 : opts.burst) - verifications - throttled,
        api_cpu_s: cpuSecondsOf(api.pid) - cpu0,
      });
    };
    await run('quiet', null);
    await run('one client', () => '198.51.100.7');
    const manyClients = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    await run('many clients', manyClients);
    // What the per-username limit bounds: the same burst with that limit off.
    await api.stop();
    api = await cluster.start('response', 'api', [], { LOGIN_MAX_FAILURES_PER_ACCOUNT: '0' });
    await run('many clients, LOGIN_MAX_FAILURES_PER_ACCOUNT=0', manyClients);
    return { bcrypt_cost: opts.bcryptCost, burst: opts.burst, concurrency: opts.concurrency, scenarios };
  } finally {
    await cluster.stop();
  }
}
