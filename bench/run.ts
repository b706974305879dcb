/**
 * `npm run bench` (add `-- --quick` for a small version in under a minute): starts what it measures,
 * runs each case of issue 6, issue 10's case 6 (sync latency through an rsync mirror), and issue 13's
 * case 7 (list pages at a million rows), case 8 (a million users and settings, on SQLite and
 * PostgreSQL: ~15 min at full size on a loaded 2-core machine) and case 9 (logins under a burst of
 * failed ones), prints one table and writes bench/results/<date>.json.
 *
 *   --quick          small sizes and short loads (CI may run this; nothing depends on its numbers)
 *   --only=1,2,5     run only these cases
 *   --out=<file>     where to write the JSON (default bench/results/<date>[-quick].json)
 *
 * REDIS_URL (default redis://127.0.0.1:6379/0) is the Redis to use; every key the bench makes carries
 * its own prefix and is deleted afterwards. NETSYNC_BENCH_POSTGRES_URL (default
 * postgres://postgres@127.0.0.1:5432/test) is used, when it answers, for the floor's PostgreSQL commit,
 * case 2 run again on PostgreSQL and the PostgreSQL runs of cases 7 and 8 (in schemas of their own,
 * dropped afterwards).
 * BENCH_CPU_PROF=<dir> makes every netsync process write a V8 CPU profile there.
 * BENCH_KEEP_DIRS=1 keeps each case's temp folder (databases, exchange folder, every part's log); the path is logged.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { type ApiResult, restartApis, runApi } from './cases/api.js';
import { type FloorResult, runFloor } from './cases/floor.js';
import { type LatencyResult, runLatency } from './cases/latency.js';
import { type ListsResult, runLists } from './cases/lists.js';
import { type LoginAttackResult, runLoginAttack } from './cases/login-attack.js';
import { type MillionResult, runMillion } from './cases/million.js';
import { type MirrorLatencyResult, runMirrorLatency } from './cases/mirror-latency.js';
import { prepareSnapshotCluster, runSnapshot, type SnapshotResult } from './cases/snapshot.js';
import { runThroughput, type ThroughputResult } from './cases/throughput.js';
import { Cluster, ROOT, stopAllClusters } from './lib/cluster.js';
import { machineInfo } from './lib/machine.js';
import { round } from './lib/stats.js';
import { renderTable } from './lib/table.js';

const { values: args } = parseArgs({
  options: { quick: { type: 'boolean', default: false }, only: { type: 'string' }, out: { type: 'string' } },
});
const quick = args.quick ?? false;
const only = new Set((args.only ?? '1,2,3,4,5,6,7,8,9').split(',').map((s) => s.trim()));
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379/0';
const postgresUrl = process.env.NETSYNC_BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

// Mirror resets each wait for the next copy (half a second on average): fewer of them.
const SIZES = quick
  ? {
      resets: 20,
      mirrorResets: 10,
      changes: 5_000,
      settings: 10_000,
      users: 1_000,
      durationS: 2,
      listRows: 10_000,
      listSamples: 10,
      million: 20_000,
    }
  : {
      resets: 200,
      mirrorResets: 50,
      changes: 100_000,
      settings: 100_000,
      users: 10_000,
      durationS: 10,
      listRows: 1_000_000,
      listSamples: 100,
      million: 1_000_000,
    };
const CONNECTIONS = 50;
const WORKERS = [1, 4];

const results: {
  floor?: FloorResult;
  latency?: LatencyResult;
  mirror_latency?: MirrorLatencyResult;
  throughput: ThroughputResult[];
  snapshot?: SnapshotResult;
  api?: ApiResult[];
  lists?: ListsResult;
  million?: MillionResult[];
  login_attack?: LoginAttackResult;
} = { throughput: [] };
const errors: { case: string; error: string }[] = [];

const say = (s: string) => process.stderr.write(`bench: ${s}\n`);

async function step(name: string, run: () => Promise<void>): Promise<void> {
  const t = performance.now();
  say(`${name} ...`);
  try {
    await run();
    say(`${name} done in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  } catch (err) {
    say(`${name} FAILED: ${(err as Error).stack ?? err}`);
    errors.push({ case: name, error: (err as Error).message });
  }
}

let interrupted = false;
process.on('SIGINT', () => {
  if (interrupted) process.exit(130);
  interrupted = true;
  say('interrupted: stopping what the bench started (Ctrl-C again to exit at once)');
  stopAllClusters().finally(() => process.exit(130));
});

const started = new Date();
const machine = await machineInfo(redisUrl, postgresUrl);
say(
  `${machine.cpus} cores, ${machine.memory_gib} GiB, Node ${machine.node}, Redis ${machine.redis}, SQLite ${machine.sqlite}` +
    `, PostgreSQL ${machine.postgres ?? 'not reachable'}; load average ${machine.load_average.join(' ')}` +
    (quick ? '; quick run' : ''),
);

if (only.has('5')) {
  await step('5 floor', async () => {
    results.floor = await runFloor({
      redisUrl,
      postgresUrl,
      quick,
      connections: CONNECTIONS,
      durationS: SIZES.durationS,
    });
  });
}
if (only.has('1')) {
  await step('1 sync latency', async () => {
    results.latency = await runLatency({ redisUrl, resets: SIZES.resets });
  });
}
if (only.has('6')) {
  await step('6 sync latency through an rsync mirror', async () => {
    results.mirror_latency = await runMirrorLatency({ redisUrl, resets: SIZES.mirrorResets });
    if ('skipped' in results.mirror_latency) say(`6 skipped: ${results.mirror_latency.skipped}`);
  });
}
if (only.has('2')) {
  // SQLite, then PostgreSQL when one answers (a schema per network, dropped afterwards).
  for (const pg of machine.postgres ? [undefined, postgresUrl] : [undefined]) {
    for (const workers of WORKERS) {
      const db = pg ? 'PostgreSQL' : 'SQLite';
      await step(`2 throughput on ${db}, ${workers} worker${workers > 1 ? 's' : ''}`, async () => {
        // A fifth as many on PostgreSQL, whose commit takes several times SQLite's: a run of minutes, not tens.
        const changes = pg ? SIZES.changes / 5 : SIZES.changes;
        results.throughput.push(
          await runThroughput({ redisUrl, changes, workers, ...(pg ? { postgresUrl: pg } : {}) }),
        );
      });
    }
  }
}
if (only.has('3') || only.has('4')) {
  const cluster = await Cluster.create({ name: 'snapshot-api', redisUrl });
  try {
    let userIds: string[] = [];
    await step('3/4 set-up', async () => {
      ({ userIds } = await prepareSnapshotCluster(cluster, { settings: SIZES.settings, users: SIZES.users }));
    });
    await step('3 snapshot', async () => {
      results.snapshot = await runSnapshot(cluster, { settings: SIZES.settings });
    });
    if (only.has('4')) {
      await step('4 API reads', async () => {
        results.api = await runApi(cluster, {
          userIds,
          connections: CONNECTIONS,
          durationS: SIZES.durationS,
          processes: 1,
        });
      });
      await step('4 API reads, API_PROCESSES=2', async () => {
        await restartApis(cluster, 2);
        results.api?.push(
          ...(await runApi(cluster, { userIds, connections: CONNECTIONS, durationS: SIZES.durationS, processes: 2 })),
        );
      });
    }
  } finally {
    await cluster.stop();
  }
}

if (only.has('7')) {
  await step('7 lists', async () => {
    results.lists = await runLists({ redisUrl, postgresUrl, rows: SIZES.listRows, samples: SIZES.listSamples }, say);
  });
}

if (only.has('8')) {
  await step('8 a million users and settings', async () => {
    results.million = await runMillion({ redisUrl, postgresUrl, n: SIZES.million, say });
  });
}

if (only.has('9')) {
  await step('9 login under attack', async () => {
    results.login_attack = await runLoginAttack({
      redisUrl,
      burst: 1000,
      concurrency: quick ? 20 : 50,
      // Cheaper than the default 12, so the unbounded run ends in seconds; the ratios are what matter.
      bcryptCost: quick ? 6 : 8,
    });
  });
}

const loadAtEnd = os.loadavg().map((x) => Math.round(x * 100) / 100);
const table = renderReport();
process.stdout.write(`\n${table}\n`);
const file =
  args.out ?? path.join(ROOT, 'bench', 'results', `${started.toISOString().slice(0, 10)}${quick ? '-quick' : ''}.json`);
fs.mkdirSync(path.dirname(file), { recursive: true });
fs.writeFileSync(
  file,
  `${JSON.stringify(
    {
      started_at: started.toISOString(),
      seconds: round((Date.now() - started.getTime()) / 1000),
      quick,
      sizes: SIZES,
      machine,
      load_average_at_end: loadAtEnd,
      results,
      errors,
      table: table.split('\n'),
    },
    (_k, v) => (typeof v === 'number' ? round(v) : v),
    2,
  )}\n`,
);
say(`wrote ${path.relative(process.cwd(), file)}`);
process.exit(errors.length ? 1 : 0);

// ---------------------------------------------------------------------------------------------------------

function renderReport(): string {
  const n = (x: number, unit = '') => `${round(x).toLocaleString('en-US')}${unit}`;
  const ms = (x: number) => n(x, ' ms');
  const ratio = (x: number) => (Number.isFinite(x) ? `×${round(x).toLocaleString('en-US')}` : '');
  const verdict = (ok: boolean) => (ok ? 'met' : 'MISSED');
  const f = results.floor;
  const rows: string[][] = [];

  const l = results.latency;
  if (l) {
    const floorMs = f ? f.redis_rtt_ms.median + f.file_small_ms.median + f.sqlite_commit_ms.median : Number.NaN;
    rows.push([
      `1 sync latency, ${l.resets} resets one at a time`,
      `${n(l.sync_ms.median)} / ${n(l.sync_ms.p99)} / ${ms(l.sync_ms.max)}`,
      'median <100, p99 <500 ms',
      verdict(l.sync_ms.median < 100 && l.sync_ms.p99 < 500 && l.old_password_accepted === 0),
      f ? `${n(floorMs)} ms: Redis RTT + small batch file + SQLite commit` : '',
      ratio(l.sync_ms.median / floorMs),
    ]);
  }
  const m6 = results.mirror_latency;
  if (m6 && 'skipped' in m6) {
    rows.push(['6 sync latency through an rsync mirror', `skipped: ${m6.skipped}`, '', '', '', '']);
  } else if (m6) {
    // The loop alone makes a change wait for the next copy: half its interval on average.
    const floorMs = (m6.interval_s * 1000) / 2;
    rows.push([
      `6 sync latency through an rsync mirror (every ${m6.interval_s} s), ${m6.resets} resets`,
      `${n(m6.sync_ms.median)} / ${n(m6.sync_ms.p95)} / ${ms(m6.sync_ms.max)} (median / p95 / max)`,
      '',
      '',
      `${n(floorMs)} ms: half the copy loop's interval`,
      ratio(m6.sync_ms.median / floorMs),
    ]);
  }
  for (const t of results.throughput) {
    const pg = t.database === 'postgres';
    // Per change: its own commit, and 1/5,000 of a full batch file written durably.
    const commitMs = f ? (pg ? f.postgres_commit_ms?.median : f.sqlite_commit_ms.median) : undefined;
    const floorRate = f && commitMs !== undefined ? 1000 / (commitMs + f.file_batch_ms.median / 5000) : Number.NaN;
    // Issue 13: more worker processes must not carry less than one does, on the same database.
    const one = results.throughput.find((o) => o.database === t.database && o.workers === 1);
    const enough = t.workers === 1 || !one || t.changes_per_s >= one.changes_per_s;
    rows.push([
      `2 throughput on ${pg ? 'PostgreSQL' : 'SQLite'}, ${n(t.changes)} changes, ${t.workers} worker process${t.workers > 1 ? 'es' : ''}/side`,
      `${n(t.changes_per_s)}/s; lost ${t.lost}, out of order ${t.out_of_order}`,
      t.workers > 1 ? '≥ 1 worker process/side, 0 lost' : '0 lost',
      verdict(enough && t.lost === 0 && t.out_of_order === 0 && t.exported_minus_committed === 0),
      Number.isFinite(floorRate)
        ? `${n(floorRate)}/s: ${pg ? 'PostgreSQL' : 'SQLite'} commit + 1/5,000 batch file`
        : '',
      ratio(floorRate / t.changes_per_s),
    ]);
  }
  const s = results.snapshot;
  if (s) {
    const mb = (x: number) => `${n(x)} MB`;
    rows.push([
      `3 snapshot export, ${n(s.settings)} settings (${mb(s.bytes / 2 ** 20)})`,
      `${n(s.export_s)} s, peak RSS ${mb(s.export_peak_rss_mb)} (+${mb(s.export_peak_rss_mb - s.export_rss_before_mb)})`,
      '<2 s',
      verdict(s.export_s < 2),
      `${n(s.floor_export_s)} s: fsync'd write of the same bytes`,
      ratio(s.export_s / s.floor_export_s),
    ]);
    rows.push([
      `3 snapshot import, ${n(s.settings)} settings`,
      `${n(s.import_s)} s, peak RSS ${mb(s.import_peak_rss_mb)} (+${mb(s.import_peak_rss_mb - s.import_rss_before_mb)})`,
      '<2 s',
      verdict(s.import_s < 2),
      `${n(s.floor_import_s)} s: raw SQLite insert of the rows`,
      ratio(s.import_s / s.floor_import_s),
    ]);
  }
  for (const a of results.api ?? []) {
    // Issue 13: a share of what bare node:http serves in the same run (one process, 50 connections).
    const share = a.endpoint.startsWith('GET /settings') ? 0.15 : 0.4;
    rows.push([
      `4 ${a.endpoint}, ${a.network === 'response' ? 'Response' : 'Request'} API, API_PROCESSES=${a.processes ?? 1}`,
      `${n(a.result.rps)} req/s, p99 ${ms(a.result.p99_ms)}${a.result.failed ? `, ${a.result.failed} failed` : ''}` +
        (f ? ` (${n(a.result.rps / f.http_bare.rps)}× floor)` : ''),
      `≥${share}× floor`,
      f ? verdict(a.result.rps >= share * f.http_bare.rps && a.result.failed === 0) : '',
      f ? `${n(f.http_bare.rps)} req/s: bare node:http` : '',
      f ? ratio(f.http_bare.rps / a.result.rps) : '',
    ]);
  }
  const lists = results.lists;
  for (const p of lists?.pages ?? []) {
    const db = p.dialect === 'sqlite' ? 'SQLite' : 'PostgreSQL';
    rows.push([
      `7 GET /${p.list}, ${p.page} page, ${n(lists?.rows ?? 0)} rows, ${p.network === 'response' ? 'Response' : 'Request'} API, ${db}`,
      `p95 ${ms(p.ms.p95)} (median ${n(p.ms.median)}); ${n(p.cpu_ms_per_request)} ms CPU/request` +
        (p.full_reads.length ? `; plan: ${p.full_reads.join(', ')}` : ''),
      '<100 ms p95',
      verdict(p.ms.p95 < 100),
      '',
      '',
    ]);
  }
  for (const m of results.million ?? []) {
    const mb = (x: number) => `${n(x)} MB`;
    const at = `${n(m.n)} users + settings, ${m.dialect === 'sqlite' ? 'SQLite' : 'PostgreSQL'}`;
    rows.push([
      `8 scheduled run, nothing changed, ${at}`,
      `${n(m.unchanged_ms.median)} / ${ms(m.unchanged_ms.max)} (median / max)`,
      '<50 ms',
      verdict(m.unchanged_ms.max < 50),
      '',
      '',
    ]);
    rows.push([
      `8 full snapshot export, ${at} (${mb(m.bytes / 2 ** 20)})`,
      `${n(m.export_s)} s (CPU ${n(m.export_cpu_s)} s), peak RSS +${mb(m.export_rss_growth_mb)}`,
      '≤10× floor, ≤+100 MB',
      verdict(m.export_s <= 10 * m.floor_export_s && m.export_rss_growth_mb <= 100),
      `${n(m.floor_export_s)} s: fsync'd write of the same bytes`,
      ratio(m.export_s / m.floor_export_s),
    ]);
    rows.push([
      `8 snapshot import, ${at}`,
      `${n(m.import_s)} s (CPU ${n(m.import_cpu_s)} s), peak RSS +${mb(m.import_rss_growth_mb)}`,
      '≤3× floor, ≤+100 MB',
      verdict(m.import_s <= 3 * m.floor_import_s && m.import_rss_growth_mb <= 100),
      `${n(m.floor_import_s)} s: raw insert of the rows`,
      ratio(m.import_s / m.floor_import_s),
    ]);
    rows.push([
      `8 password change to the Request side, ${at}`,
      `${n(m.latency_big_ms.median)} / ${ms(m.latency_big_ms.p99)} (median / p99)`,
      'as with an empty DB',
      '',
      `${n(m.latency_empty_ms.median)} / ${ms(m.latency_empty_ms.p99)}: the same, empty DB`,
      ratio(m.latency_big_ms.median / m.latency_empty_ms.median),
    ]);
  }
  const la = results.login_attack;
  if (la) {
    const quiet = la.scenarios.find((x) => x.name === 'quiet');
    for (const sc of la.scenarios) {
      const burstText =
        sc.name === 'quiet'
          ? ''
          : `; burst ${n(sc.burst_s)} s: ${n(sc.verifications)} bcrypt (401), ${n(sc.throttled)} refused early (429)` +
            (sc.other ? `, ${sc.other} other` : '');
      rows.push([
        `9 login p50/p99 of a normal user, ${sc.name === 'quiet' ? 'no burst' : `${n(la.burst)} failed logins for one username from ${sc.name}`} (cost ${la.bcrypt_cost})`,
        `${n(sc.normal_ms.median)} / ${ms(sc.normal_ms.p99)} (n ${sc.normal_ms.n})${burstText}; API CPU ${n(sc.api_cpu_s)} s`,
        // The last scenario is the comparison: the per-username limit off, as before issue 13.
        sc.name === 'quiet' || sc.name.includes('=0') ? '' : '≤100 bcrypt (the per-username limit)',
        sc.name === 'quiet' || sc.name.includes('=0') ? '' : verdict(sc.verifications <= 100 && sc.other === 0),
        quiet && sc !== quiet ? `${n(quiet.normal_ms.p99)} ms: p99 with no burst` : '',
        quiet && sc !== quiet ? ratio(sc.normal_ms.p99 / quiet.normal_ms.p99) : '',
      ]);
    }
  }
  if (f) {
    const lat = (x: { median: number; p99: number }) => `${n(x.median)} / ${ms(x.p99)}`;
    rows.push(['5 floor: Redis round trip (PING)', lat(f.redis_rtt_ms), '', '', 'median / p99', '']);
    rows.push([
      `5 floor: fsync'd write + rename, ${n(f.file_small_ms.bytes / 1024)} KB batch`,
      lat(f.file_small_ms),
      '',
      '',
      'median / p99',
      '',
    ]);
    rows.push([
      `5 floor: fsync'd write + rename, ${n(f.file_batch_ms.bytes / 2 ** 20)} MB batch (5,000)`,
      lat(f.file_batch_ms),
      '',
      '',
      'median / p99',
      '',
    ]);
    rows.push([
      '5 floor: SQLite commit (WAL, synchronous=NORMAL)',
      lat(f.sqlite_commit_ms),
      '',
      '',
      'median / p99',
      '',
    ]);
    if (f.postgres_commit_ms)
      rows.push(['5 floor: PostgreSQL commit', lat(f.postgres_commit_ms), '', '', 'median / p99', '']);
    rows.push([
      `5 floor: bare node:http, ${CONNECTIONS} connections`,
      `${n(f.http_bare.rps)} req/s, p99 ${ms(f.http_bare.p99_ms)}`,
      '',
      '',
      '',
      '',
    ]);
  }
  for (const e of errors) rows.push([`${e.case}`, `FAILED: ${e.error.slice(0, 80)}`, '', '', '', '']);
  const header = ['case', 'result', 'target', '', 'floor', 'vs floor'];
  const m = machine;
  const notes: string[] = [];
  if (l) {
    notes.push(
      `1: the reset request itself took ${ms(l.reset_request_ms.median)} (median); one login attempt used to ` +
        `observe the sync ${ms(l.login_ms.median)}; old password accepted after the new one worked: ${l.old_password_accepted}`,
    );
  }
  if (m6 && !('skipped' in m6)) {
    notes.push(
      `6: the Response side writes A, the Request parts read B, \`${m6.copier}\` copies A onto B; ` +
        `the reset request itself took ${ms(m6.reset_request_ms.median)} (median)` +
        (l
          ? `; case 1's median / p95 / max for comparison ${n(l.sync_ms.median)} / ${n(l.sync_ms.p95)} / ${ms(l.sync_ms.max)}`
          : '') +
        `; old password accepted after the new one worked: ${m6.old_password_accepted}`,
    );
  }
  if (lists) {
    const fill = Object.entries(lists.fill_s)
      .map(([d, sec]) => `${d} ${n(sec)} s`)
      .join(', ');
    notes.push(
      `7: ${lists.samples} requests per page, one at a time, limit=100, admin token; rows put in by INSERT ... SELECT (${fill}); ` +
        `every plan an index range unless the row says otherwise` +
        (lists.postgres_skipped ? `; PostgreSQL skipped: ${lists.postgres_skipped}` : ''),
    );
  }
  for (const t of results.throughput) {
    const cpu = Object.entries(t.cpu_s)
      .filter(([, v]) => v >= 0.05)
      .map(([k, v]) => `${k} ${n(v)}`)
      .join(', ');
    // CPU per 100,000 changes: what the machine's other load changes least.
    const workerCpu = (t.cpu_s['response-worker'] ?? 0) + (t.cpu_s['request-worker'] ?? 0);
    notes.push(
      `2 (${t.database}, ${t.workers} worker${t.workers > 1 ? 's' : ''}): accepted ${n(t.accepted_per_s)}/s, drained ` +
        `${n(t.drain_s)} s after the last commit, ${n(t.batches)} batches, ${n(t.runs.response)} export and ` +
        `${n(t.runs.request)} import runs, ${n(t.redis_commands)} Redis commands; workers' CPU ` +
        `${n((workerCpu * 100_000) / t.changes)} s per 100,000 changes; CPU seconds: ${cpu}`,
    );
  }
  return (
    `netsync bench${quick ? ' (quick)' : ''}: ${m.cpus} cores, ${m.memory_gib} GiB, Node ${m.node}, Redis ${m.redis}, ` +
    `SQLite ${m.sqlite}${m.postgres ? `, PostgreSQL ${m.postgres}` : ''}; load average at start ${m.load_average.join(' ')}, ` +
    `at end ${loadAtEnd.join(' ')}\n\n` +
    renderTable(header, rows, new Set([5])) +
    (notes.length ? `\n\n${notes.join('\n')}` : '')
  );
}
