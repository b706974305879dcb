import { type Static, Type } from 'typebox';
import { Page } from '../../platform/pagination.js';

/** Every action the audit log records: `<target type>.<verb>`, and the refused logins. */
export const AUDIT_ACTIONS = [
  'user.create',
  'user.change',
  'user.delete',
  'user.password_reset',
  'setting.create',
  'setting.change',
  'setting.delete',
  'profile_type.create',
  'profile_type.change',
  'profile_type.delete',
  'task.run',
  'login.failed',
  'login.throttled',
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

/** What an audit row is about; its id is a user's or profile type's id, a setting's key, a task's name. */
export const AUDIT_TARGET_TYPES = ['user', 'setting', 'profile_type', 'task'] as const;
export type AuditTargetType = (typeof AUDIT_TARGET_TYPES)[number];

const literals = <T extends readonly string[]>(values: T) => Type.Union(values.map((v) => Type.Literal(v)));

/** One audit row as GET /audit and `netsync audit --json` show it. */
export const AuditEntryOut = Type.Object({
  id: Type.Integer(),
  at: Type.String({ description: 'When, ISO-8601 UTC' }),
  actor_id: Type.Union([Type.String(), Type.Null()], {
    description: 'The acting user; null for a refused login or a write netsync made itself (the first admin)',
  }),
  actor_username: Type.Union([Type.String(), Type.Null()]),
  action: Type.String(),
  target_type: Type.String(),
  target_id: Type.Union([Type.String(), Type.Null()]),
  details: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()], {
    description:
      'The fields written, with their new values (a password only as "set" or "changed"); for a refused login, the username tried',
  }),
  ip: Type.Union([Type.String(), Type.Null()], { description: 'The client address' }),
  request_id: Type.Union([Type.String(), Type.Null()], { description: 'The request id (x-request-id)' }),
});
export type AuditEntryOut = Static<typeof AuditEntryOut>;

export const AuditQuery = Type.Object({
  ...Page.properties,
  actor: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: "The acting user's id or username" })),
  target_type: Type.Optional(literals(AUDIT_TARGET_TYPES)),
  target_id: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 255,
      description: "A user's or profile type's id, a setting's key, a task's name",
    }),
  ),
  action: Type.Optional(literals(AUDIT_ACTIONS)),
  since: Type.Optional(Type.String({ format: 'date-time', description: 'Rows at or after this time' })),
  until: Type.Optional(Type.String({ format: 'date-time', description: 'Rows before this time' })),
});
export type AuditQuery = Static<typeof AuditQuery>;
