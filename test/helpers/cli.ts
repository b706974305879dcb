import { type ChildProcess, spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';

export const ROOT = path.resolve(import.meta.dirname, '../..');

/** A TCP port nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export interface RunningCli {
  readonly child: ChildProcess;
  output(): string;
  /** Resolves with the exit code (or the signal's name) once the process ends. */
  readonly exited: Promise<number | string>;
  /** The same, with when it ended (Date.now()). */
  readonly ended: Promise<{ code: number | string; at: number }>;
  /** Waits until the output matches `re`. */
  waitForOutput(re: RegExp, timeoutMs?: number): Promise<string>;
}

/**
 * Runs `netsync <args>` from the TypeScript sources in a child process, as a user would run it; `wrap` is a
 * command line put in front (for example a private mount namespace, see read-only.ts).
 */
export function runCli(
  args: string[],
  env: Record<string, string>,
  cwd = ROOT,
  wrap: readonly string[] = [],
): RunningCli {
  return runScript(path.join(ROOT, 'src/cli/main.ts'), args, env, cwd, wrap);
}

/** Runs a TypeScript file in a child process, collecting what it prints. */
export function runScript(
  script: string,
  args: string[],
  env: Record<string, string>,
  cwd = ROOT,
  wrap: readonly string[] = [],
): RunningCli {
  // tsx resolved from here, so the child may run in any folder.
  const tsx = import.meta.resolve('tsx');
  const [command, ...rest] = [...wrap, process.execPath, '--import', tsx, path.resolve(ROOT, script), ...args];
  const child = spawn(command as string, rest, {
    cwd,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d) => {
    out += d;
  });
  child.stderr?.on('data', (d) => {
    out += d;
  });
  const ended = new Promise<{ code: number | string; at: number }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code: code ?? signal ?? 'unknown', at: Date.now() })),
  );
  const exited = ended.then((e) => e.code);
  return {
    child,
    output: () => out,
    exited,
    ended,
    async waitForOutput(re, timeoutMs = 20_000) {
      const start = Date.now();
      while (!re.test(out)) {
        if (child.exitCode !== null) throw new Error(`process exited (${child.exitCode}) before ${re}:\n${out}`);
        if (Date.now() - start > timeoutMs) throw new Error(`no ${re} within ${timeoutMs} ms:\n${out}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      return out;
    },
  };
}

/** POSTs JSON to a running netsync (a child process started with runCli), with a bearer token if given. */
export async function post(url: string, body: unknown, token?: string) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}
