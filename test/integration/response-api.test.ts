import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/platform/logger.js';
import { upsertSchedules } from '../../src/platform/worker.js';
import { RESPONSE_QUEUE, responseSchedule } from '../../src/response/tasks/registry.js';
import { bearer, login, startSystem, type TestSystem } from '../helpers/system.js';

describe('Response API contract', () => {
  let sys: TestSystem;
  let john: { id: string };
  let johnToken: string;
  let mary: { id: string };

  beforeAll(async () => {
    sys = await startSystem({ watch: false, env: { LOGIN_MAX_FAILURES: '10' } });
    const make = async (username: string) =>
      (
        await sys.response.inject({
          method: 'POST',
          url: '/users',
          headers: bearer(sys.adminToken),
          payload: { username, password: 'Secret123', email: `${username}@example.org` },
        })
      ).json();
    john = await make('john');
    mary = await make('mary');
    johnToken = await login(sys.response, 'john', 'Secret123');
  });
  afterAll(() => sys.stop());

  const reset = (id: string, payload: unknown, token?: string) =>
    sys.response.inject({
      method: 'POST',
      url: `/users/${id}/reset-password`,
      headers: token ? bearer(token) : {},
      payload: payload as object,
    });

  it('logs in with the right password only', async () => {
    const ok = await sys.response.inject({
      method: 'POST',
      url: '/auth/login',
      payload: { username: 'john', password: 'Secret123' },
    });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual({ access_token: expect.any(String), token_type: 'bearer' });
    const bad = await sys.response.inject({
      method: 'POST',
      url: '/auth/login',
      payload: { username: 'john', password: 'nope' },
    });
    expect(bad.statusCode).toBe(401);
    const nobody = await sys.response.inject({
      method: 'POST',
      url: '/auth/login',
      payload: { username: 'ghost', password: 'x' },
    });
    expect(nobody.statusCode).toBe(401);
  });

  it("answers 401 without a token and 403 with another user's token", async () => {
    expect((await reset(mary.id, { new_password: 'Another123' })).statusCode).toBe(401);
    const other = await reset(mary.id, { new_password: 'Another123' }, johnToken);
    expect(other.statusCode).toBe(403);
    const notAdmin = await sys.response.inject({
      method: 'POST',
      url: '/users',
      headers: bearer(johnToken),
      payload: { username: 'eve', password: 'Secret123' },
    });
    expect(notAdmin.statusCode).toBe(403);
  });

  it('lets a user reset their own password', async () => {
    const res = await reset(john.id, { new_password: 'MyOwn12345' }, johnToken);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ success: true, sync_task_id: expect.any(String) });
    expect(
      (
        await sys.response.inject({
          method: 'POST',
          url: '/auth/login',
          payload: { username: 'john', password: 'MyOwn12345' },
        })
      ).statusCode,
    ).toBe(200);
  });

  it('answers 404 for an unknown user and an unknown task', async () => {
    const res = await reset('00000000-0000-4000-8000-000000000000', { new_password: 'Another123' }, sys.adminToken);
    expect(res.statusCode).toBe(404);
    expect(res.json().detail).toMatch(/user not found/);
    const task = await sys.response.inject({ url: '/tasks/no-such-task', headers: bearer(sys.adminToken) });
    expect(task.statusCode).toBe(404);
  });

  it("answers 422 in FastAPI's shape, naming the field and the reason", async () => {
    const weak = await reset(mary.id, { new_password: 'short' }, sys.adminToken);
    expect(weak.statusCode).toBe(422);
    expect(weak.json()).toEqual({
      detail: [{ loc: ['body', 'new_password'], msg: 'password must be at least 8 characters', type: 'value_error' }],
    });
    const missing = await reset(mary.id, {}, sys.adminToken);
    expect(missing.statusCode).toBe(422);
    expect(missing.json().detail[0]).toMatchObject({
      loc: ['body', 'new_password'],
      msg: 'field required',
      type: 'missing',
    });
    const badId = await reset('not-a-uuid', { new_password: 'Another123' }, sys.adminToken);
    expect(badId.statusCode).toBe(422);
    expect(badId.json().detail[0].loc).toEqual(['params', 'id']);
    const badName = await sys.response.inject({
      method: 'POST',
      url: '/users',
      headers: bearer(sys.adminToken),
      payload: { username: 'x', password: 'Secret123' },
    });
    expect(badName.statusCode).toBe(422);
    expect(badName.json().detail[0].loc).toEqual(['body', 'username']);
  });

  it('takes a JSON null as null, not as an empty string', async () => {
    const res = await sys.response.inject({
      method: 'POST',
      url: '/users',
      headers: bearer(sys.adminToken),
      payload: { username: 'nullmail', password: 'Secret123', email: null, profile_type_id: null },
    });
    expect(res.statusCode).toBe(201);
    expect(res.json()).toMatchObject({ email: null, profile_type_id: null });
  });

  it('refuses a taken username with 409', async () => {
    const dup = await sys.response.inject({
      method: 'POST',
      url: '/users',
      headers: bearer(sys.adminToken),
      payload: { username: 'john', password: 'Secret123' },
    });
    expect(dup.statusCode).toBe(409);
  });

  it('never shows a hash: user bodies hold only the listed fields', async () => {
    const list = await sys.response.inject({ url: '/users', headers: bearer(sys.adminToken) });
    expect(list.statusCode).toBe(200);
    expect(list.body).not.toMatch(/\$2b\$/);
    expect(Object.keys(list.json()[0]).sort()).toEqual(
      [
        'created_at',
        'email',
        'id',
        'is_active',
        'is_admin',
        'password_changed_at',
        'profile_type_id',
        'updated_at',
        'username',
      ].sort(),
    );
  });

  it("shows when a user's password last changed, and moves it at a reset", async () => {
    const made = await sys.response.inject({
      method: 'POST',
      url: '/users',
      headers: bearer(sys.adminToken),
      payload: { username: 'pw_changed', password: 'Secret123' },
    });
    expect(made.statusCode).toBe(201);
    const { id, password_changed_at: first, created_at } = made.json();
    expect(first).toBe(created_at);
    const reset = await sys.response.inject({
      method: 'POST',
      url: `/users/${id}/reset-password`,
      headers: bearer(sys.adminToken),
      payload: { new_password: 'Another456' },
    });
    expect(reset.statusCode).toBe(200);
    const after = (await sys.response.inject({ url: `/users/${id}`, headers: bearer(sys.adminToken) })).json();
    expect(Date.parse(after.password_changed_at)).toBeGreaterThan(Date.parse(first));
  });

  it('reports health: database and Redis', async () => {
    const res = await sys.response.inject({ url: '/health' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok', checks: { database: 'ok', redis: 'ok' } });
  });

  it('registers schedule entries idempotently: several beats never double them', async () => {
    const redis = new Redis(sys.env.config.redisUrl, { maxRetriesPerRequest: null });
    const queue = new Queue(RESPONSE_QUEUE, { connection: redis, prefix: sys.env.config.queuePrefix });
    const logger = createLogger('silent');
    const entries = responseSchedule(60);
    await Promise.all([upsertSchedules(queue, entries, logger), upsertSchedules(queue, entries, logger)]);
    await upsertSchedules(queue, entries, logger);
    const schedulers = await queue.getJobSchedulers();
    expect(schedulers.map((s) => s.key).sort()).toEqual(entries.map((e) => e.id).sort());
    expect(schedulers.find((s) => s.key === 'export-users-every-minute')).toMatchObject({
      name: 'export_users',
      every: 60000,
    });
    await queue.close();
    redis.disconnect();
  });
});

describe('health when Redis is down', () => {
  let sys: TestSystem;
  beforeAll(async () => {
    sys = await startSystem({ watch: false, env: { RESPONSE_REDIS_URL: 'redis://127.0.0.1:1/0' } });
  }, 30_000);
  afterAll(() => sys.stop());

  it('answers 503 naming Redis', async () => {
    const res = await sys.response.inject({ url: '/health' });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toEqual({ status: 'unavailable', checks: { database: 'ok', redis: 'failed' } });
  });
});
