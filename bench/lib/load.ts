import autocannon from 'autocannon';

export interface LoadResult {
  /** Successful (2xx) answers per second over the whole run. */
  readonly rps: number;
  readonly p50_ms: number;
  readonly p99_ms: number;
  readonly max_ms: number;
  readonly ok: number;
  /** Non-2xx answers, socket errors and timeouts: a healthy run has none. */
  readonly failed: number;
}

/**
 * `connections` keep-alive connections sending requests back to back for `durationS` seconds
 * (autocannon, in this process). `paths` are cycled through per connection.
 */
export async function load(opts: {
  url: string;
  paths: readonly string[];
  token?: string;
  connections: number;
  durationS: number;
}): Promise<LoadResult> {
  const headers: Record<string, string> = opts.token ? { authorization: `Bearer ${opts.token}` } : {};
  const r = await autocannon({
    url: opts.url,
    connections: opts.connections,
    duration: opts.durationS,
    headers,
    requests: opts.paths.map((path) => ({ method: 'GET', path, headers })),
    timeout: 10,
  });
  return {
    rps: r['2xx'] / r.duration,
    p50_ms: r.latency.p50,
    p99_ms: r.latency.p99,
    max_ms: r.latency.max,
    ok: r['2xx'],
    failed: r.non2xx + r.errors + r.timeouts,
  };
}
