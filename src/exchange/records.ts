import { type Static, Type } from 'typebox';
import { Compile } from 'typebox/compile';
import type { Stream } from './streams.js';
import { USERNAME_MAX, usernameShapeProblem } from './usernames.js';

/**
 * What travels in each stream. Every record carries a `version` that only grows on the Response side;
 * the importer applies a record only when it is newer than what it holds, so a replayed or reordered
 * record can never move anything back.
 */
const Uuid = Type.String({ format: 'uuid' });
const Timestamp = Type.String({ format: 'date-time' });
const Version = Type.Integer({ minimum: 1 });
/** A bcrypt hash in modular-crypt form; never a plaintext password. */
export const BcryptHash = Type.String({ pattern: '^\\$2[aby]\\$\\d{2}\\$[./A-Za-z0-9]{53}$' });

export const PasswordChangeRecord = Type.Object(
  { user_id: Uuid, hashed_password: BcryptHash, changed_at: Timestamp, password_version: Version },
  { additionalProperties: false },
);
export type PasswordChangeRecord = Static<typeof PasswordChangeRecord>;

export const UserRecord = Type.Object(
  {
    id: Uuid,
    // Any script (exchange/usernames.ts); the length here is in UTF-16 units, a letter outside the BMP
    // taking two: recordProblem checks the rest.
    username: Type.String({ minLength: 1, maxLength: USERNAME_MAX * 2 }),
    email: Type.Union([Type.String({ maxLength: 320 }), Type.Null()]),
    is_active: Type.Boolean(),
    is_admin: Type.Boolean(),
    profile_type_id: Type.Union([Uuid, Type.Null()]),
    created_at: Timestamp,
    updated_at: Timestamp,
    deleted_at: Type.Union([Timestamp, Type.Null()]),
    version: Version,
    hashed_password: BcryptHash,
    password_version: Version,
    password_changed_at: Timestamp,
  },
  { additionalProperties: false },
);
export type UserRecord = Static<typeof UserRecord>;

export const SettingRecord = Type.Object(
  {
    id: Uuid,
    key: Type.String({ minLength: 1, maxLength: 255 }),
    value: Type.Unknown(),
    created_at: Timestamp,
    updated_at: Timestamp,
    deleted_at: Type.Union([Timestamp, Type.Null()]),
    version: Version,
  },
  { additionalProperties: false },
);
export type SettingRecord = Static<typeof SettingRecord>;

export const ProfileTypeRecord = Type.Object(
  {
    id: Uuid,
    name: Type.String({ minLength: 1, maxLength: 100 }),
    description: Type.Union([Type.String({ maxLength: 2000 }), Type.Null()]),
    created_at: Timestamp,
    updated_at: Timestamp,
    deleted_at: Type.Union([Timestamp, Type.Null()]),
    version: Version,
  },
  { additionalProperties: false },
);
export type ProfileTypeRecord = Static<typeof ProfileTypeRecord>;

export interface RecordOf {
  users: UserRecord;
  password_changes: PasswordChangeRecord;
  settings: SettingRecord;
  profile_types: ProfileTypeRecord;
}

const checkers = {
  users: Compile(UserRecord),
  password_changes: Compile(PasswordChangeRecord),
  settings: Compile(SettingRecord),
  profile_types: Compile(ProfileTypeRecord),
};

/** A readable reason from TypeBox's errors: the field and what is wrong with it. */
export function describeErrors(
  errors: Iterable<{ keyword: string; instancePath: string; message: string; params: object }>,
): string {
  const list = [...errors];
  const extra = list.find((e) => e.keyword === 'additionalProperties');
  if (extra) {
    const names = (extra.params as { additionalProperties?: string[] }).additionalProperties ?? [];
    return `unknown field ${names.map((n) => `"${n}"`).join(', ')}`;
  }
  const first = list.find((e) => e.keyword !== 'boolean') ?? list[0];
  if (!first) return 'invalid';
  const missing = (first.params as { requiredProperties?: string[] }).requiredProperties;
  if (first.keyword === 'required' && missing) return `missing field ${missing.map((n) => `"${n}"`).join(', ')}`;
  return `${first.instancePath || '(record)'} ${first.message}`;
}

/** Why `value` is not a valid record of `stream`, or undefined when it is. */
export function recordProblem(stream: Stream, value: unknown): string | undefined {
  const checker = checkers[stream];
  if (!checker.Check(value)) return describeErrors(checker.Errors(value));
  if (stream === 'users') {
    const problem = usernameShapeProblem((value as UserRecord).username);
    if (problem) return `/username ${problem}`;
  }
  return undefined;
}
