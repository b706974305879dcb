import { randomUUID } from 'node:crypto';
import { hash } from '@node-rs/bcrypt';
import type { Redis } from 'ioredis';
import pino from 'pino';
import { type Db, openDb } from '../../src/platform/db.js';
import { createQueue } from '../../src/platform/queue.js';
import { redisConnection } from '../../src/platform/redis.js';
import type { RequestDatabase } from '../../src/request/db/schema.js';
import { REQUEST_QUEUE } from '../../src/request/tasks/registry.js';
import type { ResponseDatabase } from '../../src/response/db/schema.js';
import { queueEnqueuer } from '../../src/response/deps.js';
import { RESPONSE_QUEUE } from '../../src/response/tasks/registry.js';
import { changePassword } from '../../src/response/users/users.service.js';
import { Cluster, cpuSecondsOf, memoryOf, type Part, type Side, sleep, waitUntil } from '../lib/cluster.js';
import { seedUsers } from '../lib/seed.js';

/**
 * Case 2, sync throughput: `changes` password changes committed on the Response side as fast as it takes
 * them, until every one is applied on the Request side, with `workers` worker processes on each side.
 *
 * The load is what `POST /users/{id}/reset-password` does once the hash is made: changePassword (the change
 * and its outbox row in one transaction) and then the same enqueue of `sync_password_to_request_network`,
 * from this process, `LOADERS` at a time, each with an audit row naming an admin as the API's would. Hashes
 * are made ahead of time, so bcrypt is not measured.
 * `users` users get `changes / users` changes each, round by round; the hash of round r is HASHES[r], so
 * the Request side's (version, hash) pair shows whether any change was lost or applied out of order.
 */
export interface ThroughputResult {
  /** Where both networks keep their databases. */
  readonly database: 'sqlite' | 'postgres';
  readonly workers: number;
  readonly changes: number;
  readonly users: number;
  /** Changes per second, from the first commit to the last change applied on the Request side. */
  readonly changes_per_s: number;
  /** Commits per second the Response side accepted (the load's own rate). */
  readonly accepted_per_s: number;
  readonly seconds: number;
  /** From the last commit until everything was applied. */
  readonly drain_s: number;
  /** Users whose Request-side password is older than (or differs from) the Response side's newest. */
  readonly lost: number;
  /** Users whose hash does not belong to its version, or whose version was seen going down. */
  readonly out_of_order: number;
  /** Records in batch files minus changes committed: not 0 means a change was exported twice or never. */
  readonly exported_minus_committed: number;
  readonly batches: number;
  /** CPU seconds used during the run, per kind of process (summed over processes of that kind). */
  readonly cpu_s: Record<string, number>;
  readonly peak_rss_mb: Record<string, number>;
  /** Task runs (BullMQ jobs finished) per side during the run: how far coalescing held them down. */
  readonly runs: { response: number; request: number };
  /** Commands the Redis server ran during the run (INFO commandstats; other users of it count too). */
  readonly redis_commands: number;
}

const LOADERS = 16;
/** Who the load's audit rows name, as a reset through the API would (an admin, an address, a request id). */
const AUDIT = { actor: { id: randomUUID(), username: 'bench-admin' }, ip: '127.0.0.1' } as const;
const ROUNDS = 10;

