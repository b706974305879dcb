import { randomUUID } from 'node:crypto';
import type { Command } from 'commander';
import { IMPORT_TASK, type ImportTaskData } from '../request/tasks/registry.js';
import { type ExportTaskData, RESPONSE_TASKS } from '../response/tasks/registry.js';
import { type FoundTask, findTask, renderTask } from './result.js';
import { action, CliError, cliConfig, jsonOption, type Network, withTargets } from './shared.js';

/** Every task an operator may run, with the arguments a manual run gets unless --data says otherwise. */
const TASKS: Record<string, { network: Network; data: object }> = {
  ...Object.fromEntries(
    Object.keys(RESPONSE_TASKS).map((name) => [
      name,
      // A manual export writes the snapshot too, even when nothing changed since the one in place.
      { network: 'response' as const, data: { snapshot: true, rewrite: true } satisfies ExportTaskData },
    ]),
  ),
  [IMPORT_TASK]: { network: 'request', data: { trigger: 'manual' } satisfies ImportTaskData },
};

interface Opts {
  wait?: boolean;
  timeout: string;
  data?: string;
  json?: boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `task.delay()`: enqueue now and print the id; with --wait, wait for the result as `AsyncResult.get()`. */
async function run(name: string, opts: Opts): Promise<number> {
  const spec = TASKS[name];
  if (!spec) throw new CliError(`no task named "${name}"; known tasks: ${Object.keys(TASKS).join(', ')}`);
  let data: object = spec.data;
  if (opts.data !== undefined) {
    try {
      data = JSON.parse(opts.data) as object;
    } catch (err) {
      throw new CliError(`--data is not JSON: ${(err as Error).message}`);
    }
  }
  const timeoutS = Number(opts.timeout);
  if (!Number.isFinite(timeoutS) || timeoutS <= 0) throw new CliError('--timeout must be a number of seconds');
  return withTargets(cliConfig(), spec.network, async ([target]) => {
    if (!target) throw new CliError(`no queue for ${spec.network}`);
    const taskId = randomUUID();
    await target.queue.add(name, data, { jobId: taskId });
    if (!opts.wait) {
      process.stdout.write(
        opts.json
          ? `${JSON.stringify({ task_id: taskId, name, network: spec.network }, null, 2)}\n`
          : `Sent ${name}[${taskId}] to the ${spec.network} queue.\nFollow it with: netsync result ${taskId}\n`,
      );
      return 0;
    }
    if (!opts.json) process.stderr.write(`Sent ${name}[${taskId}] to the ${spec.network} queue; waiting...\n`);
    const deadline = Date.now() + timeoutS * 1000;
    let info: FoundTask | undefined;
    for (;;) {
      info = await findTask([target], taskId);
      if (info?.state === 'SUCCESS' || info?.state === 'FAILURE') break;
      if (Date.now() > deadline) {
        const state = info?.state ?? 'PENDING';
        throw new CliError(
          `task ${taskId} still ${state} after ${timeoutS} s (is a worker running? see: netsync inspect workers)`,
        );
      }
      await sleep(100);
    }
    process.stdout.write(opts.json ? `${JSON.stringify(info, null, 2)}\n` : renderTask(info));
    return info.state === 'SUCCESS' ? 0 : 1;
  });
}

export function registerRun(program: Command): void {
  program
    .command('run')
    .description('enqueue a task now and print its id (task.delay() in the seed)')
    .argument('<task-name>', `one of: ${Object.keys(TASKS).join(', ')}`)
    .option('--wait', 'wait for the task to finish and print its result')
    .option('--timeout <seconds>', 'how long --wait waits', '60')
    .option('--data <json>', 'the task arguments as JSON (default: what the schedule passes)')
    .addOption(jsonOption())
    .action(action(run));
}
