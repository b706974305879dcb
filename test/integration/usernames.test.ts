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

const PASSWORD = 'Sync-pass-42';
// "مریم_۱۲": Persian letters and Persian digits. The same name in Arabic presentation forms (what some
// keyboards and copied text give), which NFKC turns into the plain letters.
const MARYAM = 'مریم_۱۲';
const MARYAM_PRESENTATION = '\uFEE3\uFEAE\uFBFE\uFEE1_۱۲';
// "آرش.Karimi": Persian and Latin in one name. "آ" decomposes in NFD, so the NFD form differs in bytes.
const ARASH = 'آرش.Karimi';

describe.each(dialects())('usernames of any script, one account whatever the case (%s)', (dialect) => {
  let sys: TestSystem;
  const admin = () => bearer(sys.adminToken);
  const create = (username: string, password = PASSWORD) =>
    sys.response.inject({ method: 'POST', url: '/users', headers: admin(), payload: { username, password } });
  const patch = (id: string, payload: object) =>
    sys.response.inject({ method: 'PATCH', url: `/users/${id}`, headers: admin(), payload });

  beforeAll(async () => {
    sys = await startSystem({ dialect });
  });
  afterAll(() => sys?.stop());

  it('a Persian username is created, synced, and logs in on both networks in any case or normalisation form', async () => {
    expect(MARYAM_PRESENTATION).not.toBe(MARYAM);
    expect(ARASH.normalize('NFD')).not.toBe(ARASH);
    const maryam = await create(MARYAM);
    expect(maryam.statusCode).toBe(201);
    expect(maryam.json().username).toBe(MARYAM);
    // Given in NFD, stored and shown in NFKC.
    const arash = await create(ARASH.normalize('NFD'));
    expect(arash.statusCode).toBe(201);
    expect(arash.json().username).toBe(ARASH);

    const spellings = {
      [MARYAM]: [MARYAM, MARYAM_PRESENTATION],
      [ARASH]: [ARASH, ARASH.normalize('NFD'), 'آرش.KARIMI', 'آرش.ｋａｒｉｍｉ'.normalize('NFD')],
    };
    for (const [name, forms] of Object.entries(spellings)) {
      for (const form of forms) expect(await canLogin(sys.response, form, PASSWORD), `${name} as ${form}`).toBe(true);
    }
    for (const [name, forms] of Object.entries(spellings)) {
      await waitFor(() => canLogin(sys.request, name, PASSWORD), EVENT_DEADLINE_MS, `${name} on the Request side`);
      for (const form of forms) expect(await canLogin(sys.request, form, PASSWORD), `${name} as ${form}`).toBe(true);
    }
    expect(await canLogin(sys.request, MARYAM, 'Wrong-pass-1')).toBe(false);

    const token = await login(sys.request, MARYAM_PRESENTATION, PASSWORD);
    const self = await sys.request.inject({ url: `/users/${maryam.json().id}`, headers: bearer(token) });
    expect(self.statusCode).toBe(200);
    expect(self.json().username).toBe(MARYAM);
    // The Response side's list filter finds the name in any form too.
    const found = await sys.response.inject({
      url: `/users?username=${encodeURIComponent('آرش.KARIMI')}`,
      headers: admin(),
    });
    expect(found.json().map((u: { username: string }) => u.username)).toEqual([ARASH]);
  });

  it('JOHN is refused (409) while john exists, whatever the case or form, on create and on rename', async () => {
    const john = await create('john');
    expect(john.statusCode).toBe(201);
    for (const name of ['JOHN', 'John', 'ｊｏｈｎ']) {
      const res = await create(name);
      expect(res.statusCode, name).toBe(409);
      expect(res.json().detail).toMatch(/is taken/);
    }
    const other = await create('johnny');
    expect((await patch(other.json().id, { username: 'JOHN' })).statusCode).toBe(409);
    expect((await patch(other.json().id, { username: 'MARYAM_X' })).statusCode).toBe(200);
    // A user may rename to another case of their own name.
    const recased = await patch(john.json().id, { username: 'John' });
    expect(recased.statusCode).toBe(200);
    expect(recased.json().username).toBe('John');
    expect(await canLogin(sys.response, 'jOhN', PASSWORD)).toBe(true);
    // A deleted user's name is free again, in any case.
    expect(
      (await sys.response.inject({ method: 'DELETE', url: `/users/${john.json().id}`, headers: admin() })).statusCode,
    ).toBe(204);
    expect((await create('JOHN')).statusCode).toBe(201);
  });

  it.each([
    ['mixed-script look-alike', 'pаypal', /^username mixes Latin and Cyrillic letters, which look alike$/],
    ['control character', 'ab\u0007cd', /^username contains a control character \(U\+0007\)$/],
    ['invisible joiner', 'jo\u200Dhn', /^username contains an invisible character \(U\+200D\)$/],
    ['bidi override', 'nhoj\u202E', /^username contains an invisible character \(U\+202E\)$/],
    ['ZWNJ outside a Persian word', 'jo\u200Chn', /^username contains the invisible zero-width non-joiner/],
    ['space', 'john doe', /^username contains a space \(U\+0020\)$/],
    ['too short', 'jo', /^username must be 3 to 64 characters long/],
    ['other character', 'john@home', /^username contains "@" \(U\+0040\)/],
    ['two digit systems', 'مریم١۱', /^username mixes digits of different systems/],
  ])('refuses a username with a %s: 422 naming the field and the reason', async (_kind, name, reason) => {
    const res = await create(name);
    expect(res.statusCode).toBe(422);
    expect(res.json().detail).toEqual([
      { loc: ['body', 'username'], msg: expect.stringMatching(reason), type: 'value_error' },
    ]);
    const someone = (await sys.response.inject({ url: '/users?username=admin', headers: admin() })).json()[0];
    const renamed = await patch(someone.id, { username: name });
    expect(renamed.statusCode).toBe(422);
    expect(renamed.json().detail[0].loc).toEqual(['body', 'username']);
  });
});

