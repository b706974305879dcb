import fs from 'node:fs';
import path from 'node:path';
import { type Queue, Worker } from 'bullmq';
import { Command } from 'commander';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { registerConfig } from '../../src/cli/config.js';
import { registerInspect } from '../../src/cli/inspect.js';
import { registerKeys } from '../../src/cli/keys.js';
import { registerQueue } from '../../src/cli/queue.js';
import { registerResult } from '../../src/cli/result.js';
import { registerRun } from '../../src/cli/run.js';
import { parseSigningKey } from '../../src/exchange/keys.js';
import { loadConfig } from '../../src/platform/config.js';
import { createQueue } from '../../src/platform/queue.js';
import { startRequestBeat, startRequestWorker } from '../../src/request/start.js';
import { startResponseBeat, startResponseWorker } from '../../src/response/start.js';
import { RESPONSE_QUEUE } from '../../src/response/tasks/registry.js';
import { runCli } from '../helpers/cli.js';
import { type TestEnv, testEnv, testRuntime } from '../helpers/system.js';

/**
 * Runs `netsync <args>` in this process (the same commands main.ts registers), capturing what it prints.
 * Spawning a process per command would cost ~2 s each; two tests below do spawn the real CLI.
 */
async function netsync(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const program = new Command('netsync').exitOverride();
  for (const register of [registerInspect, registerQueue, registerResult, registerConfig, registerRun, registerKeys]) {
    register(program);
  }
  let out = '';
  let err = '';
  const stdout = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    out += String(chunk);
    return true;
  });
  const stderr = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
    err += String(chunk);
    return true;
  });
  process.exitCode = undefined;
  try {
    await program.parseAsync(args, { from: 'user' });
  } finally {
    stdout.mockRestore();
    stderr.mockRestore();
  }
  const code = Number(process.exitCode ?? 0);
  process.exitCode = undefined;
  return { code, out, err };
}

const json = async (...args: string[]) => {
  const r = await netsync(...args, '--json');
  expect(r.err).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.out);
};

/** The secret part of an environment's private key: what must never be printed. */
const seedOf = (env: TestEnv) => (env.env.EXCHANGE_SIGNING_KEY as string).slice('ed25519-private:'.length);

/** The header line and the data lines of a table. */
const lines = (out: string) => out.trimEnd().split('\n');

