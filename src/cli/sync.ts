import { type Command, Option } from 'commander';
import type { Config } from '../platform/config.js';
import { migrate, openDb } from '../platform/db.js';
import { signingKeyOf } from '../platform/secrets.js';
import { requestMigrations } from '../request/db/migrations.js';
import type { RequestDatabase } from '../request/db/schema.js';
import { readSyncStatus } from '../request/sync/sync-status.js';
import { responseMigrations } from '../response/db/migrations.js';
import type { ResponseDatabase } from '../response/db/schema.js';
import { readExportStatus } from '../response/export-status.js';
import { action, cliConfig, jsonOption, type Network, print, table } from './shared.js';

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
  const db = await openDb<RequestDatabase>(config.requestDatabaseUrl);
  try {
    await migrate(db, requestMigrations);
    const report = await readSyncStatus(db.kysely, config.exchangeDir);
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
            ['WAITING FOR', (r) => r.waiting_for],
            ['REFUSED', (r) => r.quarantine.count],
            ['LAST FILE', (r) => r.last_file],
            ['KEY ID', (r) => r.last_key_id],
            ['APPLIED AT', (r) => r.last_applied_at],
          ],
          '(the importer has not run yet)',
        ) + refusedTable(),
    );
    return 0;
  } finally {
    await db.close();
  }
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

export function registerSync(program: Command): void {
  program
    .command('sync')
    .description('the exchange as one side sees it')
    .command('status')
    .description(
      'Request side: per stream newest applied, newest in the exchange folder, lag, signing key, refused files; ' +
        'Response side: newest written, batches in the folder, pruned, snapshot, changes not exported yet',
    )
    .addOption(
      new Option(
        '--side <side>',
        'which side to report (default: response where a signing key is configured, else request)',
      ).choices(['response', 'request']),
    )
    .addOption(jsonOption())
    .action(action(status));
}
