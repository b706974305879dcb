import fs from 'node:fs';
import type { Queue } from 'bullmq';
import { type Command, Option } from 'commander';
import { Redis } from 'ioredis';
import { type Config, ConfigError, loadConfig } from '../platform/config.js';
import { createQueue } from '../platform/queue.js';
import { pingRedis } from '../platform/redis.js';
import { REQUEST_QUEUE } from '../request/tasks/registry.js';
import { RESPONSE_QUEUE } from '../response/tasks/registry.js';

/** What the operator commands share: the CLI is the one place that knows both networks. */
export type Network = 'response' | 'request';
export const NETWORKS: readonly Network[] = ['response', 'request'];

/** An error the operator can act on: printed as one line, exit code 1. */
export class CliError extends Error {}

/** Reads `.env` when present (the environment wins), then the configuration. */
export function cliConfig(): Config {
  if (fs.existsSync('.env')) process.loadEnvFile('.env');
  return loadConfig();
}

export const networkOption = () =>
  new Option('--network <name>', 'only this network (default: both)').choices(NETWORKS as Network[]);
export const jsonOption = () => new Option('--json', 'print JSON for scripts instead of a table');

/** What a failed command prints (one line on stderr) and its exit code: 2 for configuration, else 1. */
export function reportFailure(err: unknown): number {
  const message = err instanceof ConfigError ? `configuration: ${err.message}` : (err as Error).message;
  process.stderr.write(`netsync: ${message}\n`);
  return err instanceof ConfigError ? 2 : 1;
}

/**
 * Runs an operator command: a failure is one line on stderr and exit code 2 (configuration) or 1.
 * Connections are closed by the commands themselves, so the process ends on its own.
 */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<number | undefined>) {
  return async (...args: A): Promise<void> => {
    try {
      process.exitCode = (await fn(...args)) ?? 0;
    } catch (err) {
      process.exitCode = reportFailure(err);
    }
  };
}

export interface Target {
  readonly network: Network;
  readonly queue: Queue;
  readonly redis: Redis;
  readonly prefix: string;
}

/**
 * Opens the queue of each chosen network (one connection per distinct Redis), runs `fn`, and closes
 * everything. Unlike the long-running parts, the CLI fails fast when Redis does not answer.
 */
export async function withTargets<T>(
  config: Config,
  network: Network | undefined,
  fn: (targets: Target[]) => Promise<T>,
): Promise<T> {
  const chosen = network ? [network] : NETWORKS;
  const urls: Record<Network, string> = { response: config.responseRedisUrl, request: config.requestRedisUrl };
  const queueName: Record<Network, string> = { response: RESPONSE_QUEUE, request: REQUEST_QUEUE };
  const connections = new Map<string, Redis>();
  const targets: Target[] = [];
  try {
    for (const n of chosen) {
      const url = urls[n];
      let redis = connections.get(url);
      if (!redis) {
        if (!(await pingRedis(url, 2000))) {
          const variable = n === 'response' ? 'RESPONSE_REDIS_URL' : 'REQUEST_REDIS_URL';
          throw new CliError(`no Redis answers at ${new URL(url).host} (${variable}, else REDIS_URL): is netsync up?`);
        }
        redis = new Redis(url, { maxRetriesPerRequest: 2, connectTimeout: 2000 });
        redis.on('error', () => undefined);
        connections.set(url, redis);
      }
      targets.push({
        network: n,
        queue: createQueue(queueName[n], config.queuePrefix, redis),
        redis,
        prefix: config.queuePrefix,
      });
    }
    return await fn(targets);
  } finally {
    for (const t of targets) await t.queue.close().catch(() => undefined);
    for (const r of connections.values()) r.disconnect();
  }
}

/** The options every per-network operator command takes. */
export interface NetworkOpts {
  network?: Network;
  json?: boolean;
}

/** Rows read from each chosen network's queue, one network after the other. */
export function rowsPerNetwork<R>(network: Network | undefined, read: (target: Target) => Promise<R[]>): Promise<R[]> {
  return withTargets(cliConfig(), network, async (targets) => {
    const rows: R[] = [];
    for (const t of targets) rows.push(...(await read(t)));
    return rows;
  });
}

const SECRET_NAME = /pass(word)?|hash|token|secret|key|authorization|cookie/i;

/** `value` with anything under a secret-sounding name (password, hash, token, key, ...) replaced by "***". */
export function maskSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(maskSecrets);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [k, SECRET_NAME.test(k) && v != null ? '***' : maskSecrets(v)]),
  );
}

/** Text for a table cell: "-" for nothing, JSON for objects, cut to `max` characters. */
function cell(value: unknown, max: number): string {
  let s: string;
  if (value === null || value === undefined || value === '') s = '-';
  else if (typeof value === 'object') s = JSON.stringify(value);
  else s = String(value);
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/** A plain aligned table, headers in capitals; `empty` is printed under the header when there are no rows. */
export function table<R>(
  rows: readonly R[],
  columns: readonly [header: string, get: (row: R) => unknown, max?: number][],
  empty = '(none)',
): string {
  const cells = rows.map((r) => columns.map(([, get, max]) => cell(get(r), max ?? 60)));
  const widths = columns.map(([h], i) => Math.max(h.length, ...cells.map((c) => (c[i] ?? '').length)));
  const line = (cs: readonly string[]) =>
    cs
      .map((c, i) => (i === cs.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  const out = [line(columns.map(([h]) => h)), ...cells.map(line)];
  if (rows.length === 0) out.push(empty);
  return `${out.join('\n')}\n`;
}

/** Prints `data` as JSON, or the rendered text. */
export function print(json: boolean | undefined, data: unknown, text: () => string): void {
  process.stdout.write(json ? `${JSON.stringify(data, null, 2)}\n` : text());
}

/** Registers the verb groups on the `netsync` program. */
export type Register = (program: Command) => void;
