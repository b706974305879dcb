import { hash, verify } from '@node-rs/bcrypt';

/** Why a new password is too weak, or undefined. bcrypt reads at most 72 bytes, so longer is refused. */
export function passwordProblem(password: string, username?: string): string | undefined {
  if (password.length < 8) return 'must be at least 8 characters';
  if (Buffer.byteLength(password) > 72) return 'must be at most 72 bytes (bcrypt ignores the rest)';
  if (!/[A-Za-z\p{L}]/u.test(password) || !/\d/.test(password)) return 'must contain a letter and a digit';
  if (username !== undefined && password.toLowerCase().includes(username.toLowerCase())) {
    return 'must not contain the username';
  }
  return undefined;
}

/** A `$2b$` bcrypt hash, made off the main thread. */
export const hashPassword = (password: string, cost: number): Promise<string> => hash(password, cost);

/** A fixed hash to compare against when the user does not exist, so timing does not reveal it. */
const DUMMY_HASH = '$2b$12$fbrginaBAa5r2lie4HaKseI2HDMjiCM/9JNMZnprjgXWt/rRcMWaG';

export async function passwordMatches(password: string, hashed: string | undefined): Promise<boolean> {
  try {
    const ok = await verify(password, hashed ?? DUMMY_HASH);
    return ok && hashed !== undefined;
  } catch {
    return false;
  }
}
