import path from 'node:path';
import type { Db, Dialect } from '../../src/platform/db.js';
import type { RequestDatabase } from '../../src/request/db/schema.js';
import type { Importer } from '../../src/request/importer/importer.js';
import type { ResponseDatabase } from '../../src/response/db/schema.js';
import { createSetting } from '../../src/response/settings/settings.service.js';
import { runResponseTask } from '../../src/response/tasks/registry.js';
import { exportCtx, importerFor, openRequestDb, openResponseDb } from './exchange.js';
import { type TestEnv, testEnv } from './system.js';

/**
 * A Response side writing folder A and a Request side whose importer reads B, a copy of A that the test
 * makes file by file (mirror.ts): the set-up of the suites about mirrors and kept batches.
 */
export interface MirrorSides {
  env: TestEnv;
  resp: Db<ResponseDatabase>;
  req: Db<RequestDatabase>;
  importer: Importer;
  A: string;
  B: string;
  /** `n` new settings on the Response side (keys starting `key`), each exported as a batch of its own. */
  settingBatches(n: number): Promise<void>;
  close(): Promise<void>;
}

export async function openMirrorSides(dialect: Dialect, key: string): Promise<MirrorSides> {
  const env = testEnv(dialect);
  const resp = await openResponseDb(env);
  const req = await openRequestDb(env);
  const B = path.join(env.dir, 'mirror');
  return {
    env,
    resp,
    req,
    importer: importerFor(env, req.kysely, { exchangeDir: B }),
    A: env.config.exchangeDir,
    B,
    async settingBatches(n) {
      for (let i = 0; i < n; i++) {
        await createSetting(resp.kysely, `${key}${Date.now()}.${i}`, i);
        await runResponseTask(exportCtx(env, resp.kysely), 'export_settings_to_request_network', {});
      }
    },
    async close() {
      await resp.close();
      await req.close();
      await env.cleanup();
    },
  };
}
