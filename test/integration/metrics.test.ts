import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/platform/http.js';
import { bearer, EVENT_DEADLINE_MS, startSystem, type TestSystem, waitFor } from '../helpers/system.js';

/** The value of one series in a Prometheus text exposition, or undefined when it is absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return undefined;
}

async function scrape(app: App): Promise<string> {
  const res = await app.inject({ url: '/metrics' });
  expect(res.statusCode).toBe(200);
  expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
  return res.body;
}

describe('GET /metrics and GET /ready', () => {
  let sys: TestSystem;
  beforeAll(async () => {
    sys = await startSystem();
  });
  afterAll(() => sys.stop());

  it('each API serves its own network’s metrics, every family present', async () => {
    const response = await scrape(sys.response);
    const request = await scrape(sys.request);
    for (const family of [
      'netsync_http_requests_total',
      'netsync_http_request_duration_seconds',
      'netsync_job_duration_seconds',
      'netsync_exchange_files_total',
      'netsync_queue_jobs',
      'process_cpu_seconds_total',
    ]) {
      expect(response, family).toContain(`# TYPE ${family} `);
      expect(request, family).toContain(`# TYPE ${family} `);
    }
    expect(response).toContain('# TYPE netsync_export_lag_seconds gauge');
    expect(request).toContain('# TYPE netsync_quarantined_files gauge');
    expect(request).toContain('# TYPE netsync_sync_lag_seconds gauge');
    // One registry per network: nothing of the other network shows up.
    expect(response).not.toContain('network="request"');
    expect(request).not.toContain('network="response"');
    expect(sample(response, 'netsync_queue_jobs', { queue: 'response', state: 'waiting' })).toBeTypeOf('number');
    expect(sample(request, 'netsync_quarantined_files', { stream: 'settings' })).toBe(0);
    expect(sample(request, 'netsync_sync_lag_seconds', { stream: 'users' })).toBe(0);
    // The admin account created at start waits in the outbox: no export has run yet (no beat here).
    expect(sample(response, 'netsync_export_lag_seconds')).toBeGreaterThan(0);
  });

  it('moves: requests, jobs by task and outcome, files exported and imported, queue depths', async () => {
    const before = await scrape(sys.response);
    const created = await sys.response.inject({
      method: 'POST',
      url: '/users',
      headers: bearer(sys.adminToken),
      payload: { username: 'metered', password: 'Counted-pass-9' },
    });
    expect(created.statusCode).toBe(201);

    const jobs = (t: string) =>
      sample(t, 'netsync_job_duration_seconds_count', { task: 'export_users', outcome: 'success' }) ?? 0;
    const imported = (t: string) =>
      sample(t, 'netsync_exchange_files_total', { direction: 'imported', stream: 'users' }) ?? 0;
    await waitFor(async () => imported(await scrape(sys.request)) >= 1, EVENT_DEADLINE_MS, 'the users file imported');

    const after = await scrape(sys.response);
    const posts = (t: string) =>
      sample(t, 'netsync_http_requests_total', { method: 'POST', route: '/users', status: '201' }) ?? 0;
    expect(posts(after) - posts(before)).toBe(1);
    expect(sample(after, 'netsync_http_request_duration_seconds_count', { route: '/users', status: '201' })).toBe(1);
    expect(jobs(after)).toBeGreaterThan(jobs(before));
    expect(sample(after, 'netsync_exchange_files_total', { direction: 'exported', stream: 'users' })).toBeGreaterThan(
      0,
    );
    expect(sample(after, 'netsync_queue_jobs', { queue: 'response', state: 'completed' })).toBeGreaterThan(0);
    expect(sample(after, 'netsync_export_lag_seconds')).toBe(0);

    const request = await scrape(sys.request);
    expect(
      sample(request, 'netsync_job_duration_seconds_count', {
        task: 'import_settings_and_passwords',
        outcome: 'success',
      }),
    ).toBeGreaterThan(0);
    expect(sample(request, 'netsync_queue_jobs', { queue: 'request', state: 'completed' })).toBeGreaterThan(0);
    // Unknown paths are counted under one label, not one per URL.
    await sys.request.inject({ url: '/no/such/path/123' });
    expect(
      sample(await scrape(sys.request), 'netsync_http_requests_total', { route: 'unmatched', status: '404' }),
    ).toBe(1);
  });

  it('counts quarantined files and the lag of a batch waiting for a missing one', async () => {
    const exchangeDir = sys.env.config.exchangeDir;
    fs.mkdirSync(path.join(exchangeDir, 'settings'), { recursive: true });
    fs.writeFileSync(path.join(exchangeDir, 'settings', '000000000001.json'), 'not an exchange file\n');
    await waitFor(
      async () => sample(await scrape(sys.request), 'netsync_quarantined_files', { stream: 'settings' }) === 1,
      EVENT_DEADLINE_MS,
      'the bad file quarantined',
    );

    // Batch 7 with 1..6 missing: the importer waits, and the lag is how long batch 7 has been waiting.
    const waiting = path.join(exchangeDir, 'profile_types', '000000000007.json');
    fs.mkdirSync(path.dirname(waiting), { recursive: true });
    fs.writeFileSync(waiting, 'waits for batches 1 to 6\n');
    const landed = new Date(Date.now() - 120_000);
    fs.utimesSync(waiting, landed, landed);
    const lag = sample(await scrape(sys.request), 'netsync_sync_lag_seconds', { stream: 'profile_types' }) ?? 0;
    expect(lag).toBeGreaterThanOrEqual(120);
    expect(lag).toBeLessThan(130);
    fs.rmSync(waiting);
    expect(sample(await scrape(sys.request), 'netsync_sync_lag_seconds', { stream: 'profile_types' })).toBe(0);
  });

  it('/ready checks the database, Redis and the exchange folder (and the Request side its heartbeat); /health keeps its shape', async () => {
    for (const app of [sys.response, sys.request]) {
      const ready = await app.inject({ url: '/ready' });
      expect(ready.statusCode).toBe(200);
      expect(ready.json()).toEqual({
        status: 'ok',
        checks: {
          database: 'ok',
          redis: 'ok',
          exchange_folder: 'ok',
          ...(app === sys.request ? { heartbeat: 'ok' } : {}),
        },
      });
      expect((await app.inject({ url: '/health' })).json()).toEqual({
        status: 'ok',
        checks: { database: 'ok', redis: 'ok' },
      });
    }
    const exchangeDir = sys.env.config.exchangeDir;
    fs.renameSync(exchangeDir, `${exchangeDir}.away`);
    try {
      for (const app of [sys.response, sys.request]) {
        const ready = await app.inject({ url: '/ready' });
        expect(ready.statusCode).toBe(503);
        expect(ready.json()).toMatchObject({
          status: 'unavailable',
          checks: { database: 'ok', redis: 'ok', exchange_folder: 'failed' },
        });
        expect((await app.inject({ url: '/health' })).statusCode).toBe(200);
      }
    } finally {
      fs.renameSync(`${exchangeDir}.away`, exchangeDir);
    }
    expect((await sys.request.inject({ url: '/ready' })).statusCode).toBe(200);
  });
});
