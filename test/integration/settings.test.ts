import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  lastSeq,
  makeUser,
  openHandles,
  readExchange,
  requestToken,
  type SyncHandles,
  taskResult,
} from '../helpers/sync-data.js';
import { bearer, dialects, EVENT_DEADLINE_MS, startSystem, type TestSystem, waitFor } from '../helpers/system.js';

describe.each(dialects())('settings (%s)', (dialect) => {
  let sys: TestSystem;
  let h: SyncHandles;
  let userToken: string;
  let readerToken: string;
  const admin = () => bearer(sys.adminToken);

  beforeAll(async () => {
    sys = await startSystem({ dialect });
    h = await openHandles(sys);
    userToken = (await makeUser(sys, 'alice')).token;
    readerToken = await requestToken(sys.request, 'alice');
  });
  afterAll(async () => {
    await h?.close();
    await sys?.stop();
  });

  const create = (key: unknown, value: unknown, headers = admin()) =>
    sys.response.inject({ method: 'POST', url: '/settings', headers, payload: { key, value } });
  const get = (key: string) => sys.response.inject({ url: `/settings/${key}`, headers: admin() });
  const synced = (key: string) => sys.request.inject({ url: `/settings/${key}`, headers: bearer(readerToken) });

  it('creates a setting: 201 with exactly the listed fields, and the value as given', async () => {
    const res = await create('app.title', { en: 'Netsync', n: 3 });
    expect(res.statusCode).toBe(201);
    const body = res.json();
    expect(Object.keys(body).sort()).toEqual(['created_at', 'id', 'key', 'updated_at', 'value', 'version']);
    expect(body).toMatchObject({ key: 'app.title', value: { en: 'Netsync', n: 3 }, version: 1 });
    expect((await get('app.title')).json()).toEqual(body);
  });

  it('refuses a second setting with the same key with 409 and says why', async () => {
    await create('dup.key', 1);
    const res = await create('dup.key', 2);
    expect(res.statusCode).toBe(409);
    expect(res.json().detail).toMatch(/"dup.key" already exists/);
    expect((await get('dup.key')).json().value).toBe(1);
  });

  it('refuses bad keys and missing values with 422 naming the field and the rule', async () => {
    for (const key of ['App.Title', 'app..title', '.app', 'app.', '1app', 'a b', '', 'x'.repeat(256)]) {
      const res = await create(key, 1);
      expect(res.statusCode, key).toBe(422);
      expect(res.json().detail[0].loc).toEqual(['body', 'key']);
      if (key.length <= 255) expect(res.json().detail[0].msg).toMatch(/dot-separated parts of lower-case letters/);
    }
    const noValue = await sys.response.inject({
      method: 'POST',
      url: '/settings',
      headers: admin(),
      payload: { key: 'a.b' },
    });
    expect(noValue.statusCode).toBe(422);
    expect(noValue.json().detail[0]).toMatchObject({ loc: ['body', 'value'], msg: 'field required' });
    const extra = await sys.response.inject({
      method: 'POST',
      url: '/settings',
      headers: admin(),
      payload: { key: 'a.b', value: 1, secret: 2 },
    });
    expect(extra.statusCode).toBe(422);
    const badPath = await get('Not.Valid');
    expect(badPath.statusCode).toBe(422);
    expect(badPath.json().detail[0]).toMatchObject({ loc: ['path', 'key'] });
    expect(badPath.json().detail[0].msg).toMatch(/like "app.title"/);
  });

  it('accepts any JSON value: null, false, a number, a string, an array', async () => {
    for (const [i, value] of [null, false, 0, 'text', [1, 'two', { three: 3 }]].entries()) {
      const res = await create(`values.v${i}`, value);
      expect(res.statusCode).toBe(201);
      expect((await get(`values.v${i}`)).json().value).toEqual(value);
    }
  });

  it('answers 401 without a token and 403 for a non-admin, on every route', async () => {
    const routes = [
      { method: 'POST' as const, url: '/settings', payload: { key: 'x.y', value: 1 } },
      { method: 'GET' as const, url: '/settings' },
      { method: 'GET' as const, url: '/settings/app.title' },
      { method: 'PUT' as const, url: '/settings/app.title', payload: { value: 1 } },
      { method: 'DELETE' as const, url: '/settings/app.title' },
    ];
    for (const r of routes) {
      expect((await sys.response.inject(r)).statusCode, `${r.method} ${r.url}`).toBe(401);
      const forbidden = await sys.response.inject({ ...r, headers: bearer(userToken) });
      expect(forbidden.statusCode, `${r.method} ${r.url}`).toBe(403);
      expect(forbidden.json().detail).toMatch(/admin/);
    }
    expect((await get('app.title')).json().value).toEqual({ en: 'Netsync', n: 3 });
  });

  it('changes a value with PUT (version + 1), and answers 404 for a key that does not exist', async () => {
    const before = (await get('app.title')).json();
    const res = await sys.response.inject({
      method: 'PUT',
      url: '/settings/app.title',
      headers: admin(),
      payload: { value: 'Netsync 2' },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ id: before.id, value: 'Netsync 2', version: before.version + 1 });
    const missing = await sys.response.inject({
      method: 'PUT',
      url: '/settings/no.such',
      headers: admin(),
      payload: { value: 1 },
    });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().detail).toMatch(/"no.such" not found/);
    const noBody = await sys.response.inject({
      method: 'PUT',
      url: '/settings/app.title',
      headers: admin(),
      payload: {},
    });
    expect(noBody.statusCode).toBe(422);
    expect(noBody.json().detail[0].loc).toEqual(['body', 'value']);
  });

  it('deletes with 204, then the key is gone (404) and free to be created again', async () => {
    await create('gone.soon', 'x');
    const del = await sys.response.inject({ method: 'DELETE', url: '/settings/gone.soon', headers: admin() });
    expect(del.statusCode).toBe(204);
    expect((await get('gone.soon')).statusCode).toBe(404);
    const again = await sys.response.inject({ method: 'DELETE', url: '/settings/gone.soon', headers: admin() });
    expect(again.statusCode).toBe(404);
    const recreated = await create('gone.soon', 'y');
    expect(recreated.statusCode).toBe(201);
    expect(recreated.json().version).toBe(1);
  });

  it('lists a page at a time in key order, filtered by a literal key prefix', async () => {
    for (const key of ['list.b', 'list.a', 'list.c', 'list_x.a', 'listyx.a']) await create(key, key);
    const page = async (q: string) =>
      (await sys.response.inject({ url: `/settings?${q}`, headers: admin() }))
        .json()
        .map((s: { key: string }) => s.key);
    expect(await page('prefix=list.')).toEqual(['list.a', 'list.b', 'list.c']);
    expect(await page('prefix=list.&limit=2')).toEqual(['list.a', 'list.b']);
    expect(await page('prefix=list.&limit=2&offset=2')).toEqual(['list.c']);
    // "_" is a LIKE wildcard: the prefix must be taken literally.
    expect(await page('prefix=list_')).toEqual(['list_x.a']);
    const tooMany = await sys.response.inject({ url: '/settings?limit=1001', headers: admin() });
    expect(tooMany.statusCode).toBe(422);
    expect(tooMany.json().detail[0].loc).toEqual(['querystring', 'limit']);
    const badPrefix = await sys.response.inject({ url: '/settings?prefix=%25', headers: admin() });
    expect(badPrefix.statusCode).toBe(422);
  });

  it('round trip: a created, changed and deleted setting each shows on the Request side without waiting for the schedule', async () => {
    expect((await create('trip.mode', 'first')).statusCode).toBe(201);
    await waitFor(
      async () => (await synced('trip.mode')).json().value === 'first',
      EVENT_DEADLINE_MS,
      'the new setting',
    );
    const created = (await synced('trip.mode')).json();
    expect(created).toMatchObject({ key: 'trip.mode', version: 1 });
    expect(created.synced_at).toEqual(expect.any(String));

    const put = await sys.response.inject({
      method: 'PUT',
      url: '/settings/trip.mode',
      headers: admin(),
      payload: { value: { second: true } },
    });
    expect(put.statusCode).toBe(200);
    await waitFor(
      async () => (await synced('trip.mode')).json().value?.second === true,
      EVENT_DEADLINE_MS,
      'the change',
    );
    expect((await synced('trip.mode')).json().version).toBe(2);

    expect(
      (await sys.response.inject({ method: 'DELETE', url: '/settings/trip.mode', headers: admin() })).statusCode,
    ).toBe(204);
    await waitFor(async () => (await synced('trip.mode')).statusCode === 404, EVENT_DEADLINE_MS, 'the deletion');
    const list = await sys.request.inject({ url: '/settings?prefix=trip.', headers: bearer(readerToken) });
    expect(list.json()).toEqual([]);
  });

  it('carries a 1 MiB value, Persian text with emoji, and 200 levels of nesting byte for byte', async () => {
    const big = Array.from({ length: 1024 }, (_, i) => `${i}:${'ab\u00e9\u062f'.repeat(200)}`);
    expect(Buffer.byteLength(JSON.stringify(big))).toBeGreaterThan(1 << 20);
    const persian = {
      title: 'سلام دنیا، همگام‌سازی شبکه‌ها 🌍👩🏽‍💻🇮🇷',
      note: '«نسخهٔ ۱۲۳» \u200c zero-width non-joiner',
    };
    let deep: unknown = 'bottom 🐢';
    for (let i = 0; i < 200; i++) deep = i % 2 ? [deep] : { [`level${i}`]: deep };
    const values = { 'blob.large': big, 'text.persian': persian, 'tree.deep': deep };
    for (const [key, value] of Object.entries(values)) expect((await create(key, value)).statusCode).toBe(201);
    for (const [key, value] of Object.entries(values)) {
      await waitFor(
        async () => (await synced(key)).statusCode === 200,
        EVENT_DEADLINE_MS,
        `${key} on the Request side`,
      );
      const res = await synced(key);
      expect(JSON.stringify(res.json().value)).toBe(JSON.stringify(value));
      expect(JSON.stringify((await get(key)).json().value)).toBe(JSON.stringify(value));
    }
  });

  it('serves synced settings only with a token: 401 without, 404 for an unknown key, prefix filter', async () => {
    expect((await sys.request.inject({ url: '/settings' })).statusCode).toBe(401);
    expect((await sys.request.inject({ url: '/settings/app.title' })).statusCode).toBe(401);
    expect((await synced('no.such.key')).statusCode).toBe(404);
    await waitFor(
      async () =>
        (await sys.request.inject({ url: '/settings?prefix=list.', headers: bearer(readerToken) })).json().length === 3,
      1000,
    );
    const list = await sys.request.inject({ url: '/settings?prefix=list.&limit=2', headers: bearer(readerToken) });
    expect(list.json().map((s: { key: string }) => s.key)).toEqual(['list.a', 'list.b']);
    expect(Object.keys(list.json()[0]).sort()).toEqual(
      ['created_at', 'id', 'key', 'synced_at', 'updated_at', 'value', 'version'].sort(),
    );
  });

  it('POST /tasks/{name}/run writes settings_latest.json: every row, tombstones too, as the database holds it', async () => {
    const run = await sys.response.inject({
      method: 'POST',
      url: '/tasks/export_settings_to_request_network/run',
      headers: admin(),
    });
    expect(run.statusCode).toBe(202);
    const result = await taskResult(sys, run.json().task_id);
    expect(result).toMatchObject({ status: 'success', count: expect.any(Number), exported_at: expect.any(String) });
    expect(path.basename(String(result.file))).toBe('settings_latest.json');

    const rows = await h.response.kysely.selectFrom('settings').selectAll().orderBy('id').execute();
    const { header, records } = await readExchange(String(result.file), 'settings', h.trustedKeys);
    expect(header).toMatchObject({ kind: 'snapshot', stream: 'settings', count: rows.length });
    expect(header.seq).toBeLessThanOrEqual(await lastSeq(h.response.kysely, 'settings'));
    expect(result.count).toBe(rows.length);
    expect(records.map((r) => r.id)).toEqual(rows.map((r) => r.id));
    for (const [i, r] of records.entries()) {
      const row = rows[i]!;
      expect(r).toEqual({
        id: row.id,
        key: row.key,
        value: JSON.parse(row.value),
        created_at: row.created_at,
        updated_at: row.updated_at,
        deleted_at: row.deleted_at,
        version: row.version,
      });
    }
    expect(records.some((r) => r.deleted_at !== null)).toBe(true);
  });
});