export async function runThroughput(opts: {
  redisUrl: string;
  changes: number;
  workers: number;
  /** Both networks' databases on this PostgreSQL server (a schema each) instead of SQLite files. */
  postgresUrl?: string;
  /** Told when the measured load starts and when it is all applied (to cut a CPU profile to that window). */
  onWindow?: (edge: 'start' | 'end') => void;
}): Promise<ThroughputResult> {
  const users = Math.ceil(opts.changes / ROUNDS);
  const database = opts.postgresUrl ? 'postgres' : 'sqlite';
  const cluster = await Cluster.create({
    name: `throughput-${database}-${opts.workers}`,
    redisUrl: opts.redisUrl,
    ...(opts.postgresUrl ? { postgresUrl: opts.postgresUrl } : {}),
  });
  let respDb: Db<ResponseDatabase> | undefined;
  let reqDb: Db<RequestDatabase> | undefined;
  const redis = redisConnection(opts.redisUrl);
  const queue = createQueue(RESPONSE_QUEUE, cluster.prefix, redis);
  const requestQueue = createQueue(REQUEST_QUEUE, cluster.prefix, redis);
  const finished = async () => {
    const [resp, req] = await Promise.all(
      [queue, requestQueue].map(async (q) => {
        const c = await q.getJobCounts('completed', 'failed');
        return (c.completed ?? 0) + (c.failed ?? 0);
      }),
    );
    return { response: resp as number, request: req as number };
  };
  try {
    const parts: [Side, Part][] = [];
    for (let i = 0; i < opts.workers; i++) parts.push(['response', 'worker'], ['request', 'worker']);
    await cluster.startAll(parts);
    await cluster.startAll([
      ['response', 'beat'],
      ['request', 'beat'],
    ]);
    respDb = await openDb<ResponseDatabase>(cluster.responseDbUrl);
    reqDb = await openDb<RequestDatabase>(cluster.requestDbUrl);
    const resp = respDb.kysely;
    const req = reqDb.kysely;

    // Hashes made ahead of time: one per round, all different, so each version has its own.
    const HASHES = await Promise.all(Array.from({ length: ROUNDS + 1 }, (_, r) => hash(`Bench-round-${r}x`, 4)));
    const ids = await seedUsers(resp, users, HASHES[0] as string);
    await queue.add('export_users', {}, { jobId: 'seed-users' });
    await waitUntil(
      async () => {
        const r = await resp
          .selectFrom('export_streams')
          .select('last_seq')
          .where('stream', '=', 'users')
          .executeTakeFirstOrThrow();
        const q = await req
          .selectFrom('import_streams')
          .select('last_seq')
          .where('stream', '=', 'users')
          .executeTakeFirstOrThrow();
        const waiting = await resp
          .selectFrom('outbox')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('stream', '=', 'users')
          .where('batch_seq', 'is', null)
          .executeTakeFirstOrThrow();
        return Number(waiting.n) === 0 && r.last_seq > 0 && q.last_seq >= r.last_seq;
      },
      'the seeded users to sync',
      120_000,
      100,
    );
    await sleep(500); // let the workers go idle

    const cpuBefore = new Map(cluster.procs.map((p) => [p.name, cpuSecondsOf(p.pid)]));
    const redisCpuBefore = await redisCpuSeconds(redis);
    const redisCommandsBefore = await redisCommands(redis);
    const runsBefore = await finished();
    const benchCpuBefore = process.cpuUsage();
    const enqueue = queueEnqueuer(queue);
    const log = pino({ level: 'silent' });
    const seen = new Map<string, number>();
    let outOfOrder = 0;

    opts.onWindow?.('start');
    const started = performance.now();
    let loadedAt = 0;
    const loader = (async () => {
      for (let round = 1; round <= ROUNDS; round++) {
        const hashed = HASHES[round] as string;
        const first = (round - 1) * users;
        const last = Math.min(round * users, opts.changes);
        let next = first;
        const loop = async () => {
          while (next < last) {
            const i = next++;
            const id = ids[i - first] as string;
            const change = await changePassword(resp, id, hashed, {
              ...AUDIT,
              requestId: `bench-${round}-${i}`,
            });
            if (!change) throw new Error(`user ${id} vanished`);
            await enqueue('sync_password_to_request_network', { user_id: id }, log);
          }
        };
        await Promise.all(Array.from({ length: LOADERS }, loop));
      }
      loadedAt = performance.now();
    })();

    // Done when every change is committed, claimed, written and applied. Meanwhile sample users'
    // versions on the Request side: a version going down would be a change applied out of order.
    let loaderError: unknown;
    loader.catch((err) => {
      loaderError = err;
    });
    for (;;) {
      if (loaderError) throw loaderError;
      if (loadedAt > 0) {
        const r = await resp
          .selectFrom('export_streams')
          .select('last_seq')
          .where('stream', '=', 'password_changes')
          .executeTakeFirstOrThrow();
        const pending = await resp
          .selectFrom('outbox')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('stream', '=', 'password_changes')
          .where('batch_seq', 'is', null)
          .executeTakeFirstOrThrow();
        const unwritten = await resp
          .selectFrom('export_batches')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('stream', '=', 'password_changes')
          .where('written_at', 'is', null)
          .executeTakeFirstOrThrow();
        const q = await req
          .selectFrom('import_streams')
          .select('last_seq')
          .where('stream', '=', 'password_changes')
          .executeTakeFirstOrThrow();
        if (Number(pending.n) === 0 && Number(unwritten.n) === 0 && q.last_seq >= r.last_seq) break;
      }
      const sample = Array.from({ length: 50 }, () => ids[Math.floor(Math.random() * ids.length)] as string);
      const rows = await req
        .selectFrom('credentials')
        .select(['user_id', 'password_version'])
        .where('user_id', 'in', sample)
        .execute();
      for (const row of rows) {
        if ((seen.get(row.user_id) ?? 0) > row.password_version) outOfOrder++;
        seen.set(row.user_id, row.password_version);
      }
      if (performance.now() - started > 600_000) throw new Error('not all changes applied within 10 minutes');
      await sleep(20);
    }
    const appliedAt = performance.now();
    opts.onWindow?.('end');
    const redisCommandsRun = (await redisCommands(redis)) - redisCommandsBefore;
    const runsAfter = await finished();
    const benchCpu = process.cpuUsage(benchCpuBefore);

    // Verify every user, both sides.
    const want = await resp.selectFrom('users').select(['id', 'password_version', 'hashed_password']).execute();
    const have = new Map(
      (await req.selectFrom('credentials').select(['user_id', 'password_version', 'hashed_password']).execute()).map(
        (r) => [r.user_id, r],
      ),
    );
    const seeded = new Set(ids);
    let lost = 0;
    for (const w of want) {
      if (!seeded.has(w.id)) continue;
      const h = have.get(w.id);
      if (!h || h.password_version < w.password_version || h.hashed_password !== w.hashed_password) lost++;
    }
    for (const h of have.values()) {
      if (!seeded.has(h.user_id)) continue;
      if (h.hashed_password !== HASHES[h.password_version - 1]) outOfOrder++;
    }
    const exported = await resp
      .selectFrom('export_batches')
      .select([(eb) => eb.fn.sum<number>('count').as('records'), (eb) => eb.fn.countAll<number>().as('batches')])
      .where('stream', '=', 'password_changes')
      .executeTakeFirstOrThrow();

    const cpu: Record<string, number> = {
      bench_loader: (benchCpu.user + benchCpu.system) / 1e6,
      // The whole Redis server's: other users of the same Redis count too.
      redis_server: (await redisCpuSeconds(redis)) - redisCpuBefore,
    };
    const rss: Record<string, number> = {};
    for (const p of cluster.procs) {
      const kind = p.name.replace(/-\d+$/, '');
      cpu[kind] = (cpu[kind] ?? 0) + cpuSecondsOf(p.pid) - (cpuBefore.get(p.name) ?? 0);
      rss[kind] = Math.max(rss[kind] ?? 0, memoryOf(p.pid)?.peak_rss_mb ?? 0);
    }
    const seconds = (appliedAt - started) / 1000;
    return {
      database,
      workers: opts.workers,
      changes: opts.changes,
      users,
      changes_per_s: opts.changes / seconds,
      accepted_per_s: opts.changes / ((loadedAt - started) / 1000),
      seconds,
      drain_s: (appliedAt - loadedAt) / 1000,
      lost,
      out_of_order: outOfOrder,
      exported_minus_committed: Number(exported.records) - opts.changes,
      batches: Number(exported.batches),
      cpu_s: cpu,
      peak_rss_mb: rss,
      runs: { response: runsAfter.response - runsBefore.response, request: runsAfter.request - runsBefore.request },
      redis_commands: redisCommandsRun,
    };
  } finally {
    await queue.close().catch(() => undefined);
    await requestQueue.close().catch(() => undefined);
    redis.disconnect();
    await respDb?.close();
    await reqDb?.close();
    await cluster.stop();
  }
}

/** CPU seconds the Redis server has used (INFO cpu). */
async function redisCpuSeconds(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  const field = (name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1] ?? Number.NaN);
  return field('used_cpu_sys') + field('used_cpu_user');
}

/** Commands the Redis server has run since it started (INFO commandstats, summed). */
async function redisCommands(redis: Redis): Promise<number> {
  const info = await redis.info('commandstats');
  let n = 0;
  for (const m of info.matchAll(/^cmdstat_[^:]+:calls=(\d+)/gm)) n += Number(m[1]);
  return n;
}