describe.each(dialects())('who may read which users on the Request side (%s)', (dialect) => {
  let sys: TestSystem;
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    sys = await startSystem({ dialect });
    for (const username of ['reader', 'other']) {
      const res = await sys.response.inject({
        method: 'POST',
        url: '/users',
        headers: bearer(sys.adminToken),
        payload: { username, password: PASSWORD },
      });
      ids[username] = res.json().id;
    }
    // The admin's own record travels with the first users batch.
    await waitFor(() => canLogin(sys.request, 'other', PASSWORD), EVENT_DEADLINE_MS, 'the users on the Request side');
    await waitFor(() => canLogin(sys.request, 'admin', 'Admin-pass-1'), EVENT_DEADLINE_MS, 'the admin');
  });
  afterAll(() => sys?.stop());

  const get = async (url: string, token: string) => sys.request.inject({ url, headers: bearer(token) });

  it('a plain user sees only their own account: the list holds just them, another id is not found', async () => {
    const token = await login(sys.request, 'reader', PASSWORD);
    const list = await get('/users?limit=1000', token);
    expect(list.statusCode).toBe(200);
    expect(list.json().map((u: { username: string }) => u.username)).toEqual(['reader']);
    expect((await get('/users?limit=10&offset=1', token)).json()).toEqual([]);
    const own = await get(`/users/${ids.reader}`, token);
    expect(own.statusCode).toBe(200);
    expect(own.json().username).toBe('reader');
    const other = await get(`/users/${ids.other}`, token);
    expect(other.statusCode).toBe(404);
    expect(other.body).not.toContain('other');
    const nobody = await get('/users/00000000-0000-4000-8000-000000000000', token);
    expect(nobody.statusCode).toBe(404);
    expect(nobody.json()).toEqual(other.json()); // an existing id and a missing one look the same
    // Settings and profile types read as before.
    expect((await get('/settings', token)).statusCode).toBe(200);
    expect((await get('/profile-types', token)).statusCode).toBe(200);
  });

  it('an admin sees every synced user', async () => {
    const token = await login(sys.request, 'admin', 'Admin-pass-1');
    const names = (await get('/users?limit=1000', token)).json().map((u: { username: string }) => u.username);
    expect(names.sort()).toEqual(['admin', 'other', 'reader']);
    const other = await get(`/users/${ids.other}`, token);
    expect(other.statusCode).toBe(200);
    expect(other.json().username).toBe('other');
  });
});
