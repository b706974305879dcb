import { Type } from 'typebox';

/** A synced user as the API shows it: never the hash. */
export const SyncedUser = Type.Object({
  id: Type.String(),
  username: Type.String(),
  email: Type.Union([Type.String(), Type.Null()]),
  is_active: Type.Boolean(),
  is_admin: Type.Boolean(),
  profile_type_id: Type.Union([Type.String(), Type.Null()]),
  /** The user's synced profile type; null when none, or when it is not (or no longer) synced. */
  profile_type: Type.Union([Type.Object({ id: Type.String(), name: Type.String() }), Type.Null()]),
  created_at: Type.String(),
  updated_at: Type.String(),
  synced_at: Type.String(),
});

export const UserIdParams = Type.Object({ id: Type.String({ format: 'uuid' }) });
