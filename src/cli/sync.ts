import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { type Command, Option } from 'commander';
import type { Config } from '../platform/config.js';
import { type Db, migrate, openDb } from '../platform/db.js';
import { signingKeyOf } from '../platform/secrets.js';
import { requestMigrations } from '../request/db/migrations.js';
import type { RequestDatabase } from '../request/db/schema.js';
import { confirmHeld, type HeldFileRow, listHeldFiles } from '../request/importer/held-files.js';
import { readSyncStatus, type SyncStatus } from '../request/sync/sync-status.js';
import { IMPORT_TASK, type ImportTaskData } from '../request/tasks/registry.js';
import { responseMigrations } from '../response/db/migrations.js';
import type { ResponseDatabase } from '../response/db/schema.js';
import { readExportStatus } from '../response/export-status.js';
import { action, CliError, cliConfig, jsonOption, type Network, print, table, withTargets } from './shared.js';

/** The heartbeat and staleness, under the table: is the copy step delivering what was written? */
function freshnessLines(report: SyncStatus): string {
  const hb = report.heartbeat;
  const lines = [
    hb
      ? `heartbeat   ${report.heartbeat_status}: written ${hb.created_at} (${Math.round(hb.age_s)} s ago), generation ${hb.generation}`
      : `heartbeat   ${report.heartbeat_status}`,
  ];
  for (const reason of report.stale_reasons) lines.push(`STALE       ${reason}`);
  return `\n${lines.join('\n')}\n`;
}

/** Runs `fn` on the Request database, migrated: the commands here read it directly, API or not. */
async function withRequestDb<T>(config: Config, fn: (db: Db<RequestDatabase>) => Promise<T>): Promise<T> {
  const db = await openDb<RequestDatabase>(config.requestDatabaseUrl);
  try {
    await migrate(db, requestMigrations);
    return await fn(db);
  } finally {
    await db.close();
  }
}

/**
 * `netsync sync status`: the exchange as one side sees it, read straight from that side's database and
 * the exchange folder, so it works while the API is down and needs no token.
 *
 * Which side: `--side`, else the side this machine's configuration is for. A signing key
 * (EXCHANGE_SIGNING_KEY, or the one `netsync up` keeps under DATA_DIR) is held only by the Response side —
 * a Request part refuses to start with one — so it tells the sides apart without opening a database that
 * may not be there. On a laptop running both sides (`netsync up`) that is the Response side; `--side
 * request` shows the other.
 */
function sideOf(config: Config, asked: Network | undefined): Network {
  return asked ?? (signingKeyOf(config) ? 'response' : 'request');
}

async function status(opts: { json?: boolean; side?: Network }): Promise<number> {
  const config = cliConfig();
  return sideOf(config, opts.side) === 'response' ? responseStatus(config, opts) : requestStatus(config, opts);
}

/** The Request side: what GET /sync/status answers. */
async function requestStatus(config: Config, opts: { json?: boolean }): Promise<number> {
  return withRequestDb(config, async (db) => {
    const report = await readSyncStatus(db.kysely, config.exchangeDir, config.exportIntervalS);
    const rows = Object.entries(report.streams).map(([stream, s]) => ({ stream, ...s }));
    // The reasons too: the count alone says something is wrong, not what.
    const refused = rows.flatMap((r) => r.quarantine.recent.map((q) => ({ stream: r.stream, ...q })));
    const refusedTable = () =>
      refused.length === 0
        ? ''
        : `\n${table(refused, [
            ['REFUSED FILE (newest per stream)', (q) => q.file, 200],
            ['STREAM', (q) => q.stream],
            ['CODE', (q) => q.code],
            ['AT', (q) => q.quarantined_at],
            ['REASON', (q) => q.reason, 200],
          ])}`;
    print(
      opts.json,
      report,
      () =>
        table(
          rows,
          [
            ['STREAM', (r) => r.stream],
            ['APPLIED', (r) => r.last_seq],
            ['NEWEST', (r) => r.newest_seen],
            ['BEHIND', (r) => r.behind],
            ['LAG S', (r) => r.lag_seconds],
            [
              'WAITING FOR',
              (r) => r.waiting_for ?? (r.waiting_for_generation ? `snapshot of ${r.waiting_for_generation}` : null),
            ],
            ['REFUSED', (r) => r.quarantine.count],
            ['LAST FILE', (r) => r.last_file],
            ['KEY ID', (r) => r.last_key_id],
            ['APPLIED AT', (r) => r.last_applied_at],
          ],
          '(the importer has not run yet)',
        ) +
        freshnessLines(report) +
        refusedTable() +
        heldText(report.held),
    );
    return 0;
  });
}

/** The Response side: per stream, what it has written to the exchange folder, pruned, and not exported yet. */
async function responseStatus(config: Config, opts: { json?: boolean }): Promise<number> {
  const db = await openDb<ResponseDatabase>(config.responseDatabaseUrl);
  try {
    await migrate(db, responseMigrations(db.dialect));
    const report = await readExportStatus(db.kysely, config.exchangeDir);
    const rows = Object.entries(report.streams).map(([stream, s]) => ({ stream, ...s }));
    print(opts.json, report, () =>
      table(rows, [
        ['STREAM', (r) => r.stream],
        ['WRITTEN', (r) => r.newest_written_seq],
        ['IN FOLDER', (r) => r.batches_in_folder],
        ['OLDEST', (r) => r.oldest_in_folder_seq],
        ['PRUNED', (r) => r.pruned_count],
        ['PRUNED TO', (r) => r.newest_pruned_seq],
        ['SNAPSHOT', (r) => r.snapshot?.seq],
        ['SNAPSHOT AT', (r) => r.snapshot?.created_at],
        ['UNEXPORTED', (r) => r.unexported_rows],
        ['OLDEST UNEXPORTED S', (r) => r.oldest_unexported_age_seconds],
      ]),
    );
    return 0;
  } finally {
    await db.close();
  }
}

