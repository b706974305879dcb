import { randomBytes } from 'node:crypto';
import { type Compilable, type Kysely, sql } from 'kysely';
import pg from 'pg';
import { type Db, type Dialect, openDb } from '../../src/platform/db.js';
import { encodeCursor, NEXT_CURSOR_HEADER } from '../../src/platform/pagination.js';
import { fullReads, queryPlan } from '../../src/platform/query-plan.js';
import type { RequestDatabase } from '../../src/request/db/schema.js';
import {
  SETTING_ORDER as REQUEST_SETTING_ORDER,
  listSettingsQuery as requestSettingsQuery,
} from '../../src/request/settings/settings.repository.js';
import {
  USER_ORDER as REQUEST_USER_ORDER,
  listUsersQuery as requestUsersQuery,
} from '../../src/request/users/users.repository.js';
import { AUDIT_ORDER, listAuditRowsQuery } from '../../src/response/audit/audit.repository.js';
import type { ResponseDatabase } from '../../src/response/db/schema.js';
import { listSettingsQuery, SETTING_ORDER } from '../../src/response/settings/settings.repository.js';
import { listUsersQuery, USER_ORDER } from '../../src/response/users/users.repository.js';
import { ADMIN, Cluster, cpuSecondsOf } from '../lib/cluster.js';
import { login } from '../lib/http.js';
import { type Summary, summarize } from '../lib/stats.js';

/**
 * Case 7, lists at a million rows (issue 13, item 4): `rows` users, settings and audit rows in the
 * Response database and `rows` users and settings in the Request database, put there with one
 * INSERT ... SELECT over a series each (set-up, not measured). Both APIs run as processes (`netsync
 * response api`, `netsync request api`), on SQLite and then on PostgreSQL when it answers. Each page is
 * asked for `samples` times, one request at a time over HTTP with the admin's token, after 3 unmeasured
 * ones: the first page, one from the middle and the last (their cursors made from a row's key, as a walk
 * would have got them), a filtered first page and a filtered page from the middle. Also recorded: the
 * API process's CPU time per request (steadier than wall time while other work shares the machine), and
 * the database's plan for the page's query (EXPLAIN), with the steps that would read more than a page.
 * PostgreSQL's tables are ANALYZEd after the load (autovacuum would); SQLite's are not (netsync never does).
 */
export interface ListPageResult {
  readonly dialect: Dialect;
  readonly network: 'response' | 'request';
  readonly list: string;
  readonly page: string;
  readonly path: string;
  readonly rows: number;
  readonly ms: Summary;
  readonly cpu_ms_per_request: number;
  readonly plan: string[];
  /** Plan steps that read more than a page (a table scan, a sort); empty when the page is an index range. */
  readonly full_reads: string[];
}

export interface ListsResult {
  readonly rows: number;
  readonly samples: number;
  /** Seconds to put the rows in, per dialect. */
  readonly fill_s: Partial<Record<Dialect, number>>;
  readonly pages: ListPageResult[];
  /** Why PostgreSQL was left out, when it was. */
  readonly postgres_skipped?: string;
}

const BASE_S = 1_764_547_200; // 2025-12-01T00:00:00Z: row i was made i seconds later
const at = (i: number) => new Date((BASE_S + i) * 1000).toISOString();
const pad = (i: number, w: number) => String(i).padStart(w, '0');
const userId = (i: number) => `00000000-0000-4000-8000-${pad(i, 12)}`;
const settingId = (i: number) => `00000000-0000-4000-a000-${pad(i, 12)}`;
const userName = (i: number) => `user${pad(i, 7)}`;
const settingKey = (i: number) => `app.${pad(i, 7)}`;
const TYPE_ID = '00000000-0000-4000-9000-000000000001';
// Any bcrypt hash: nobody logs in as these users.
const HASH = '$2b$04$abcdefghijklmnopqrstuuJ6HxKTv6XnM1f8mUu4ZPbV8wJ3Qe1K2';

