import type { Kysely } from 'kysely';
import { openExchangeFile, type RecordOf, type Stream, type TrustedKeys } from '../../src/exchange/index.js';
import { type Db, openDb } from '../../src/platform/db.js';
import type { App } from '../../src/platform/http.js';
import type { RequestDatabase } from '../../src/request/db/schema.js';
import { Importer } from '../../src/request/importer/importer.js';
import type { ResponseDatabase } from '../../src/response/db/schema.js';
import type { ExportContext } from '../../src/response/exporter.js';
import { bearer, EVENT_DEADLINE_MS, login, type TestSystem, waitFor } from './system.js';

/**
 * Direct handles on both networks' databases and the exchange folder, beside a running TestSystem: to
 * compare export files with the rows they come from, and to drive exports and imports step by step.
 */
export interface SyncHandles {
  readonly response: Db<ResponseDatabase>;
  readonly request: Db<RequestDatabase>;
  readonly trustedKeys: TrustedKeys;
  readonly exportCtx: ExportContext;
  readonly importer: Importer;
  close(): Promise<void>;
}

export async function openHandles(sys: TestSystem): Promise<SyncHandles> {
  const { config } = sys.env;
  const { exchangeSigningKey: signingKey, exchangeTrustedKeys: trustedKeys } = sys.rt.secrets;
  if (!signingKey || !trustedKeys) throw new Error('the test system has no exchange keys');
  const response = await openDb<ResponseDatabase>(config.responseDatabaseUrl);
  const request = await openDb<RequestDatabase>(config.requestDatabaseUrl);
  return {
    response,
    request,
    trustedKeys,
    exportCtx: {
      db: response.kysely,
      exchangeDir: config.exchangeDir,
      signingKey,
      batchSize: 5000,
      logger: sys.rt.logger,
    },
    importer: new Importer({
      db: request.kysely,
      exchangeDir: config.exchangeDir,
      quarantineDir: config.quarantineDir,
      trustedKeys,
      maxFileBytes: config.maxFileBytes,
      maxAccountRemovals: config.maxAccountRemovals,
      logger: sys.rt.logger,
    }),
    async close() {
      await response.close();
      await request.close();
    },
  };
}

/** Every record of an exchange file, after its signature and checksum checks pass. */
export async function readExchange<S extends Stream>(file: string, stream: S, key: TrustedKeys) {
  const opened = await openExchangeFile(file, stream, key, { maxBytes: 1 << 30 });
  const records: RecordOf[S][] = [];
  for await (const r of opened.records()) records.push(r);
  return { header: opened.header, records };
}

/**
 * Resolves once every committed change of `streams` is in a batch file (the fast path ran). The admin
 * account's record waits in the outbox until the first user change exports the users stream.
 */
export async function exportsSettled(
  db: Kysely<ResponseDatabase>,
  streams: readonly Stream[],
  timeoutMs = 5000,
): Promise<void> {
  await waitFor(
    async () => {
      const waiting = await db
        .selectFrom('outbox')
        .select('id')
        .where('stream', 'in', streams)
        .where('batch_seq', 'is', null)
        .limit(1)
        .execute();
      const unwritten = await db
        .selectFrom('export_batches')
        .select('seq')
        .where('stream', 'in', streams)
        .where('written_at', 'is', null)
        .limit(1)
        .execute();
      return waiting.length === 0 && unwritten.length === 0;
    },
    timeoutMs,
    'the Response side to write every change to a batch file',
  );
}

export async function lastSeq(db: Kysely<ResponseDatabase>, stream: Stream): Promise<number> {
  const row = await db.selectFrom('export_streams').select('last_seq').where('stream', '=', stream).executeTakeFirst();
  return row?.last_seq ?? 0;
}

/** Creates a (non-admin) user on the Response side; returns its id and a token for it there. */
export async function makeUser(sys: TestSystem, username: string, extra: Record<string, unknown> = {}) {
  const res = await sys.response.inject({
    method: 'POST',
    url: '/users',
    headers: bearer(sys.adminToken),
    payload: { username, password: 'Sync-pass-42', ...extra },
  });
  if (res.statusCode !== 201) throw new Error(`create ${username}: ${res.statusCode} ${res.body}`);
  const id = res.json().id as string;
  return { id, token: await login(sys.response, username, 'Sync-pass-42') };
}

/** A token for `username` on the Request side, once that user has been synced there. */
export async function requestToken(app: App, username: string, timeoutMs = 5000): Promise<string> {
  let token = '';
  await waitFor(
    async () => {
      const res = await app.inject({
        method: 'POST',
        url: '/auth/login',
        payload: { username, password: 'Sync-pass-42' },
      });
      if (res.statusCode === 200) token = res.json().access_token as string;
      return res.statusCode === 200;
    },
    timeoutMs,
    `${username} to be able to log in on the Request side`,
  );
  return token;
}

/**
 * A token for the admin on the Request side (who sees every synced user there, where a plain user sees
 * only themselves), once the admin's record has been synced: it travels with the first users batch.
 */
export async function requestAdminToken(app: App, timeoutMs = EVENT_DEADLINE_MS): Promise<string> {
  let token = '';
  await waitFor(
    async () => {
      const res = await app.inject({
        method: 'POST',
        url: '/auth/login',
        payload: { username: 'admin', password: 'Admin-pass-1' },
      });
      if (res.statusCode === 200) token = res.json().access_token as string;
      return res.statusCode === 200;
    },
    timeoutMs,
    'the admin to be able to log in on the Request side',
  );
  return token;
}

/** Waits until the Response side's task `id` finishes and returns its result. */
export async function taskResult(sys: TestSystem, id: string, timeoutMs = 10_000): Promise<Record<string, unknown>> {
  let info: { state: string; result: Record<string, unknown>; error: string | null } | undefined;
  await waitFor(
    async () => {
      const res = await sys.response.inject({ url: `/tasks/${id}`, headers: bearer(sys.adminToken) });
      info = res.json();
      if (info?.state === 'FAILURE') throw new Error(`task ${id} failed: ${info.error}`);
      // taskInfo reads the job, then its state: a job finishing in between shows SUCCESS with no result yet.
      return info?.state === 'SUCCESS' && info.result !== null;
    },
    timeoutMs,
    `task ${id}`,
  );
  return info!.result;
}