describe('netsync operator commands against a running system', () => {
  let env: TestEnv;
  let rt: ReturnType<typeof testRuntime>;
  let redis: Redis;
  let response: Queue;

  beforeAll(() => {
    env = testEnv();
    rt = testRuntime(env.config);
    // The commands read their configuration from the environment, as they do when an operator runs them.
    Object.assign(process.env, env.env);
    redis = new Redis(env.config.redisUrl, { maxRetriesPerRequest: null });
    response = createQueue(RESPONSE_QUEUE, env.config.queuePrefix, redis);
  });
  afterAll(async () => {
    await rt.lifecycle.stop();
    await response.close();
    redis.disconnect();
    await env.cleanup();
  });

  describe('before any Response worker runs (a stand-in worker holds jobs where the test wants them)', () => {
    let manual: Worker;
    beforeAll(async () => {
      manual = new Worker(RESPONSE_QUEUE, null, {
        connection: redis.duplicate(),
        prefix: env.config.queuePrefix,
        name: 'response@cli-test:1',
      });
    });
    afterAll(() => manual.close());

    it('inspect active: a running task with its args masked, then result shows its success', async () => {
      const job = await response.add('sync_password_to_request_network', { user_id: 'u-1', new_password: 'S3cret!x' });
      const active = await manual.getNextJob('token-1');
      expect(active?.id).toBe(job.id);

      const table = await netsync('inspect', 'active');
      expect(table.code).toBe(0);
      const [header, row, ...rest] = lines(table.out);
      expect(header).toMatch(/^NETWORK\s+TASK ID\s+NAME\s+ARGS\s+STARTED\s+WORKER$/);
      expect(row).toContain(`response  ${job.id}`);
      expect(row).toContain('sync_password_to_request_network');
      expect(row).toContain('{"user_id":"u-1","new_password":"***"}');
      expect(row).toContain('response@cli-test:1');
      expect(rest).toEqual([]);
      expect(table.out).not.toContain('S3cret');

      const rows = await json('inspect', 'active');
      expect(rows).toEqual([
        {
          network: 'response',
          queue: 'response',
          task_id: job.id,
          name: 'sync_password_to_request_network',
          args: { user_id: 'u-1', new_password: '***' },
          started_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
          attempt: 1,
          worker: 'response@cli-test:1',
        },
      ]);

      await active?.moveToCompleted({ status: 'success', count: 1 }, 'token-1', false);
      const shown = await netsync('result', job.id as string);
      expect(shown.code).toBe(0);
      expect(shown.out).toMatch(/^task_id\s+\S+\nname\s+sync_password_to_request_network\n/);
      expect(shown.out).toMatch(/^state\s+SUCCESS$/m);
      expect(shown.out).toMatch(/^result\s+\{"status":"success","count":1\}$/m);
      expect(await json('result', job.id as string)).toMatchObject({
        task_id: job.id,
        network: 'response',
        state: 'SUCCESS',
        result: { status: 'success', count: 1 },
        error: null,
      });

      expect(lines((await netsync('inspect', 'active')).out)).toEqual([
        expect.stringMatching(/^NETWORK/),
        '(no task is running)',
      ]);
    });

    it('result shows a failure with its stack, and an unknown id exits 1', async () => {
      const job = await response.add('export_users', {}, { attempts: 1 });
      const active = await manual.getNextJob('token-2');
      expect(active?.id).toBe(job.id);
      await active?.moveToFailed(new Error('disk full'), 'token-2', false);

      const shown = await netsync('result', job.id as string);
      expect(shown.out).toMatch(/^state\s+FAILURE$/m);
      expect(shown.out).toMatch(/^error\s+disk full$/m);
      expect(shown.out).toMatch(/^traceback:\n {2}Error: disk full\n\s+at /m);
      const info = await json('result', job.id as string);
      expect(info).toMatchObject({ state: 'FAILURE', error: 'disk full', attempts: 1 });
      expect(info.traceback).toMatch(/^Error: disk full\n/);

      const missing = await netsync('result', 'no-such-task');
      expect(missing.code).toBe(1);
      expect(missing.out).toBe('');
      expect(missing.err).toMatch(/^netsync: no task no-such-task: unknown task id, or its result expired/);
      const missingJson = await netsync('result', 'no-such-task', '--json');
      expect(missingJson.code).toBe(1);
      expect(JSON.parse(missingJson.out)).toMatchObject({ task_id: 'no-such-task', state: null });
    });

    it('queue length counts by state; purge asks for --yes off a terminal, then says what it removed', async () => {
      for (let i = 0; i < 3; i++) await response.add('export_users', {});

      const table = await netsync('queue', 'length');
      expect(lines(table.out)).toEqual([
        'NETWORK   QUEUE     WAITING  ACTIVE  DELAYED  FAILED  COMPLETED',
        'response  response  3        0       0        1       1',
        'request   request   0        0       0        0       0',
      ]);
      expect(await json('queue', 'length', '--network', 'response')).toEqual([
        { network: 'response', queue: 'response', waiting: 3, active: 0, delayed: 0, failed: 1, completed: 1 },
      ]);

      const refused = await netsync('queue', 'purge');
      expect(refused.code).toBe(1);
      expect(refused.err).toBe(
        'netsync: not removing 3 waiting jobs in response, 0 waiting jobs in request without confirmation: ' +
          'pass --yes (stdin is not a terminal)\n',
      );
      expect((await json('queue', 'length', '--network', 'response'))[0].waiting).toBe(3);

      const purged = await netsync('queue', 'purge', '--yes');
      expect(purged.code).toBe(0);
      expect(purged.out).toBe(
        'Removed 3 waiting jobs from the response queue.\nRemoved 0 waiting jobs from the request queue.\n',
      );
      const failed = await json('queue', 'purge', '--failed', '--yes', '--network', 'response');
      expect(failed).toEqual([
        { network: 'response', queue: 'response', state: 'failed', removed: 1, task_ids: [expect.any(String)] },
      ]);
      expect((await netsync('queue', 'purge', '--failed', '--waiting', '--yes')).out).toBe(
        'Nothing to purge: no waiting or failed jobs.\n',
      );
      expect(await json('queue', 'length', '--network', 'response')).toEqual([
        { network: 'response', queue: 'response', waiting: 0, active: 0, delayed: 0, failed: 0, completed: 1 },
      ]);
    });
    it('the real `netsync` binary: commands are wired, and purge off a terminal refuses without --yes', async () => {
      const job = await response.add('export_users', {});
      const length = runCli(['queue', 'length', '--json', '--network', 'response'], env.env);
      const purge = runCli(['queue', 'purge', '--network', 'response'], env.env);
      expect(await length.exited).toBe(0);
      expect(JSON.parse(length.output())).toEqual([
        { network: 'response', queue: 'response', waiting: 1, active: 0, delayed: 0, failed: 0, completed: 1 },
      ]);
      expect(await purge.exited).toBe(1);
      expect(purge.output()).toBe(
        'netsync: not removing 1 waiting job in response without confirmation: pass --yes (stdin is not a terminal)\n',
      );
      expect(await response.getJobState(job.id as string)).toBe('waiting');
      await response.remove(job.id as string);
    });
  });

  describe('with both networks running (workers and beats)', () => {
    beforeAll(async () => {
      await startRequestWorker(rt, { watch: true });
      await startRequestBeat(rt);
      await startResponseWorker(rt);
      await startResponseBeat(rt);
    });

    it('inspect scheduled: every schedule entry with its interval and next run', async () => {
      const table = await netsync('inspect', 'scheduled');
      const [header, ...rows] = lines(table.out);
      expect(header).toMatch(/^NETWORK\s+ID\s+TASK\s+EVERY \/ CRON\s+NEXT RUN\s+RUNS$/);
      expect(rows).toContainEqual(
        expect.stringMatching(/^response\s+export-users-every-minute\s+export_users\s+60s\s+\d{4}-/),
      );
      expect(rows).toContainEqual(
        expect.stringMatching(
          /^request\s+import-settings-and-passwords-every-minute\s+import_settings_and_passwords\s+60s\s+\d{4}-/,
        ),
      );
      const entries = await json('inspect', 'scheduled');
      expect(entries).toContainEqual({
        network: 'response',
        queue: 'response',
        id: 'export-users-every-minute',
        task: 'export_users',
        every_s: 60,
        cron: null,
        next_run: expect.stringMatching(/^\d{4}-/),
        runs: expect.any(Number),
        args: { snapshot: true },
      });
    });

    it('inspect workers: each live worker with host, pid and concurrency', async () => {
      const table = await netsync('inspect', 'workers');
      const [header, ...rows] = lines(table.out);
      expect(header).toMatch(/^NETWORK\s+QUEUE\s+WORKER\s+HOST\s+PID\s+CONCURRENCY\s+STARTED$/);
      expect(rows).toHaveLength(2);
      expect(rows[0]).toMatch(
        new RegExp(`^response\\s+response\\s+response@\\S+:${process.pid}\\s+\\S+\\s+${process.pid}\\s+4\\s+\\d{4}-`),
      );
      expect(rows[1]).toMatch(
        new RegExp(`^request\\s+request\\s+request@\\S+:${process.pid}\\s+\\S+\\s+${process.pid}\\s+1\\s+\\d{4}-`),
      );
      expect(await json('inspect', 'workers', '--network', 'request')).toEqual([
        {
          network: 'request',
          queue: 'request',
          worker: expect.stringMatching(/^request@/),
          host: expect.any(String),
          pid: process.pid,
          concurrency: 1,
          started_at: expect.stringMatching(/^\d{4}-/),
          address: expect.stringMatching(/:\d+$/),
        },
      ]);
    });

    it('run: enqueues now and prints the id; --wait prints the result', async () => {
      const sent = await netsync('run', 'import_settings_and_passwords');
      expect(sent.code).toBe(0);
      const id = /\[([0-9a-f-]{36})\]/.exec(sent.out)?.[1];
      expect(sent.out).toBe(
        `Sent import_settings_and_passwords[${id}] to the request queue.\nFollow it with: netsync result ${id}\n`,
      );

      const waited = await netsync('run', 'export_users', '--wait');
      expect(waited.code).toBe(0);
      expect(waited.err).toMatch(/^Sent export_users\[[0-9a-f-]{36}\] to the response queue; waiting\.\.\.\n$/);
      expect(waited.out).toMatch(/^state\s+SUCCESS$/m);
      expect(waited.out).toMatch(/^result\s+\{"status":"success"/m);

      const result = await json('run', 'export_users', '--wait');
      expect(result).toMatchObject({ name: 'export_users', network: 'response', state: 'SUCCESS' });
      expect(result.result.files).toContainEqual(expect.stringMatching(/users_latest\.json$/));

      const unknown = await netsync('run', 'no_such_task');
      expect(unknown.code).toBe(1);
      expect(unknown.err).toMatch(/^netsync: no task named "no_such_task"; known tasks: .*export_users/);
    });

    it('config: the resolved configuration with secrets masked, Redis, the tasks and the schedule', async () => {
      const table = await netsync('config');
      expect(table.code).toBe(0);
      expect(table.out).toMatch(/^netsync configuration \(secrets masked\)\n/);
      expect(table.out).toMatch(/^response\s+redis:\/\/127\.0\.0\.1:\d+\/\d+\s+\S+:response\s+yes$/m);
      expect(table.out).toMatch(
        /^response\s+export-users-every-minute\s+export_users\s+60\.00s\s+\{"snapshot":true\}$/m,
      );
      expect(table.out).toMatch(/^adminPassword\s+\*\*\*$/m);
      expect(table.out).toMatch(/^exchangeSigningKey\s+\*\*\*$/m);
      // Public keys are no secret, and an operator checks them while rotating.
      expect(table.out).toMatch(new RegExp(`^exchangeTrustedKeys\\s+${env.env.EXCHANGE_TRUSTED_KEYS}$`, 'm'));
      expect(table.out).not.toContain(seedOf(env));
      expect(table.out).not.toContain('Admin-pass-1');

      const c = await json('config');
      expect(c.config).toMatchObject({
        adminPassword: '***',
        exchangeSigningKey: '***',
        exchangeTrustedKeys: env.env.EXCHANGE_TRUSTED_KEYS,
        queuePrefix: env.config.queuePrefix,
      });
      expect(c.tasks.request).toEqual(['import_settings_and_passwords']);
      expect(c.tasks.response).toContain('export_users');
      expect(c.schedule).toContainEqual({
        network: 'request',
        id: 'import-settings-and-passwords-every-minute',
        task: 'import_settings_and_passwords',
        every_s: 60,
        args: { trigger: 'schedule' },
      });
      expect(JSON.stringify(c)).not.toContain(seedOf(env));
    });
  });
});

describe('netsync keys', () => {
  const VARS = ['DATA_DIR', 'EXCHANGE_SIGNING_KEY', 'EXCHANGE_TRUSTED_KEYS'] as const;
  const saved: Partial<Record<(typeof VARS)[number], string>> = {};
  let env: TestEnv;
  beforeAll(() => {
    env = testEnv();
    for (const v of VARS) saved[v] = process.env[v];
  });
  afterAll(async () => {
    for (const v of VARS) {
      if (saved[v] === undefined) delete process.env[v];
      else process.env[v] = saved[v];
    }
    await env.cleanup();
  });
  const setEnv = (vars: Partial<Record<(typeof VARS)[number], string>>) => {
    for (const v of VARS) delete process.env[v];
    Object.assign(process.env, { DATA_DIR: env.config.dataDir, ...vars });
  };

  it('generate: a new pair each time, saying which half goes where', async () => {
    const text = await netsync('keys', 'generate');
    expect(text.code).toBe(0);
    const privateKey = /^ {2}EXCHANGE_SIGNING_KEY=(ed25519-private:[\w-]{43})$/m.exec(text.out)?.[1] as string;
    const publicKey = /^ {2}EXCHANGE_TRUSTED_KEYS=(ed25519:[\w-]{43})$/m.exec(text.out)?.[1] as string;
    const key = parseSigningKey(privateKey);
    expect(key.publicKey.text).toBe(publicKey);
    expect(text.out).toContain(`key id ${key.id}`);
    expect(text.out).toMatch(/On the Response side only \(secret/);
    expect(text.out).toMatch(/On every Request side \(public\)/);
    expect(text.out).toMatch(
      /^To rotate keys, first trust this one on each Request side beside the key it trusts now:$/m,
    );
    expect(text.out).toContain(`  EXCHANGE_TRUSTED_KEYS=<old public key>,${publicKey}\n`);

    const pair = await json('keys', 'generate');
    expect(Object.keys(pair).sort()).toEqual(['key_id', 'private_key', 'public_key']);
    expect(parseSigningKey(pair.private_key).id).toBe(pair.key_id);
    expect(parseSigningKey(pair.private_key).publicKey.text).toBe(pair.public_key);
    expect(pair.key_id).not.toBe(key.id);
    // Each half is what its variable takes, and neither is taken for the other.
    expect(
      loadConfig({ EXCHANGE_SIGNING_KEY: pair.private_key, EXCHANGE_TRUSTED_KEYS: pair.public_key }),
    ).toBeDefined();
    expect(() => loadConfig({ EXCHANGE_TRUSTED_KEYS: pair.private_key })).toThrow(/EXCHANGE_TRUSTED_KEYS/);
  });

  it("show: the configured signing key's public half and id, exactly what EXCHANGE_TRUSTED_KEYS takes", async () => {
    setEnv({ EXCHANGE_SIGNING_KEY: env.env.EXCHANGE_SIGNING_KEY });
    const shown = await json('keys', 'show');
    expect(shown).toEqual({ key_id: env.config.exchangeSigningKey?.id, public_key: env.env.EXCHANGE_TRUSTED_KEYS });
    expect(loadConfig({ EXCHANGE_TRUSTED_KEYS: shown.public_key }).exchangeTrustedKeys?.[0]?.id).toBe(shown.key_id);
    const text = await netsync('keys', 'show');
    expect(text.code).toBe(0);
    expect(text.out).toMatch(new RegExp(`^key id +${shown.key_id}$`, 'm'));
    expect(text.out).toMatch(/^from +EXCHANGE_SIGNING_KEY$/m);
    expect(text.out).toContain(`  EXCHANGE_TRUSTED_KEYS=${shown.public_key}\n`);
    expect(text.out).not.toContain(seedOf(env));
  });

  it('show: the key `netsync up` keeps, when none is configured', async () => {
    setEnv({});
    fs.mkdirSync(env.config.dataDir, { recursive: true });
    const file = path.join(env.config.dataDir, 'secrets.json');
    fs.writeFileSync(file, JSON.stringify({ exchangeSigningKey: env.env.EXCHANGE_SIGNING_KEY }), { mode: 0o600 });
    try {
      expect(await json('keys', 'show')).toEqual({
        key_id: env.config.exchangeSigningKey?.id,
        public_key: env.env.EXCHANGE_TRUSTED_KEYS,
      });
      expect((await netsync('keys', 'show')).out).toMatch(new RegExp(`^from +${file}$`, 'm'));
    } finally {
      fs.rmSync(file);
    }
  });

  it('show: exits 1 saying how to get a signing key when there is none (as on a Request side)', async () => {
    setEnv({ EXCHANGE_TRUSTED_KEYS: env.env.EXCHANGE_TRUSTED_KEYS });
    const none = await netsync('keys', 'show', '--json');
    expect(none.code).toBe(1);
    expect(none.out).toBe('');
    expect(none.err).toMatch(
      /^netsync: no signing key here: set EXCHANGE_SIGNING_KEY \(make one with `netsync keys generate`\)/,
    );
  });
});
