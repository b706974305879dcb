import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../src/platform/db.js';
import { pruneAuditLog } from '../../src/response/audit/audit.service.js';
import type { ResponseDatabase } from '../../src/response/db/schema.js';
import { responseSchedule } from '../../src/response/tasks/registry.js';
import { freePort, runCli } from '../helpers/cli.js';
import { ChildPart, openResponseDb } from '../helpers/exchange.js';
import {
  bearer,
  dialects,
  login,
  startSystem,
  type TestEnv,
  type TestSystem,
  testEnv,
  waitFor,
} from '../helpers/system.js';

const NO_SUCH = '00000000-0000-4000-8000-000000000000';

/** Every audit row, oldest first, its details parsed. */
async function auditRows(db: Db<ResponseDatabase>) {
  const rows = await db.kysely.selectFrom('audit_log').selectAll().orderBy('id').execute();
  return rows.map((r) => ({ ...r, details: r.details === null ? null : (JSON.parse(r.details) as unknown) }));
}

describe.each(dialects())('audit trail (%s)', (dialect) => {
  let sys: TestSystem;
  let db: Db<ResponseDatabase>;
  let adminId: string;
  const admin = () => bearer(sys.adminToken);

  beforeAll(async () => {
    sys = await startSystem({ dialect, watch: false, env: { LOGIN_MAX_FAILURES: '3', AUDIT_RETENTION_DAYS: '30' } });
    db = await openResponseDb(sys.env);
    adminId = (
      await db.kysely.selectFrom('users').select('id').where('username', '=', 'admin').executeTakeFirstOrThrow()
    ).id;
  });
  afterAll(async () => {
    await db?.close();
    await sys?.stop();
  });

  /** A request to the Response API carrying a request id of our choosing. */
  const send = (method: string, url: string, requestId: string, headers: Record<string, string>, payload?: object) =>
    sys.response.inject({
      method: method as 'GET',
      url,
      headers: { ...headers, 'x-request-id': requestId },
      ...(payload ? { payload } : {}),
    });
  /** The newest audit row, after checking that exactly one was added by `act`. */
  const oneRowFrom = async (
    act: () => Promise<{ statusCode: number; body: string; json(): Record<string, string> }>,
    status: number,
  ) => {
    const before = (await auditRows(db)).length;
    const res = await act();
    expect(res.statusCode, res.body).toBe(status);
    const rows = await auditRows(db);
    expect(rows.length).toBe(before + 1);
    return { res, row: rows.at(-1) };
  };
  const byAdmin = { actor_id: '', actor_username: 'admin', ip: '127.0.0.1' };

  it('records every kind of write: who, what (fields and new values), when, the client address and the request id', async () => {
    byAdmin.actor_id = adminId;
    const started = new Date().toISOString();

    const created = await oneRowFrom(
      () => send('POST', '/users', 'rid-user-create', admin(), { username: 'carol', password: 'Tulip-key-11' }),
      201,
    );
    const carol = created.res.json().id as string;
    expect(created.row).toMatchObject({
      ...byAdmin,
      action: 'user.create',
      target_type: 'user',
      target_id: carol,
      details: {
        username: 'carol',
        email: null,
        is_admin: false,
        is_active: true,
        profile_type_id: null,
        password: 'set',
      },
      request_id: 'rid-user-create',
    });
    const at = created.row?.at ?? '';
    expect(at >= started && at <= new Date().toISOString(), at).toBe(true);

    const changed = await oneRowFrom(
      () => send('PATCH', `/users/${carol}`, 'rid-user-change', admin(), { email: 'carol@example.org' }),
      200,
    );
    expect(changed.row).toMatchObject({
      ...byAdmin,
      action: 'user.change',
      target_id: carol,
      details: { email: 'carol@example.org' },
      request_id: 'rid-user-change',
    });

    const reset = await oneRowFrom(
      () => send('POST', `/users/${carol}/reset-password`, 'rid-reset', admin(), { new_password: 'Tulip-key-22' }),
      200,
    );
    expect(reset.row).toMatchObject({
      ...byAdmin,
      action: 'user.password_reset',
      target_type: 'user',
      target_id: carol,
      details: { password: 'changed' },
      request_id: 'rid-reset',
    });

    // A user resetting their own password is the actor of their own row.
    const own = await login(sys.response, 'carol', 'Tulip-key-22');
    const selfReset = await oneRowFrom(
      () =>
        send('POST', `/users/${carol}/reset-password`, 'rid-self-reset', bearer(own), {
          new_password: 'Tulip-key-33',
        }),
      200,
    );
    expect(selfReset.row).toMatchObject({
      actor_id: carol,
      actor_username: 'carol',
      action: 'user.password_reset',
      target_id: carol,
      details: { password: 'changed' },
      ip: '127.0.0.1',
      request_id: 'rid-self-reset',
    });

    const settingRows = [
      await oneRowFrom(() => send('POST', '/settings', 'rid-s1', admin(), { key: 'app.audit', value: { a: 1 } }), 201),
      await oneRowFrom(() => send('PUT', '/settings/app.audit', 'rid-s2', admin(), { value: [2, 'two'] }), 200),
      await oneRowFrom(() => send('DELETE', '/settings/app.audit', 'rid-s3', admin()), 204),
    ].map((r) => r.row);
    expect(settingRows).toMatchObject([
      {
        ...byAdmin,
        action: 'setting.create',
        target_type: 'setting',
        target_id: 'app.audit',
        details: { value: { a: 1 } },
      },
      { ...byAdmin, action: 'setting.change', target_id: 'app.audit', details: { value: [2, 'two'] } },
      { ...byAdmin, action: 'setting.delete', target_id: 'app.audit', details: null, request_id: 'rid-s3' },
    ]);

    const type = await oneRowFrom(
      () => send('POST', '/profile-types', 'rid-p1', admin(), { name: 'Auditors', description: 'they look' }),
      201,
    );
    const typeId = type.res.json().id as string;
    const typeRows = [
      type.row,
      (
        await oneRowFrom(
          () => send('PATCH', `/profile-types/${typeId}`, 'rid-p2', admin(), { name: 'Inspectors' }),
          200,
        )
      ).row,
      (await oneRowFrom(() => send('DELETE', `/profile-types/${typeId}`, 'rid-p3', admin()), 204)).row,
    ];
    expect(typeRows).toMatchObject([
      {
        ...byAdmin,
        action: 'profile_type.create',
        target_type: 'profile_type',
        target_id: typeId,
        details: { name: 'Auditors', description: 'they look' },
      },
      { ...byAdmin, action: 'profile_type.change', target_id: typeId, details: { name: 'Inspectors' } },
      { ...byAdmin, action: 'profile_type.delete', target_id: typeId, details: { name: 'Inspectors' } },
    ]);

    const run = await oneRowFrom(() => send('POST', '/tasks/export_users/run', 'rid-run', admin()), 202);
    expect(run.row).toMatchObject({
      ...byAdmin,
      action: 'task.run',
      target_type: 'task',
      target_id: 'export_users',
      details: { task_id: run.res.json().task_id },
      request_id: 'rid-run',
    });

    const deleted = await oneRowFrom(() => send('DELETE', `/users/${carol}`, 'rid-user-delete', admin()), 204);
    expect(deleted.row).toMatchObject({
      ...byAdmin,
      action: 'user.delete',
      target_id: carol,
      details: { username: 'carol' },
    });
  });

  it('records failed and throttled logins by nobody, on the account tried when there is one', async () => {
    const wrong = await oneRowFrom(
      () => send('POST', '/auth/login', 'rid-login-1', {}, { username: 'admin', password: 'Not-the-pass-1' }),
      401,
    );
    expect(wrong.row).toMatchObject({
      actor_id: null,
      actor_username: null,
      action: 'login.failed',
      target_type: 'user',
      target_id: adminId,
      details: { username: 'admin' },
      ip: '127.0.0.1',
      request_id: 'rid-login-1',
    });
    const tries = (n: number) =>
      send('POST', '/auth/login', `rid-ghost-${n}`, {}, { username: 'ghost', password: 'Guess-pass-1' });
    for (const n of [1, 2, 3]) {
      const { row } = await oneRowFrom(() => tries(n), 401);
      expect(row).toMatchObject({ action: 'login.failed', target_id: null, details: { username: 'ghost' } });
    }
    const throttled = await oneRowFrom(() => tries(4), 429);
    expect(throttled.row).toMatchObject({
      actor_id: null,
      action: 'login.throttled',
      target_type: 'user',
      target_id: null,
      details: { username: 'ghost' },
      request_id: 'rid-ghost-4',
    });
    // A login that succeeds writes nothing.
    const before = (await auditRows(db)).length;
    await login(sys.response, 'admin', 'Admin-pass-1');
    expect((await auditRows(db)).length).toBe(before);
  });

  it('leaves no audit row for a write that is refused (422, 409, 404, 403), even one refused mid-transaction', async () => {
    const type = (await send('POST', '/profile-types', 'rid-x', admin(), { name: 'Holders' })).json().id as string;
    const holder = (
      await send('POST', '/users', 'rid-x', admin(), {
        username: 'holder',
        password: 'Maple-key-1',
        profile_type_id: type,
      })
    ).json().id as string;
    const plain = await login(sys.response, 'holder', 'Maple-key-1');
    await send('POST', '/settings', 'rid-x', admin(), { key: 'app.kept', value: 1 });
    const before = await auditRows(db);

    const refused: [string, string, object | undefined, number, Record<string, string>?][] = [
      // Refused inside the transaction, after a row was written: the rollback takes the audit row too.
      ['POST', '/users', { username: 'newbie', password: 'Birch-key-1', profile_type_id: NO_SUCH }, 422],
      ['DELETE', `/profile-types/${type}`, undefined, 409],
      ['PATCH', `/users/${holder}`, { username: 'admin' }, 409],
      // Refused before.
      ['POST', '/users', { username: 'admin', password: 'Rowan-key-2' }, 409],
      ['POST', '/users', { username: 'weakling', password: 'short' }, 422],
      ['POST', `/users/${holder}/reset-password`, { new_password: 'nodigits' }, 422],
      ['POST', `/users/${NO_SUCH}/reset-password`, { new_password: 'Fine-pass-1' }, 404],
      ['PATCH', `/users/${NO_SUCH}`, { email: 'x@example.org' }, 404],
      ['DELETE', `/users/${NO_SUCH}`, undefined, 404],
      ['DELETE', `/users/${adminId}`, undefined, 409],
      ['POST', '/settings', { key: 'app.kept', value: 2 }, 409],
      ['PUT', '/settings/app.none', { value: 2 }, 404],
      ['DELETE', '/settings/app.none', undefined, 404],
      ['POST', '/settings', { key: 'Bad Key', value: 2 }, 422],
      ['PATCH', `/profile-types/${NO_SUCH}`, { name: 'x' }, 404],
      ['POST', '/tasks/no_such_task/run', undefined, 404],
      ['POST', '/settings', { key: 'app.mine', value: 1 }, 403, bearer(plain)],
      ['POST', '/tasks/export_users/run', undefined, 403, bearer(plain)],
    ];
    for (const [method, url, payload, status, headers] of refused) {
      const res = await send(method, url, 'rid-refused', headers ?? admin(), payload);
      expect(res.statusCode, `${method} ${url}: ${res.body}`).toBe(status);
    }
    expect(await auditRows(db)).toEqual(before);
    expect(await db.kysely.selectFrom('users').select('id').where('username', '=', 'newbie').execute()).toEqual([]);
  });

  it('GET /audit: admin only, newest first, filtered by actor, target, action and time, one page at a time', async () => {
    const holder = await db.kysely
      .selectFrom('users')
      .select('id')
      .where('username', '=', 'holder')
      .executeTakeFirstOrThrow();
    const plain = await login(sys.response, 'holder', 'Maple-key-1');
    expect((await sys.response.inject({ url: '/audit' })).statusCode).toBe(401);
    expect((await sys.response.inject({ url: '/audit', headers: bearer(plain) })).statusCode).toBe(403);

    const get = async (query: string) => {
      const res = await sys.response.inject({ url: `/audit${query}`, headers: admin() });
      expect(res.statusCode, res.body).toBe(200);
      return res.json() as {
        id: number;
        at: string;
        action: string;
        actor_id: string | null;
        target_id: string | null;
      }[];
    };
    const all = await get('?limit=1000');
    const rows = await auditRows(db);
    expect(all.map((r) => r.id)).toEqual(rows.map((r) => Number(r.id)).reverse());
    expect(all[0]).toEqual({ ...rows.at(-1), id: Number(rows.at(-1)?.id) });

    expect((await get(`?actor=${adminId}&limit=1000`)).every((r) => r.actor_id === adminId)).toBe(true);
    const byName = await get('?actor=admin&limit=1000');
    expect(byName.map((r) => r.id)).toEqual((await get(`?actor=${adminId}&limit=1000`)).map((r) => r.id));
    expect(byName.length).toBe(rows.filter((r) => r.actor_id === adminId).length);

    const onHolder = await get(`?target_type=user&target_id=${holder.id}`);
    expect(onHolder.map((r) => r.action)).toEqual(['user.create']);
    const resets = await get('?action=user.password_reset');
    expect(resets.length).toBe(2);
    expect((await get('?action=login.throttled')).map((r) => r.target_id)).toEqual([null]);

    // Time: since is inclusive, until exclusive, any offset accepted.
    const middle = all[Math.floor(all.length / 2)] as (typeof all)[number];
    const since = await get(`?since=${encodeURIComponent(middle.at)}&limit=1000`);
    expect(since.length).toBe(all.filter((r) => r.at >= middle.at).length);
    const until = await get(`?until=${encodeURIComponent(middle.at)}&limit=1000`);
    expect(until.length + since.length).toBe(all.length);
    const tehran = new Date(new Date(middle.at).getTime() + 3.5 * 3_600_000).toISOString().replace('Z', '+03:30');
    expect((await get(`?since=${encodeURIComponent(tehran)}&limit=1000`)).map((r) => r.id)).toEqual(
      since.map((r) => r.id),
    );

    const pages = [await get('?limit=3'), await get('?limit=3&offset=3')];
    expect(pages.flat().map((r) => r.id)).toEqual(all.slice(0, 6).map((r) => r.id));

    for (const bad of ['?since=yesterday', '?action=user.explode', '?target_type=planet', '?limit=0']) {
      const res = await sys.response.inject({ url: `/audit${bad}`, headers: admin() });
      expect(res.statusCode, bad).toBe(422);
      expect(res.json().detail[0].loc[0]).toBe('querystring');
    }
  });

  it('`netsync audit` prints what GET /audit answers, as JSON or a table, with the same filters', async () => {
    const cli = async (args: string[]) => {
      const run = runCli(['audit', ...args], sys.env.env, sys.env.dir);
      expect(await run.exited, run.output()).toBe(0);
      return run.output();
    };
    const api = (
      await sys.response.inject({ url: '/audit?actor=admin&action=user.password_reset', headers: admin() })
    ).json();
    expect(JSON.parse(await cli(['--json', '--actor', 'admin', '--action', 'user.password_reset']))).toEqual(api);

    const lines = (await cli(['--limit', '5'])).trim().split('\n');
    expect(lines[0]).toMatch(/^AT\s+ACTOR\s+ACTION\s+TARGET\s+DETAILS\s+IP\s+REQUEST ID$/);
    expect(lines.length).toBe(6);
    const throttled = (await cli(['--action', 'login.throttled'])).trim().split('\n');
    expect(throttled[1]).toMatch(
      /^\S+Z\s+-\s+login\.throttled\s+user\s+\{"username":"ghost"\}\s+127\.0\.0\.1\s+rid-ghost-4$/,
    );
    expect((await cli(['--since', '2999-01-01'])).trim().split('\n')[1]).toBe('(no audit rows match)');

    const bad = runCli(['audit', '--since', 'soon'], sys.env.env, sys.env.dir);
    expect(await bad.exited).toBe(1);
    expect(bad.output()).toMatch(/--since must be a date or time/);
  });

  it(`prunes rows older than AUDIT_RETENTION_DAYS (30 here) with the scheduled prune_audit_log task`, async () => {
    expect(responseSchedule(60)).toContainEqual(
      expect.objectContaining({ id: 'prune-audit-log-every-hour', task: 'prune_audit_log' }),
    );
    const daysAgo = (d: number) => new Date(Date.now() - d * 86_400_000).toISOString();
    const old = { action: 'setting.change', target_type: 'setting', details: null, ip: null, request_id: null };
    const actor = { actor_id: null, actor_username: null };
    await db.kysely
      .insertInto('audit_log')
      .values([
        { ...old, ...actor, at: daysAgo(400), target_id: 'old.1' },
        { ...old, ...actor, at: daysAgo(31), target_id: 'old.2' },
        { ...old, ...actor, at: daysAgo(29), target_id: 'kept.1' },
      ])
      .execute();
    const before = await auditRows(db);

    const run = await sys.response.inject({ method: 'POST', url: '/tasks/prune_audit_log/run', headers: admin() });
    expect(run.statusCode).toBe(202);
    const task = async () =>
      (await sys.response.inject({ url: `/tasks/${run.json().task_id}`, headers: admin() })).json() as {
        state: string;
        result: { count: number };
      };
    await waitFor(async () => (await task()).state === 'SUCCESS', undefined, 'the prune task to finish');
    expect((await task()).result.count).toBe(2);
    const after = await auditRows(db);
    expect(after.map((r) => r.target_id)).toContain('kept.1');
    expect(after.map((r) => r.target_id)).not.toContain('old.1');
    expect(after.map((r) => r.target_id)).not.toContain('old.2');
    // Everything else stays, and the manual run has a row of its own.
    expect(after.length).toBe(before.length - 2 + 1);
    expect(after.at(-1)).toMatchObject({ action: 'task.run', target_id: 'prune_audit_log' });
    // AUDIT_RETENTION_DAYS=0 keeps every row.
    await db.kysely
      .insertInto('audit_log')
      .values({ ...old, ...actor, at: daysAgo(4000), target_id: 'ancient' })
      .execute();
    expect(await pruneAuditLog(db.kysely, 0)).toBe(0);
    expect((await auditRows(db)).map((r) => r.target_id)).toContain('ancient');
  });
});

