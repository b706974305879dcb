import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Config } from './config.js';

/**
 * Secrets generated once and kept under the data folder (owner-only), so a demo needs no set-up and a
 * restart keeps logins and tokens valid. A value set in the environment always wins and is never written.
 */
export interface Secrets {
  readonly adminUsername: string;
  readonly adminPassword: string;
  /** True when the admin password came from the kept file rather than ADMIN_PASSWORD. */
  readonly adminPasswordGenerated: boolean;
  readonly responseJwtSecret: string;
  readonly requestJwtSecret: string;
  /** Undefined when neither EXCHANGE_KEY nor a kept key exists: a side must then refuse to start. */
  readonly exchangeKey: string | undefined;
}

interface KeptSecrets {
  adminPassword?: string;
  responseJwtSecret?: string;
  requestJwtSecret?: string;
  exchangeKey?: string;
}

export const secretsFile = (dataDir: string) => path.join(dataDir, 'secrets.json');

function readKept(file: string): KeptSecrets {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as KeptSecrets;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new Error(`cannot read ${file}: ${(err as Error).message} (delete it to generate new secrets)`);
  }
}

function writeKept(file: string, kept: KeptSecrets): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(kept, null, 2)}\n`, { mode: 0o600 });
  fs.renameSync(tmp, file);
}

const token = () => randomBytes(32).toString('base64url');
/** Readable and strong: letters and digits only, with both guaranteed. */
const password = () => `Ns${randomBytes(12).toString('base64url').replace(/[-_]/g, 'x')}9`;

/**
 * @param makeExchangeKey only `netsync up` (the one-machine demo) may invent the exchange key; a side
 *   started alone must be given the key the other side uses.
 */
export function resolveSecrets(config: Config, opts: { makeExchangeKey: boolean }): Secrets {
  const file = secretsFile(config.dataDir);
  const kept = readKept(file);
  const before = JSON.stringify(kept);
  if (config.adminPassword === undefined) kept.adminPassword ??= password();
  if (config.responseJwtSecret === undefined) kept.responseJwtSecret ??= token();
  if (config.requestJwtSecret === undefined) kept.requestJwtSecret ??= token();
  if (config.exchangeKey === undefined && opts.makeExchangeKey) kept.exchangeKey ??= token();
  if (JSON.stringify(kept) !== before) writeKept(file, kept);
  return {
    adminUsername: config.adminUsername ?? 'admin',
    adminPassword: config.adminPassword ?? (kept.adminPassword as string),
    adminPasswordGenerated: config.adminPassword === undefined,
    responseJwtSecret: config.responseJwtSecret ?? (kept.responseJwtSecret as string),
    requestJwtSecret: config.requestJwtSecret ?? (kept.requestJwtSecret as string),
    exchangeKey: config.exchangeKey ?? kept.exchangeKey,
  };
}
