import { ADMIN, type Cluster } from '../lib/cluster.js';
import { call, login } from '../lib/http.js';
import { type LoadResult, load } from '../lib/load.js';

/**
 * Case 4, API reads: each endpoint on each network under `connections` keep-alive connections for
 * `durationS` seconds (autocannon, run from this process). Runs against the processes and data of case
 * 3: 100,000 settings and 10,000 users on both sides. `GET /users/{id}` cycles through 100 users.
 */
export interface ApiResult {
  readonly endpoint: string;
  readonly network: 'response' | 'request';
  /** API_PROCESSES of the API measured. */
  readonly processes: number;
  readonly result: LoadResult;
}

export async function runApi(
  cluster: Cluster,
  opts: { userIds: readonly string[]; connections: number; durationS: number; processes: number },
): Promise<ApiResult[]> {
  const responseToken = await login(cluster.responseUrl, ADMIN.username, ADMIN.password);
  const requestToken = await login(cluster.requestUrl, ADMIN.username, ADMIN.password);
  const userPaths = opts.userIds.slice(0, 100).map((id) => `/users/${id}`);
  const runs: { endpoint: string; network: 'response' | 'request'; paths: string[] }[] = [
    { endpoint: 'GET /settings?limit=100', network: 'response', paths: ['/settings?limit=100'] },
    { endpoint: 'GET /settings?limit=100', network: 'request', paths: ['/settings?limit=100'] },
    { endpoint: 'GET /users/{id}', network: 'response', paths: userPaths },
    { endpoint: 'GET /users/{id}', network: 'request', paths: userPaths },
  ];
  const out: ApiResult[] = [];
  for (const run of runs) {
    const url = run.network === 'response' ? cluster.responseUrl : cluster.requestUrl;
    const token = run.network === 'response' ? responseToken : requestToken;
    // One request first: the answer must be a 200 of the right shape, or the load would measure errors.
    const probe = await call<unknown>(`${url}${run.paths[0]}`, { token });
    if (probe.status !== 200) throw new Error(`${run.endpoint} on ${run.network}: ${probe.status}`);
    if (run.endpoint.startsWith('GET /settings') && (probe.body as unknown[]).length !== 100) {
      throw new Error(`${run.endpoint} on ${run.network}: expected 100 settings`);
    }
    const result = await load({
      url,
      paths: run.paths,
      token,
      connections: opts.connections,
      durationS: opts.durationS,
    });
    out.push({ endpoint: run.endpoint, network: run.network, processes: opts.processes, result });
  }
  return out;
}

/** Restarts both networks' APIs of `cluster` with API_PROCESSES=`processes` (platform/api-processes.ts). */
export async function restartApis(cluster: Cluster, processes: number): Promise<void> {
  for (const side of ['response', 'request'] as const) {
    await Promise.all(cluster.procs.filter((p) => p.name.startsWith(`${side}-api`)).map((p) => p.stop()));
    const proc = await cluster.start(side, 'api', [], { API_PROCESSES: String(processes) });
    // /health answers once the first process listens: wait for all of them.
    if (processes > 1) await proc.waitForLog(/API serving from/);
  }
}
