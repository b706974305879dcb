import { type ChildProcess, spawn, spawnSync } from 'node:child_process';

/** True when `rsync` runs here. */
export const hasRsync = (): boolean => spawnSync('rsync', ['--version'], { stdio: 'ignore' }).status === 0;

/** Copier loops still running, stopped at exit whatever ends the bench (an error, Ctrl-C). */
const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) killGroup(child, 'SIGKILL');
});

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    // The loop's shell leads its own process group: the shell, its `sleep` and a running rsync all go.
    if (child.pid) process.kill(-child.pid, signal);
  } catch {
    // Already gone.
  }
}

/**
 * The README's mirror recipe, run as an operator would: `rsync -a --delete-delay <from>/ <to>/`, then
 * sleep `intervalS`, for ever. Started in its own process group so that stopping it also stops the
 * `sleep` or rsync it is in.
 */
export function startRsyncLoop(
  from: string,
  to: string,
  intervalS: number,
): { readonly command: string; stop(): Promise<void> } {
  // What runs, for the results (the folders are the bench's temp ones, named A and B here).
  const command = `while :; do rsync -a --delete-delay A/ B/; sleep ${intervalS}; done`;
  const child = spawn(
    'sh',
    ['-c', 'while :; do rsync -a --delete-delay "$0/" "$1/"; sleep "$2"; done', from, to, String(intervalS)],
    {
      detached: true,
      stdio: 'ignore',
    },
  );
  running.add(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    command,
    async stop() {
      if (!running.delete(child)) return;
      killGroup(child, 'SIGTERM');
      const timer = setTimeout(() => killGroup(child, 'SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    },
  };
}
