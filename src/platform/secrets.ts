import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {
  generateSigningKey,
  parseSigningKey,
  parseTrustedKeys,
  type SigningKey,
  type TrustedKeys,
} from '../exchange/keys.js';
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
  /**
   * What the Response worker signs with. Undefined in a Request part, and when neither
   * EXCHANGE_SIGNING_KEY nor a kept key exists: the Response worker then refuses to start.
   */
  readonly exchangeSigningKey: SigningKey | undefined;
  /**
   * What the Request worker accepts files from. Undefined in a Response part, and when neither
   * EXCHANGE_TRUSTED_KEYS nor a kept key exists: the Request worker then refuses to start.
   */
  readonly exchangeTrustedKeys: TrustedKeys | undefined;
}

interface KeptSecrets {
  adminPassword?: string;
  responseJwtSecret?: string;
  requestJwtSecret?: string;
  /** The private key `netsync up` made (`ed25519-private:…`). */
  exchangeSigningKey?: string;
  /** Its public half, kept apart so a Request part started alone here need not load the private key. */
  exchangeTrustedKeys?: string;
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

/** A key kept in the secrets file, parsed; a damaged one names the file and the entry. */
function keptKey<T>(file: string, kept: KeptSecrets, name: keyof KeptSecrets, parse: (t: string) => T): T | undefined {
  const text = kept[name];
  if (text === undefined) return undefined;
  try {
    return parse(text);
  } catch (err) {
    throw new Error(`cannot read ${file}: ${name} ${(err as Error).message} (delete it to generate new secrets)`);
  }
}

/**
 * The signing key this machine has (EXCHANGE_SIGNING_KEY, else the one `netsync up` keeps) and where it
 * comes from, or undefined. Makes nothing: what `netsync keys show` reads.
 */
export function signingKeyOf(config: Config): { key: SigningKey; from: string } | undefined {
  if (config.exchangeSigningKey) return { key: config.exchangeSigningKey, from: 'EXCHANGE_SIGNING_KEY' };
  const file = secretsFile(config.dataDir);
  const key = keptKey(file, readKept(file), 'exchangeSigningKey', parseSigningKey);
  return key && { key, from: file };
}

/**
 * @param opts.makeSigningKey only `netsync up` (the one-machine demo) may make the key pair, once: a
 *   side started alone must be given its keys, so it never signs with, or trusts, a key it invented.
 * @param opts.side the one side this process runs, which then holds only its own side's key: a Request
 *   part never loads a private key, even one kept here. Omitted: both sides in one process (`up`, tests).
 */
export function resolveSecrets(
  config: Config,
  opts: { makeSigningKey: boolean; side?: 'response' | 'request' },
): Secrets {
  const file = secretsFile(config.dataDir);
  const kept = readKept(file);
  const before = JSON.stringify(kept);
  if (config.adminPassword === undefined) kept.adminPassword ??= password();
  if (config.responseJwtSecret === undefined) kept.responseJwtSecret ??= token();
  if (config.requestJwtSecret === undefined) kept.requestJwtSecret ??= token();
  if (opts.makeSigningKey && config.exchangeSigningKey === undefined && kept.exchangeSigningKey === undefined) {
    kept.exchangeSigningKey = generateSigningKey();
    kept.exchangeTrustedKeys = parseSigningKey(kept.exchangeSigningKey).publicKey.text;
  }
  if (JSON.stringify(kept) !== before) writeKept(file, kept);
  const signing =
    opts.side === 'request'
      ? undefined
      : (config.exchangeSigningKey ?? keptKey(file, kept, 'exchangeSigningKey', parseSigningKey));
  // Both sides in one process trust the key they sign with, unless told otherwise; a Request part alone
  // in the folder where `up` ran trusts the public half `up` kept.
  let trusted = opts.side === 'response' ? undefined : config.exchangeTrustedKeys;
  if (opts.side === undefined) trusted ??= signing && [signing.publicKey];
  if (opts.side === 'request') trusted ??= keptKey(file, kept, 'exchangeTrustedKeys', parseTrustedKeys);
  return {
    adminUsername: config.adminUsername ?? 'admin',
    adminPassword: config.adminPassword ?? (kept.adminPassword as string),
    adminPasswordGenerated: config.adminPassword === undefined,
    responseJwtSecret: config.responseJwtSecret ?? (kept.responseJwtSecret as string),
    requestJwtSecret: config.requestJwtSecret ?? (kept.requestJwtSecret as string),
    exchangeSigningKey: signing,
    exchangeTrustedKeys: trusted,
  };
}
