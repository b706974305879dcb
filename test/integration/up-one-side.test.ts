import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort, post, type RunningCli, runCli } from '../helpers/cli.js';
import { EVENT_DEADLINE_MS, sideEnv, type TestEnv, testEnv, waitFor } from '../helpers/system.js';

/** The address an `up` printed for a network, e.g. "Response Network  http://127.0.0.1:40123". */
const addressOf = (output: string, network: 'Response' | 'Request') =>
  new RegExp(`${network} Network\\s+(http://\\S+)`).exec(output)?.[1] as string;

/**
 * `netsync up response` and `netsync up request`: each side alone, as on machines of their own. Here
 * they share nothing but the exchange folder: each has its own data folder, Redis key prefix and port,
 * and the Request side is given only the public key the Response side printed.
 */
describe('netsync up <side>', () => {
  const envs: TestEnv[] = [];
  const running: RunningCli[] = [];
  afterEach(async () => {
    for (const cli of running.splice(0)) {
      cli.child.kill('SIGTERM');
      await cli.exited;
    }
    for (const env of envs.splice(0)) await env.cleanup();
  });

  it('runs each side alone; a user created on the Response side logs in on the Request side', async () => {
    const response = testEnv('sqlite');
    const request = testEnv('sqlite');
    envs.push(response, request);
    const { EXCHANGE_SIGNING_KEY: _, EXCHANGE_TRUSTED_KEYS: __, ...responseEnv } = response.env;
    const responsePort = String(await freePort());
    const responseUp = runCli(
      ['up', 'response'],
      { ...responseEnv, RESPONSE_PORT: responsePort, LOG_LEVEL: 'warn' },
      response.dir,
    );
    running.push(responseUp);
    const shown = await responseUp.waitForOutput(/netsync response is up[\s\S]*Data {14}\S+/);
    expect(shown).not.toMatch(/Request Network/);
    // The Response side made its key pair and printed the public half for the Request side.
    const publicKey = /public key: (ed25519:\S+)\)/.exec(shown)?.[1] as string;
    expect(publicKey).toMatch(/^ed25519:/);
    expect(fs.existsSync(path.join(response.env.DATA_DIR as string, 'secrets.json'))).toBe(true);

    const requestUp = runCli(
      ['up', 'request'],
      {
        ...sideEnv(request.env, 'request'),
        EXPORT_DIR: response.config.exchangeDir,
        EXCHANGE_TRUSTED_KEYS: publicKey,
        REQUEST_PORT: String(await freePort()),
        LOG_LEVEL: 'warn',
      },
      request.dir,
    );
    running.push(requestUp);
    const requestShown = await requestUp.waitForOutput(/netsync request is up[\s\S]*Data {14}\S+/);
    expect(requestShown).not.toMatch(/Response Network|Admin login/);

    const responseBase = addressOf(shown, 'Response');
    const requestBase = addressOf(requestShown, 'Request');
    const admin = await post(`${responseBase}/auth/login`, { username: 'admin', password: 'Admin-pass-1' });
    expect(admin.status).toBe(200);
    const created = await post(
      `${responseBase}/users`,
      { username: 'solo', password: 'Alone-pass-1' },
      admin.body.access_token as string,
    );
    expect(created.status).toBe(201);
    await waitFor(
      async () =>
        (await post(`${requestBase}/auth/login`, { username: 'solo', password: 'Alone-pass-1' })).status === 200,
      EVENT_DEADLINE_MS,
      'the user on the Request side',
    );
    // The Request side was never given, and never made, a key that signs.
    const kept = JSON.parse(fs.readFileSync(path.join(request.env.DATA_DIR as string, 'secrets.json'), 'utf8'));
    expect(kept.exchangeSigningKey).toBeUndefined();
  });

  it('refuses a side it does not know, and a Request side given a signing key', async () => {
    const env = testEnv('sqlite');
    envs.push(env);
    const wrong = runCli(['up', 'both'], { ...env.env, LOG_LEVEL: 'warn' }, env.dir);
    expect(await wrong.exited).toBe(2);
    expect(wrong.output()).toContain('up takes "response" or "request"');
    const forging = runCli(['up', 'request'], { ...env.env, LOG_LEVEL: 'warn' }, env.dir);
    expect(await forging.exited).toBe(2);
    expect(forging.output()).toContain('EXCHANGE_SIGNING_KEY');
  });
});
