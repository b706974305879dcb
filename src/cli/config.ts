import fs from 'node:fs';
import type { Command } from 'commander';
import { type Config, maskedConfig } from '../platform/config.js';
import { pingRedis } from '../platform/redis.js';
import { secretsFile } from '../platform/secrets.js';
import { IMPORT_TASK, requestSchedule } from '../request/tasks/registry.js';
import { RESPONSE_TASKS, responseSchedule } from '../response/tasks/registry.js';
import { action, cliConfig, jsonOption, maskSecrets, NETWORKS, print, table } from './shared.js';

const KEPT = ['adminPassword', 'exchangeSigningKey', 'responseJwtSecret', 'requestJwtSecret'] as const;

/**
 * Where each secret the environment does not set comes from: the file `netsync up` keeps them in, or
 * nowhere yet. Only the names are read from the file, never printed values; the trusted keys are public.
 */
function secretSources(c: Config): Record<string, string> {
  const file = secretsFile(c.dataDir);
  let kept: Record<string, unknown> = {};
  try {
    kept = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch {}
  const sources: Record<string, string> = {};
  for (const name of KEPT) {
    if (c[name] !== undefined) continue;
    sources[name] = typeof kept[name] === 'string' ? `*** (kept in ${file})` : '(not set)';
  }
  const trusted = kept.exchangeTrustedKeys;
  if (c.exchangeTrustedKeys === undefined) {
    sources.exchangeTrustedKeys = typeof trusted === 'string' ? `${trusted} (kept in ${file})` : '(not set)';
  }
  if (c.adminUsername === undefined) sources.adminUsername = 'admin (the default)';
  return sources;
}

/**
 * The seed's debug_celery.py: the resolved configuration (secrets masked), where Redis is and whether it
 * answers, the tasks each worker runs and the schedule each beat registers.
 */
async function config(opts: { json?: boolean }): Promise<number> {
  const c = cliConfig();
  const shown = maskedConfig(c);
  const masked: Record<string, unknown> = {
    ...(maskSecrets(shown) as Record<string, unknown>),
    // Public keys under a secret-sounding name: shown, so an operator can check a rotation.
    exchangeTrustedKeys: shown.exchangeTrustedKeys,
    ...secretSources(c),
  };
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
          ['TASKS', (r) => r.names, 200],
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