/** SQL for the rows 1..n of a series, `i` being the row's number, in each dialect. */
function sqlOf(dialect: Dialect) {
  const p = (expr: string, w: number) =>
    dialect === 'sqlite' ? `printf('%0${w}d', ${expr})` : `lpad((${expr})::text, ${w}, '0')`;
  return {
    pad: p,
    at: (expr: string) =>
      dialect === 'sqlite'
        ? `strftime('%Y-%m-%dT%H:%M:%fZ', ${BASE_S} + ${expr}, 'unixepoch')`
        : `to_char(to_timestamp(${BASE_S} + ${expr}) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`,
    /** INSERT INTO table (columns) SELECT values FROM the series 1..n. */
    insert: (n: number, table: string, columns: Record<string, string>) => {
      const cols = Object.keys(columns).join(', ');
      const vals = Object.values(columns).join(', ');
      return dialect === 'sqlite'
        ? `WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < ${n}) INSERT INTO ${table} (${cols}) SELECT ${vals} FROM s`
        : `INSERT INTO ${table} (${cols}) SELECT ${vals} FROM generate_series(1, ${n}) AS s(i)`;
    },
  };
}

/** Fills both databases; returns the audit id row 0 would have (the admin's creation wrote rows before). */
async function fill(resp: Db<ResponseDatabase>, req: Db<RequestDatabase>, n: number): Promise<number> {
  const s = sqlOf(resp.dialect);
  const run = (db: Kysely<unknown>, text: string) => sql.raw(text).execute(db);
  const r = resp.kysely as Kysely<unknown>;
  const q = req.kysely as Kysely<unknown>;
  const ts = s.at('i');
  await run(
    r,
    `INSERT INTO profile_types (id, name, description, created_at, updated_at, deleted_at, version) VALUES ('${TYPE_ID}', 'bench', NULL, '${at(0)}', '${at(0)}', NULL, 1)`,
  );
  const user = {
    id: `'00000000-0000-4000-8000-' || ${s.pad('i', 12)}`,
    username: `'user' || ${s.pad('i', 7)}`,
    username_key: `'user' || ${s.pad('i', 7)}`,
    email: `'user' || ${s.pad('i', 7)} || '@example.org'`,
    is_active: 'CASE WHEN i % 10 = 0 THEN 0 ELSE 1 END',
    is_admin: '0',
    profile_type_id: `CASE WHEN i % 100 = 0 THEN '${TYPE_ID}' ELSE NULL END`,
    created_at: ts,
    updated_at: ts,
    deleted_at: 'NULL',
    version: '1',
  };
  const { profile_type_id: _t, ...requestUser } = user;
  await run(
    r,
    s.insert(n, 'users', {
      ...user,
      hashed_password: `'${HASH}'`,
      password_version: '1',
      password_changed_at: ts,
    }),
  );
  const setting = {
    id: `'00000000-0000-4000-a000-' || ${s.pad('i', 12)}`,
    key: `'app.' || ${s.pad('i', 7)}`,
    value: `'{"n":' || i || '}'`,
    created_at: ts,
    updated_at: ts,
    deleted_at: 'NULL',
    version: '1',
  };
  await run(r, s.insert(n, 'settings', setting));
  const actor = s.pad('(i % 50) + 1', 7);
  const { top } = await resp.kysely
    .selectFrom('audit_log')
    .select((eb) => eb.fn.max('id').as('top'))
    .executeTakeFirstOrThrow();
  const idBase = Number(top ?? 0);
  await run(
    r,
    s.insert(n, 'audit_log', {
      id: `i + ${idBase}`,
      at: ts,
      actor_id: `'00000000-0000-4000-8000-' || ${s.pad('(i % 50) + 1', 12)}`,
      actor_username: `'user' || ${actor}`,
      action: `CASE i % 4 WHEN 0 THEN 'user.change' WHEN 1 THEN 'setting.change' WHEN 2 THEN 'login.failed' ELSE 'user.password_reset' END`,
      target_type: `CASE i % 4 WHEN 1 THEN 'setting' ELSE 'user' END`,
      target_id: `CASE i % 4 WHEN 1 THEN 'app.' || ${s.pad('i', 7)} ELSE '00000000-0000-4000-8000-' || ${s.pad('i', 12)} END`,
      details: 'NULL',
      ip: `'127.0.0.1'`,
      request_id: 'NULL',
    }),
  );
  await run(q, s.insert(n, 'users', { ...requestUser, synced_at: ts }));
  await run(q, s.insert(n, 'settings', { ...setting, synced_at: ts }));
  // The admin, as if synced, so the Request API lets the bench log in.
  const admin = await resp.kysely
    .selectFrom('users')
    .selectAll()
    .where('username_key', '=', ADMIN.username)
    .executeTakeFirstOrThrow();
  const now = new Date().toISOString();
  await req.kysely
    .insertInto('users')
    .values({
      id: admin.id,
      username: admin.username,
      username_key: admin.username_key,
      email: admin.email,
      is_active: 1,
      is_admin: 1,
      profile_type_id: null,
      created_at: admin.created_at,
      updated_at: admin.updated_at,
      deleted_at: null,
      version: admin.version,
      synced_at: now,
    })
    .execute();
  await req.kysely
    .insertInto('credentials')
    .values({
      user_id: admin.id,
      hashed_password: admin.hashed_password,
      password_version: admin.password_version,
      changed_at: admin.password_changed_at,
      synced_at: now,
    })
    .execute();
  if (resp.dialect === 'postgres') {
    await run(r, `SELECT setval(pg_get_serial_sequence('audit_log', 'id'), ${n + idBase})`);
    await run(r, 'ANALYZE');
    await run(q, 'ANALYZE');
  }
  return idBase;
}

