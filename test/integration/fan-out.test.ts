import { afterEach, describe, expect, it } from 'vitest';
import { batchFileName } from '../../src/exchange/index.js';
import type { Db } from '../../src/platform/db.js';
import type { App } from '../../src/platform/http.js';
import { hashPassword } from '../../src/platform/passwords.js';
import type { Runtime } from '../../src/platform/runtime.js';
import type { RequestDatabase } from '../../src/request/db/schema.js';
import type { Importer } from '../../src/request/importer/importer.js';
import { startRequestApi } from '../../src/request/start.js';
import type { ResponseDatabase } from '../../src/response/db/schema.js';
import { createProfileType, deleteProfileType } from '../../src/response/profile-types/profile-types.service.js';
import { changeSetting, createSetting, deleteSetting } from '../../src/response/settings/settings.service.js';
import { runResponseTask } from '../../src/response/tasks/registry.js';
import { changePassword, changeUser, createUser, deleteUser } from '../../src/response/users/users.service.js';
import { batchNames, exportCtx, importerFor, openRequestDb, openResponseDb, syncedState } from '../helpers/exchange.js';
import { canLogin, dialects, type TestEnv, testEnv, testRuntime } from '../helpers/system.js';

/**
 * One Response side's exchange folder followed by several Request sides at once, each with its own
 * database and its own Redis key prefix, sharing nothing but the folder: each keeps its own position, and
 * none takes anything from another (the folder is only read). Three follow along at their own pace; a
 * fourth, started empty after many changes and after the early batches were pruned, catches up from the
 * snapshots. All end with the Response side's data, checked in their databases and through their APIs.
 */

/** A Request side: its own environment (temp folder, key prefix, database), importer and API. */
interface Follower {
  readonly env: TestEnv;
  readonly db: Db<RequestDatabase>;
  readonly importer: Importer;
  readonly rt: Runtime;
  readonly api: App;
}

const TASKS = ['export_profile_types', 'export_users', 'export_settings_to_request_network'] as const;

