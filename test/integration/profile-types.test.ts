import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  lastSeq,
  makeUser,
  openHandles,
  readExchange,
  requestAdminToken,
  requestToken,
  type SyncHandles,
  taskResult,
} from '../helpers/sync-data.js';
import { bearer, dialects, EVENT_DEADLINE_MS, startSystem, type TestSystem, waitFor } from '../helpers/system.js';

describe.each(dialects())('profile types (%s)', (dialect) => {
  let sys: TestSystem;
  let h: SyncHandles;
  let userToken: string;
  let readerToken: string;
  /** The admin's token on the Request side: a plain user there sees only their own account. */
  let adminReaderToken: string;
  const admin = () => bearer(sys.adminToken);
  const NO_SUCH = '00000000-0000-4000-8000-000000000000';

  beforeAll(async () => {
    sys = await startSystem({ dialect });
    h = await openHandles(sys);
    userToken = (await makeUser(sys, 'alice')).token;
    readerToken = await requestToken(sys.request, 'alice');
    adminReaderToken = await requestAdminToken(sys.request);
  });
  afterAll(async () => {
    await h?.close();
    await sys?.stop();
  });

  const create = (payload: unknown, headers = admin()) =>
    sys.response.inject({ method: 'POST', url: '/profile-types', headers, payload: payload as object });
  const patch = (id: string, payload: unknown) =>
    sys.response.inject({ method: 'PATCH', url: `/profile-types/${id}`, headers: admin(), payload: payload as object });
  const remove = (id: string) =>
    sys.response.inject({ method: 'DELETE', url: `/profile-types/${id}`, headers: admin() });
  const synced = (id: string) => sys.request.inject({ url: `/profile-types/${id}`, headers: bearer(readerToken) });

  it('creates a type: 201 with exactly the listed fields; GET shows the same', async () => {
    const res = await create({ name: 'Student', description: 'enrolled this year' });
    expect(res.statusCode).toBe(201);
    const body = res.json();
    expect(Object.keys(body).sort()).toEqual(['created_at', 'description', 'id', 'name', 'updated_at', 'version']);
    expect(body).toMatchObject({ name: 'Student', description: 'enrolled this year', version: 1 });
    const got = await sys.response.inject({ url: `/profile-types/${body.id}`, headers: admin() });
    expect(got.json()).toEqual(body);
    const noDescription = await create({ name: 'Guest' });
    expect(noDescription.json().description).toBeNull();
  });

  it('refuses a duplicate name with 409, and bad input with 422 naming the field', async () => {
    const dup = await create({ name: 'Student' });
    expect(dup.statusCode).toBe(409);
    expect(dup.json().detail).toMatch(/"Student" already exists/);
    for (const [payload, field] of [
      [{ name: '' }, 'name'],
      [{ name: '   ' }, 'name'],
      [{ name: 'x'.repeat(101) }, 'name'],
      [{}, 'name'],
      [{ name: 'Ok', description: 'd'.repeat(2001) }, 'description'],
    ] as const) {
      const res = await create(payload);
      expect(res.statusCode, JSON.stringify(payload)).toBe(422);
      expect(res.json().detail[0].loc).toEqual(['body', field]);
      expect(res.json().detail[0].msg).toEqual(expect.any(String));
    }
    const badId = await sys.response.inject({ url: '/profile-types/not-a-uuid', headers: admin() });
    expect(badId.statusCode).toBe(422);
    expect(badId.json().detail[0].loc).toEqual(['params', 'id']);
  });

  it('answers 401 without a token and 403 for a non-admin on every route', async () => {
    const routes = [
      { method: 'POST' as const, url: '/profile-types', payload: { name: 'X' } },
      { method: 'GET' as const, url: '/profile-types' },
      { method: 'GET' as const, url: `/profile-types/${NO_SUCH}` },
      { method: 'PATCH' as const, url: `/profile-types/${NO_SUCH}`, payload: { name: 'X' } },
      { method: 'DELETE' as const, url: `/profile-types/${NO_SUCH}` },
    ];
    for (const r of routes) {
      expect((await sys.response.inject(r)).statusCode, `${r.method} ${r.url}`).toBe(401);
      expect((await sys.response.inject({ ...r, headers: bearer(userToken) })).statusCode, `${r.method} ${r.url}`).toBe(
        403,
      );
    }
  });

  it('answers 404 for an unknown id on GET, PATCH and DELETE', async () => {
    expect((await sys.response.inject({ url: `/profile-types/${NO_SUCH}`, headers: admin() })).statusCode).toBe(404);
    expect((await patch(NO_SUCH, { name: 'X' })).statusCode).toBe(404);
    const del = await remove(NO_SUCH);
    expect(del.statusCode).toBe(404);
    expect(del.json().detail).toMatch(/profile type not found/);
  });

  it('PATCH changes only the fields given and bumps the version; an empty patch is 422; a taken name 409', async () => {
    const t = (await create({ name: 'Staff', description: 'paid' })).json();
    const renamed = await patch(t.id, { name: 'Employee' });
    expect(renamed.statusCode).toBe(200);
    expect(renamed.json()).toMatchObject({ id: t.id, name: 'Employee', description: 'paid', version: 2 });
    const cleared = await patch(t.id, { description: null });
    expect(cleared.json()).toMatchObject({ name: 'Employee', description: null, version: 3 });
    const empty = await patch(t.id, {});
    expect(empty.statusCode).toBe(422);
    const taken = await patch(t.id, { name: 'Student' });
    expect(taken.statusCode).toBe(409);
    expect(taken.json().detail).toMatch(/"Student" already exists/);
  });

  it('lists a page at a time in name order, filtered by part of the name in any case', async () => {
    for (const name of ['Zeta team', 'alpha team', 'Beta TEAM']) await create({ name });
    const names = async (q: string) =>
      (await sys.response.inject({ url: `/profile-types?${q}`, headers: admin() }))
        .json()
        .map((p: { name: string }) => p.name);
    expect((await names('name=team')).sort()).toEqual(['Beta TEAM', 'Zeta team', 'alpha team'].sort());
    expect(await names('name=team&limit=2')).toHaveLength(2);
    expect(await names('name=team&limit=2&offset=2')).toHaveLength(1);
    expect(await names('name=%25')).toEqual([]); // "%" is taken literally
    const tooMany = await sys.response.inject({ url: '/profile-types?limit=0', headers: admin() });
    expect(tooMany.statusCode).toBe(422);
  });

  it('refuses to delete a type a live user has, with 409 saying how many; deletes it once none has it', async () => {
    const t = (await create({ name: 'Teacher' })).json();
    const bob = await makeUser(sys, 'bob', { profile_type_id: t.id });
    const carol = await makeUser(sys, 'carol');
    await sys.response.inject({
      method: 'PATCH',
      url: `/users/${carol.id}`,
      headers: admin(),
      payload: { profile_type_id: t.id },
    });
    const refused = await remove(t.id);
    expect(refused.statusCode).toBe(409);
    expect(refused.json().detail).toMatch(/in use by 2 users/);
    expect((await sys.response.inject({ url: `/profile-types/${t.id}`, headers: admin() })).statusCode).toBe(200);

    await sys.response.inject({ method: 'DELETE', url: `/users/${carol.id}`, headers: admin() });
    expect((await remove(t.id)).json().detail).toMatch(/in use by 1 user;/);
    await sys.response.inject({
      method: 'PATCH',
      url: `/users/${bob.id}`,
      headers: admin(),
      payload: { profile_type_id: null },
    });
    expect((await remove(t.id)).statusCode).toBe(204);
    expect((await sys.response.inject({ url: `/profile-types/${t.id}`, headers: admin() })).statusCode).toBe(404);
    // A deleted type can no longer be given to anyone, and its name is free again.
    const give = await sys.response.inject({
      method: 'PATCH',
      url: `/users/${bob.id}`,
      headers: admin(),
      payload: { profile_type_id: t.id },
    });
    expect(give.statusCode).toBe(422);
    expect(give.json().detail[0]).toMatchObject({ loc: ['body', 'profile_type_id'], msg: 'no such profile type' });
    expect((await create({ name: 'Teacher' })).statusCode).toBe(201);
  });

  it('round trip: a created, renamed and deleted type each shows on the Request side without waiting for the schedule', async () => {
    const t = (await create({ name: 'Visitor', description: 'day pass' })).json();
    await waitFor(async () => (await synced(t.id)).statusCode === 200, EVENT_DEADLINE_MS, 'the new type');
    expect((await synced(t.id)).json()).toMatchObject({
      id: t.id,
      name: 'Visitor',
      description: 'day pass',
      version: 1,
    });
    expect((await synced(t.id)).json().synced_at).toEqual(expect.any(String));

    const dave = await makeUser(sys, 'dave', { profile_type_id: t.id });
    const syncedUser = async () =>
      (await sys.request.inject({ url: `/users/${dave.id}`, headers: bearer(adminReaderToken) })).json();
    await waitFor(
      async () => (await syncedUser()).profile_type?.name === 'Visitor',
      EVENT_DEADLINE_MS,
      'the user with its type',
    );

    expect((await patch(t.id, { name: 'Guest visitor' })).statusCode).toBe(200);
    await waitFor(async () => (await synced(t.id)).json().name === 'Guest visitor', EVENT_DEADLINE_MS, 'the rename');
    expect((await syncedUser()).profile_type).toEqual({ id: t.id, name: 'Guest visitor' });
    const list = await sys.request.inject({ url: '/users?limit=1000', headers: bearer(adminReaderToken) });
    const listed = list.json().find((u: { id: string }) => u.id === dave.id);
    expect(listed.profile_type).toEqual({ id: t.id, name: 'Guest visitor' });

    await sys.response.inject({
      method: 'PATCH',
      url: `/users/${dave.id}`,
      headers: admin(),
      payload: { profile_type_id: null },
    });
    expect((await remove(t.id)).statusCode).toBe(204);
    await waitFor(async () => (await synced(t.id)).statusCode === 404, EVENT_DEADLINE_MS, 'the deletion');
    await waitFor(async () => (await syncedUser()).profile_type === null, EVENT_DEADLINE_MS, 'the user without a type');
    const types = await sys.request.inject({ url: '/profile-types?name=visitor', headers: bearer(readerToken) });
    expect(types.json()).toEqual([]);
  });

  it('serves synced types only with a token, and 404 for an unknown id', async () => {
    expect((await sys.request.inject({ url: '/profile-types' })).statusCode).toBe(401);
    expect((await sys.request.inject({ url: `/profile-types/${NO_SUCH}` })).statusCode).toBe(401);
    expect((await synced(NO_SUCH)).statusCode).toBe(404);
    await waitFor(
      async () =>
        (await sys.request.inject({ url: '/profile-types?name=TEAM', headers: bearer(readerToken) })).json().length ===
        3,
      1000,
    );
    const page = await sys.request.inject({ url: '/profile-types?name=TEAM&limit=2', headers: bearer(readerToken) });
    expect(page.json()).toHaveLength(2);
    expect(Object.keys(page.json()[0]).sort()).toEqual(
      ['created_at', 'description', 'id', 'name', 'synced_at', 'updated_at', 'version'].sort(),
    );
  });

  it('export_profile_types writes profile_types_latest.json: every row, tombstones too, as the database holds it', async () => {
    const run = await sys.response.inject({ method: 'POST', url: '/tasks/export_profile_types/run', headers: admin() });
    expect(run.statusCode).toBe(202);
    const result = await taskResult(sys, run.json().task_id);
    expect(result).toMatchObject({ status: 'success', exported_at: expect.any(String) });
    expect(path.basename(String(result.file))).toBe('profile_types_latest.json');

    const rows = await h.response.kysely.selectFrom('profile_types').selectAll().orderBy('id').execute();
    const { header, records } = await readExchange(String(result.file), 'profile_types', h.trustedKeys);
    expect(header).toMatchObject({ kind: 'snapshot', stream: 'profile_types', count: rows.length });
    expect(header.covers).toEqual({ profile_types: header.seq });
    expect(header.seq).toBeLessThanOrEqual(await lastSeq(h.response.kysely, 'profile_types'));
    expect(result.count).toBe(rows.length);
    expect(records).toEqual(
      rows.map((r) => ({
        id: r.id,
        name: r.name,
        description: r.description,
        created_at: r.created_at,
        updated_at: r.updated_at,
        deleted_at: r.deleted_at,
        version: r.version,
      })),
    );
    expect(records.filter((r) => r.deleted_at !== null).length).toBeGreaterThanOrEqual(2);
  });
});
