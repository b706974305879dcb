import { randomUUID } from 'node:crypto';
import { type Compilable, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { usernameKey } from '../../src/exchange/index.js';
import type { App } from '../../src/platform/http.js';
import { encodeCursor, MAX_OFFSET } from '../../src/platform/pagination.js';
import { fullReads, queryPlan } from '../../src/platform/query-plan.js';
import { listProfileTypesQuery as requestProfileTypesQuery } from '../../src/request/profile-types/profile-types.repository.js';
import {
  SETTING_ORDER as REQUEST_SETTING_ORDER,
  listSettingsQuery as requestSettingsQuery,
} from '../../src/request/settings/settings.repository.js';
import { listUsersQuery as requestUsersQuery } from '../../src/request/users/users.repository.js';
import { AUDIT_ORDER, insertAuditRow, listAuditRowsQuery } from '../../src/response/audit/audit.repository.js';
import { insertProfileType, listProfileTypesQuery } from '../../src/response/profile-types/profile-types.repository.js';
import { insertSetting, listSettingsQuery, SETTING_ORDER } from '../../src/response/settings/settings.repository.js';
import { insertUser, listUsersQuery } from '../../src/response/users/users.repository.js';
import { makeUser, openHandles, requestAdminToken, type SyncHandles } from '../helpers/sync-data.js';
import { bearer, dialects, startSystem, type TestSystem } from '../helpers/system.js';

type Row = Record<string, unknown>;

/** Code point order, as SQLite's BINARY and PostgreSQL's "C" compare (the test's text is in the BMP). */
const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const byKeys =
  (...keys: ((r: Row) => string | number)[]) =>
  (a: Row, b: Row) => {
    for (const k of keys) {
      const x = k(a);
      const y = k(b);
      const c = typeof x === 'number' ? x - (y as number) : cmp(x, y as string);
      if (c !== 0) return c;
    }
    return 0;
  };

/** Every page of `url`, `limit` rows at a time, following x-next-cursor until a page has none. */
async function walk(app: App, token: string, url: string, limit: number, between?: () => Promise<void>) {
  const rows: Row[] = [];
  let pages = 0;
  let cursor: string | undefined;
  for (;;) {
    const sep = url.includes('?') ? '&' : '?';
    const res = await app.inject({
      url: `${url}${sep}limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`,
      headers: bearer(token),
    });
    expect(res.statusCode, `${url}: ${res.body}`).toBe(200);
    const page = res.json() as Row[];
    rows.push(...page);
    pages++;
    cursor = res.headers['x-next-cursor'] as string | undefined;
    if (!cursor) return { rows, pages };
    expect(page).toHaveLength(limit); // a cursor only after a full page
    expect(pages).toBeLessThan(500);
    await between?.();
  }
}

describe.each(dialects())('list paging by cursor (%s)', (dialect) => {
  let sys: TestSystem;
  let h: SyncHandles;
  let requestAdmin: string;
  let typeId: string;
  const admin = () => sys.adminToken;

  beforeAll(async () => {
    sys = await startSystem({ dialect });
    h = await openHandles(sys);
    // The admin's record reaches the Request side with the first users batch.
    await makeUser(sys, 'syncer');
    requestAdmin = await requestAdminToken(sys.request);

    const resp = h.response.kysely;
    typeId = (await insertProfileType(resp, { name: 'Pagers' })).id;
    for (const name of ['team b', 'Team A', 'team a', 'Zeta', 'alpha', 'Émigrés', 'team c', 'Ops', 'ops'])
      await insertProfileType(resp, { name });
    const names = ['alpha', 'Bravo', 'charlie', 'Delta', 'émile', 'Zulu', 'zeta', 'Ärger', 'omega', 'Ωmega'];
    for (let i = 0; i < 40; i++) {
      await insertUser(resp, {
        username: `${names[i % names.length]}${Math.floor(i / names.length)}`,
        hashedPassword: 'x',
        email:
          i % 3 === 0 ? ['shared@example.org', 'SHARED@example.org', 'Shared@Example.org'][i % 9 === 0 ? 0 : 1] : null,
        isActive: i % 4 !== 0,
        profileTypeId: i % 5 === 0 ? typeId : null,
      });
    }
    for (let i = 0; i < 20; i++) await insertSetting(resp, `pg.a.${String(i).padStart(2, '0')}`, i);
    for (let i = 0; i < 25; i++) await insertSetting(resp, `pg.b.${String(i).padStart(2, '0')}`, i);
    await insertSetting(resp, 'pg.a_x', 'underscore');
    // Audit rows several to a timestamp: the id breaks ties. Actor "pager" by id, and one by name only.
    const pager = randomUUID();
    for (let i = 0; i < 50; i++) {
      await insertAuditRow(resp, {
        at: `2026-11-0${1 + (i % 5)}T10:00:0${i % 3}.000Z`,
        actor_id: i % 2 === 0 ? pager : null,
        actor_username: i % 2 === 0 || i % 7 === 0 ? 'pager' : null,
        action: i % 3 === 0 ? 'setting.change' : 'user.change',
        target_type: i % 3 === 0 ? 'setting' : 'user',
        target_id: i % 3 === 0 ? `pg.a.0${i % 4}` : pager,
        details: null,
        ip: null,
        request_id: null,
      });
    }

    // The Request side: rows as the importer leaves them, some sharing a name or key (while a rename syncs).
    const req = h.request.kysely;
    const synced = { created_at: '2026-11-01T00:00:00.000Z', updated_at: '2026-11-01T00:00:00.000Z', version: 1 };
    const now = { deleted_at: null, synced_at: '2026-11-02T00:00:00.000Z' };
    for (let i = 0; i < 30; i++) {
      const username = i < 3 ? 'Twin' : `${names[i % names.length]}_r${i}`;
      await req
        .insertInto('users')
        .values({
          id: randomUUID(),
          username,
          username_key: usernameKey(username),
          email: null,
          is_active: 1,
          is_admin: 0,
          profile_type_id: null,
          ...synced,
          ...now,
          deleted_at: i === 29 ? synced.created_at : null,
        })
        .execute();
    }
    for (let i = 0; i < 30; i++) {
      await req
        .insertInto('settings')
        .values({ id: randomUUID(), key: i < 4 ? 'rq.same' : `rq.k${i}`, value: String(i), ...synced, ...now })
        .execute();
    }
    for (let i = 0; i < 10; i++) {
      await req
        .insertInto('profile_types')
        .values({
          id: randomUUID(),
          name: i < 2 ? 'Twin type' : `type ${10 - i}`,
          description: null,
          ...synced,
          ...now,
        })
        .execute();
    }
  }, 120_000);
  afterAll(async () => {
    await h?.close();
    await sys?.stop();
  });

  const liveUsers = async () =>
    (await h.response.kysely.selectFrom('users').selectAll().where('deleted_at', 'is', null).execute()).sort(
      byKeys(
        (u) => u.username_key as string,
        (u) => u.id as string,
      ),
    );

  it('walks every Response list page by page: each row exactly once, in order, with every filter', async () => {
    const users = await liveUsers();
    const settings = (
      await h.response.kysely.selectFrom('settings').selectAll().where('deleted_at', 'is', null).execute()
    ).sort(byKeys((s) => s.key as string));
    const types = (
      await h.response.kysely.selectFrom('profile_types').selectAll().where('deleted_at', 'is', null).execute()
    ).sort(
      byKeys(
        (p) => p.name as string,
        (p) => p.id as string,
      ),
    );
    const audit = (await h.response.kysely.selectFrom('audit_log').selectAll().execute())
      .map((r) => ({ ...r, id: Number(r.id) }))
      .sort(
        byKeys(
          (r) => r.at as string,
          (r) => r.id as number,
        ),
      )
      .reverse();
    const pager = audit.find((r) => r.actor_username === 'pager' && r.actor_id !== null)?.actor_id as string;
    const ids = (rows: Row[]) => rows.map((r) => r.id);
    const cases: [string, Row[]][] = [
      ['/users', users],
      ['/users?q=A', users.filter((u) => u.username_key.startsWith('a'))],
      ['/users?q=%C3%89', users.filter((u) => u.username_key.startsWith('é'))],
      ['/users?email=shared@EXAMPLE.org', users.filter((u) => u.email?.toLowerCase() === 'shared@example.org')],
      ['/users?is_active=false', users.filter((u) => u.is_active === 0)],
      [`/users?profile_type_id=${typeId}`, users.filter((u) => u.profile_type_id === typeId)],
      ['/users?profile_type_id=none&is_active=true', users.filter((u) => u.profile_type_id === null && u.is_active)],
      ['/settings', settings],
      ['/settings?prefix=pg.a.', settings.filter((s) => s.key.startsWith('pg.a.'))],
      ['/settings?prefix=pg.a_', settings.filter((s) => s.key.startsWith('pg.a_'))],
      ['/profile-types', types],
      ['/profile-types?name=team', types.filter((p) => p.name.toLowerCase().includes('team'))],
      ['/audit', audit],
      ['/audit?actor=pager', audit.filter((r) => r.actor_username === 'pager' || r.actor_id === 'pager')],
      [`/audit?actor=${pager}`, audit.filter((r) => r.actor_id === pager)],
      ['/audit?action=setting.change', audit.filter((r) => r.action === 'setting.change')],
      [
        '/audit?target_type=setting&target_id=pg.a.01',
        audit.filter((r) => r.target_type === 'setting' && r.target_id === 'pg.a.01'),
      ],
      [
        '/audit?since=2026-11-02T10:00:01Z&until=2026-11-04T10:00:01.000Z',
        audit.filter((r) => r.at >= '2026-11-02T10:00:01.000Z' && r.at < '2026-11-04T10:00:01.000Z'),
      ],
      [
        '/audit?actor=pager&since=2026-11-03T00:00:00Z',
        audit.filter((r) => r.actor_username === 'pager' && r.at >= '2026-11-03'),
      ],
    ];
    for (const [url, expected] of cases) {
      expect(expected.length, url).toBeGreaterThan(0);
      for (const limit of [3, 7]) {
        const { rows, pages } = await walk(sys.response, admin(), url, limit);
        expect(ids(rows), `${url} by ${limit}`).toEqual(ids(expected));
        // No empty page at the end: the last page (full or not) has no cursor.
        expect(pages, `${url} by ${limit}`).toBe(Math.ceil(expected.length / limit));
      }
    }
  });

  it('walks every Request list page by page, rows sharing a name or key ordered by id', async () => {
    const req = h.request.kysely;
    const users = (await req.selectFrom('users').selectAll().where('deleted_at', 'is', null).execute()).sort(
      byKeys(
        (u) => u.username_key as string,
        (u) => u.id as string,
      ),
    );
    const settings = (await req.selectFrom('settings').selectAll().where('deleted_at', 'is', null).execute()).sort(
      byKeys(
        (s) => s.key as string,
        (s) => s.id as string,
      ),
    );
    const types = (await req.selectFrom('profile_types').selectAll().where('deleted_at', 'is', null).execute()).sort(
      byKeys(
        (p) => p.name as string,
        (p) => p.id as string,
      ),
    );
    const cases: [string, Row[]][] = [
      ['/users', users],
      ['/settings', settings],
      ['/settings?prefix=rq.', settings.filter((s) => String(s.key).startsWith('rq.'))],
      ['/profile-types', types],
      ['/profile-types?name=TWIN', types.filter((p) => String(p.name).includes('Twin'))],
    ];
    for (const [url, expected] of cases) {
      for (const limit of [2, 5]) {
        const { rows, pages } = await walk(sys.request, requestAdmin, url, limit);
        expect(
          rows.map((r) => r.id),
          `${url} by ${limit}`,
        ).toEqual(expected.map((r) => r.id));
        expect(pages, `${url} by ${limit}`).toBe(Math.ceil(expected.length / limit));
      }
    }
  });

  it('gives no cursor on a last page that is exactly full, nor on a short one', async () => {
    const page = (q: string) => sys.response.inject({ url: `/settings?prefix=pg.b.&${q}`, headers: bearer(admin()) });
    expect((await page('limit=25')).headers['x-next-cursor']).toBeUndefined();
    expect((await page('limit=30')).headers['x-next-cursor']).toBeUndefined();
    const first = await page('limit=24');
    expect(first.headers['x-next-cursor']).toBeTypeOf('string');
    const last = await page(`limit=24&cursor=${first.headers['x-next-cursor']}`);
    expect(last.json().map((s: Row) => s.key)).toEqual(['pg.b.24']);
    expect(last.headers['x-next-cursor']).toBeUndefined();
    // Offset pages carry the cursor too, so a client may switch to it.
    const byOffset = await page('limit=5&offset=5');
    const next = await page(`limit=5&cursor=${byOffset.headers['x-next-cursor']}`);
    expect(next.json()[0].key).toBe('pg.b.10');
  });

  it('neither repeats nor skips a row when rows are added during a walk', async () => {
    const create = (key: string) =>
      sys.response.inject({ method: 'POST', url: '/settings', headers: bearer(admin()), payload: { key, value: 1 } });
    for (let i = 10; i < 30; i++) expect((await create(`cc.k${i}`)).statusCode).toBe(201);
    const before = (
      await h.response.kysely.selectFrom('audit_log').select('id').where('action', '=', 'setting.create').execute()
    ).map((r) => Number(r.id));
    let n = 0;
    // Each page: one key behind the walk, one ahead of it, and (newest first) an audit row behind it.
    const addTwo = async () => {
      n++;
      expect((await create(`cc.k0${n}`)).statusCode).toBe(201);
      expect((await create(`cc.k9${n}`)).statusCode).toBe(201);
    };
    const settings = (await walk(sys.response, admin(), '/settings?prefix=cc.', 4, addTwo)).rows.map((s) => s.key);
    expect(new Set(settings).size).toBe(settings.length);
    expect([...settings].sort()).toEqual(settings);
    for (let i = 10; i < 30; i++) expect(settings).toContain(`cc.k${i}`);
    expect(settings.filter((k) => String(k).startsWith('cc.k0'))).toEqual([]);
    expect(settings.filter((k) => String(k).startsWith('cc.k9')).length).toBe(n);

    const audit = (await walk(sys.response, admin(), '/audit?action=setting.create', 3, addTwo)).rows.map((r) =>
      Number(r.id),
    );
    expect(new Set(audit).size).toBe(audit.length);
    expect([...audit].sort((a, b) => b - a)).toEqual(audit);
    expect(audit.filter((id) => before.includes(id)).sort((a, b) => a - b)).toEqual([...before].sort((a, b) => a - b));
  });

  it('refuses a malformed or tampered cursor, or one from other filters, with 422 naming cursor', async () => {
    const get = (url: string, app = sys.response, token = admin()) => app.inject({ url, headers: bearer(token) });
    const refused = async (url: string, app?: App, token?: string) => {
      const res = await get(url, app, token);
      expect(res.statusCode, `${url}: ${res.body}`).toBe(422);
      expect(res.json().detail[0].loc, url).toEqual(['querystring', 'cursor']);
      return res.json().detail[0].msg as string;
    };
    const first = await get('/settings?prefix=pg.a.&limit=2');
    const cursor = first.headers['x-next-cursor'] as string;
    expect((await get(`/settings?prefix=pg.a.&limit=2&cursor=${cursor}`)).statusCode).toBe(200);
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    expect(await refused(`/settings?prefix=pg.b.&cursor=${cursor}`)).toMatch(/other filters/);
    expect(await refused(`/settings?cursor=${cursor}`)).toMatch(/other filters/);
    expect(await refused(`/users?cursor=${cursor}`)).toMatch(/another list/);
    expect(await refused(`/users?cursor=${cursor}`, sys.request, requestAdmin)).toMatch(/another list/);
    expect(await refused(`/settings?prefix=pg.a.&cursor=${cursor.slice(0, -3)}`)).toMatch(/not a cursor/);
    await refused('/settings?cursor=bm90IGpzb24');
    await refused('/settings?cursor=%27%3B%20DROP%20TABLE%20settings%3B--');
    await refused(`/settings?cursor=${'A'.repeat(3000)}`);
    await refused(`/settings?cursor=${b64({ f: 'x', k: ['a'] })}`);
    await refused(`/settings?cursor=${b64({ k: ['a', 'b'] })}`);
    await refused(`/settings?cursor=${b64(null)}`);
    await refused(`/settings?cursor=${b64([1, 2])}`);
    await refused(`/audit?cursor=${encodeCursor(AUDIT_ORDER, {}, ['2026-11-01', 1]).replace(/.$/, '_')}`);
    const auditKey = (k: unknown[]) => {
      const good = JSON.parse(Buffer.from(encodeCursor(AUDIT_ORDER, {}, ['x', 1]), 'base64url').toString());
      return b64({ ...good, k });
    };
    await refused(`/audit?cursor=${auditKey(['2026-11-01', '1 OR 1=1'])}`);
    await refused(`/audit?cursor=${auditKey(['2026-11-01', 1.5])}`);
    await refused(`/audit?cursor=${auditKey([1, 1])}`);
    await refused(`/audit?cursor=${auditKey(['x'.repeat(1025), 1])}`);
    // A well-formed cursor only says where to start: text that looks like SQL is a key like any other.
    const odd = encodeCursor(SETTING_ORDER, { prefix: 'pg.' }, ["pg.a'; DROP TABLE settings; --"]);
    const after = await get(`/settings?prefix=pg.&limit=100&cursor=${odd}`);
    expect(after.statusCode).toBe(200);
    expect(after.json()[0].key).toBe('pg.a.00'); // "'" sorts before "."
    const tie = encodeCursor(REQUEST_SETTING_ORDER, { prefix: 'rq.' }, ["rq.same' OR '1'='1", '']);
    expect((await get(`/settings?prefix=rq.&cursor=${tie}`, sys.request, requestAdmin)).statusCode).toBe(200);
    expect((await get('/settings?limit=1')).statusCode).toBe(200);
  });

  it('keeps offset for small offsets, refuses it past the cap or beside a cursor (422 naming offset)', async () => {
    const get = (url: string) => sys.response.inject({ url, headers: bearer(admin()) });
    expect((await get(`/audit?offset=${MAX_OFFSET}`)).statusCode).toBe(200);
    for (const url of [`/audit?offset=${MAX_OFFSET + 1}`, '/users?offset=50000', '/settings?offset=10001']) {
      const res = await get(url);
      expect(res.statusCode, url).toBe(422);
      expect(res.json().detail[0].loc).toEqual(['querystring', 'offset']);
      expect(res.json().detail[0].msg).toMatch(
        /at most 10000: page further with the cursor in the x-next-cursor header/,
      );
    }
    const onRequest = await sys.request.inject({ url: '/settings?offset=10001', headers: bearer(requestAdmin) });
    expect(onRequest.statusCode).toBe(422);
    const cursor = (await get('/settings?limit=1')).headers['x-next-cursor'];
    const both = await get(`/settings?limit=1&offset=1&cursor=${cursor}`);
    expect(both.statusCode).toBe(422);
    expect(both.json().detail[0].loc).toEqual(['querystring', 'offset']);
  });

  it('reads every page shape from an index: no table scan, no sort (EXPLAIN)', async () => {
    const users = await liveUsers();
    const mid = users[Math.floor(users.length / 2)] as Row;
    const userAfter = [mid.username_key as string] as [string];
    const requestUserAfter = ['twin', ''] as [string, string];
    const page = { limit: 100, offset: 0 };
    const resp = h.response.kysely;
    const req = h.request.kysely;
    const at: [string, number] = ['2026-11-03T10:00:00.000Z', 20];
    const shapes: [string, typeof resp | typeof req, Compilable, boolean?][] = [];
    for (const after of [undefined, userAfter]) {
      const p = after ? { ...page, after } : page;
      for (const f of [
        {},
        { q: 'ze' },
        { username: 'Zeta0' },
        { email: 'x@y.z' },
        { is_active: false },
        { profile_type_id: typeId },
        { profile_type_id: 'none' },
      ])
        shapes.push([`users ${JSON.stringify(f)}`, resp, listUsersQuery(resp, f, p)]);
      for (const f of [{}, { prefix: 'pg.a.' }])
        shapes.push([
          `settings ${JSON.stringify(f)}`,
          resp,
          listSettingsQuery(resp, f, after ? { ...page, after: ['pg.a.10'] } : page),
        ]);
      shapes.push([
        'profile types',
        resp,
        listProfileTypesQuery(resp, {}, after ? { ...page, after: ['Ops', ''] } : page),
      ]);
      const ap = after ? { ...page, after: at } : page;
      for (const f of [
        {},
        { action: 'user.change' },
        { target_type: 'setting' },
        { target_type: 'setting', target_id: 'pg.a.01' },
        { since: '2026-11-02T00:00:00.000Z', until: '2026-11-04T00:00:00.000Z' },
        { action: 'user.change', since: '2026-11-02T00:00:00.000Z' },
      ])
        shapes.push([`audit ${JSON.stringify(f)}`, resp, listAuditRowsQuery(resp, f, ap)]);
      // By actor: two index reads of a page each, merged (a sort of at most two pages).
      shapes.push(['audit by actor', resp, listAuditRowsQuery(resp, { actor: 'pager' }, ap), true]);
      shapes.push(['request users', req, requestUsersQuery(req, after ? { ...page, after: requestUserAfter } : page)]);
      for (const f of [{}, { prefix: 'rq.' }])
        shapes.push([
          `request settings ${JSON.stringify(f)}`,
          req,
          requestSettingsQuery(req, f, after ? { ...page, after: ['rq.k1', ''] } : page),
        ]);
      shapes.push([
        'request profile types',
        req,
        requestProfileTypesQuery(req, {}, after ? { ...page, after: ['type 5', ''] } : page),
      ]);
    }
    for (const [name, db, query, merge] of shapes) {
      const plan =
        dialect === 'sqlite'
          ? await queryPlan(db as never, dialect, query)
          : // Tables this small are cheaper to scan: take that choice away to see whether an index can serve.
            await (db as typeof resp).transaction().execute(async (trx) => {
              for (const off of ['enable_seqscan', 'enable_bitmapscan', 'enable_sort'])
                await sql.raw(`set local ${off} = off`).execute(trx);
              return queryPlan(trx as never, dialect, query);
            });
      expect(plan.join('\n'), name).toMatch(dialect === 'sqlite' ? /USING (COVERING )?INDEX/ : /Index (Only )?Scan/);
      expect(
        fullReads(dialect, plan, merge ? { merged: ['by_id', 'by_name'] } : {}),
        `${name}:\n${plan.join('\n')}`,
      ).toEqual([]);
    }
  });
});
