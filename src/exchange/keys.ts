import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
  verify,
} from 'node:crypto';

/**
 * The keys that sign exchange files: Ed25519, so the Request side verifies with a public key that cannot
 * sign. Their text forms are one short line each, made to be copied into an environment variable:
 *
 *   ed25519:<base64url of the raw 32-byte public key>            what a Request side trusts
 *   ed25519-private:<base64url of the raw 32-byte private seed>  what the Response side signs with
 *
 * The prefixes differ before the first colon, so neither parser ever takes one for the other, and each
 * says which half was given where the other belongs. A key id is the first 16 hex digits of SHA-256 of
 * the raw public key: it names the key in file headers and logs without being the key.
 */
export const PUBLIC_KEY_PREFIX = 'ed25519:';
export const SIGNING_KEY_PREFIX = 'ed25519-private:';

export interface PublicKey {
  /** 16 hex digits naming the key in headers and messages. */
  readonly id: string;
  /** `ed25519:…`, exactly what EXCHANGE_TRUSTED_KEYS takes. */
  readonly text: string;
  readonly key: KeyObject;
}

/**
 * A private key and its public half. It keeps no text form of the private key, and a KeyObject
 * serializes to `{}`, so logging one by mistake shows nothing secret.
 */
export interface SigningKey {
  readonly id: string;
  readonly publicKey: PublicKey;
  readonly key: KeyObject;
}

/** The public keys a Request side accepts files from: more than one while a signing key is rotated. */
export type TrustedKeys = readonly PublicKey[];

/** A key text that cannot be used; the message names what is wrong and never repeats the text. */
export class BadKey extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'BadKey';
  }
}

// DER framing of a raw Ed25519 key (RFC 8410), so the raw 32 bytes of the text forms can be imported.
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const RAW_BASE64URL = /^[A-Za-z0-9_-]{43}$/;

/** The 32 bytes a key text carries after its prefix, or why there are not. */
function rawBytes(text: string, prefix: string): Buffer {
  const body = text.slice(prefix.length);
  const raw = Buffer.from(body, 'base64url');
  // Buffer decoding skips bad characters; the round trip refuses them and non-canonical endings.
  if (!RAW_BASE64URL.test(body) || raw.length !== 32 || raw.toString('base64url') !== body) {
    throw new BadKey(`is cut or damaged: after "${prefix}" come 43 base64url characters (A-Z a-z 0-9 - _), 32 bytes`);
  }
  return raw;
}

const keyIdOf = (rawPublic: Buffer) => createHash('sha256').update(rawPublic).digest('hex').slice(0, 16);

/** A new private key, as text. Everything else about it is read with parseSigningKey. */
export function generateSigningKey(): string {
  const { privateKey } = generateKeyPairSync('ed25519');
  return `${SIGNING_KEY_PREFIX}${privateKey.export({ format: 'jwk' }).d as string}`;
}

export function parsePublicKey(text: string): PublicKey {
  const t = text.trim();
  if (t.startsWith(SIGNING_KEY_PREFIX)) {
    throw new BadKey(
      `is a private signing key (${SIGNING_KEY_PREFIX}…) where a public key (${PUBLIC_KEY_PREFIX}…) belongs: ` +
        'a Request side must hold only public keys; `netsync keys show` on the Response side prints the public one',
    );
  }
  if (!t.startsWith(PUBLIC_KEY_PREFIX)) {
    throw new BadKey(`is not a public key: expected ${PUBLIC_KEY_PREFIX}<43 base64url characters>`);
  }
  const raw = rawBytes(t, PUBLIC_KEY_PREFIX);
  const key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
  return Object.freeze({ id: keyIdOf(raw), text: t, key });
}

export function parseSigningKey(text: string): SigningKey {
  const t = text.trim();
  if (t.startsWith(PUBLIC_KEY_PREFIX)) {
    throw new BadKey(
      `is a public key (${PUBLIC_KEY_PREFIX}…) where the private signing key (${SIGNING_KEY_PREFIX}…) belongs: ` +
        'make a key pair with `netsync keys generate`',
    );
  }
  if (!t.startsWith(SIGNING_KEY_PREFIX)) {
    throw new BadKey(
      `is not a signing key: expected ${SIGNING_KEY_PREFIX}<43 base64url characters> (make one with \`netsync keys generate\`)`,
    );
  }
  const seed = rawBytes(t, SIGNING_KEY_PREFIX);
  const key = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
  const publicKey = parsePublicKey(`${PUBLIC_KEY_PREFIX}${createPublicKey(key).export({ format: 'jwk' }).x as string}`);
  return Object.freeze({ id: publicKey.id, publicKey, key });
}

/** A comma-separated list of public keys (whitespace around each ignored, duplicates dropped). */
export function parseTrustedKeys(list: string): TrustedKeys {
  const entries = list
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '');
  if (entries.length === 0)
    throw new BadKey(`lists no key: expected ${PUBLIC_KEY_PREFIX}<key>[,${PUBLIC_KEY_PREFIX}<key>…]`);
  const keys = new Map<string, PublicKey>();
  entries.forEach((entry, i) => {
    try {
      const key = parsePublicKey(entry);
      keys.set(key.id, key);
    } catch (err) {
      const which = entries.length === 1 ? 'the key' : `key ${i + 1} of ${entries.length}`;
      throw err instanceof BadKey ? new BadKey(`${which} ${err.message}`) : err;
    }
  });
  return Object.freeze([...keys.values()]);
}

/** The Ed25519 signature of `text`'s UTF-8 bytes, in base64url (86 characters). */
export const signText = (key: SigningKey, text: string): string =>
  sign(null, Buffer.from(text), key.key).toString('base64url');

export function verifyText(key: PublicKey, text: string, signature: string): boolean {
  const sig = Buffer.from(signature, 'base64url');
  // Only the canonical text of the signature: a changed unused bit of its last character is a change too.
  return sig.length === 64 && sig.toString('base64url') === signature && verify(null, Buffer.from(text), key.key, sig);
}
