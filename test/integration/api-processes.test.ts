import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/cli.js';
import { ChildPart } from '../helpers/exchange.js';
import { type TestEnv, testEnv } from '../helpers/system.js';

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** The pids that logged a line whose message matches `re`, from line `from` on. */
const pidsLogging = (part: ChildPart, re: RegExp, from = 0): Set<number> => {
  const pids = new Set<number>();
  for (const line of part.lines.slice(from)) {
    try {
      const { msg, pid } = JSON.parse(line) as { msg?: string; pid?: number };
      if (pid !== undefined && re.test(String(msg))) pids.add(pid);
    } catch {
      // not a log line
    }
  }
  return pids;
};

/** API_PROCESSES=2: `netsync response api` serves one port from two processes (platform/api-processes.ts). */
describe('API_PROCESSES', () => {
  let env: TestEnv;
  let api: ChildPart;
  let base: string;

  beforeAll(async () => {
    const port = await freePort();
    // At debug, every request's log line names the process that served it.
    env = testEnv('sqlite', { RESPONSE_PORT: String(port), API_PROCESSES: '2', PART_LOG_LEVEL: 'debug' });
    base = `http://127.0.0.1:${port}`;
    api = new ChildPart(env.env, 'response', 'api');
    await api.waitForLine(/API serving from 2 processes/, 90_000);
  }, 120_000);
  afterAll(async () => {
    await api?.kill();
    await env?.cleanup();
  });

  it('serves the port from two processes, each answering requests', async () => {
    const servers = pidsLogging(api, /listening/i);
    expect(servers.size).toBe(2);
    expect(servers.has(api.pid)).toBe(false);
    const from = api.lines.length;
    // A new connection each: cluster hands connections to its processes in turn.
    for (let i = 0; i < 20; i++) {
      const res = await fetch(`${base}/health`, { headers: { connection: 'close' } });
      expect(res.status).toBe(200);
    }
    await api.waitForLine(/request completed/, 20_000, from);
    expect(pidsLogging(api, /request completed/, from)).toEqual(servers);
  });

  it('replaces a process that dies, and still answers', async () => {
    const [victim] = [...pidsLogging(api, /listening/i)];
    const from = api.lines.length;
    process.kill(victim as number, 'SIGKILL');
    await api.waitForLine(/an API process died/, 20_000, from);
    await api.waitForLine(/listening/i, 60_000, from);
    const replacement = pidsLogging(api, /listening/i, from);
    expect(replacement.size).toBe(1);
    expect(replacement.has(victim as number)).toBe(false);
    for (let i = 0; i < 4; i++) {
      expect((await fetch(`${base}/health`, { headers: { connection: 'close' } })).status).toBe(200);
    }
  });

  it('stops every process on SIGTERM and exits 0', async () => {
    const servers = [...pidsLogging(api, /listening/i)].filter(alive);
    expect(servers.length).toBe(2);
    api.child.kill('SIGTERM');
    expect(await api.exited).toBe(0);
    for (const pid of servers) expect(alive(pid)).toBe(false);
  });
});
