import { Type } from 'typebox';
import { KeyPrefix, Page } from '../../platform/pagination.js';

/** Dotted names such as `app.title`: what the seed's settings look like, and safe in a URL path. */
export const SETTING_KEY = /^[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)*$/;
export const SETTING_KEY_MAX = 255;
export const SETTING_KEY_RULE =
  `a key is 1-${SETTING_KEY_MAX} characters: dot-separated parts of lower-case letters, digits, "_" or "-", ` +
  'starting with a letter, like "app.title"';

/** Why `key` is not a setting key, or undefined when it is one. */
export const settingKeyProblem = (key: string): string | undefined =>
  key.length <= SETTING_KEY_MAX && SETTING_KEY.test(key) ? undefined : SETTING_KEY_RULE;

const Value = Type.Unknown({ description: 'Any JSON value' });

/** A setting as the API shows it. */
export const SettingOut = Type.Object({
  id: Type.String({ format: 'uuid' }),
  key: Type.String(),
  value: Value,
  version: Type.Integer(),
  created_at: Type.String(),
  updated_at: Type.String(),
});

// The key's rule is checked in the handler, so the 422 can state it in words rather than as a regex.
export const SettingCreate = Type.Object(
  { key: Type.String({ maxLength: SETTING_KEY_MAX, description: SETTING_KEY_RULE }), value: Value },
  { additionalProperties: false },
);

export const SettingUpdate = Type.Object({ value: Value }, { additionalProperties: false });

export const SettingKeyParams = Type.Object({ key: Type.String({ maxLength: 1024 }) });

export const SettingsQuery = Type.Object({ ...Page.properties, prefix: KeyPrefix });
