import type { Logger } from './logger.js';

/** Something started that must be stopped; stopped in reverse order of start. */
export interface Stoppable {
  readonly name: string;
  stop(): Promise<void>;
}

/**
 * Collects what a process starts and stops it in reverse order on SIGINT/SIGTERM, then exits 0.
 * A second signal exits at once with 130.
 */
export class Lifecycle {
  private readonly parts: Stoppable[] = [];
  private stopping: Promise<void> | undefined;

  constructor(
    private readonly logger: Logger,
    private readonly graceS = 10,
  ) {}

  add(part: Stoppable): void {
    this.parts.push(part);
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      for (const part of [...this.parts].reverse()) {
        try {
          await part.stop();
          this.logger.debug(`stopped ${part.name}`);
        } catch (err) {
          this.logger.warn({ err: (err as Error).message }, `stopping ${part.name} failed`);
        }
      }
    })();
    return this.stopping;
  }

  handleSignals(): void {
    let signalled = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (signalled) {
        this.logger.warn(`${signal} again: exiting now`);
        process.exit(130);
      }
      signalled = true;
      this.logger.info(`${signal}: stopping (jobs get ${this.graceS} s to finish; press Ctrl-C again to exit now)`);
      this.stop().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }
}
