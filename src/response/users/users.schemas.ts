import { Type } from 'typebox';
import { Page } from '../../platform/pagination.js';

/**
 * The rule itself (exchange/usernames.ts) is checked by the service, which names the reason a name is
 * refused; the schema only bounds the work.
 */
export const Username = Type.String({
  maxLength: 256,
  description:
    '3-64 letters and digits of any script, "_", "." or "-", stored in NFKC form; unique without regard to case; ' +
    'no control or invisible characters, no look-alike mix of scripts (see README, "Usernames")',
});

/** A user as the API shows it: never the hash. */
export const UserOut = Type.Object({
  id: Type.String({ format: 'uuid' }),
  username: Type.String(),
  email: Type.Union([Type.String(), Type.Null()]),
  is_active: Type.Boolean(),
  is_admin: Type.Boolean(),
  profile_type_id: Type.Union([Type.String(), Type.Null()]),
  created_at: Type.String(),
  updated_at: Type.String(),
  /** When the password was last set (at creation, by a reset): the console's "last password change". */
  password_changed_at: Type.String(),
});

export const UserCreate = Type.Object(
  {
    username: Username,
    password: Type.String({ minLength: 1, maxLength: 1024 }),
    email: Type.Optional(Type.Union([Type.String({ format: 'email', maxLength: 320 }), Type.Null()])),
    is_admin: Type.Optional(Type.Boolean()),
    is_active: Type.Optional(Type.Boolean()),
    profile_type_id: Type.Optional(Type.Union([Type.String({ format: 'uuid' }), Type.Null()])),
  },
  { additionalProperties: false },
);

export const ResetPassword = Type.Object(
  { new_password: Type.String({ minLength: 1, maxLength: 1024 }) },
  { additionalProperties: false },
);

export const ResetPasswordOut = Type.Object({
  success: Type.Boolean(),
  /** Null when Redis could not take the job: the scheduled export still carries the change. */
  sync_task_id: Type.Union([Type.String(), Type.Null()]),
});

export const UserIdParams = Type.Object({ id: Type.String({ format: 'uuid' }) });

export const UsersQuery = Type.Object({
  ...Page.properties,
  username: Type.Optional(
    Type.String({ minLength: 1, maxLength: 256, description: 'A username, in any case or Unicode form' }),
  ),
  q: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 256,
      description: 'Users whose name starts with this, in any case or Unicode form',
    }),
  ),
  email: Type.Optional(
    Type.String({ minLength: 1, maxLength: 320, description: 'Users with this email, in any (ASCII) case' }),
  ),
  is_active: Type.Optional(Type.Boolean()),
  profile_type_id: Type.Optional(
    Type.Union([Type.String({ format: 'uuid' }), Type.Literal('none')], {
      description: 'A profile type id, or "none" for users without one',
    }),
  ),
});

export const UserPatch = Type.Object(
  {
    username: Type.Optional(Username),
    email: Type.Optional(Type.Union([Type.String({ format: 'email', maxLength: 320 }), Type.Null()])),
    profile_type_id: Type.Optional(Type.Union([Type.String({ format: 'uuid' }), Type.Null()])),
    is_active: Type.Optional(Type.Boolean()),
    is_admin: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false, minProperties: 1 },
);
