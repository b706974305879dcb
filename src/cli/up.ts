import fs from 'node:fs';
import path from 'node:path';
import { isLoopback, pingRedis, REDIS_MISSING, spawnRedis } from '../platform/redis.js';
import type { Runtime } from '../platform/runtime.js';
import { startRequestApi, startRequestBeat, startRequestWorker } from '../request/start.js';
import { startResponseApi, startResponseBeat, startResponseWorker } from '../response/start.js';

/** Makes sure each Redis URL answers, starting a local redis-server where none does. */
async function ensureRedis(rt: Runtime): Promise<void> {
  const urls = [...new Set([rt.config.responseRedisUrl, rt.config.requestRedisUrl])];
  for (const url of urls) {
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

/** `netsync up`: both networks, each with its API, worker and beat, in this one process. */
export async function up(rt: Runtime): Promise<void> {
  fs.mkdirSync(rt.config.dataDir, { recursive: true, mode: 0o700 });
  fs.mkdirSync(rt.config.exchangeDir, { recursive: true, mode: 0o700 });
  await ensureRedis(rt);
  // The Request side first, so its watcher is ready before the Response side writes anything.
  await startRequestWorker(rt);
  await startRequestBeat(rt);
  await startRequestApi(rt);
  await startResponseWorker(rt);
  await startResponseBeat(rt);
  await startResponseApi(rt);
  const { config: c, secrets: s } = rt;
  const base = (port: number) => `http://${c.host.includes(':') ? `[${c.host}]` : c.host}:${port}`;
  const lines = [
    '',
    'netsync is up. Press Ctrl-C to stop.',
    `  Response Network  ${base(c.responsePort)}   (API docs: ${base(c.responsePort)}/docs)`,
    `  Request Network   ${base(c.requestPort)}   (API docs: ${base(c.requestPort)}/docs)`,
    `  Admin login       username "${s.adminUsername}", password "${s.adminPassword}"` +
      (s.adminPasswordGenerated
        ? `  (generated; kept in ${path.join(c.dataDir, 'secrets.json')})`
        : '  (from ADMIN_PASSWORD)'),
    `  Exchange folder   ${c.exchangeDir}`,
    `  Data              ${c.dataDir}`,
    '',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}
