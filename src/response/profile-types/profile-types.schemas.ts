import { Type } from 'typebox';
import { NameContains, Page } from '../../platform/pagination.js';

const Name = Type.String({ minLength: 1, maxLength: 100, pattern: '\\S', description: '1-100 characters, not blank' });
// One type list rather than an anyOf: with the coercion Fastify's ajv is set to, the anyOf's string
// branch would turn a null into "".
const Description = Type.Unsafe<string | null>({ type: ['string', 'null'], maxLength: 2000 });

export const ProfileTypeOut = Type.Object({
  id: Type.String({ format: 'uuid' }),
  name: Type.String(),
  description: Type.Union([Type.String(), Type.Null()]),
  version: Type.Integer(),
  created_at: Type.String(),
  updated_at: Type.String(),
});

export const ProfileTypeCreate = Type.Object(
  { name: Name, description: Type.Optional(Description) },
  { additionalProperties: false },
);

export const ProfileTypePatch = Type.Object(
  { name: Type.Optional(Name), description: Type.Optional(Description) },
  { additionalProperties: false, minProperties: 1 },
);

export const ProfileTypeIdParams = Type.Object({ id: Type.String({ format: 'uuid' }) });

export const ProfileTypesQuery = Type.Object({ ...Page.properties, name: NameContains });
