import { type Command, Option } from 'commander';
import { migrate, openDb } from '../platform/db.js';
import { AUDIT_ACTIONS, AUDIT_TARGET_TYPES } from '../response/audit/audit.schemas.js';
import { readAudit } from '../response/audit/audit.service.js';
import { responseMigrations } from '../response/db/migrations.js';
import type { ResponseDatabase } from '../response/db/schema.js';
import { action, CliError, cliConfig, jsonOption, print, table } from './shared.js';

interface Opts {
  actor?: string;
  targetType?: string;
  targetId?: string;
  action?: string;
  since?: string;
  until?: string;
  limit: string;
  offset: string;
  json?: boolean;
}

function whole(name: string, text: string, min: number, max: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new CliError(`${name} must be a whole number from ${min} to ${max}, got "${text}"`);
  return n;
}

/** A time the operator typed (`2026-12-01`, `2026-12-01T08:00:00+03:30`), as ISO-8601 UTC. */
function time(name: string, text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  const t = new Date(text);
  if (Number.isNaN(t.getTime()))
    throw new CliError(`${name} must be a date or time such as 2026-12-01T08:00:00Z, got "${text}"`);
  return t.toISOString();
}

/**
 * `netsync audit`: the Response side's audit trail, what GET /audit answers, read straight from the
 * Response database: it works while the API is down and needs no token.
 */
async function audit(opts: Opts): Promise<number> {
  const config = cliConfig();
  const limit = whole('--limit', opts.limit, 1, 1000);
  const page = { limit, offset: whole('--offset', opts.offset, 0, Number.MAX_SAFE_INTEGER) };
  const filter = {
    actor: opts.actor,
    target_type: opts.targetType,
    target_id: opts.targetId,
    action: opts.action,
    since: time('--since', opts.since),
    until: time('--until', opts.until),
  };
  const db = await openDb<ResponseDatabase>(config.responseDatabaseUrl);
  try {
    await migrate(db, responseMigrations(db.dialect));
    const rows = (await readAudit(db.kysely, filter, page)).slice(0, limit);
    print(opts.json, rows, () =>
      table(
        rows,
        [
          ['AT', (r) => r.at],
          ['ACTOR', (r) => r.actor_username],
          ['ACTION', (r) => r.action],
          ['TARGET', (r) => (r.target_id === null ? r.target_type : `${r.target_type} ${r.target_id}`), 80],
          ['DETAILS', (r) => r.details, 80],
          ['IP', (r) => r.ip],
          ['REQUEST ID', (r) => r.request_id],
        ],
        '(no audit rows match)',
      ),
    );
    return 0;
  } finally {
    await db.close();
  }
}

export function registerAudit(program: Command): void {
  program
    .command('audit')
    .description('Response side: who changed what, when and from where (newest first), read from the Response database')
    .option('--actor <id-or-username>', 'only what this user did')
    .addOption(new Option('--target-type <type>', 'only rows about this kind of thing').choices(AUDIT_TARGET_TYPES))
    .option('--target-id <id>', 'only rows about this user or profile type id, setting key or task name')
    .addOption(new Option('--action <action>', 'only this action').choices(AUDIT_ACTIONS))
    .option('--since <time>', 'only rows at or after this time (e.g. 2026-12-01 or 2026-12-01T08:00:00Z)')
    .option('--until <time>', 'only rows before this time')
    .option('--limit <n>', 'at most this many rows (1-1000)', '100')
    .option('--offset <n>', 'skip this many rows first', '0')
    .addOption(jsonOption())
    .action(action(audit));
}
