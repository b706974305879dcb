import fs from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { batchFileName } from '../../src/exchange/index.js';
import type { Db } from '../../src/platform/db.js';
import type { RequestDatabase } from '../../src/request/db/schema.js';
import type { Importer } from '../../src/request/importer/importer.js';
import type { ResponseDatabase } from '../../src/response/db/schema.js';
import { syncedState } from '../helpers/exchange.js';
import { copyInto } from '../helpers/mirror.js';
import { type MirrorSides, openMirrorSides } from '../helpers/mirror-sides.js';
import { dialects, waitFor } from '../helpers/system.js';

const _SETTINGS_TASK = 'export_settings_to_request_network';

/**
 * The Request side keeps every batch it applied in the folder (it never deletes), so the importer
 * applies the next batch by its name and reuses a stream folder's listing while the folder is unchanged
 * (src/request/importer/listings.ts). What it reports must still follow the folder: a batch landing
 * after a listing was reused is applied, and a gap that opens later is reported, even when a mirror puts
 * the folder's modification time back as `rsync -a` does.
 */
describe.each(dialects())('an importer over a folder that keeps every applied batch (%s)', (dialect) => {
  let resp: Db<ResponseDatabase>;
  let req: Db<RequestDatabase>;
  let importer: Importer;
  let A: string;
  let B: string;
  const rel = (seq: number) => path.join('settings', batchFileName(seq));

  let sides: MirrorSides;
  beforeEach(async () => {
    sides = await openMirrorSides(dialect, 'kept.k');
    ({ resp, req, importer, A, B } = sides);
  });
  afterEach(() => sides.close());
  const settingBatches = (n: number) => sides.settingBatches(n);
  const settingsState = () =>
    req.kysely.selectFrom('import_streams').selectAll().where('stream', '=', 'settings').executeTakeFirstOrThrow();
  const inSync = async () => {
    const [request, response] = await syncedState(resp.kysely, req.kysely);
    return JSON.stringify(request) === JSON.stringify(response);
  };

  it('applies batches landing after a reused listing and reports a gap that opens later, whatever the folder time says', async () => {
    await settingBatches(5);
    // rsync -a gives the mirror's folder the source folder's modification time (whole seconds here, so
    // putting it back later restores it exactly).
    const folder = path.join(B, 'settings');
    const sourceTime = new Date(Math.floor(Date.now() / 1000) * 1000);
    const mirror = async (seq: number) => {
      await copyInto(A, B, rel(seq));
      await fs.utimes(folder, sourceTime, sourceTime);
    };
    for (let seq = 1; seq <= 3; seq++) await mirror(seq);
    expect((await importer.importAll()).applied).toEqual({ settings: 3 });
    // Applied by name, before any listing saw them: the newest batch seen rises with the position.
    expect(await settingsState()).toMatchObject({ last_seq: 3, newest_seen: 3, waiting_for: null });

    // Left alone long enough for its listing to be trusted on later passes (folder times tick coarsely).
    const changedAt = (await fs.stat(folder)).ctimeMs;
    await waitFor(async () => Date.now() - changedAt > 2500, 10_000, 'the folder to settle');
    expect(await importer.importAll()).toMatchObject({ files: [], quarantined: [], waiting: {} });
    expect(await importer.importAll()).toMatchObject({ files: [], quarantined: [], waiting: {} });

    // Batch 5 lands before 4; the folder's modification time says nothing changed.
    await mirror(5);
    expect((await fs.stat(folder)).mtimeMs).toBe(sourceTime.getTime());
    expect((await importer.importAll()).waiting).toEqual({ settings: 4 });
    expect(await settingsState()).toMatchObject({ last_seq: 3, newest_seen: 5, waiting_for: 4 });

    await mirror(4);
    const result = await importer.importAll();
    expect(result.applied).toEqual({ settings: 2 });
    expect(result.waiting).toEqual({});
    expect(await settingsState()).toMatchObject({ last_seq: 5, newest_seen: 5, waiting_for: null });
    expect(await inSync()).toBe(true);
  });
});
