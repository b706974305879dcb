import { Type } from 'typebox';

/**
 * The query parameters of every list route on both networks: `limit` rows (1-1000, default 100) after
 * skipping `offset` (default 0). A list route's query is `Type.Object({ ...Page.properties, ...filters })`.
 */
export const Page = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
  offset: Type.Integer({ minimum: 0, default: 0 }),
});

/**
 * `?prefix=` on the settings lists: only keys starting with this text, taken literally (`startsWith` in
 * sql.ts), in the characters and length of a setting key.
 */
export const KeyPrefix = Type.Optional(
  Type.String({
    pattern: '^[a-z0-9_.-]*$',
    maxLength: 255,
    description: 'Only keys starting with this text, e.g. "app."',
  }),
);

/** `?name=` on the profile type lists: names containing this text, any case (see `containsIgnoringCase`). */
export const NameContains = Type.Optional(
  Type.String({ minLength: 1, maxLength: 100, description: 'Names containing this, any case' }),
);
