import fs from 'node:fs';
import path from 'node:path';
import { isLoopback, pingRedis, REDIS_MISSING, spawnRedis } from '../platform/redis.js';
import type { Runtime } from '../platform/runtime.js';
import { startRequestApi, startRequestBeat, startRequestWorker } from '../request/start.js';
import { startResponseApi, startResponseBeat, startResponseWorker } from '../response/start.js';

export type Side = 'response' | 'request';

/** Makes sure each Redis URL answers, starting a local redis-server where none does. */
async function ensureRedis(rt: Runtime, urls: readonly string[]): Promise<void> {
  for (const url of new Set(urls)) {
    if (await pingRedis(url)) continue;
    const where = new URL(url).host;
    if (!isLoopback(url)) throw new Error(`no Redis answers at ${where}: start it, or set REDIS_URL to one that runs`);
    const port = new URL(url).port || '6379';
    const redis = await spawnRedis(url, path.join(rt.config.dataDir, `redis-${port}`)).catch((err: Error) => {
      throw new Error(err.message === REDIS_MISSING ? REDIS_MISSING : `could not start redis-server: ${err.message}`);
    });
    rt.logger.info(`started redis-server on ${where} (data in ${path.join(rt.config.dataDir, `redis-${port}`)})`);
    rt.lifecycle.add({ name: `redis-server ${where}`, stop: () => redis.stop() });
  }
}

/**
 * `netsync up`: both networks, each with its API, worker and beat, in this one process (a laptop).
 * `netsync up response` or `netsync up request`: one side alone, for a machine of its own; it starts
 * only that side's Redis and never makes the other side's keys or folders.
 */
export async function up(rt: Runtime, side?: Side): Promise<void> {
  const { config: c, secrets: s } = rt;
  const runs = (which: Side) => side === undefined || side === which;
  if (c.apiProcesses > 1) {
    // `up` runs every part in this one process; several API processes are for `netsync <side> api`.
    rt.logger.warn(`API_PROCESSES=${c.apiProcesses} is ignored by netsync up: run "netsync <side> api" for that`);
  }
  fs.mkdirSync(c.dataDir, { recursive: true, mode: 0o700 });
  // The Response side writes the exchange folder; the Request side only reads it, wherever it comes from.
  if (runs('response')) fs.mkdirSync(c.exchangeDir, { recursive: true, mode: 0o700 });
  await ensureRedis(rt, [
    ...(runs('response') ? [c.responseRedisUrl] : []),
    ...(runs('request') ? [c.requestRedisUrl] : []),
  ]);
  // The Request side first, so its watcher is ready before the Response side writes anything.
  if (runs('request')) {
    await startRequestWorker(rt);
    await startRequestBeat(rt);
    await startRequestApi(rt);
  }
  if (runs('response')) {
    await startResponseWorker(rt);
    await startResponseBeat(rt);
    await startResponseApi(rt);
  }
  const base = (port: number) => `http://${c.host.includes(':') ? `[${c.host}]` : c.host}:${port}`;
  const signing = s.exchangeSigningKey;
  const lines = [
    '',
    `netsync${side ? ` ${side}` : ''} is up. Press Ctrl-C to stop.`,
    ...(runs('response')
      ? [`  Response Network  ${base(c.responsePort)}   (API docs: ${base(c.responsePort)}/docs)`]
      : []),
    ...(runs('request')
      ? [`  Request Network   ${base(c.requestPort)}   (API docs: ${base(c.requestPort)}/docs)`]
      : []),
    ...(runs('response')
      ? [
          `  Admin login       username "${s.adminUsername}", password "${s.adminPassword}"` +
            (s.adminPasswordGenerated
              ? `  (generated; kept in ${path.join(c.dataDir, 'secrets.json')})`
              : '  (from ADMIN_PASSWORD)'),
        ]
      : []),
    // A Request side alone needs this public key (EXCHANGE_TRUSTED_KEYS): print it where it is made.
    ...(side === 'response' && signing
      ? [`  Signing key id    ${signing.id}   (public key: ${signing.publicKey.text})`]
      : []),
    ...(side === 'request' ? [`  Trusted keys      ${(s.exchangeTrustedKeys ?? []).map((k) => k.id).join(', ')}`] : []),
    `  Exchange folder   ${c.exchangeDir}`,
    `  Data              ${c.dataDir}`,
    '',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}
