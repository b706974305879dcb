import path from 'node:path';

/**
 * The exchange folder's layout. Each stream is a folder of the seed's: immutable, sequence-numbered
 * batch files (`000000000042.json`) plus, for streams that have one, a whole-set snapshot
 * (`users_latest.json`). Password changes have no snapshot of their own: the users snapshot carries each
 * user's current hash and covers that stream too.
 */
export const STREAMS = ['profile_types', 'users', 'password_changes', 'settings'] as const;
export type Stream = (typeof STREAMS)[number];

/** Streams in the order the importer applies them: what a record refers to comes first. */
export const IMPORT_ORDER: readonly Stream[] = STREAMS;

export const SNAPSHOT_OF: Readonly<Partial<Record<Stream, { file: string; covers: readonly Stream[] }>>> = {
  profile_types: { file: 'profile_types_latest.json', covers: ['profile_types'] },
  users: { file: 'users_latest.json', covers: ['users', 'password_changes'] },
  settings: { file: 'settings_latest.json', covers: ['settings'] },
};

/**
 * What a stream's records refer to. A batch of `password_changes` carries `requires: {users: K}`: every
 * user it names is in users batches up to K, so the importer can tell a user that has not arrived yet
 * (wait for batch K) from one that does not exist (refuse the file).
 */
export const REQUIRES: Readonly<Partial<Record<Stream, readonly Stream[]>>> = { password_changes: ['users'] };

export const isStream = (s: string): s is Stream => (STREAMS as readonly string[]).includes(s);

const SEQ_DIGITS = 12;
const BATCH_NAME = /^(\d{12})\.json$/;

export const batchFileName = (seq: number): string => `${String(seq).padStart(SEQ_DIGITS, '0')}.json`;

/** The sequence number a batch file's name carries, or undefined when the name is not a batch's. */
export function seqOfBatchName(name: string): number | undefined {
  const m = BATCH_NAME.exec(name);
  return m?.[1] === undefined ? undefined : Number(m[1]);
}

export const streamDir = (exchangeDir: string, stream: Stream): string => path.join(exchangeDir, stream);

/** Temporary files start with a dot and end in `.tmp`; readers never look at them. */
export const isTempName = (name: string): boolean => name.startsWith('.') || name.endsWith('.tmp');
