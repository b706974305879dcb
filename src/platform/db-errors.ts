/**
 * Which constraint a database refused a write for, read from the driver's error code (never the message
 * text, which differs between versions and locales): better-sqlite3 reports SQLite's extended result
 * code by name, node-postgres reports PostgreSQL's SQLSTATE.
 */
export type ConstraintKind = 'unique' | 'foreign_key';

const CODES: Readonly<Record<string, ConstraintKind>> = {
  SQLITE_CONSTRAINT_UNIQUE: 'unique',
  SQLITE_CONSTRAINT_PRIMARYKEY: 'unique',
  SQLITE_CONSTRAINT_FOREIGNKEY: 'foreign_key',
  '23505': 'unique', // unique_violation
  '23503': 'foreign_key', // foreign_key_violation
};

/** The constraint `err` says was violated, or undefined when it is another error. */
export function constraintViolated(err: unknown): ConstraintKind | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? CODES[code] : undefined;
}

/**
 * Runs `write`; a constraint violation it raises becomes the error `translate` makes for its kind (a
 * Conflict for a taken name, an InvalidField for a missing reference). Other errors pass unchanged.
 */
export async function translateConstraints<T>(
  write: () => Promise<T>,
  translate: Partial<Record<ConstraintKind, () => Error>>,
): Promise<T> {
  try {
    return await write();
  } catch (err) {
    const kind = constraintViolated(err);
    const mapped = kind && translate[kind];
    throw mapped ? mapped() : err;
  }
}
