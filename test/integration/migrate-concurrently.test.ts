import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { responseMigrations } from '../../src/response/db/migrations.js';
import { ROOT } from '../helpers/cli.js';

const ROUNDS = 12;
const CHILDREN = 8;

/**
 * A child process that, for each round r, opens and migrates the new file `r<r>.sqlite` in `dir` as
 * `netsync response worker` does at start. It starts a round at the moment the parent writes into
 * `go<r>` (a few ms ahead), so all children open and migrate together, not whenever their module loading
 * happens to finish; the race being tested is a window of well under a millisecond.
 */
function child(dir: string) {
  const script = `
    import fs from 'node:fs';
    import { migrate, openDb } from ${JSON.stringify(path.join(ROOT, 'src/platform/db.ts'))};
    import { responseMigrations } from ${JSON.stringify(path.join(ROOT, 'src/response/db/migrations.ts'))};
    const dir = ${JSON.stringify(dir)};
    process.stdout.write('ready\\n');
    for (let r = 0; r < ${ROUNDS}; r++) {
      const go = dir + '/go' + r;
      while (!fs.existsSync(go)) await new Promise((resolve) => setTimeout(resolve, 2));
      const at = Number(fs.readFileSync(go, 'utf8'));
      while (Date.now() < at) {}
      const db = await openDb('sqlite:' + dir + '/r' + r + '.sqlite');
      await migrate(db, responseMigrations('sqlite'));
      await db.close();
      process.stdout.write('done ' + r + '\\n');
    }
  `;
  const proc = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), '--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  proc.stdout.on('data', (d) => {
    output += d;
  });
  proc.stderr.on('data', (d) => {
    output += d;
  });
  const exited = new Promise<{ code: number | null; output: string }>((resolve) =>
    proc.on('exit', (code) => resolve({ code, output })),
  );
  let code: number | null | undefined;
  void exited.then((e) => {
    code = e.code;
  });
  return { output: () => output, gone: () => code !== undefined, exited };
}

/**
 * Waits for every child to reach a point. Eight tsx start-ups on a loaded 2-core machine can take a
 * minute, so the deadline only catches a child that hangs.
 */
async function until(check: () => boolean): Promise<void> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > 120_000) throw new Error('children did not get there within 120 s');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('opening and migrating SQLite', () => {
  let dir: string;
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  // Several workers started together (systemd, a deploy script, the bench) all open one new file.
  it('succeeds in every one of several processes doing it on a new database at once', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'netsync-migrate-'));
    const children = Array.from({ length: CHILDREN }, () => child(dir));
    await until(() => children.every((c) => c.gone() || c.output().includes('ready')));
    for (let r = 0; r < ROUNDS; r++) {
      fs.writeFileSync(path.join(dir, `go${r}`), String(Date.now() + 20));
      await until(() => children.every((c) => c.gone() || c.output().includes(`done ${r}`)));
    }
    const runs = await Promise.all(children.map((c) => c.exited));
    for (const run of runs) expect(run, run.output).toMatchObject({ code: 0 });
    for (let r = 0; r < ROUNDS; r++) {
      const db = new SQLite(path.join(dir, `r${r}.sqlite`), { readonly: true });
      const ran = db.prepare('select name from kysely_migration order by name').all() as { name: string }[];
      db.close();
      expect(ran.map((m) => m.name)).toEqual(Object.keys(responseMigrations('sqlite')).sort());
    }
  }, 600_000);
});
