import type { Command } from 'commander';
import { migrate, openDb } from '../platform/db.js';
import { responseMigrations } from '../response/db/migrations.js';
import type { ResponseDatabase } from '../response/db/schema.js';
import { currentGeneration, newestGenerationIn, replaceGeneration } from '../response/generation.js';
import { action, CliError, cliConfig, jsonOption, print } from './shared.js';

/**
 * `netsync generation`, on the Response side: the Response database's generation id, which every exchange
 * file carries. After restoring the database from a backup (or rebuilding it), `generation new` gives it
 * a new one, so Request sides re-base on its snapshots instead of skipping its repeated sequence numbers
 * as already applied. (The exporter also makes one itself when it finds its own files ahead of its
 * counters; doing it by hand right after a restore closes the window before its next export.)
 */
async function withResponseDb<T>(
  fn: (db: Awaited<ReturnType<typeof openDb<ResponseDatabase>>>, exchangeDir: string) => Promise<T>,
) {
  const config = cliConfig();
  const db = await openDb<ResponseDatabase>(config.responseDatabaseUrl);
  try {
    await migrate(db, responseMigrations(db.dialect));
    return await fn(db, config.exchangeDir);
  } finally {
    await db.close();
  }
}

async function show(opts: { json?: boolean }): Promise<number> {
  return withResponseDb(async (db) => {
    const g = await currentGeneration(db.kysely);
    const report = { generation: g.generation, created_at: g.created_at, snapshots_written_at: g.snapshots_at };
    print(opts.json, report, () =>
      [
        `generation  ${g.generation}`,
        `made        ${g.created_at}`,
        `snapshots   ${g.snapshots_at ?? 'not yet written: the next export writes them before any batch'}`,
        '',
      ].join('\n'),
    );
    return 0;
  });
}

async function renew(opts: { json?: boolean }): Promise<number> {
  return withResponseDb(async (db, exchangeDir) => {
    const before = await currentGeneration(db.kysely);
    // Newer than any the folder shows too: a Request side may follow a generation made after the backup.
    const made = await replaceGeneration(db.kysely, before.generation, await newestGenerationIn(exchangeDir));
    if (made === undefined)
      throw new CliError('the generation changed while this ran (an exporter made one): run it again');
    print(opts.json, { generation: made, previous_generation: before.generation }, () =>
      [
        `new generation  ${made}`,
        `was             ${before.generation}`,
        '',
        "The next export writes every stream's snapshot before any batch; Request sides re-base on them.",
        'Run one now with `netsync run export_users` (or wait for the schedule).',
        '',
      ].join('\n'),
    );
    return 0;
  });
}

export function registerGeneration(program: Command): void {
  const generation = program
    .command('generation')
    .description("the Response database's generation id, which every exchange file carries");
  generation
    .command('show')
    .description('print the generation this Response database writes')
    .addOption(jsonOption())
    .action(action(show));
  generation
    .command('new')
    .description('after restoring the Response database from a backup: give it a new generation')
    .addOption(jsonOption())
    .action(action(renew));
}