interface PageCase {
  network: 'response' | 'request';
  list: string;
  page: string;
  path: string;
  rows: number;
  query: Compilable;
}

function cases(
  resp: Kysely<ResponseDatabase>,
  req: Kysely<RequestDatabase>,
  n: number,
  auditIdBase: number,
): PageCase[] {
  const limit = 100;
  const first = { limit, offset: 0 };
  const mid = Math.floor(n / 2);
  const tail = n - 50; // the last page holds the 50 rows after this one
  // 10 % of the keys: app.05 (1,000,000 rows), app.0005 (10,000).
  const digits = Math.max(0, Math.round(Math.log10(n)) - 1);
  const prefix = `app.${pad(mid, 7).slice(0, 7 - digits)}`;
  const q = `user${pad(mid, 7).slice(0, 7 - digits)}`;
  const inPrefix = Number(pad(mid, 7).slice(0, 7 - digits)) * 10 ** digits + Math.floor(10 ** digits / 2);
  const c = (path: string, cursor: string) => `${path}${path.includes('?') ? '&' : '?'}cursor=${cursor}`;
  const uKey = (i: number): [string] => [userName(i)];
  const rKey = (i: number): [string, string] => [userName(i), userId(i)];
  const aKey = (i: number): [string, number] => [at(i), auditIdBase + i];
  const inactive = { is_active: false };
  const failed = { action: 'login.failed' };
  const out: PageCase[] = [
    {
      network: 'response',
      list: 'users',
      page: 'first',
      path: '/users?limit=100',
      rows: 100,
      query: listUsersQuery(resp, {}, first),
    },
    ...(['middle', 'last'] as const).map((page) => {
      const i = page === 'middle' ? mid : tail;
      return {
        network: 'response' as const,
        list: 'users',
        page,
        path: c('/users?limit=100', encodeCursor(USER_ORDER, {}, uKey(i))),
        rows: page === 'middle' ? 100 : 50,
        query: listUsersQuery(resp, {}, { ...first, after: uKey(i) }),
      };
    }),
    {
      network: 'response',
      list: 'users',
      page: `filtered: q=${q} (name prefix)`,
      path: `/users?q=${q}&limit=100`,
      rows: 100,
      query: listUsersQuery(resp, { q }, first),
    },
    {
      network: 'response',
      list: 'users',
      page: 'filtered, middle: is_active=false',
      path: c('/users?is_active=false&limit=100', encodeCursor(USER_ORDER, inactive, uKey(mid))),
      rows: 100,
      query: listUsersQuery(resp, inactive, { ...first, after: uKey(mid) }),
    },
    {
      network: 'response',
      list: 'settings',
      page: 'first',
      path: '/settings?limit=100',
      rows: 100,
      query: listSettingsQuery(resp, {}, first),
    },
    ...(['middle', 'last'] as const).map((page) => {
      const i = page === 'middle' ? mid : tail;
      return {
        network: 'response' as const,
        list: 'settings',
        page,
        path: c('/settings?limit=100', encodeCursor(SETTING_ORDER, {}, [settingKey(i)])),
        rows: page === 'middle' ? 100 : 50,
        query: listSettingsQuery(resp, {}, { ...first, after: [settingKey(i)] }),
      };
    }),
    {
      network: 'response',
      list: 'settings',
      page: `filtered: prefix=${prefix}`,
      path: `/settings?prefix=${prefix}&limit=100`,
      rows: 100,
      query: listSettingsQuery(resp, { prefix }, first),
    },
    {
      network: 'response',
      list: 'settings',
      page: `filtered, middle: prefix=${prefix}`,
      path: c(`/settings?prefix=${prefix}&limit=100`, encodeCursor(SETTING_ORDER, { prefix }, [settingKey(inPrefix)])),
      rows: 100,
      query: listSettingsQuery(resp, { prefix }, { ...first, after: [settingKey(inPrefix)] }),
    },
    {
      network: 'response',
      list: 'audit',
      page: 'first',
      path: '/audit?limit=100',
      rows: 100,
      query: listAuditRowsQuery(resp, {}, first),
    },
    ...(['middle', 'last'] as const).map((page) => {
      const i = page === 'middle' ? mid : 51;
      return {
        network: 'response' as const,
        list: 'audit',
        page,
        path: c('/audit?limit=100', encodeCursor(AUDIT_ORDER, {}, aKey(i))),
        rows: page === 'middle' ? 100 : 50,
        query: listAuditRowsQuery(resp, {}, { ...first, after: aKey(i) }),
      };
    }),
    {
      network: 'response',
      list: 'audit',
      page: 'filtered: actor=user0000042',
      path: '/audit?actor=user0000042&limit=100',
      rows: 100,
      query: listAuditRowsQuery(resp, { actor: 'user0000042' }, first),
    },
    {
      network: 'response',
      list: 'audit',
      page: 'filtered, middle: action=login.failed',
      path: c('/audit?action=login.failed&limit=100', encodeCursor(AUDIT_ORDER, failed, aKey(mid))),
      rows: 100,
      query: listAuditRowsQuery(resp, failed, { ...first, after: aKey(mid) }),
    },
    {
      network: 'request',
      list: 'users',
      page: 'first',
      path: '/users?limit=100',
      rows: 100,
      query: requestUsersQuery(req, first),
    },
    ...(['middle', 'last'] as const).map((page) => {
      const i = page === 'middle' ? mid : tail;
      return {
        network: 'request' as const,
        list: 'users',
        page,
        path: c('/users?limit=100', encodeCursor(REQUEST_USER_ORDER, {}, rKey(i))),
        rows: page === 'middle' ? 100 : 50,
        query: requestUsersQuery(req, { ...first, after: rKey(i) }),
      };
    }),
    {
      network: 'request',
      list: 'settings',
      page: 'first',
      path: '/settings?limit=100',
      rows: 100,
      query: requestSettingsQuery(req, {}, first),
    },
    ...(['middle', 'last'] as const).map((page) => {
      const key: [string, string] =
        page === 'middle' ? [settingKey(mid), settingId(mid)] : [settingKey(tail), settingId(tail)];
      return {
        network: 'request' as const,
        list: 'settings',
        page,
        path: c('/settings?limit=100', encodeCursor(REQUEST_SETTING_ORDER, {}, key)),
        rows: page === 'middle' ? 100 : 50,
        query: requestSettingsQuery(req, {}, { ...first, after: key }),
      };
    }),
    {
      network: 'request',
      list: 'settings',
      page: `filtered, middle: prefix=${prefix}`,
      path: c(
        `/settings?prefix=${prefix}&limit=100`,
        encodeCursor(REQUEST_SETTING_ORDER, { prefix }, [settingKey(inPrefix), settingId(inPrefix)]),
      ),
      rows: 100,
      query: requestSettingsQuery(req, { prefix }, { ...first, after: [settingKey(inPrefix), settingId(inPrefix)] }),
    },
  ];
  return out;
}

