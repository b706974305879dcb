import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bearer,
  canLogin,
  dialects,
  EVENT_DEADLINE_MS,
  login,
  startSystem,
  type TestSystem,
  waitFor,
} from '../helpers/system.js';

describe.each(dialects())('a password reset reaches the Request Network (%s)', (dialect) => {
  let sys: TestSystem;
  beforeAll(async () => {
    sys = await startSystem({ dialect });
  });
  afterAll(() => sys.stop());

  it('creates a user, syncs it, resets its password and syncs that without waiting for the schedule', async () => {
    const created = await sys.response.inject({
      method: 'POST',
      url: '/users',
      headers: bearer(sys.adminToken),
      payload: { username: 'john', password: 'Secret123' },
    });
    expect(created.statusCode).toBe(201);
    const user = created.json();
    expect(user).not.toHaveProperty('hashed_password');
    expect(user.id).toMatch(/^[0-9a-f-]{36}$/);

    await waitFor(
      () => canLogin(sys.request, 'john', 'Secret123'),
      EVENT_DEADLINE_MS,
      'the new user on the Request Network',
    );

    const reset = await sys.response.inject({
      method: 'POST',
      url: `/users/${user.id}/reset-password`,
      headers: bearer(sys.adminToken),
      payload: { new_password: 'NewPass456' },
    });
    expect(reset.statusCode).toBe(200);
    const body = reset.json();
    expect(body.success).toBe(true);
    expect(typeof body.sync_task_id).toBe('string');

    await waitFor(
      () => canLogin(sys.request, 'john', 'NewPass456'),
      EVENT_DEADLINE_MS,
      'the new password on the Request Network',
    );
    expect(await canLogin(sys.request, 'john', 'Secret123')).toBe(false);

    await waitFor(async () => {
      const t = await sys.response.inject({ url: `/tasks/${body.sync_task_id}`, headers: bearer(sys.adminToken) });
      return t.json().state === 'SUCCESS';
    });
    const task = (
      await sys.response.inject({ url: `/tasks/${body.sync_task_id}`, headers: bearer(sys.adminToken) })
    ).json();
    expect(task.name).toBe('sync_password_to_request_network');
    expect(task.result).toMatchObject({ status: 'success' });

    const token = await login(sys.request, 'john', 'NewPass456');
    const synced = await sys.request.inject({ url: `/users/${user.id}`, headers: bearer(token) });
    expect(synced.statusCode).toBe(200);
    expect(synced.json()).toMatchObject({ id: user.id, username: 'john' });
    expect(synced.json().synced_at).toBeTruthy();
    expect(synced.json()).not.toHaveProperty('hashed_password');
  });
});
