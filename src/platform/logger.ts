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

/** One logger per process; children carry the component, request id and task id. Pretty on a TTY. */
export function createLogger(level: string, name = 'netsync'): Logger {
  const pretty = process.stdout.isTTY && process.env.NODE_ENV !== 'test';
  return pino({
    name,
    level,
    redact: { paths: REDACT, censor: '[redacted]' },
    ...(pretty
      ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } }
      : {}),
  });
}