async function postgresProblem(url: string): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query('select 1');
    return undefined;
  } catch (err) {
    return (err as Error).message;
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function runOn(
  dialect: Dialect,
  opts: { redisUrl: string; postgresUrl: string; rows: number; samples: number },
  say: (s: string) => void,
): Promise<{ fill_s: number; pages: ListPageResult[] }> {
  const schemas = ['resp', 'req'].map((side) => `nsbench_lists_${randomBytes(4).toString('hex')}_${side}`);
  const pgUrl = (schema: string) => `${opts.postgresUrl}${opts.postgresUrl.includes('?') ? '&' : '?'}schema=${schema}`;
  const cluster = await Cluster.create({
    name: `lists-${dialect}`,
    redisUrl: opts.redisUrl,
    env:
      dialect === 'postgres'
        ? { RESPONSE_DATABASE_URL: pgUrl(schemas[0] as string), REQUEST_DATABASE_URL: pgUrl(schemas[1] as string) }
        : {},
  });
  let resp: Db<ResponseDatabase> | undefined;
  let req: Db<RequestDatabase> | undefined;
  try {
    // The APIs migrate their databases and the Response API makes the admin.
    await cluster.startAll([
      ['response', 'api'],
      ['request', 'api'],
    ]);
    resp = await openDb<ResponseDatabase>(cluster.responseDbUrl);
    req = await openDb<RequestDatabase>(cluster.requestDbUrl);
    const t = performance.now();
    const auditIdBase = await fill(resp, req, opts.rows);
    const fillS = (performance.now() - t) / 1000;
    say(`7 lists (${dialect}): ${opts.rows.toLocaleString('en-US')} rows per table in ${fillS.toFixed(1)} s`);
    const tokens = {
      response: await login(cluster.responseUrl, ADMIN.username, ADMIN.password),
      request: await login(cluster.requestUrl, ADMIN.username, ADMIN.password),
    };
    const pages: ListPageResult[] = [];
    for (const pc of cases(resp.kysely, req.kysely, opts.rows, auditIdBase)) {
      const base = pc.network === 'response' ? cluster.responseUrl : cluster.requestUrl;
      const proc = cluster.find(`${pc.network}-api-1`);
      const get = async () => {
        const res = await fetch(`${base}${pc.path}`, { headers: { authorization: `Bearer ${tokens[pc.network]}` } });
        const body = (await res.json()) as unknown[];
        if (res.status !== 200) throw new Error(`${pc.network} ${pc.path}: ${res.status} ${JSON.stringify(body)}`);
        return { body, next: res.headers.get(NEXT_CURSOR_HEADER) };
      };
      // The answer must be the page expected, or the timing would measure something else.
      const probe = await get();
      if (probe.body.length !== pc.rows || (probe.next === null) !== (pc.page === 'last'))
        throw new Error(
          `${pc.network} ${pc.path}: ${probe.body.length} rows, cursor ${probe.next ? 'given' : 'not given'}`,
        );
      await get();
      await get();
      const cpu0 = cpuSecondsOf(proc.pid);
      const ms: number[] = [];
      for (let i = 0; i < opts.samples; i++) {
        const t0 = performance.now();
        await get();
        ms.push(performance.now() - t0);
      }
      const cpuMs = ((cpuSecondsOf(proc.pid) - cpu0) * 1000) / opts.samples;
      const db = (pc.network === 'response' ? resp.kysely : req.kysely) as Kysely<unknown>;
      const plan = await queryPlan(db, dialect, pc.query);
      // By actor: two index reads merged; the Request users: the few profile types joined to each.
      const bounded = pc.page.includes('actor=')
        ? { merged: ['by_id', 'by_name'] }
        : pc.network === 'request' && pc.list === 'users'
          ? { lookups: ['profile_types'] }
          : {};
      pages.push({
        dialect,
        network: pc.network,
        list: pc.list,
        page: pc.page,
        path: pc.path,
        rows: pc.rows,
        ms: summarize(ms),
        cpu_ms_per_request: cpuMs,
        plan,
        full_reads: fullReads(dialect, plan, bounded),
      });
    }
    return { fill_s: fillS, pages };
  } catch (err) {
    // What the API processes said, for a failure the bench cannot see from outside (a process that exited).
    const tails = cluster.procs.map((p) => `${p.name} (${p.running ? 'running' : 'exited'}):\n${p.tail(15)}`);
    say(`7 lists (${dialect}) failed; the APIs' last lines:\n${tails.join('\n')}`);
    throw err;
  } finally {
    await resp?.close();
    await req?.close();
    await cluster.stop();
    if (dialect === 'postgres') {
      const client = new pg.Client({ connectionString: opts.postgresUrl });
      await client.connect();
      for (const schema of schemas) await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await client.end();
    }
  }
}

export async function runLists(
  opts: { redisUrl: string; postgresUrl: string; rows: number; samples: number },
  say: (s: string) => void = () => undefined,
): Promise<ListsResult> {
  const fillS: Partial<Record<Dialect, number>> = {};
  const pages: ListPageResult[] = [];
  const sqlite = await runOn('sqlite', opts, say);
  fillS.sqlite = sqlite.fill_s;
  pages.push(...sqlite.pages);
  const problem = await postgresProblem(opts.postgresUrl);
  if (problem === undefined) {
    const onPg = await runOn('postgres', opts, say);
    fillS.postgres = onPg.fill_s;
    pages.push(...onPg.pages);
  }
  return {
    rows: opts.rows,
    samples: opts.samples,
    fill_s: fillS,
    pages,
    ...(problem === undefined ? {} : { postgres_skipped: problem }),
  };
}
