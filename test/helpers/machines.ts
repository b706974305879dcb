import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, post, type RunningCli, runCli } from './cli.js';
import { hasCommand, mirrorOnce } from './mirror.js';
import { READ_ONLY } from './read-only.js';

/*
 * Machines of their own, on one host: each side is started with `netsync up <side>` in a folder of its
 * own, with its own data folder, database and Redis (a Redis URL on a free port, so `up` starts a
 * redis-server for it alone), and only its own side's configuration. What they share is files: the
 * Response side writes folder A, a copier mirrors A onto B, and Request sides read B — through a
 * read-only bind mount in a private mount namespace, so the operating system refuses any write there.
 */

export interface Machine {
  readonly name: string;
  readonly dir: string;
  readonly env: Record<string, string>;
  readonly baseUrl: string;
  running?: RunningCli;
}

/** A folder and the configuration of one machine; `start` runs `netsync up <side>` there. */
export async function machine(
  root: string,
  name: string,
  side: 'response' | 'request',
  env: Record<string, string>,
): Promise<Machine> {
  const dir = path.join(root, name);
  fs.mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const redisPort = await freePort();
  return {
    name,
    dir,
    baseUrl: `http://127.0.0.1:${port}`,
    env: {
      DATA_DIR: path.join(dir, 'data'),
      REDIS_URL: `redis://127.0.0.1:${redisPort}/0`,
      [side === 'response' ? 'RESPONSE_PORT' : 'REQUEST_PORT']: String(port),
      BCRYPT_COST: '4',
      LOGIN_MAX_FAILURES: '0',
      LOGIN_MAX_FAILURES_PER_CLIENT: '0',
      LOGIN_MAX_FAILURES_PER_ACCOUNT: '0',
      LOG_LEVEL: 'info',
      SHUTDOWN_GRACE_S: '2',
      ...env,
    },
  };
}

/** Runs `netsync up <side>` on the machine (a Request side behind a read-only view of `env.RO_DIR`). */
export async function startMachine(m: Machine, side: 'response' | 'request'): Promise<void> {
  const wrap = side === 'request' ? READ_ONLY : [];
  m.running = runCli(['up', side], m.env, m.dir, wrap);
  await m.running.waitForOutput(new RegExp(`netsync ${side} is up`), 120_000);
}

export async function stopMachine(m: Machine): Promise<void> {
  const running = m.running;
  if (!running) return;
  m.running = undefined;
  if (running.child.exitCode === null && running.child.signalCode === null) running.child.kill('SIGTERM');
  await running.exited;
}

/** Logs in on a machine's API: the token, or undefined when refused. */
export async function loginOn(m: Machine, username: string, password: string): Promise<string | undefined> {
  const res = await post(`${m.baseUrl}/auth/login`, { username, password });
  return res.status === 200 ? (res.body.access_token as string) : undefined;
}

export async function getJson<T>(m: Machine, url: string, token?: string): Promise<{ status: number; body: T }> {
  const res = await fetch(`${m.baseUrl}${url}`, token ? { headers: { authorization: `Bearer ${token}` } } : {});
  return { status: res.status, body: (await res.json()) as T };
}

export interface Copier {
  readonly how: string;
  stop(): Promise<void>;
}

/**
 * The copy step: `rsync -a --delete-delay A/ B/` every half second when rsync is installed (as the
 * README's recipe), else the same copy done in-process (temporary name, then rename).
 */
export function startCopier(from: string, to: string): Copier {
  if (hasCommand('rsync')) {
    const child: ChildProcess = spawn(
      'sh',
      ['-c', 'while :; do rsync -a --delete-delay "$A/" "$B/"; sleep 0.5; done'],
      { env: { PATH: process.env.PATH ?? '', A: from, B: to }, stdio: 'ignore', detached: true },
    );
    const exited = new Promise((resolve) => child.once('exit', resolve));
    return {
      how: 'rsync -a --delete-delay, every 0.5 s',
      async stop() {
        try {
          process.kill(-(child.pid as number), 'SIGKILL');
        } catch {
          // already gone
        }
        await exited;
      },
    };
  }
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      await mirrorOnce(from, to).catch(() => undefined);
      await new Promise((r) => setTimeout(r, 500));
    }
  })();
  return {
    how: 'an in-process copy (rsync is not installed), every 0.5 s',
    async stop() {
      stopped = true;
      await loop;
    },
  };
}

/** Every file under `dir` whose text contains `needle`. */
export function filesContaining(dir: string, needle: string): string[] {
  const found: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && fs.readFileSync(p).includes(needle)) found.push(p);
    }
  };
  if (fs.existsSync(dir)) walk(dir);
  return found;
}

/** The environment of a process and of everything it started, as `NAME=value` strings (Linux /proc). */
export function environOfTree(pid: number): string[] {
  const pids = [pid];
  for (let i = 0; i < pids.length; i++) {
    const children = fs.readFileSync(`/proc/${pids[i]}/task/${pids[i]}/children`, 'utf8').trim();
    if (children) pids.push(...children.split(/\s+/).map(Number));
  }
  return pids.flatMap((p) => {
    try {
      return fs.readFileSync(`/proc/${p}/environ`, 'utf8').split('\0');
    } catch {
      return [];
    }
  });
}

export const tempRoot = () => fs.mkdtempSync(path.join(os.tmpdir(), 'netsync-machines-'));
