import { ADMIN, Cluster, sleep, waitUntil } from '../lib/cluster.js';
import { call, canLogin, login } from '../lib/http.js';
import { type Summary, summarize } from '../lib/stats.js';

/**
 * Case 1, sync latency: from the answer to `POST /users/{id}/reset-password` on the Response API to the
 * Request API accepting the new password at `POST /auth/login`, one reset at a time. Everything runs as
 * deployed: both APIs, workers (with the exchange-folder watcher) and beats with their 60 s schedules.
 *
 * Observed by logging in, not by reading a database: a login succeeds exactly when the Request side holds
 * the new hash. Hashes are bcrypt cost 4 here, so one login attempt costs ~1 ms instead of ~250 ms; the
 * bench polls every `POLL_MS`, which bounds the error of each sample by poll interval + one login.
 */
export interface LatencyResult {
  readonly resets: number;
  readonly sync_ms: Summary;
  /** How long the reset request itself took (bcrypt cost 4, commit, enqueue). */
  readonly reset_request_ms: Summary;
  /** One login attempt on the Request API (bcrypt cost 4): the observation's own cost. */
  readonly login_ms: Summary;
  /** Logins that still accepted the previous password after the new one worked (must be 0). */
  readonly old_password_accepted: number;
}

const POLL_MS = 2;

export async function runLatency(opts: { redisUrl: string; resets: number }): Promise<LatencyResult> {
  const cluster = await Cluster.create({ name: 'latency', redisUrl: opts.redisUrl });
  try {
    await cluster.startAll([
      ['response', 'api'],
      ['response', 'worker'],
      ['response', 'beat'],
      ['request', 'api'],
      ['request', 'worker'],
      ['request', 'beat'],
    ]);
    return await measureResets(cluster.responseUrl, cluster.requestUrl, { resets: opts.resets, pollMs: POLL_MS });
  } finally {
    await cluster.stop();
  }
}

/**
 * Creates a user on the Response API (`responseUrl`), waits until it logs in on the Request API
 * (`requestUrl`), then resets its password `resets` times, one at a time: each sample is from the reset's
 * answer until the new password logs in, polled every `pollMs`. `spreadMs` waits a random time up to it
 * before each reset, so resets do not fall in step with something periodic on the way (a copy loop).
 */
export async function measureResets(
  responseUrl: string,
  requestUrl: string,
  opts: { resets: number; pollMs: number; spreadMs?: number; timeoutMs?: number; username?: string },
): Promise<LatencyResult> {
  const R = responseUrl;
  const username = opts.username ?? 'bench_user';
  const Q = requestUrl;
  const timeoutMs = opts.timeoutMs ?? 70_000;
  const admin = await login(R, ADMIN.username, ADMIN.password);
  let password = 'Bench-start-1';
  const created = await call<{ id: string }>(`${R}/users`, {
    token: admin,
    body: { username, password },
  });
  if (created.status !== 201) throw new Error(`create user: ${created.status} ${JSON.stringify(created.body)}`);
  const id = created.body.id;
  await waitUntil(() => canLogin(Q, username, password), 'the new user to sync', timeoutMs);

  const sync: number[] = [];
  const request: number[] = [];
  const logins: number[] = [];
  let oldAccepted = 0;
  for (let i = 1; i <= opts.resets; i++) {
    const next = `Bench-pass-${i}x`;
    if (opts.spreadMs) await sleep(Math.random() * opts.spreadMs);
    const sent = performance.now();
    const reset = await call(`${R}/users/${id}/reset-password`, { token: admin, body: { new_password: next } });
    const answered = performance.now();
    if (reset.status !== 200) throw new Error(`reset ${i}: ${reset.status} ${JSON.stringify(reset.body)}`);
    request.push(answered - sent);
    for (;;) {
      const t = performance.now();
      const ok = await canLogin(Q, username, next);
      logins.push(performance.now() - t);
      if (ok) break;
      if (performance.now() - answered > timeoutMs) throw new Error(`reset ${i} did not sync within ${timeoutMs} ms`);
      await sleep(opts.pollMs);
    }
    sync.push(performance.now() - answered);
    if (await canLogin(Q, username, password)) oldAccepted++;
    password = next;
  }
  return {
    resets: opts.resets,
    sync_ms: summarize(sync),
    reset_request_ms: summarize(request),
    login_ms: summarize(logins),
    old_password_accepted: oldAccepted,
  };
}