/** The held files under the streams table, with what to do about them; nothing when none is held. */
function heldText(
  held: readonly { file: string; removals: number; limit: number; since: string; confirmed_at: string | null }[],
) {
  if (held.length === 0) return '';
  const rows = table(held, [
    ['HELD FILE', (h) => h.file],
    ['REMOVALS', (h) => h.removals],
    ['LIMIT', (h) => h.limit],
    ['SINCE', (h) => h.since],
    ['CONFIRMED AT', (h) => h.confirmed_at],
  ]);
  return `\n${rows}Each would delete or deactivate more accounts than MAX_ACCOUNT_REMOVALS at once. If that is intended: netsync sync confirm <file>\n`;
}

/**
 * The held file the operator named: `<stream>/<name>` as `sync status` shows it, the bare name when only
 * one held file has it, or a path to the file in the exchange folder.
 */
function findHeld(held: readonly HeldFileRow[], named: string, exchangeDir: string): HeldFileRow[] {
  const inFolder = path.relative(exchangeDir, path.resolve(named));
  const wanted = inFolder.startsWith('..') || path.isAbsolute(inFolder) ? named : inFolder;
  const exact = held.filter((h) => `${h.stream}/${h.name}` === wanted);
  return exact.length > 0 ? exact : held.filter((h) => h.name === wanted);
}

/** Why `named` cannot be confirmed, and what to type instead. */
function noSuchHeld(named: string, held: readonly HeldFileRow[]): string {
  if (held.length === 0) {
    return (
      `netsync: no held file "${named}": nothing is held now (a held file that was applied, or replaced ` +
      'by one under the limit, is no longer held). See: netsync sync status\n'
    );
  }
  const names = held.map((h) => `${h.stream}/${h.name} (${h.removals} removals)`).join(', ');
  return `netsync: no single held file "${named}". Held now: ${names}. Name one as shown: netsync sync confirm ${held[0]?.stream}/${held[0]?.name}\n`;
}

/**
 * `netsync sync confirm <file>`: the operator confirms a file the safety valve holds; the next import
 * applies it (one is enqueued now when the Request Redis answers, else the scheduled one does).
 */
async function confirm(named: string, opts: { json?: boolean }): Promise<number> {
  const config = cliConfig();
  type Outcome = { missing: string } | { row: HeldFileRow; before: string | null };
  const confirmed = await withRequestDb(config, async (db): Promise<Outcome> => {
    const held = await listHeldFiles(db.kysely);
    const [match, ...others] = findHeld(held, named, config.exchangeDir);
    if (!match || others.length > 0) return { missing: noSuchHeld(named, held) };
    const row = await confirmHeld(db.kysely, match.stream, match.name);
    return row ? { row, before: match.confirmed_at } : { missing: noSuchHeld(named, await listHeldFiles(db.kysely)) };
  });
  if ('missing' in confirmed) {
    process.stderr.write(confirmed.missing);
    return 2;
  }
  const { row, before } = confirmed;
  const taskId = await enqueueImport(config);
  const file = `${row.stream}/${row.name}`;
  const summary = {
    file,
    stream: row.stream,
    seq: Number(row.seq),
    removals: Number(row.removals),
    limit: Number(row.max_removals),
    confirmed_at: row.confirmed_at,
    task_id: taskId ?? null,
  };
  print(opts.json, summary, () => {
    const again = before === null ? '' : ` (already confirmed at ${before})`;
    const next =
      taskId === undefined
        ? `No Redis answers for the Request side: the next scheduled import (every ${config.importIntervalS} s) applies it.\n`
        : `Sent ${IMPORT_TASK}[${taskId}] to the request queue: it applies the file now. Follow it with: netsync sync status\n`;
    return `Confirmed ${file}${again}: it deletes or deactivates ${summary.removals} accounts (limit ${summary.limit}).\n${next}`;
  });
  return 0;
}

/** Enqueues an import on the Request queue; undefined when its Redis does not answer. */
async function enqueueImport(config: Config): Promise<string | undefined> {
  try {
    return await withTargets(config, 'request', async ([target]) => {
      const taskId = randomUUID();
      await target?.queue.add(IMPORT_TASK, { trigger: 'manual' } satisfies ImportTaskData, { jobId: taskId });
      return taskId;
    });
  } catch (err) {
    if (err instanceof CliError) return undefined;
    throw err;
  }
}

export function registerSync(program: Command): void {
  const sync = program.command('sync').description('the exchange as one side sees it');
  sync
    .command('status')
    .description(
      'Request side: per stream newest applied, newest in the exchange folder, lag, signing key, refused files, ' +
        'held files; Response side: newest written, batches in the folder, pruned, snapshot, changes not exported yet',
    )
    .addOption(
      new Option(
        '--side <side>',
        'which side to report (default: response where a signing key is configured, else request)',
      ).choices(['response', 'request']),
    )
    .addOption(jsonOption())
    .action(action(status));
  sync
    .command('confirm')
    .argument('<file>', 'the held file as `netsync sync status` shows it, e.g. users/users_latest.json')
    .description(
      'Request side: apply a file the safety valve holds (it removes more accounts than MAX_ACCOUNT_REMOVALS)',
    )
    .addOption(jsonOption())
    .action(action(confirm));
}
