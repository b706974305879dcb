import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { Logger } from './logger.js';
import { within } from './within.js';

/**
 * One network's Prometheus metrics. Each network has its own registry (never prom-client's global one),
 * so `netsync up`, which runs both networks in one process, serves each network's numbers on its own
 * API. The API and the worker of a network share it when they run in one process; a worker in a process
 * of its own counts into a registry nobody scrapes, and its queue still shows in the API's queue depths.
 */
export class NetworkMetrics {
  readonly registry = new Registry();
  readonly httpRequests = new Counter({
    name: 'netsync_http_requests_total',
    help: 'HTTP requests answered, by method, route and status code',
    labelNames: ['method', 'route', 'status'],
    registers: [this.registry],
  });
  readonly httpDuration = new Histogram({
    name: 'netsync_http_request_duration_seconds',
    help: 'Time to answer an HTTP request, by method, route and status code',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly jobDuration = new Histogram({
    name: 'netsync_job_duration_seconds',
    help: 'Time one run of a task took in this process, by queue, task and outcome (success or failure)',
    labelNames: ['queue', 'task', 'outcome'],
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [this.registry],
  });
  readonly exchangeFiles = new Counter({
    name: 'netsync_exchange_files_total',
    help: 'Exchange files written (exported) or applied (imported) by the workers of this process, by stream',
    labelNames: ['direction', 'stream'],
    registers: [this.registry],
  });

  constructor(readonly network: string) {
    this.registry.setDefaultLabels({ network });
    collectDefaultMetrics({ register: this.registry });
  }

  /**
   * A gauge whose values are read when Prometheus scrapes. A reading that fails or takes longer than
   * `timeoutMs` (Redis or the database being down) leaves the gauge empty for that scrape instead of
   * holding the scrape up.
   */
  gaugeOnScrape<L extends string>(
    spec: { name: string; help: string; labelNames?: readonly L[] },
    read: (set: (labels: Partial<Record<L, string>>, value: number) => void) => Promise<void>,
    logger?: Logger,
    timeoutMs = 1000,
  ): void {
    // Building an app twice against one registry (tests do) replaces the earlier reader.
    this.registry.removeSingleMetric(spec.name);
    new Gauge<L>({
      name: spec.name,
      help: spec.help,
      labelNames: spec.labelNames ?? [],
      registers: [this.registry],
      async collect() {
        this.reset();
        const done = await within(
          read((labels, value) => this.set(labels, value)).then(() => true),
          timeoutMs,
        ).catch((err: Error) => {
          logger?.debug({ err: err.message, metric: spec.name }, 'metric not read');
          return false;
        });
        if (!done) this.reset();
      },
    });
  }
}

const byRuntime = new WeakMap<object, Map<string, NetworkMetrics>>();

/** The metrics of `network` in the process that owns `owner` (a Runtime): created on first use. */
export function networkMetrics(owner: object, network: string): NetworkMetrics {
  let perNetwork = byRuntime.get(owner);
  if (!perNetwork) {
    perNetwork = new Map();
    byRuntime.set(owner, perNetwork);
  }
  let metrics = perNetwork.get(network);
  if (!metrics) {
    metrics = new NetworkMetrics(network);
    perNetwork.set(network, metrics);
  }
  return metrics;
}

/** `<exchangeDir>/<stream>/<file>` → `<stream>`: the label the file counters use. */
export const streamOfPath = (file: string): string => file.split(/[\\/]/).at(-2) ?? 'unknown';
