import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import { nowIso } from '../../src/platform/db.js';
import type { ResponseDatabase } from '../../src/response/db/schema.js';
import { type UserRow, userRecord } from '../../src/response/users/users.repository.js';

const CHUNK = 500;

/**
 * Inserts `n` users with their outbox rows (stream `users`) in one transaction, as `n` calls of
 * createUser would but in bulk: seeding is set-up, not what a case measures.
 */
export async function seedUsers(db: Kysely<ResponseDatabase>, n: number, hashedPassword: string): Promise<string[]> {
  const now = nowIso();
  const rows: UserRow[] = Array.from({ length: n }, (_, i) => ({
    id: randomUUID(),
    username: `bench_${String(i).padStart(6, '0')}`,
    username_key: `bench_${String(i).padStart(6, '0')}`, // usernameKey of an ASCII lower-case name is itself
    email: null,
    hashed_password: hashedPassword,
    is_admin: 0,
    is_active: 1,
    profile_type_id: null,
    created_at: now,
    updated_at: now,
    deleted_at: null,
    version: 1,
    password_version: 1,
    password_changed_at: now,
  }));
  await db.transaction().execute(async (trx) => {
    for (let i = 0; i < rows.length; i += CHUNK) {
      const chunk = rows.slice(i, i + CHUNK);
      await trx.insertInto('users').values(chunk).execute();
      await trx
        .insertInto('outbox')
        .values(
          chunk.map((r) => ({
            stream: 'users' as const,
            payload: JSON.stringify(userRecord(r)),
            created_at: now,
            batch_seq: null,
          })),
        )
        .execute();
    }
  });
  return rows.map((r) => r.id);
}

/** A setting's value as an application would keep one: a small JSON object. */
export const settingValue = (i: number) => ({ enabled: i % 2 === 0, limit: i % 1000, label: `value ${i}` });

/**
 * Inserts `n` settings straight into the table, without outbox rows: the state a Response Network has
 * when a snapshot is the way its settings reach a new Request Network.
 */
export async function seedSettings(db: Kysely<ResponseDatabase>, n: number): Promise<void> {
  const now = nowIso();
  await db.transaction().execute(async (trx) => {
    for (let i = 0; i < n; i += CHUNK) {
      const chunk = Array.from({ length: Math.min(CHUNK, n - i) }, (_, j) => ({
        id: randomUUID(),
        key: `bench.setting.${String(i + j).padStart(6, '0')}`,
        value: JSON.stringify(settingValue(i + j)),
        created_at: now,
        updated_at: now,
        deleted_at: null,
        version: 1,
      }));
      await trx.insertInto('settings').values(chunk).execute();
    }
  });
}
