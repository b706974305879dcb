import { describe, expect, it } from 'vitest';
import { generateSigningKey, parseSigningKey } from '../../src/exchange/keys.js';
import { ConfigError, loadConfig, maskedConfig } from '../../src/platform/config.js';

const PRIVATE = generateSigningKey();
const PUBLIC = parseSigningKey(PRIVATE).publicKey.text;

describe('configuration', () => {
  it('has the seed defaults', () => {
    const c = loadConfig({}, '/srv/netsync');
    expect(c.redisUrl).toBe('redis://127.0.0.1:6380/0');
    expect(c.responseRedisUrl).toBe(c.redisUrl);
    expect(c.requestRedisUrl).toBe(c.redisUrl);
    expect(c.dataDir).toBe('/srv/netsync/data');
    expect(c.exchangeDir).toBe('/srv/netsync/exports');
    // The Request side's own folder, outside the exchange folder (which it only reads).
    expect(c.quarantineDir).toBe('/srv/netsync/data/quarantine');
    expect(c.responseDatabaseUrl).toBe('sqlite:/srv/netsync/data/response.sqlite');
    expect(c.requestDatabaseUrl).toBe('sqlite:/srv/netsync/data/request.sqlite');
    expect([c.host, c.responsePort, c.requestPort]).toEqual(['127.0.0.1', 8000, 8001]);
    expect([c.exportIntervalS, c.importIntervalS, c.bcryptCost]).toEqual([60, 60, 12]);
    expect(c.exchangeRetentionS).toBe(7 * 24 * 3600);
    // Microsoft Entra Connect's accidental-delete threshold.
    expect(c.maxAccountRemovals).toBe(500);
    expect([c.loginMaxFailures, c.loginMaxFailuresPerClient]).toEqual([10, 50]);
    // Closed: no browser origin may read the APIs' answers, and no proxy's X-Forwarded-For is believed.
    expect([c.corsOrigins, c.trustProxy]).toEqual([[], []]);
    expect(c.tokenTtlS).toBe(3600);
    expect(c.auditRetentionDays).toBe(365);
    expect(Object.isFrozen(c)).toBe(true);
  });

  it.each([
    ['RESPONSE_PORT', 'eighty', /RESPONSE_PORT: must be a whole number from 0 to 65535/],
    ['REDIS_URL', 'localhost:6379', /REDIS_URL: must start with redis:\/\//],
    ['REQUEST_DATABASE_URL', 'mysql://x', /REQUEST_DATABASE_URL: must be sqlite:<file> or postgres:/],
    ['EXCHANGE_SIGNING_KEY', 'short', /^EXCHANGE_SIGNING_KEY: is not a signing key: .*netsync keys generate/],
    ['EXCHANGE_SIGNING_KEY', 'ed25519-private:AAAA', /^EXCHANGE_SIGNING_KEY: is cut or damaged/],
    ['EXCHANGE_SIGNING_KEY', PUBLIC, /^EXCHANGE_SIGNING_KEY: is a public key .*netsync keys generate/],
    ['EXCHANGE_TRUSTED_KEYS', 'short', /^EXCHANGE_TRUSTED_KEYS: the key is not a public key: expected ed25519:/],
    ['EXCHANGE_TRUSTED_KEYS', `${PUBLIC},ed25519:AAAA`, /^EXCHANGE_TRUSTED_KEYS: key 2 of 2 is cut or damaged/],
    ['EXCHANGE_TRUSTED_KEYS', PRIVATE, /^EXCHANGE_TRUSTED_KEYS: the key is a private signing key .*netsync keys show/],
    ['EXCHANGE_TRUSTED_KEYS', ',', /^EXCHANGE_TRUSTED_KEYS: lists no key/],
    ['IMPORT_INTERVAL_S', '0', /IMPORT_INTERVAL_S: must be a whole number from 1/],
    ['ADMIN_USERNAME', 'a b', /ADMIN_USERNAME: contains a space/],
    ['EXCHANGE_RETENTION_S', '-1', /EXCHANGE_RETENTION_S: must be a whole number from 0/],
    ['MAX_ACCOUNT_REMOVALS', 'many', /MAX_ACCOUNT_REMOVALS: must be a whole number from 0/],
    ['TOKEN_TTL_S', '0', /TOKEN_TTL_S: must be a whole number from 1 to 2592000/],
    ['AUDIT_RETENTION_DAYS', '1.5', /AUDIT_RETENTION_DAYS: must be a whole number from 0/],
    ['QUARANTINE_DIR', './exports/quarantine', /QUARANTINE_DIR: must be outside EXPORT_DIR/],
    ['LOGIN_MAX_FAILURES_PER_CLIENT', '-1', /LOGIN_MAX_FAILURES_PER_CLIENT: must be a whole number from 0/],
    ['LOGIN_MAX_FAILURES_PER_ACCOUNT', '-1', /LOGIN_MAX_FAILURES_PER_ACCOUNT: must be a whole number from 0/],
    ['CORS_ORIGINS', '*', /CORS_ORIGINS: "\*" is not an origin/],
    ['CORS_ORIGINS', 'https://a.example.org/app', /CORS_ORIGINS: "https:\/\/a.example.org\/app" is not an origin/],
    ['CORS_ORIGINS', 'a.example.org', /CORS_ORIGINS: .* is not an origin/],
    ['TRUST_PROXY', 'true', /TRUST_PROXY: "true" is not an address or CIDR range/],
    ['TRUST_PROXY', '10.0.0.0/33', /TRUST_PROXY: "10.0.0.0\/33" is not an address/],
  ])('refuses a bad %s, naming it', (name, value, message) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(message);
  });

  it('reads the CORS origins and the trusted proxies as lists', () => {
    const c = loadConfig({
      CORS_ORIGINS: 'https://admin.example.org, http://localhost:5173/',
      TRUST_PROXY: '10.0.0.5,10.1.0.0/16,::1,loopback',
    });
    expect(c.corsOrigins).toEqual(['https://admin.example.org', 'http://localhost:5173']);
    expect(c.trustProxy).toEqual(['10.0.0.5', '10.1.0.0/16', '::1', 'loopback']);
  });

  it('lets each network have its own Redis', () => {
    const c = loadConfig({ REDIS_URL: 'redis://a:1/0', REQUEST_REDIS_URL: 'redis://b:2/0' });
    expect(c.responseRedisUrl).toBe('redis://a:1/0');
    expect(c.requestRedisUrl).toBe('redis://b:2/0');
  });

  it('never repeats a bad key in its message: it may be a private key pasted in the wrong place', () => {
    const damaged = [`${PRIVATE}x`, PRIVATE.slice(0, -3)];
    for (const [name, values] of [
      ['EXCHANGE_SIGNING_KEY', damaged],
      ['EXCHANGE_TRUSTED_KEYS', [PRIVATE, ...damaged]],
    ] as const) {
      for (const value of values) {
        expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
        try {
          loadConfig({ [name]: value });
        } catch (err) {
          expect((err as Error).message).not.toContain(PRIVATE.slice('ed25519-private:'.length, -3));
        }
      }
    }
  });

  it('reads the signing key and the trusted keys', () => {
    const other = parseSigningKey(generateSigningKey()).publicKey;
    const c = loadConfig({ EXCHANGE_SIGNING_KEY: PRIVATE, EXCHANGE_TRUSTED_KEYS: `${PUBLIC},${other.text}` });
    expect(c.exchangeSigningKey?.publicKey.text).toBe(PUBLIC);
    expect(c.exchangeTrustedKeys?.map((k) => k.text)).toEqual([PUBLIC, other.text]);
    expect(loadConfig({}).exchangeSigningKey).toBeUndefined();
    expect(loadConfig({}).exchangeTrustedKeys).toBeUndefined();
  });

  it('masks secrets and URL passwords, and shows the public keys', () => {
    const c = loadConfig({
      ADMIN_PASSWORD: 'Top-secret-1',
      EXCHANGE_SIGNING_KEY: PRIVATE,
      EXCHANGE_TRUSTED_KEYS: PUBLIC,
      REDIS_URL: 'redis://:hunter2@127.0.0.1:6379/0',
      RESPONSE_DATABASE_URL: 'postgres://app:pgpass@db:5432/x',
    });
    const text = JSON.stringify(maskedConfig(c));
    const seed = PRIVATE.slice('ed25519-private:'.length);
    for (const secret of ['Top-secret-1', seed, 'hunter2', 'pgpass']) expect(text).not.toContain(secret);
    expect(maskedConfig(c)).toMatchObject({ exchangeSigningKey: '***', exchangeTrustedKeys: PUBLIC });
  });
});
