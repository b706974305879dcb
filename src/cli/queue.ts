import readline from 'node:readline/promises';
import type { Command } from 'commander';
import {
  action,
  CliError,
  cliConfig,
  jsonOption,
  type Network,
  type NetworkOpts,
  networkOption,
  print,
  rowsPerNetwork,
  type Target,
  table,
  withTargets,
} from './shared.js';

type Opts = NetworkOpts;

/** `LLEN celery`, for every state a job can be in. */
async function length(opts: Opts): Promise<number> {
  const rows = await rowsPerNetwork(opts.network, async (t) => {
    const out = [];
    const c = await t.queue.getJobCounts('waiting', 'prioritized', 'active', 'delayed', 'failed', 'completed');
    out.push({
      network: t.network,
      queue: t.queue.name,
      // Prioritised jobs wait too; BullMQ only keeps them in a list of their own.
      waiting: (c.waiting ?? 0) + (c.prioritized ?? 0),
      active: c.active ?? 0,
      delayed: c.delayed ?? 0,
      failed: c.failed ?? 0,
      completed: c.completed ?? 0,
    });
    return out;
  });
  print(opts.json, rows, () =>
    table(rows, [
      ['NETWORK', (r) => r.network],
      ['QUEUE', (r) => r.queue],
      ['WAITING', (r) => r.waiting],
      ['ACTIVE', (r) => r.active],
      ['DELAYED', (r) => r.delayed],
      ['FAILED', (r) => r.failed],
      ['COMPLETED', (r) => r.completed],
    ]),
  );
  return 0;
}

type Kind = 'waiting' | 'failed';

interface PurgeOpts extends Opts {
  failed?: boolean;
  waiting?: boolean;
  yes?: boolean;
}

async function count(t: Target, kind: Kind): Promise<number> {
  const c = await t.queue.getJobCounts('waiting', 'prioritized', 'failed');
  if (kind === 'failed') return c.failed ?? 0;
  // A schedule's next run may be waiting too, but purge keeps it (BullMQ never cleans a scheduler's job).
  let schedulerJobs = 0;
  for (const s of await t.queue.getJobSchedulers(0, -1)) {
    if ((await t.queue.getJobState(`repeat:${s.key}:${s.next}`)) === 'waiting') schedulerJobs++;
  }
  return Math.max(0, (c.waiting ?? 0) + (c.prioritized ?? 0) - schedulerJobs);
}

async function remove(t: Target, kind: Kind): Promise<string[]> {
  if (kind === 'failed') return t.queue.clean(0, 0, 'failed');
  return [...(await t.queue.clean(0, 0, 'wait')), ...(await t.queue.clean(0, 0, 'prioritized'))];
}

const jobs = (n: number, kind: Kind) => `${n} ${kind} job${n === 1 ? '' : 's'}`;

async function confirm(question: string): Promise<boolean> {
  const rl = readline.createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim());
  } finally {
    rl.close();
  }
}

/**
 * The seed's `DEL celery`: removes waiting jobs (the default) and/or failed ones. Running jobs, delayed
 * retries and the schedule are kept. Asks first on a terminal; elsewhere it needs --yes.
 */
async function purge(opts: PurgeOpts): Promise<number> {
  const kinds: Kind[] = [];
  if (opts.waiting || !opts.failed) kinds.push('waiting');
  if (opts.failed) kinds.push('failed');
  return withTargets(cliConfig(), opts.network, async (targets) => {
    const plan: { t: Target; kind: Kind; n: number }[] = [];
    for (const t of targets) for (const kind of kinds) plan.push({ t, kind, n: await count(t, kind) });
    const total = plan.reduce((sum, p) => sum + p.n, 0);
    const what = plan.map((p) => `${jobs(p.n, p.kind)} in ${p.t.network}`).join(', ');
    if (total > 0 && !opts.yes) {
      if (!process.stdin.isTTY) {
        throw new CliError(`not removing ${what} without confirmation: pass --yes (stdin is not a terminal)`);
      }
      if (!(await confirm(`Remove ${what}?`))) {
        process.stderr.write('Nothing removed.\n');
        return 1;
      }
    }
    const removed: { network: Network; queue: string; state: Kind; removed: number; task_ids: string[] }[] = [];
    for (const p of plan) {
      const ids = total > 0 ? await remove(p.t, p.kind) : [];
      removed.push({ network: p.t.network, queue: p.t.queue.name, state: p.kind, removed: ids.length, task_ids: ids });
    }
    print(opts.json, removed, () =>
      total === 0
        ? `Nothing to purge: no ${kinds.join(' or ')} jobs.\n`
        : `${removed.map((r) => `Removed ${jobs(r.removed, r.state)} from the ${r.network} queue.`).join('\n')}\n`,
    );
    return 0;
  });
}

export function registerQueue(program: Command): void {
  const queue = program.command('queue').description('queue lengths and purging (LLEN celery / DEL celery)');
  queue
    .command('length')
    .description('waiting / active / delayed / failed / completed counts per queue')
    .addOption(networkOption())
    .addOption(jsonOption())
    .action(action(length));
  queue
    .command('purge')
    .description('remove waiting jobs (default) or failed ones; running jobs and the schedule stay')
    .option('--waiting', 'remove jobs waiting to run (the default)')
    .option('--failed', 'remove failed jobs (their results and errors)')
    .option('--yes', 'do not ask for confirmation (needed when not on a terminal)')
    .addOption(networkOption())
    .addOption(jsonOption())
    .action(action(purge));
}
