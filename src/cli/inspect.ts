import type { Command } from 'commander';
import { isoFromMs } from '../platform/time.js';
import { readWorkerPresence } from '../platform/worker-presence.js';
import {
  action,
  jsonOption,
  maskSecrets,
  type NetworkOpts,
  networkOption,
  print,
  rowsPerNetwork,
  table,
} from './shared.js';

type Opts = NetworkOpts;

/** `celery inspect active`: the jobs running now. */
async function active(opts: Opts): Promise<number> {
  const rows = await rowsPerNetwork(opts.network, async (t) => {
    const out = [];
    for (const job of await t.queue.getActive()) {
      out.push({
        network: t.network,
        queue: t.queue.name,
        task_id: job.id ?? '',
        name: job.name,
        args: maskSecrets(job.data ?? {}),
        started_at: isoFromMs(job.processedOn),
        attempt: job.attemptsMade + 1,
        worker: job.processedBy ?? null,
      });
    }
    return out;
  });
  print(opts.json, rows, () =>
    table(
      rows,
      [
        ['NETWORK', (r) => r.network],
        ['TASK ID', (r) => r.task_id, 40],
        ['NAME', (r) => r.name],
        ['ARGS', (r) => r.args, 40],
        ['STARTED', (r) => r.started_at],
        ['WORKER', (r) => r.worker],
      ],
      '(no task is running)',
    ),
  );
  return 0;
}

/** The beat schedule as Redis holds it: every scheduler entry with its next run. */
async function scheduled(opts: Opts): Promise<number> {
  const rows = await rowsPerNetwork(opts.network, async (t) => {
    const out = [];
    for (const s of await t.queue.getJobSchedulers(0, -1, true)) {
      out.push({
        network: t.network,
        queue: t.queue.name,
        id: s.key,
        task: s.name,
        every_s: s.every === undefined ? null : s.every / 1000,
        cron: s.pattern ?? null,
        next_run: isoFromMs(s.next),
        runs: s.iterationCount ?? 0,
        args: maskSecrets(s.template?.data ?? {}),
      });
    }
    return out;
  });
  print(opts.json, rows, () =>
    table(
      rows,
      [
        ['NETWORK', (r) => r.network],
        ['ID', (r) => r.id],
        ['TASK', (r) => r.task],
        ['EVERY / CRON', (r) => (r.every_s === null ? r.cron : `${r.every_s}s`)],
        ['NEXT RUN', (r) => r.next_run],
        ['RUNS', (r) => r.runs],
      ],
      '(no schedule entry: is a beat running? netsync response beat / netsync request beat)',
    ),
  );
  return 0;
}

/** The live workers of each queue, as Redis sees their connections, with what each recorded of itself. */
async function workers(opts: Opts): Promise<number> {
  const rows = await rowsPerNetwork(opts.network, async (t) => {
    const out = [];
    const recorded = await readWorkerPresence(t.redis, t.prefix, t.queue.name);
    const seen = new Set<string>();
    for (const client of await t.queue.getWorkers()) {
      // BullMQ names a worker's connections "<prefix>:<base64 queue>:w:<worker name>".
      const raw = client.rawname ?? '';
      const at = raw.indexOf(':w:');
      const name = at < 0 ? raw : raw.slice(at + 3);
      if (seen.has(name)) continue;
      seen.add(name);
      const entry = recorded.get(name);
      const fromName = /@(.+):(\d+)$/.exec(name);
      out.push({
        network: t.network,
        queue: t.queue.name,
        worker: name,
        host: entry?.host ?? fromName?.[1] ?? null,
        pid: entry?.pid ?? (fromName?.[2] ? Number(fromName[2]) : null),
        concurrency: entry?.concurrency ?? null,
        started_at: entry?.started_at ?? null,
        address: client.addr ?? null,
      });
    }
    return out;
  });
  print(opts.json, rows, () =>
    table(
      rows,
      [
        ['NETWORK', (r) => r.network],
        ['QUEUE', (r) => r.queue],
        ['WORKER', (r) => r.worker],
        ['HOST', (r) => r.host],
        ['PID', (r) => r.pid],
        ['CONCURRENCY', (r) => r.concurrency],
        ['STARTED', (r) => r.started_at],
      ],
      '(no worker is connected: start one with netsync up, or netsync response worker / netsync request worker)',
    ),
  );
  return 0;
}

export function registerInspect(program: Command): void {
  const inspect = program.command('inspect').description('look into the running system (celery inspect)');
  inspect
    .command('active')
    .description('tasks running now: id, name, args (secrets masked), started at, worker')
    .addOption(networkOption())
    .addOption(jsonOption())
    .action(action(active));
  inspect
    .command('scheduled')
    .description('every schedule entry: id, task, interval or cron, next run')
    .addOption(networkOption())
    .addOption(jsonOption())
    .action(action(scheduled));
  inspect
    .command('workers')
    .description('live workers per queue, with host, pid and concurrency')
    .addOption(networkOption())
    .addOption(jsonOption())
    .action(action(workers));
}
