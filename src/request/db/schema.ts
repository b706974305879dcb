import type { Stream } from '../../exchange/index.js';

/** The Request Network's tables: synced copies plus the importer's bookkeeping. */
export interface RequestDatabase {
  users: UsersTable;
  credentials: CredentialsTable;
  profile_types: ProfileTypesTable;
  settings: SettingsTable;
  import_streams: ImportStreamsTable;
  quarantine_log: QuarantineLogTable;
  held_files: HeldFilesTable;
  exchange_heartbeat: ExchangeHeartbeatTable;
  sync_history: SyncHistoryTable;
}

interface Synced {
  created_at: string;
  updated_at: string;
  /** A deleted record stays as a tombstone, so an older copy can never bring it back. */
  deleted_at: string | null;
  /** The Response Network's version of the record; only a higher one replaces it. */
  version: number;
  synced_at: string;
}

export interface UsersTable extends Synced {
  id: string;
  username: string;
  /** usernameKey(username), computed here on import: what a login's name is looked up by. */
  username_key: string;
  email: string | null;
  is_active: number;
  is_admin: number;
  profile_type_id: string | null;
}

/** A user's password, kept apart from the rest: it has its own version and its own stream. */
export interface CredentialsTable {
  user_id: string;
  hashed_password: string;
  password_version: number;
  changed_at: string;
  synced_at: string;
}

export interface ProfileTypesTable extends Synced {
  id: string;
  name: string;
  description: string | null;
}

export interface SettingsTable extends Synced {
  id: string;
  key: string;
  value: string;
}

/** Per stream: how far the importer got. */
export interface ImportStreamsTable {
  stream: Stream;
  /** Newest batch applied; batches up to here are done (applied, or covered by a snapshot). */
  last_seq: number;
  /** Newest snapshot applied, by its stamp for this stream. */
  snapshot_seq: number;
  last_file: string | null;
  last_applied_at: string | null;
  /** The id of the key that signed `last_file` (null before the first file, or before migration 0005). */
  last_key_id: string | null;
  /** The Response database's generation this stream follows; null until it applied a file. */
  generation: string | null;
  /** A newer generation seen, whose snapshot this stream waits for to re-base on; null when none. */
  rebase_to: string | null;
  /** The missing batch the stream waits for, or null. */
  waiting_for: number | null;
  waiting_since: string | null;
  /** Newest sequence number seen in the exchange folder (batch name or snapshot stamp). */
  newest_seen: number;
}

/** Files the importer refused. */
export interface QuarantineLogTable {
  /** The copy in the quarantine folder; the file in the exchange folder when none could be made. */
  file: string;
  stream: string;
  /** The file's name in its stream folder (null on rows from before the exchange folder was read-only). */
  name: string | null;
  /** Which file held that name: device, inode, size and times (see importer/identity.ts). */
  identity: string | null;
  code: string;
  reason: string;
  quarantined_at: string;
}

/**
 * Files the safety valve holds: each would remove more accounts than MAX_ACCOUNT_REMOVALS, and waits,
 * unapplied, for an operator to confirm it (or to raise the limit).
 */
export interface HeldFilesTable {
  stream: string;
  /** The file's name in its stream folder. */
  name: string;
  kind: 'batch' | 'snapshot';
  /** A batch's sequence number; a snapshot's stamp for its own stream. */
  seq: number;
  /** Which file held that name when it was judged (see importer/identity.ts). */
  identity: string;
  /** The stream's position when it was judged: the count depends on what the Request side held then. */
  position: number;
  /** Accounts it would delete, deactivate or (a snapshot) no longer list. */
  removals: number;
  /** MAX_ACCOUNT_REMOVALS when it was held. */
  max_removals: number;
  /** When a file of this name was first held. */
  held_at: string;
  /** When an operator confirmed it (`netsync sync confirm`); it then applies with up to `removals`. */
  confirmed_at: string | null;
}

/**
 * One row (id 1): the newest signed heartbeat accepted, and what staleness is judged from. Times are the
 * Response side's (`created_at`) or this side's (`seen_at`, `watching_since`, `missing`).
 */
export interface ExchangeHeartbeatTable {
  id: number;
  generation: string | null;
  created_at: string | null;
  key_id: string | null;
  /** JSON `{stream: newest batch written}` as the heartbeat names them. */
  streams: string | null;
  /** When this side first read that heartbeat. */
  seen_at: string | null;
  /** When the importer first looked for a heartbeat: "no heartbeat yet" is not stale before 3 intervals. */
  watching_since: string | null;
  /** JSON `{stream: {seq, since}}`: batches a heartbeat named that were not in the folder, since when. */
  missing: string | null;
  /** 1 while the last pass found this side stale: so becoming stale and clearing are each logged once. */
  stale: number;
}

/** Samples of sync lag (request/sync/sync-history.ts): the worst of each stream's minute, kept a day. */
export interface SyncHistoryTable {
  /** The minute, ISO-8601 UTC with seconds zero. */
  minute: string;
  stream: string;
  /** The stream's lag_seconds as GET /sync/status reports it; null when unknown. */
  lag_s: number | null;
  behind: number;
}