describe.each(dialects())('three Request sides and a late fourth follow one exchange folder (%s)', (dialect) => {
  let env: TestEnv | undefined;
  let resp: Db<ResponseDatabase> | undefined;
  const followers: Follower[] = [];
  afterEach(async () => {
    for (const f of followers.splice(0)) {
      await f.rt.lifecycle.stop();
      await f.db.close();
      await f.env.cleanup();
    }
    await resp?.close();
    await env?.cleanup();
  });

  it('each converges to the same data; the late one from the snapshots, with nothing missing', async () => {
    env = testEnv(dialect);
    resp = await openResponseDb(env);
    const db = resp.kysely;
    const ctx = exportCtx(env, db);
    const theEnv = env;

    /** A Request side reading the same folder, trusting only the Response side's public key. */
    const follow = async (): Promise<Follower> => {
      const own = testEnv(dialect, {
        EXPORT_DIR: theEnv.config.exchangeDir,
        EXCHANGE_TRUSTED_KEYS: theEnv.env.EXCHANGE_TRUSTED_KEYS as string,
      });
      const rt = testRuntime(own.config);
      const f = {
        env: own,
        db: await openRequestDb(own),
        rt,
        api: await startRequestApi(rt, { listen: false }),
      };
      const follower = { ...f, importer: importerFor(own, f.db.kysely) };
      followers.push(follower);
      return follower;
    };
    const [a, b, c] = [await follow(), await follow(), await follow()];
    expect(new Set([a, b, c].map((f) => f.env.config.queuePrefix)).size).toBe(3);
    expect(new Set([a, b, c].map((f) => f.env.config.requestDatabaseUrl)).size).toBe(3);

    const flush = async (snapshot = false) => {
      for (const task of TASKS) await runResponseTask(ctx, task, { snapshot });
      await runResponseTask(ctx, 'sync_password_to_request_network', {});
    };
    const password = new Map<string, string>();
    const setPassword = async (id: string, pw: string) => {
      password.set(id, pw);
      await changePassword(db, id, await hashPassword(pw, 4));
    };

    // Weeks of changes in rounds, each exported as batches (a snapshot every third round); the three
    // followers import at their own pace, side by side: a every round, b every second, c every third.
    const root = await createUser(db, { username: 'root', hashedPassword: await hashPassword('Root-pass-1', 4) });
    const staff = await createProfileType(db, { name: 'staff' });
    const users: { id: string; username: string }[] = [];
    const gone: string[] = [];
    for (let round = 0; round < 9; round++) {
      for (let i = 0; i < 3; i++) {
        const username = `u${round}x${i}`;
        const pw = `First-${round}-${i}-pass`;
        const u = await createUser(db, { username, hashedPassword: await hashPassword(pw, 4) });
        users.push({ id: u.id, username });
        password.set(u.id, pw);
      }
      const living = users.filter((u) => !gone.includes(u.id));
      const some = living[(round * 7) % living.length] as { id: string };
      await setPassword(some.id, `Reset-${round}-pass`);
      await changeUser(db, some.id, { profile_type_id: staff.id, email: `r${round}@example.org` }, root.id);
      if (round % 3 === 1) {
        const victim = users[round] as { id: string };
        if (!gone.includes(victim.id)) {
          await deleteUser(db, victim.id, root.id);
          gone.push(victim.id);
        }
      }
      await createSetting(db, `app.k${round}`, { round });
      if (round > 0) await changeSetting(db, `app.k${round - 1}`, { round, changed: true });
      if (round === 4) await deleteSetting(db, 'app.k2');
      if (round === 5) await deleteProfileType(db, (await createProfileType(db, { name: 'temp' })).id);
      await flush(round % 3 === 2);
      await Promise.all(
        [a, b, c].filter((_, n) => round % (n + 1) === 0).map((f) => f.importer.importAll().then(() => undefined)),
      );
    }

    // The early batches go: older than the retention (as the bookkeeping says) and carried by the
    // snapshots the scheduled exports write now.
    await db
      .updateTable('export_batches')
      .set({ written_at: new Date(Date.now() - 8 * 86_400_000).toISOString() })
      .where('written_at', 'is not', null)
      .execute();
    const pruning = { ...ctx, retentionS: env.config.exchangeRetentionS };
    for (const task of TASKS) await runResponseTask(pruning, task, { snapshot: true });
    for (const stream of ['users', 'password_changes', 'settings', 'profile_types'] as const) {
      expect(await batchNames(env, stream)).not.toContain(batchFileName(1));
    }
    // Changes after the pruning travel as batches.
    const late = users.filter((u) => !gone.includes(u.id)).at(-1) as { id: string };
    await setPassword(late.id, 'After-prune-1');
    await changeSetting(db, 'app.k0', 'after the pruning');
    await flush();
    expect(await batchNames(env, 'password_changes')).toHaveLength(1);

    // The fourth starts now, empty, beside the three.
    const d = await follow();
    const everyone = [a, b, c, d];
    for (let pass = 0; pass < 2; pass++) {
      const results = await Promise.all(everyone.map((f) => f.importer.importAll()));
      for (const r of results) {
        expect(r.quarantined).toEqual([]);
        expect(r.waiting).toEqual({});
      }
    }

    // The fourth could only have come by its data through the snapshots: the batches it starts from are gone.
    const started = await d.db.kysely.selectFrom('import_streams').selectAll().where('stream', '=', 'users').execute();
    expect(started[0]?.snapshot_seq).toBeGreaterThan(1);

    // Each holds the Response side's data: users, passwords, settings, profile types, tombstones.
    for (const f of everyone) {
      const [request, response] = await syncedState(db, f.db.kysely);
      expect(response.users).toHaveLength(users.length + 1);
      expect(request).toEqual(response);
    }
    // And each one's own API logs users in with their newest password, and no one deleted.
    const living = users.filter((u) => !gone.includes(u.id));
    const deleted = users.find((u) => gone.includes(u.id)) as { id: string; username: string };
    for (const f of everyone) {
      for (const u of [living[0], living[7], living.at(-1)] as { id: string; username: string }[]) {
        expect(await canLogin(f.api, u.username, password.get(u.id) as string)).toBe(true);
      }
      expect(await canLogin(f.api, 'root', 'Root-pass-1')).toBe(true);
      expect(await canLogin(f.api, deleted.username, password.get(deleted.id) as string)).toBe(false);
    }
  });
});
