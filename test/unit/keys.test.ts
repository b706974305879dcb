import { describe, expect, it } from 'vitest';
import {
  BadKey,
  generateSigningKey,
  PUBLIC_KEY_PREFIX,
  parsePublicKey,
  parseSigningKey,
  parseTrustedKeys,
  SIGNING_KEY_PREFIX,
  signText,
  verifyText,
} from '../../src/exchange/keys.js';

const thrown = (fn: () => unknown): Error => {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('did not throw');
};

describe('exchange keys', () => {
  it('generates a private key whose text and public half have distinct, compact forms', () => {
    const text = generateSigningKey();
    expect(text).toMatch(/^ed25519-private:[A-Za-z0-9_-]{43}$/);
    const key = parseSigningKey(text);
    expect(key.publicKey.text).toMatch(/^ed25519:[A-Za-z0-9_-]{43}$/);
    expect(key.id).toMatch(/^[0-9a-f]{16}$/);
    expect(key.publicKey.id).toBe(key.id);
    // The public text reads back as the same key; two generated keys differ.
    expect(parsePublicKey(key.publicKey.text).id).toBe(key.id);
    expect(parseSigningKey(generateSigningKey()).id).not.toBe(key.id);
    // Reading the same text twice gives the same key (what a restart does with a kept key).
    expect(parseSigningKey(text).publicKey.text).toBe(key.publicKey.text);
  });

  it('never shows the private key when a key object is logged or serialized', () => {
    const text = generateSigningKey();
    const key = parseSigningKey(text);
    const body = text.slice(SIGNING_KEY_PREFIX.length);
    expect(JSON.stringify(key)).not.toContain(body);
    expect(JSON.stringify({ config: key })).not.toContain(body);
  });

  it('signs so that only the same key pair verifies, and any change fails', () => {
    const key = parseSigningKey(generateSigningKey());
    const other = parseSigningKey(generateSigningKey());
    const sig = signText(key, '{"a":1}');
    expect(sig).toMatch(/^[A-Za-z0-9_-]{86}$/);
    expect(verifyText(key.publicKey, '{"a":1}', sig)).toBe(true);
    expect(verifyText(key.publicKey, '{"a":2}', sig)).toBe(false);
    expect(verifyText(other.publicKey, '{"a":1}', sig)).toBe(false);
    expect(verifyText(key.publicKey, '{"a":1}', sig.slice(0, 40))).toBe(false);
    // The last character carries 4 unused bits (A, Q, g or w): setting one decodes to the same bytes,
    // but the text changed, so it is refused too.
    const last = sig.at(-1) as string;
    expect('AQgw').toContain(last);
    const alias = `${sig.slice(0, -1)}${String.fromCharCode(last.charCodeAt(0) + 1)}`;
    expect(Buffer.from(alias, 'base64url')).toEqual(Buffer.from(sig, 'base64url'));
    expect(verifyText(key.publicKey, '{"a":1}', alias)).toBe(false);
  });

  it('refuses a private key where a public one belongs, and the other way round, without echoing it', () => {
    const text = generateSigningKey();
    const pub = parseSigningKey(text).publicKey.text;
    const asPublic = thrown(() => parsePublicKey(text));
    expect(asPublic).toBeInstanceOf(BadKey);
    expect(asPublic.message).toMatch(/is a private signing key .* where a public key .* belongs/);
    expect(asPublic.message).not.toContain(text.slice(SIGNING_KEY_PREFIX.length));
    const asPrivate = thrown(() => parseSigningKey(pub));
    expect(asPrivate.message).toMatch(
      /is a public key .* where the private signing key .* belongs.*netsync keys generate/,
    );
  });

  it.each([
    ['no prefix', 'AAAA', /is not a public key: expected ed25519:/],
    ['a short key', `${PUBLIC_KEY_PREFIX}AAAA`, /is cut or damaged: after "ed25519:" come 43 base64url/],
    ['bad characters', `${PUBLIC_KEY_PREFIX}${'+'.repeat(43)}`, /is cut or damaged/],
    ['a non-canonical ending', `${PUBLIC_KEY_PREFIX}${'A'.repeat(42)}B`, /is cut or damaged/],
  ])('refuses a public key with %s', (_what, text, message) => {
    expect(() => parsePublicKey(text)).toThrow(message);
  });

  it('reads a comma-separated trusted list (rotation), naming the entry that is wrong', () => {
    const a = parseSigningKey(generateSigningKey()).publicKey;
    const b = parseSigningKey(generateSigningKey()).publicKey;
    const two = parseTrustedKeys(` ${a.text} , ${b.text},`);
    expect(two.map((k) => k.id)).toEqual([a.id, b.id]);
    expect(parseTrustedKeys(`${a.text},${a.text}`)).toHaveLength(1);
    expect(() => parseTrustedKeys(' , ')).toThrow(/lists no key/);
    expect(() => parseTrustedKeys(`${a.text},${PUBLIC_KEY_PREFIX}xyz`)).toThrow(/^key 2 of 2 is cut or damaged/);
    expect(() => parseTrustedKeys(generateSigningKey())).toThrow(/^the key is a private signing key/);
    expect(() => parseTrustedKeys(`${a.text},${generateSigningKey()}`)).toThrow(
      /^key 2 of 2 is a private signing key .*netsync keys show/,
    );
  });
});
