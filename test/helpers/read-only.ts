import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * In a private mount namespace, makes `$RO_DIR` a read-only bind mount of itself, then runs the rest of
 * the command line: the operating system, not netsync, refuses every write under it.
 */
export const READ_ONLY = [
  'unshare',
  '-m',
  'sh',
  '-c',
  'mount --bind "$RO_DIR" "$RO_DIR" && mount -o remount,ro,bind "$RO_DIR" && exec "$@"',
  'sh',
];

/** Why this machine cannot run the test (not root, no unshare, mounts not allowed), or undefined. */
export function readOnlyUnsupported(): string | undefined {
  if (process.getuid?.() !== 0) return 'not running as root';
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'netsync-ro-probe-'));
  try {
    const probe = spawnSync(READ_ONLY[0] as string, [...READ_ONLY.slice(1), 'touch', path.join(dir, 'probe')], {
      env: { PATH: process.env.PATH ?? '', RO_DIR: dir },
      encoding: 'utf8',
    });
    if (probe.error) return `cannot run unshare: ${probe.error.message}`;
    if (/Read-only file system/.test(probe.stderr)) return undefined;
    return `a read-only bind mount in a private mount namespace did not work: ${probe.stderr.trim() || probe.status}`;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
