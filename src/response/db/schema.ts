import type { Generated } from 'kysely';
import type { Stream } from '../../exchange/index.js';

/** The Response Network's tables. Timestamps are ISO-8601 UTC text; booleans are 0/1. */
export interface ResponseDatabase {
  users: UsersTable;
  profile_types: ProfileTypesTable;
  settings: SettingsTable;
  outbox: OutboxTable;
  export_streams: ExportStreamsTable;
  export_batches: ExportBatchesTable;
  export_snapshots: ExportSnapshotsTable;
  exchange_generation: ExchangeGenerationTable;
  audit_log: AuditLogTable;
}

export interface UsersTable {
  id: string;
  /** As given, in NFKC form (exchange/usernames.ts). */
  username: string;
  /** usernameKey(username): unique among live users, so names differing only in case are one name. */
  username_key: string;
  email: string | null;
  hashed_password: string;
  is_admin: number;
  is_active: number;
  profile_type_id: string | null;
  created_at: string;
  updated_at: string;
  /** Soft delete: the row stays as a tombstone so snapshots carry the deletion. */
  deleted_at: string | null;
  /** Grows on every change of the row. */
  version: number;
  /** Grows on every password change; guards the password separately from the rest of the record. */
  password_version: number;
  password_changed_at: string;
}

export interface ProfileTypesTable {
  id: string;
  name: string;
  description: string | null;
  created_at: string;
  updated_at: string;
  deleted_at: string | null;
  version: number;
}

export interface SettingsTable {
  id: string;
  key: string;
  /** JSON text. */
  value: string;
  created_at: string;
  updated_at: string;
  deleted_at: string | null;
  version: number;
}

/**
 * Changes waiting to be exported, written in the same transaction as the change itself. `batch_seq` is
 * set when an export claims the row; the row's payload never changes after insert.
 */
export interface OutboxTable {
  id: Generated<number>;
  stream: Stream;
  payload: string;
  created_at: string;
  batch_seq: number | null;
}

/** Per stream, the last batch sequence number handed out, and what pruning removed so far. */
export interface ExportStreamsTable {
  stream: Stream;
  last_seq: number;
  /** How many batches pruning removed (their export_batches rows go with their files). */
  pruned_count: Generated<number>;
  /** The newest batch pruning removed, or null before the first. */
  pruned_through: number | null;
}

/** Every batch handed out; `written_at` is null until its file is safely in the exchange folder. */
export interface ExportBatchesTable {
  stream: Stream;
  seq: number;
  count: number;
  created_at: string;
  written_at: string | null;
  /** JSON `{stream: seq}`: the batches of other streams this one's records refer to (see REQUIRES). */
  requires: string | null;
}

/**
 * Per snapshot stream, the snapshot file last written (or found newer in place): what it was stamped with
 * and which file it is, so a scheduled export can tell that nothing changed without reading the table.
 */
export interface ExportSnapshotsTable {
  stream: Stream;
  generation: string;
  /** JSON `{stream: seq}`: the header's `covers`. */
  covers: string;
  key_id: string;
  /** The file's identity (exchange/file-identity.ts) when it was written: another one means it was replaced. */
  identity: string;
  written_at: string;
}

/** One row: the generation this database writes (exchange/generation.ts). */
export interface ExchangeGenerationTable {
  generation: string;
  created_at: string;
  /** When this generation's snapshots of every stream were written; null until then (no batch goes first). */
  snapshots_at: string | null;
}

/**
 * Who changed what, when and from where (response/audit/): one row per write, committed in the write's
 * own transaction, and one per refused login. Rows older than AUDIT_RETENTION_DAYS are pruned.
 */
export interface AuditLogTable {
  id: Generated<number>;
  /** ISO-8601 UTC. */
  at: string;
  /** The acting user (from their token), or null: a refused login, or a write netsync made itself. */
  actor_id: string | null;
  actor_username: string | null;
  /** What was done, e.g. `user.create`, `setting.change`, `login.failed` (AUDIT_ACTIONS). */
  action: string;
  /** `user`, `setting`, `profile_type` or `task`, with its id (a setting's key, a task's name). */
  target_type: string;
  target_id: string | null;
  /** JSON object: the fields written with their new values (never a password or hash), or null. */
  details: string | null;
  /** The client address and the request id of the HTTP request; null for netsync's own writes. */
  ip: string | null;
  request_id: string | null;
}
