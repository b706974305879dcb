import type { Command } from 'commander';
import { maskedConfig } from '../platform/config.js';
import { pingRedis } from '../platform/redis.js';
import { IMPORT_TASK, requestSchedule } from '../request/jobs/registry.js';
import { RESPONSE_TASKS, responseSchedule } from '../response/jobs/registry.js';
import { action, cliConfig, jsonOption, maskSecrets, NETWORKS, print, table } from './shared.js';

/**
 * The seed's debug_celery.py: the resolved configuration (secrets masked), where Redis is and whether it
 * answers, the tasks each worker runs and the schedule each beat registers.
 */
async function config(opts: { json?: boolean }): Promise<number> {
  const c = cliConfig();
  const masked = maskSecrets(maskedConfig(c)) as Record<string, unknown>;
  const redisUrl = { response: masked.responseRedisUrl, request: masked.requestRedisUrl };
  const reachable = {
    response: await pingRedis(c.responseRedisUrl, 1000),
    request: c.requestRedisUrl === c.responseRedisUrl ? undefined : await pingRedis(c.requestRedisUrl, 1000),
  };
  const redis = NETWORKS.map((network) => ({
    network,
    url: redisUrl[network],
    queue: `${c.queuePrefix}:${network}`,
    reachable: reachable[network] ?? reachable.response,
  }));
  const schedule = [
    ...responseSchedule(c.exportIntervalS).map((e) => ({ network: 'response', ...e })),
    ...requestSchedule(c.importIntervalS).map((e) => ({ network: 'request', ...e })),
  ].map((e) => ({ network: e.network, id: e.id, task: e.task, every_s: e.everyMs / 1000, args: e.data }));
  const tasks = { response: Object.keys(RESPONSE_TASKS), request: [IMPORT_TASK] };
  print(opts.json, { config: masked, redis, tasks, schedule }, () => {
    const settings = Object.entries(masked).map(([name, value]) => ({ name, value }));
    return [
      'netsync configuration (secrets masked)',
      '',
      '1. Broker and results (Redis)',
      table(redis, [
        ['NETWORK', (r) => r.network],
        ['URL', (r) => r.url, 80],
        ['QUEUE', (r) => r.queue],
        ['ANSWERS', (r) => (r.reachable ? 'yes' : 'NO')],
      ]),
      '2. Beat schedule',
      table(schedule, [
        ['NETWORK', (r) => r.network],
        ['ID', (r) => r.id],
        ['TASK', (r) => r.task],
        ['EVERY', (r) => `${r.every_s.toFixed(2)}s`],
        ['ARGS', (r) => r.args],
      ]),
      '3. Tasks',
      table(
        NETWORKS.map((network) => ({ network, names: tasks[network].join(', ') })),
        [
          ['NETWORK', (r) => r.network],
          ['TASKS', (r) => r.names, 100],
        ],
      ),
      '4. Settings',
      table(settings, [
        ['NAME', (r) => r.name],
        ['VALUE', (r) => r.value, 100],
      ]),
    ].join('\n');
  });
  return 0;
}

export function registerConfig(program: Command): void {
  program
    .command('config')
    .description('the resolved configuration (secrets masked) and the schedule (debug_celery.py)')
    .addOption(jsonOption())
    .action(action(config));
}
