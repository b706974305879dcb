import type { Queue } from 'bullmq';
import type { Kysely } from 'kysely';
import type { Stream } from '../../exchange/index.js';
import { addUncoalesced } from '../../platform/coalescing.js';
import type { Logger } from '../../platform/logger.js';
import type { ResponseDatabase } from '../db/schema.js';
import { streamsNotExported } from '../outbox.js';
import { type ExportTaskData, RESPONSE_TASKS, type ResponseTaskName } from './registry.js';

/** The task that flushes each stream first (the one a change of that stream enqueues). */
const TASK_OF: Record<Stream, ResponseTaskName> = {
  password_changes: 'sync_password_to_request_network',
  users: 'export_users',
  settings: 'export_settings_to_request_network',
  profile_types: 'export_profile_types',
};
// Each of those tasks must really flush its stream.
for (const [stream, task] of Object.entries(TASK_OF)) {
  if (!(RESPONSE_TASKS[task].streams as readonly string[]).includes(stream)) throw new Error(`${task} lacks ${stream}`);
}

/**
 * What a Response worker does as it starts: enqueue an export of every stream that has changes not yet in
 * the exchange folder, at once. After a crash those changes would otherwise wait for the job that was
 * carrying them (BullMQ revives a job whose worker died only after its lock lapses and a stall check sees
 * it, 30 to 60 s) or for the next scheduled export.
 *
 * The jobs are not coalesced (platform/coalescing.ts): a waiting job they would join may be the dead
 * worker's, and its run lock may still be held by the dead worker for a few seconds. Running beside a
 * revived job later is safe: a claim takes the database's lock, and a batch written twice is the same
 * file. @returns the tasks enqueued
 */
export async function exportWhatWaits(
  db: Kysely<ResponseDatabase>,
  queue: Queue,
  logger: Logger,
): Promise<ResponseTaskName[]> {
  const streams = await streamsNotExported(db);
  const tasks = [...new Set(streams.map((s) => TASK_OF[s]))];
  for (const task of tasks) {
    const id = await addUncoalesced(queue, task, {} satisfies ExportTaskData);
    logger.info({ task, task_id: id, streams }, `changes not yet exported at start: enqueued ${task}[${id}]`);
  }
  return tasks;
}
