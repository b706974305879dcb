import { Type } from 'typebox';
import { NameContains, Page } from '../../platform/pagination.js';

/** A synced profile type as the API shows it. */
export const SyncedProfileType = Type.Object({
  id: Type.String(),
  name: Type.String(),
  description: Type.Union([Type.String(), Type.Null()]),
  version: Type.Integer(),
  created_at: Type.String(),
  updated_at: Type.String(),
  synced_at: Type.String(),
});

export const ProfileTypesQuery = Type.Object({ ...Page.properties, name: NameContains });

export const ProfileTypeIdParams = Type.Object({ id: Type.String({ format: 'uuid' }) });
