import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { generateSigningKey, parseSigningKey } from '../../src/exchange/keys.js';
import { pingRedis } from '../../src/platform/redis.js';
import { freePort, post, runCli } from '../helpers/cli.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

function workdir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'netsync-up-'));
  dirs.push(d);
  return d;
}

async function loginOk(base: string, username: string, password: string, timeoutMs = 3000): Promise<boolean> {
  const start = Date.now();
  while (Date.now() - start < timeoutMs) {
    if ((await post(`${base}/auth/login`, { username, password })).status === 200) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

describe('netsync up', () => {
  it('exits at once with one line saying how to get Redis when none answers and none can be started', async () => {
    const port = await freePort();
    const cli = runCli(
      ['up'],
      { PATH: '/nonexistent', REDIS_URL: `redis://127.0.0.1:${port}/0`, LOG_LEVEL: 'warn' },
      workdir(),
    );
    const code = await cli.exited;
    expect(code).toBe(1);
    const lines = cli.output().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^netsync: no Redis answers at REDIS_URL and no redis-server is on PATH: install one .*set REDIS_URL/,
    );
  });

  it('names a bad variable and exits 2', async () => {
    const cli = runCli(['up'], { RESPONSE_PORT: 'eighty' }, workdir());
    expect(await cli.exited).toBe(2);
    expect(cli.output().trim()).toBe(
      'netsync: configuration: RESPONSE_PORT: must be a whole number from 0 to 65535, got "eighty"',
    );
  });

  it.each([
    ['response', /^netsync: configuration: EXCHANGE_SIGNING_KEY: is not set: .*`netsync keys generate`/],
    [
      'request',
      /^netsync: configuration: EXCHANGE_TRUSTED_KEYS: is not set: .*`netsync keys show` on the Response side/,
    ],
  ])('refuses to start a %s worker without its key, saying which and how to get it', async (side, message) => {
    const cli = runCli([side, 'worker'], { REDIS_URL: 'redis://127.0.0.1:1/0' }, workdir());
    expect(await cli.exited).toBe(2);
    expect(cli.output().trim()).toMatch(message);
  });

  it.each([['api'], ['worker'], ['beat']])(
    'refuses to start a Request %s that holds a private key: the isolated side must not be able to sign',
    async (part) => {
      const signing = generateSigningKey();
      const env = {
        REDIS_URL: 'redis://127.0.0.1:1/0',
        EXCHANGE_SIGNING_KEY: signing,
        EXCHANGE_TRUSTED_KEYS: parseSigningKey(signing).publicKey.text,
      };
      const cli = runCli(['request', part as string], env, workdir());
      expect(await cli.exited).toBe(2);
      const out = cli.output().trim();
      expect(out).toMatch(
        /^netsync: configuration: EXCHANGE_SIGNING_KEY: is set, but this is a Request part: the isolated side must not hold a key that can forge/,
      );
      expect(out).not.toContain(signing.slice('ed25519-private:'.length));
    },
  );

  it('runs everything, stops cleanly on Ctrl-C (with the Redis it started), and keeps data across restarts', async () => {
    const cwd = workdir();
    const [redisPort, responsePort, requestPort] = [await freePort(), await freePort(), await freePort()];
    const env = {
      REDIS_URL: `redis://127.0.0.1:${redisPort}/0`,
      RESPONSE_PORT: String(responsePort),
      REQUEST_PORT: String(requestPort),
      BCRYPT_COST: '4',
      LOG_LEVEL: 'warn',
      SHUTDOWN_GRACE_S: '3',
    };
    const R = `http://127.0.0.1:${responsePort}`;
    const Q = `http://127.0.0.1:${requestPort}`;

    const first = runCli(['up'], env, cwd);
    const banner = await first.waitForOutput(/Admin login +username "admin", password "([^"]+)"/);
    const password = /password "([^"]+)"/.exec(banner)?.[1] as string;
    expect(banner).toContain(`Response Network  ${R}`);
    expect(banner).toContain(`Request Network   ${Q}`);
    expect(banner).toContain(`${R}/docs`);
    expect(fs.statSync(path.join(cwd, 'data/secrets.json')).mode & 0o777).toBe(0o600);
    const kept = JSON.parse(fs.readFileSync(path.join(cwd, 'data/secrets.json'), 'utf8'));
    expect(kept.exchangeSigningKey).toMatch(/^ed25519-private:[\w-]{43}$/);
    // The Request side trusts the public half of the pair `up` made, kept beside it.
    expect(kept.exchangeTrustedKeys).toBe(parseSigningKey(kept.exchangeSigningKey).publicKey.text);
    for (const dir of ['data', 'exports', 'exports/users', 'exports/password_changes']) {
      expect(fs.statSync(path.join(cwd, dir)).mode & 0o777).toBe(0o700);
    }
    expect(await pingRedis(env.REDIS_URL)).toBe(true);

    const admin = (await post(`${R}/auth/login`, { username: 'admin', password })).body.access_token as string;
    const created = await post(`${R}/users`, { username: 'john', password: 'Secret123' }, admin);
    expect(created.status).toBe(201);
    expect(await loginOk(Q, 'john', 'Secret123')).toBe(true);
    const docs = await fetch(`${Q}/docs/json`);
    expect(docs.status).toBe(200);

    first.child.kill('SIGINT');
    expect(await first.exited).toBe(0);
    expect(await pingRedis(env.REDIS_URL, 300)).toBe(false);

    const second = runCli(['up'], env, cwd);
    const again = await second.waitForOutput(/Admin login/);
    expect(again).toContain(`password "${password}"`);
    expect(JSON.parse(fs.readFileSync(path.join(cwd, 'data/secrets.json'), 'utf8')).exchangeSigningKey).toBe(
      kept.exchangeSigningKey,
    );
    expect(await loginOk(R, 'john', 'Secret123')).toBe(true);
    expect(await loginOk(Q, 'john', 'Secret123')).toBe(true);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);

    // `netsync keys show` in the same folder prints the kept key's public half, to copy to a Request side.
    const show = runCli(['keys', 'show', '--json'], { LOG_LEVEL: 'warn' }, cwd);
    expect(await show.exited).toBe(0);
    expect(JSON.parse(show.output())).toEqual({
      key_id: parseSigningKey(kept.exchangeSigningKey).id,
      public_key: kept.exchangeTrustedKeys,
    });
  }, 60_000);
});
