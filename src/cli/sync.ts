import type { Command } from 'commander';
import { migrate, openDb } from '../platform/db.js';
import { requestMigrations } from '../request/db/migrations.js';
import type { RequestDatabase } from '../request/db/schema.js';
import { readSyncStatus, type SyncStatus } from '../request/sync/sync-status.js';
import { action, cliConfig, jsonOption, print, table } from './shared.js';

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

/**
 * `netsync sync status`, on a Request machine: what GET /sync/status shows, read straight from the
 * Request database and the exchange folder, so it works while the API is down and needs no token.
 */
async function status(opts: { json?: boolean }): Promise<number> {
  const config = cliConfig();
  const db = await openDb<RequestDatabase>(config.requestDatabaseUrl);
  try {
    await migrate(db, requestMigrations);
    const report = await readSyncStatus(db.kysely, config.exchangeDir, config.exportIntervalS);
    const rows = Object.entries(report.streams).map(([stream, s]) => ({ stream, ...s }));
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
            ['APPLIED AT', (r) => r.last_applied_at],
          ],
          '(the importer has not run yet)',
        ) + freshnessLines(report),
    );
    return 0;
  } finally {
    await db.close();
  }
}

export function registerSync(program: Command): void {
  program
    .command('sync')
    .description('the exchange as the Request side sees it')
    .command('status')
    .description('per stream: newest applied, newest in the exchange folder, how far behind, refused files')
    .addOption(jsonOption())
    .action(action(status));
}
