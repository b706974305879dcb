import { Type } from 'typebox';
import { KeyPrefix, Page } from '../../platform/pagination.js';

/** A synced setting as the API shows it. */
export const SyncedSetting = Type.Object({
  id: Type.String(),
  key: Type.String(),
  value: Type.Unknown({ description: 'Any JSON value, as the Response Network holds it' }),
  version: Type.Integer(),
  created_at: Type.String(),
  updated_at: Type.String(),
  synced_at: Type.String(),
});

export const SettingsQuery = Type.Object({ ...Page.properties, prefix: KeyPrefix });

export const SettingKeyParams = Type.Object({ key: Type.String({ minLength: 1, maxLength: 255 }) });