/**
 * The real API process, its log lines as it writes them: no password sent to it, and no hash, shows up in
 * an audit row, a log line or an answer.
 */
describe.each(dialects())('no password or hash in audit rows, logs or answers (%s)', (dialect) => {
  let env: TestEnv;
  let api: ChildPart;
  let base: string;
  let db: Db<ResponseDatabase>;

  beforeAll(async () => {
    const port = await freePort();
    // At debug, so that every request's log line is written and searched too (info logs only warnings
    // and slow or failed requests).
    env = testEnv(dialect, { RESPONSE_PORT: String(port), LOGIN_MAX_FAILURES: '2', PART_LOG_LEVEL: 'debug' });
    base = `http://127.0.0.1:${port}`;
    api = new ChildPart(env.env, 'response', 'api');
    await api.waitForLine(/listening/i, 60_000);
    db = await openResponseDb(env);
  }, 90_000);
  afterAll(async () => {
    await api?.stop();
    await db?.close();
    await env?.cleanup();
  });

  it('holds across creating users, resets (admin and self), refused passwords and failed logins', async () => {
    const answers: string[] = [];
    const call = async (method: string, url: string, body?: object, token?: string) => {
      const res = await fetch(`${base}${url}`, {
        method,
        headers: {
          ...(body ? { 'content-type': 'application/json' } : {}),
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
      const text = await res.text();
      answers.push(text);
      return { status: res.status, json: () => JSON.parse(text) };
    };
    const passwords = [
      'Admin-pass-1',
      'Cedar-secret-71',
      'Cedar-secret-72',
      'Cedar-secret-73',
      'Wrong-guess-74',
      'dana-weak',
    ];
    const [adminPass, first, second, third, wrong, weak] = passwords as [
      string,
      string,
      string,
      string,
      string,
      string,
    ];

    const admin = (await call('POST', '/auth/login', { username: 'admin', password: adminPass })).json().access_token;
    const dana = (await call('POST', '/users', { username: 'dana', password: first }, admin)).json().id as string;
    expect((await call('POST', `/users/${dana}/reset-password`, { new_password: second }, admin)).status).toBe(200);
    const own = (await call('POST', '/auth/login', { username: 'dana', password: second })).json().access_token;
    expect((await call('POST', `/users/${dana}/reset-password`, { new_password: third }, own)).status).toBe(200);
    // Her own reset ended her session (every token issued before it): she logs in again.
    expect((await call('POST', `/users/${dana}/reset-password`, { new_password: weak }, own)).status).toBe(401);
    const again = (await call('POST', '/auth/login', { username: 'dana', password: third })).json().access_token;
    expect((await call('POST', `/users/${dana}/reset-password`, { new_password: weak }, again)).status).toBe(422);
    expect((await call('POST', '/users', { username: 'erin', password: weak }, admin)).status).toBe(422);
    for (const status of [401, 401, 429]) {
      expect((await call('POST', '/auth/login', { username: 'dana', password: wrong })).status).toBe(status);
    }
    expect((await call('GET', `/users/${dana}`, undefined, admin)).status).toBe(200);
    const audit = await call('GET', '/audit?limit=1000', undefined, admin);
    expect(audit.json().map((r: { action: string }) => r.action)).toEqual(
      expect.arrayContaining(['user.create', 'user.password_reset', 'login.failed', 'login.throttled']),
    );

    const rows = JSON.stringify(await db.kysely.selectFrom('audit_log').selectAll().execute());
    const logs = api.lines.join('\n');
    expect(api.lines.filter((l) => l.includes('request completed')).length).toBeGreaterThan(10);
    for (const [where, text] of [
      ['audit rows', rows],
      ['log lines', logs],
      ['answers', answers.join('\n')],
    ] as const) {
      for (const p of passwords) expect(text.includes(p), `${where} hold the password ${p}`).toBe(false);
      expect(text, `${where} hold a hash`).not.toMatch(/\$2[aby]\$/);
    }
  });
});
