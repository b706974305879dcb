import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, login, startSystem, type TestSystem } from '../helpers/system.js';

const basic = (username: string, password: string) => ({
  authorization: `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`,
});

describe('the queue dashboard at /admin/queues', () => {
  let sys: TestSystem;
  let userToken: string;
  beforeAll(async () => {
    sys = await startSystem();
    const created = await sys.response.inject({
      method: 'POST',
      url: '/users',
      headers: bearer(sys.adminToken),
      payload: { username: 'viewer', password: 'Watch-pass-1' },
    });
    expect(created.statusCode).toBe(201);
    userToken = await login(sys.response, 'viewer', 'Watch-pass-1');
  });
  afterAll(() => sys.stop());

  it('refuses without a login, with a Basic challenge a browser answers', async () => {
    for (const url of ['/admin/queues', '/admin/queues/api/queues', '/admin/queues/static/favicon-32x32.png']) {
      const res = await sys.response.inject({ url });
      expect(res.statusCode, url).toBe(401);
      expect(res.headers['www-authenticate']).toBe('Basic realm="netsync admin", charset="UTF-8"');
      expect(res.json()).toEqual({ detail: 'Not authenticated' });
    }
  });

  it('refuses a wrong password, a forged token and a user who is not an admin', async () => {
    expect((await sys.response.inject({ url: '/admin/queues', headers: basic('admin', 'wrong') })).statusCode).toBe(
      401,
    );
    expect((await sys.response.inject({ url: '/admin/queues', headers: basic('nobody', 'x') })).statusCode).toBe(401);
    expect((await sys.response.inject({ url: '/admin/queues', headers: bearer('not.a.token') })).statusCode).toBe(401);
    const nonAdminBasic = await sys.response.inject({ url: '/admin/queues', headers: basic('viewer', 'Watch-pass-1') });
    expect(nonAdminBasic.statusCode).toBe(403);
    expect(nonAdminBasic.json()).toEqual({ detail: 'admin rights required' });
    const nonAdminBearer = await sys.response.inject({ url: '/admin/queues', headers: bearer(userToken) });
    expect(nonAdminBearer.statusCode).toBe(403);
  });

  it('serves the board, its assets and its API to an admin (Basic or bearer)', async () => {
    const page = await sys.response.inject({ url: '/admin/queues', headers: basic('admin', 'Admin-pass-1') });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.body).toContain('<title>netsync</title>');
    const script = /src="(static\/js\/main\.[^"]+\.js)"/.exec(page.body)?.[1];
    expect(script).toBeDefined();

    const asset = await sys.response.inject({ url: `/admin/queues/${script}`, headers: bearer(sys.adminToken) });
    expect(asset.statusCode).toBe(200);
    expect(asset.headers['content-type']).toMatch(/javascript/);

    await sys.response.inject({ method: 'POST', url: '/tasks/export_users/run', headers: bearer(sys.adminToken) });
    const api = await sys.response.inject({
      url: '/admin/queues/api/queues?activeQueue=response&status=latest&page=1&jobsPerPage=10',
      headers: basic('admin', 'Admin-pass-1'),
    });
    expect(api.statusCode).toBe(200);
    const queues = api.json().queues as { name: string; jobs: { name: string }[] }[];
    // The Response queue only: the Request Network's queue is not reachable from the Response side.
    expect(queues.map((q) => q.name)).toEqual(['response']);
    expect(queues[0]?.jobs.map((j) => j.name)).toContain('export_users');
  });

  it('is not listed in the API docs', async () => {
    const spec = (await sys.response.inject({ url: '/docs/json' })).json();
    expect(Object.keys(spec.paths).filter((p) => p.startsWith('/admin/queues'))).toEqual([]);
  });
});
