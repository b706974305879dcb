import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { pingRedis, type SpawnedRedis, spawnRedis } from '../../src/platform/redis.js';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
    /** A PostgreSQL URL when one answers; PostgreSQL suites are skipped (and say so) otherwise. */
    postgresUrl: string | undefined;
  }
}

let spawned: SpawnedRedis | undefined;

/**
 * Tests use a real Redis: NETSYNC_TEST_REDIS_URL, else the one on 127.0.0.1:6379, else a
 * redis-server started here on a free port. Each suite isolates itself with its own key prefix.
 */
export async function setup(project: TestProject): Promise<void> {
  let redisUrl = process.env.NETSYNC_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/0';
  if (!(await pingRedis(redisUrl))) {
    const port = 20000 + Math.floor(Math.random() * 20000);
    redisUrl = `redis://127.0.0.1:${port}/0`;
    spawned = await spawnRedis(redisUrl, fs.mkdtempSync(path.join(os.tmpdir(), 'netsync-test-redis-')));
    console.log(`[netsync tests] started redis-server on port ${port}`);
  }
  project.provide('redisUrl', redisUrl);

  const pgUrl = process.env.NETSYNC_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  let postgresUrl: string | undefined;
  const client = new pg.Client({ connectionString: pgUrl, connectionTimeoutMillis: 1000 });
  try {
    await client.connect();
    await client.query('select 1');
    postgresUrl = pgUrl;
  } catch {
    console.log(`[netsync tests] no PostgreSQL at ${pgUrl}: PostgreSQL suites are skipped`);
  } finally {
    await client.end().catch(() => undefined);
  }
  project.provide('postgresUrl', postgresUrl);
}

export async function teardown(): Promise<void> {
  await spawned?.stop();
}
