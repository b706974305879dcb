import type { Command } from 'commander';
import { type TaskInfo, taskInfo } from '../platform/task-state.js';
import { action, cliConfig, jsonOption, maskSecrets, type Network, networkOption, withTargets } from './shared.js';

export type FoundTask = TaskInfo & { network: Network };

/** Looks `id` up in each chosen network's queue. */
export async function findTask(targets: { network: Network; queue: import('bullmq').Queue }[], id: string) {
  for (const t of targets) {
    const info = await taskInfo(t.queue, id);
    if (info) return { network: t.network, ...info, result: maskSecrets(info.result) } as FoundTask;
  }
  return undefined;
}

/** A task as `AsyncResult` shows it: state, then the result or the error with its traceback. */
export function renderTask(t: FoundTask): string {
  const field = (name: string, value: unknown) =>
    `${name.padEnd(12)}${value === null || value === undefined ? '-' : typeof value === 'object' ? JSON.stringify(value) : String(value)}`;
  const lines = [
    field('task_id', t.task_id),
    field('name', t.name),
    field('network', t.network),
    field('state', t.state),
    field('attempts', t.attempts),
    field('created_at', t.created_at),
    field('started_at', t.started_at),
    field('finished_at', t.finished_at),
  ];
  if (t.state === 'SUCCESS') lines.push(field('result', t.result));
  if (t.error) lines.push(field('error', t.error));
  if (t.traceback) lines.push('traceback:', ...t.traceback.split('\n').map((l) => `  ${l}`));
  return `${lines.join('\n')}\n`;
}

export const NOT_FOUND =
  'unknown task id, or its result expired (results are kept 1 hour); a task not yet picked up shows as PENDING';

async function result(id: string, opts: { network?: Network; json?: boolean }): Promise<number> {
  const found = await withTargets(cliConfig(), opts.network, (targets) => findTask(targets, id));
  if (!found) {
    if (opts.json)
      process.stdout.write(`${JSON.stringify({ task_id: id, state: null, detail: NOT_FOUND }, null, 2)}\n`);
    process.stderr.write(`netsync: no task ${id}: ${NOT_FOUND}\n`);
    return 1;
  }
  process.stdout.write(opts.json ? `${JSON.stringify(found, null, 2)}\n` : renderTask(found));
  return 0;
}

export function registerResult(program: Command): void {
  program
    .command('result')
    .description("a task's state, and its result or error with the stack (AsyncResult)")
    .argument('<task-id>', 'the id `netsync run`, the API (sync_task_id) or `inspect active` gave')
    .addOption(networkOption())
    .addOption(jsonOption())
    .action(action(result));
}
