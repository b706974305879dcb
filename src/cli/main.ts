#!/usr/bin/env node
import { Command } from 'commander';
import { startApiProcesses } from '../platform/api-processes.js';
import { createLogger } from '../platform/logger.js';
import { type Runtime, refuseSigningKey } from '../platform/runtime.js';
import { resolveSecrets } from '../platform/secrets.js';
import { Lifecycle } from '../platform/shutdown.js';
import { startRequestApi, startRequestBeat, startRequestWorker } from '../request/start.js';
import { startResponseApi, startResponseBeat, startResponseWorker } from '../response/start.js';
import { registerAudit } from './audit.js';
import { registerConfig } from './config.js';
import { registerGeneration } from './generation.js';
import { registerInspect } from './inspect.js';
import { registerKeys } from './keys.js';
import { registerQueue } from './queue.js';
import { registerResult } from './result.js';
import { registerRun } from './run.js';
import { cliConfig, reportFailure } from './shared.js';
import { registerSync } from './sync.js';
import { type Side, up } from './up.js';

/**
 * The configuration (with `.env`) and the secrets: what a long-lived part starts from. A part of one
 * side holds only that side's key; a Request part refuses a private key outright.
 */
function runtime(opts: { makeSigningKey: boolean; side?: Side }): Runtime {
  const config = cliConfig();
  if (opts.side === 'request') refuseSigningKey(config);
  const logger = createLogger(config.logLevel);
  const secrets = resolveSecrets(config, opts);
  return { config, secrets, logger, lifecycle: new Lifecycle(logger, config.shutdownGraceS) };
}

/** Runs a long-lived part until a signal; any start-up failure is one line and exit code 1 (2 for config). */
async function serve(
  start: (rt: Runtime) => Promise<unknown>,
  opts: { makeSigningKey: boolean; side?: Side },
): Promise<void> {
  let rt: Runtime | undefined;
  try {
    rt = runtime(opts);
    rt.lifecycle.handleSignals();
    await start(rt);
  } catch (err) {
    const code = reportFailure(err);
    await rt?.lifecycle.stop();
    process.exit(code);
  }
}

const program = new Command('netsync')
  .description('One-way sync from the Response Network to the isolated Request Network through an exchange folder')
  .showHelpAfterError();

program
  .command('up')
  .argument('[side]', 'only this side, for a machine of its own: response or request')
  .description('run both networks (APIs, workers, schedulers), or one side, and a local Redis if none answers')
  .action((side?: string) => {
    if (side === undefined) {
      // Both sides in one process, holding both halves of the key pair: exempt from refuseSigningKey.
      return serve(up, { makeSigningKey: true });
    }
    if (side !== 'response' && side !== 'request') {
      process.stderr.write(`netsync: up takes "response" or "request" (or nothing for both), not "${side}"\n`);
      process.exit(2);
    }
    // Only the Response side may make the key pair; the Request side alone must be given its keys.
    return serve((rt) => up(rt, side), { makeSigningKey: side === 'response', side });
  });

const side = (name: Side, parts: Record<'api' | 'worker' | 'beat', (rt: Runtime) => Promise<unknown>>) => {
  const cmd = program
    .command(name)
    .description(`run one part of the ${name === 'response' ? 'Response' : 'Request'} Network`);
  cmd
    .command('api')
    .description('the HTTP API (uvicorn in the seed)')
    .action(() => serve((rt) => startApiProcesses(rt, parts.api), { makeSigningKey: false, side: name }));
  cmd
    .command('worker')
    .description('the task worker (celery worker)')
    .action(() => serve(parts.worker, { makeSigningKey: false, side: name }));
  cmd
    .command('beat')
    .description('the scheduler (celery beat): registers the schedule entries')
    .action(() => serve(parts.beat, { makeSigningKey: false, side: name }));
};
side('response', { api: startResponseApi, worker: (rt) => startResponseWorker(rt), beat: startResponseBeat });
side('request', { api: startRequestApi, worker: (rt) => startRequestWorker(rt), beat: startRequestBeat });

// The operator's commands (the seed's LLEN celery, celery inspect, AsyncResult, debug_celery.py).
for (const register of [
  registerInspect,
  registerQueue,
  registerResult,
  registerConfig,
  registerRun,
  registerKeys,
  registerSync,
  registerGeneration,
  registerAudit,
]) {
  register(program);
}

await program.parseAsync();
