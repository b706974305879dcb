import { AsyncLocalStorage } from 'node:async_hooks';
import pino, { type Logger } from 'pino';

export type { Logger };

/** Paths pino replaces with "[redacted]" wherever they appear: no secret reaches a log line. */
const REDACT = [
  'password',
  'new_password',
  'hashed_password',
  'access_token',
  '*.password',
  '*.new_password',
  '*.hashed_password',
  '*.access_token',
  'req.headers.authorization',
  'req.headers.cookie',
];

const context = new AsyncLocalStorage<Readonly<Record<string, unknown>>>();

/**
 * Runs `fn` with `fields` (a task's id and name) on every line logged while it runs, by any logger:
 * the importer and exporter log through their own loggers, and their lines still name the task.
 */
export const withLogContext = <T>(fields: Readonly<Record<string, unknown>>, fn: () => T): T => context.run(fields, fn);

/** One logger per process; children carry the component, request id and task id. Pretty on a TTY. */
export function createLogger(level: string, name = 'netsync'): Logger {
  const pretty = process.stdout.isTTY && process.env.NODE_ENV !== 'test';
  return pino({
    name,
    level,
    redact: { paths: REDACT, censor: '[redacted]' },
    // Fields a child logger already carries are left out, so no line names them twice.
    mixin(_merge, _level, logger) {
      const fields = context.getStore();
      if (!fields) return {};
      const bound = logger.bindings();
      return Object.fromEntries(Object.entries(fields).filter(([k]) => !(k in bound)));
    },
    ...(pretty
      ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } }
      : {}),
  });
}
