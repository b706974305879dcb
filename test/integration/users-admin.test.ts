import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  lastSeq,
  makeUser,
  openHandles,
  readExchange,
  requestAdminToken,
  type SyncHandles,
  taskResult,
} from '../helpers/sync-data.js';
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

const PASSWORD = 'Sync-pass-42'; // what makeUser gives every user
const NO_SUCH = '00000000-0000-4000-8000-000000000000';

describe.each(dialects())('user administration (%s)', (dialect) => {
  let sys: TestSystem;
  let h: SyncHandles;
  let alice: { id: string; token: string };
  /** The admin's token on the Request side, where a plain user sees only themselves. */
  let readerToken: string;
  let adminId: string;
  const admin = () => bearer(sys.adminToken);

  beforeAll(async () => {
    sys = await startSystem({ dialect });
    h = await openHandles(sys);
    alice = await makeUser(sys, 'alice');
    readerToken = await requestAdminToken(sys.request);
    adminId = (
      await h.response.kysely.selectFrom('users').select('id').where('username', '=', 'admin').executeTakeFirstOrThrow()
    ).id;
  });
  afterAll(async () => {
    await h?.close();
    await sys?.stop();
  });

  const patch = (id: string, payload: unknown, headers: Record<string, string> = admin()) =>
    sys.response.inject({ method: 'PATCH', url: `/users/${id}`, headers, payload: payload as object });
  const remove = (id: string, headers: Record<string, string> = admin()) =>
    sys.response.inject({ method: 'DELETE', url: `/users/${id}`, headers });
  const version = async (id: string) =>
    (await h.response.kysely.selectFrom('users').select('version').where('id', '=', id).executeTakeFirstOrThrow())
      .version;
  const newType = async (name: string) =>
    (await sys.response.inject({ method: 'POST', url: '/profile-types', headers: admin(), payload: { name } })).json()
      .id as string;

  it('PATCH changes username, email, profile type and active flag, bumping the version, and never shows a hash', async () => {
    const u = await makeUser(sys, 'bob');
    const type = await newType('Member');
    const v0 = await version(u.id);
    const res = await patch(u.id, { username: 'robert', email: 'robert@example.org', profile_type_id: type });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      id: u.id,
      username: 'robert',
      email: 'robert@example.org',
      profile_type_id: type,
    });
    expect(res.body).not.toMatch(/hash|\$2[aby]\$/);
    expect(await version(u.id)).toBe(v0 + 1);
    const off = await patch(u.id, { is_active: false, email: null, profile_type_id: null });
    expect(off.json()).toMatchObject({ is_active: false, email: null, profile_type_id: null });
    expect(await version(u.id)).toBe(v0 + 2);
    expect(await canLogin(sys.response, 'robert', PASSWORD)).toBe(false);
    expect((await patch(u.id, { is_active: true })).json().is_active).toBe(true);
    expect(await canLogin(sys.response, 'robert', PASSWORD)).toBe(true);
  });

  it('PATCH refuses: 409 for a taken username, 422 for bad fields or an unknown type, 404 for an unknown user', async () => {
    const taken = await patch(alice.id, { username: 'admin' });
    expect(taken.statusCode).toBe(409);
    expect(taken.json().detail).toMatch(/"admin" is taken/);
    for (const [payload, field] of [
      [{ email: 'not-an-email' }, 'email'],
      [{ username: 'x' }, 'username'],
      [{ is_active: 'maybe' }, 'is_active'],
      [{ profile_type_id: 'nope' }, 'profile_type_id'],
    ] as const) {
      const res = await patch(alice.id, payload);
      expect(res.statusCode, JSON.stringify(payload)).toBe(422);
      expect(res.json().detail[0].loc).toEqual(['body', field]);
    }
    const empty = await patch(alice.id, {});
    expect(empty.statusCode).toBe(422);
    const extra = await patch(alice.id, { password: 'Another-pass-1' });
    expect(extra.statusCode).toBe(422);
    const unknownType = await patch(alice.id, { profile_type_id: NO_SUCH });
    expect(unknownType.statusCode).toBe(422);
    expect(unknownType.json().detail).toEqual([
      { loc: ['body', 'profile_type_id'], msg: 'no such profile type', type: 'value_error' },
    ]);
    const missing = await patch(NO_SUCH, { email: 'a@example.org' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().detail).toMatch(/user not found/);
    const self = await patch(adminId, { is_active: false });
    expect(self.statusCode).toBe(409);
    expect(self.json().detail).toMatch(/your own account/);
  });

  it('PATCH and DELETE answer 401 without a token and 403 for a non-admin (even on their own account)', async () => {
    expect((await patch(alice.id, { email: 'a@example.org' }, {})).statusCode).toBe(401);
    expect((await remove(alice.id, {})).statusCode).toBe(401);
    expect((await patch(alice.id, { email: 'a@example.org' }, bearer(alice.token))).statusCode).toBe(403);
    expect((await remove(alice.id, bearer(alice.token))).statusCode).toBe(403);
    expect((await sys.response.inject({ url: '/users', headers: bearer(alice.token) })).statusCode).toBe(403);
  });

  it('DELETE: 204, then the user is gone (404, no login), its name is free; deleting yourself is 409', async () => {
    const u = await makeUser(sys, 'carol');
    expect((await remove(u.id)).statusCode).toBe(204);
    expect((await sys.response.inject({ url: `/users/${u.id}`, headers: admin() })).statusCode).toBe(404);
    expect(await canLogin(sys.response, 'carol', PASSWORD)).toBe(false);
    expect((await remove(u.id)).statusCode).toBe(404);
    expect((await patch(u.id, { email: 'c@example.org' })).statusCode).toBe(404);
    const row = await h.response.kysely
      .selectFrom('users')
      .selectAll()
      .where('id', '=', u.id)
      .executeTakeFirstOrThrow();
    expect(row.deleted_at).not.toBeNull(); // a tombstone, so snapshots carry the deletion
    const again = await makeUser(sys, 'carol');
    expect(again.id).not.toBe(u.id);
    const self = await remove(adminId);
    expect(self.statusCode).toBe(409);
    expect(self.json().detail).toMatch(/your own account/);
  });

  it('lists a page at a time, filtered by username, active flag and profile type', async () => {
    const type = await newType('Filtered');
    const ids: string[] = [];
    for (const name of ['f-one', 'f-two', 'f-three'])
      ids.push((await makeUser(sys, name, { profile_type_id: type })).id);
    await patch(ids[1]!, { is_active: false });
    const names = async (q: string) =>
      (await sys.response.inject({ url: `/users?${q}`, headers: admin() }))
        .json()
        .map((u: { username: string }) => u.username);
    // In name order.
    expect(await names(`profile_type_id=${type}`)).toEqual(['f-one', 'f-three', 'f-two']);
    expect(await names(`profile_type_id=${type}&is_active=true`)).toEqual(['f-one', 'f-three']);
    expect(await names(`profile_type_id=${type}&is_active=false`)).toEqual(['f-two']);
    expect(await names(`profile_type_id=${type}&limit=1&offset=1`)).toEqual(['f-three']);
    expect(await names('username=f-three')).toEqual(['f-three']);
    expect(await names('username=admin&profile_type_id=none')).toEqual(['admin']);
    expect(await names(`username=admin&profile_type_id=${type}`)).toEqual([]);
    const bad = await sys.response.inject({ url: '/users?profile_type_id=some', headers: admin() });
    expect(bad.statusCode).toBe(422);
    expect(bad.json().detail[0].loc[0]).toBe('querystring');
  });

  it('round trip: created, changed, deactivated and deleted users each reach the Request side without waiting for the schedule', async () => {
    const type = await newType('Trip');
    const dan = await makeUser(sys, 'dan', { email: 'dan@example.org', profile_type_id: type });
    const synced = async () => sys.request.inject({ url: `/users/${dan.id}`, headers: bearer(readerToken) });
    await waitFor(async () => (await synced()).statusCode === 200, EVENT_DEADLINE_MS, 'the new user');
    await waitFor(async () => (await synced()).json().profile_type !== null, EVENT_DEADLINE_MS, 'its profile type');
    expect((await synced()).json()).toMatchObject({
      username: 'dan',
      email: 'dan@example.org',
      is_active: true,
      profile_type_id: type,
      profile_type: { id: type, name: 'Trip' },
      synced_at: expect.any(String),
    });
    expect((await synced()).body).not.toMatch(/hash|\$2[aby]\$/);

    expect((await patch(dan.id, { username: 'daniel', email: 'daniel@example.org' })).statusCode).toBe(200);
    await waitFor(async () => (await synced()).json().username === 'daniel', EVENT_DEADLINE_MS, 'the rename');
    expect((await synced()).json().email).toBe('daniel@example.org');
    await waitFor(() => canLogin(sys.request, 'daniel', PASSWORD), EVENT_DEADLINE_MS, 'login under the new name');
    expect(await canLogin(sys.request, 'dan', PASSWORD)).toBe(false);

    await patch(dan.id, { is_active: false });
    await waitFor(
      async () => !(await canLogin(sys.request, 'daniel', PASSWORD)),
      EVENT_DEADLINE_MS,
      'the deactivation',
    );
    expect((await synced()).json().is_active).toBe(false);
    await patch(dan.id, { is_active: true });
    await waitFor(() => canLogin(sys.request, 'daniel', PASSWORD), EVENT_DEADLINE_MS, 'the reactivation');

    const token = await login(sys.request, 'daniel', PASSWORD);
    expect((await remove(dan.id)).statusCode).toBe(204);
    await waitFor(async () => (await synced()).statusCode === 404, EVENT_DEADLINE_MS, 'the deletion');
    expect(await canLogin(sys.request, 'daniel', PASSWORD)).toBe(false);
    // The deletion ended the session dan had on the Request side too.
    expect((await sys.request.inject({ url: '/users?limit=1', headers: bearer(token) })).statusCode).toBe(401);
    const list = await sys.request.inject({ url: '/users?limit=1000', headers: bearer(readerToken) });
    expect(list.json().some((u: { id: string }) => u.id === dan.id)).toBe(false);
  });

  it('export_users writes users_latest.json: every row, tombstones too, as the database holds it', async () => {
    const run = await sys.response.inject({ method: 'POST', url: '/tasks/export_users/run', headers: admin() });
    expect(run.statusCode).toBe(202);
    const result = await taskResult(sys, run.json().task_id);
    expect(path.basename(String(result.file))).toBe('users_latest.json');
    const rows = await h.response.kysely.selectFrom('users').selectAll().orderBy('id').execute();
    const { header, records } = await readExchange(String(result.file), 'users', h.trustedKeys);
    expect(header).toMatchObject({ kind: 'snapshot', stream: 'users', count: rows.length });
    expect(Object.keys(header.covers ?? {}).sort()).toEqual(['password_changes', 'users']);
    expect(header.covers?.users).toBe(header.seq);
    expect(header.seq).toBeLessThanOrEqual(await lastSeq(h.response.kysely, 'users'));
    expect(records).toEqual(
      rows.map((r) => ({
        id: r.id,
        username: r.username,
        email: r.email,
        is_active: r.is_active === 1,
        is_admin: r.is_admin === 1,
        profile_type_id: r.profile_type_id,
        created_at: r.created_at,
        updated_at: r.updated_at,
        deleted_at: r.deleted_at,
        version: r.version,
        hashed_password: r.hashed_password,
        password_version: r.password_version,
        password_changed_at: r.password_changed_at,
      })),
    );
    expect(records.some((r) => r.deleted_at !== null)).toBe(true);
  });

  it('POST /tasks/{name}/run: 404 listing the known tasks for an unknown name; 401 and 403', async () => {
    const unknown = await sys.response.inject({
      method: 'POST',
      url: '/tasks/export_everything/run',
      headers: admin(),
    });
    expect(unknown.statusCode).toBe(404);
    for (const name of ['export_users', 'export_settings_to_request_network', 'export_profile_types']) {
      expect(unknown.json().detail).toContain(name);
    }
    expect((await sys.response.inject({ method: 'POST', url: '/tasks/export_users/run' })).statusCode).toBe(401);
    const forbidden = await sys.response.inject({
      method: 'POST',
      url: '/tasks/export_users/run',
      headers: bearer(alice.token),
    });
    expect(forbidden.statusCode).toBe(403);
  });
});
