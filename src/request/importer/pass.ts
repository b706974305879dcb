import type { Kysely } from 'kysely';
import type { RefusedFile, Stream, TrustedKeys } from '../../exchange/index.js';
import type { Logger } from '../../platform/logger.js';
import type { SessionSignals } from '../../platform/sessions.js';
import type { RequestDatabase } from '../db/schema.js';
import type { OlderGenerationFiles } from './generation.js';

export interface ImportContext {
  readonly db: Kysely<RequestDatabase>;
  readonly exchangeDir: string;
  readonly quarantineDir: string;
  readonly trustedKeys: TrustedKeys;
  readonly maxFileBytes: number;
  /** MAX_ACCOUNT_REMOVALS: a users file removing more accounts at once is held (valve.ts); 0: no limit. */
  readonly maxAccountRemovals: number;
  readonly logger: Logger;
  /**
   * The Response side's EXPORT_INTERVAL_S (this side must be given the same): how often it writes a
   * heartbeat, which staleness is judged by. Default 60, the variable's default.
   */
  readonly exportIntervalS?: number;
  /** Told after each commit that changed accounts, so their tokens issued before end at once. */
  readonly sessions?: Pick<SessionSignals, 'accountsChanged'>;
}

export interface ImportResult {
  status: 'success';
  /** Files applied, per stream. */
  applied: Partial<Record<Stream, number>>;
  count: number;
  files: string[];
  quarantined: string[];
  /** Files the safety valve held in this pass (see valve.ts). */
  held: string[];
  /** Streams waiting for a missing batch: the sequence number each waits for. */
  waiting: Partial<Record<Stream, number>>;
  /** Streams waiting for a new generation's snapshot to re-base on: that generation. */
  rebasing: Partial<Record<Stream, string>>;
  imported_at: string;
}

/** What the snapshot and batch steps of one import pass share. */
export interface ImportPass {
  readonly ctx: ImportContext;
  readonly result: ImportResult;
  /** Files of an older generation than their stream follows, not opened again (generation.ts). */
  readonly olderGeneration: OlderGenerationFiles;
  /** Records a refused file (judged as `identity`), copies it to quarantine and notes it in the result. */
  refuse(file: string, stream: Stream, err: RefusedFile, identity: string | undefined): Promise<void>;
}

/** Another importer applied the same file first; ours rolled back. */
export class LostRace extends Error {}

/** The streams whose records change what an account's tokens are checked against. */
const ACCOUNT_STREAMS: ReadonlySet<Stream> = new Set(['users', 'password_changes']);

/**
 * Notes a file whose `count` records committed. One that changed accounts ends their sessions: every
 * account's, since the file's records were streamed and are not kept; each API process then reads an
 * account's session version again on its next request.
 */
export async function noteApplied(pass: ImportPass, stream: Stream, file: string, count: number): Promise<void> {
  const { result } = pass;
  result.files.push(file);
  result.count += count;
  result.applied[stream] = (result.applied[stream] ?? 0) + 1;
  if (ACCOUNT_STREAMS.has(stream)) await pass.ctx.sessions?.accountsChanged('all');
}
