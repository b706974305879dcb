import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { responseMigrations } from '../../src/response/db/migrations.js';
import { ROOT } from '../helpers/cli.js';

/**
 * Runs migrate() on `file` in a child process, as `netsync response worker` does at start. The child
 * loads and opens the database, says "ready", and migrates once `go` exists, so that several children
 * migrate at the same moment rather than whenever their module loading happens to finish.
 */
function migrateInChild(file: string, go: string) {
  const script = `
    import fs from 'node:fs';
    import { migrate, openDb } from ${JSON.stringify(path.join(ROOT, 'src/platform/db.ts'))};
    import { responseMigrations } from ${JSON.stringify(path.join(ROOT, 'src/response/db/migrations.ts'))};
    const db = await openDb(${JSON.stringify(`sqlite:${file}`)});
    process.stdout.write('ready\\n');
    while (!fs.existsSync(${JSON.stringify(go)})) await new Promise((r) => setTimeout(r, 1));
    await migrate(db, responseMigrations('sqlite'));
    await db.close();
  `;
  const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), '--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const ready = new Promise<void>((resolve) => {
    child.stdout.on('data', (d) => {
      output += d;
      if (output.includes('ready')) resolve();
    });
  });
  child.stderr.on('data', (d) => {
    output += d;
  });
  const exited = new Promise<{ code: number | null; output: string }>((resolve) =>
    child.on('exit', (code) => resolve({ code, output })),
  );
  return { ready: Promise.race([ready, exited]), exited };
}

describe('migrate on SQLite', () => {
  let dir: string;
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  // Several workers started together (systemd, a deploy script, the bench) all migrate one new file.
  it('succeeds in every one of several processes starting on a new database at once', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'netsync-migrate-'));
    const file = path.join(dir, 'response.sqlite');
    const go = path.join(dir, 'go');
    const children = Array.from({ length: 6 }, () => migrateInChild(file, go));
    await Promise.all(children.map((c) => c.ready));
    fs.writeFileSync(go, '');
    const runs = await Promise.all(children.map((c) => c.exited));
    for (const run of runs) expect(run, run.output).toMatchObject({ code: 0 });
    const db = new SQLite(file, { readonly: true });
    const ran = db.prepare('select name from kysely_migration order by name').all() as { name: string }[];
    db.close();
    expect(ran.map((r) => r.name)).toEqual(Object.keys(responseMigrations('sqlite')).sort());
  }, 60_000);
});
