import type { Schedule } from '../../platform/worker.js';

/** The Request Network's queue (BullMQ appends it to the key prefix). */
export const REQUEST_QUEUE = 'request';

/** The seed's task name: it imports every stream, not only settings and passwords. */
export const IMPORT_TASK = 'import_settings_and_passwords';

export interface ImportTaskData {
  /** What asked for the run: the schedule, a new file seen in the exchange folder, or an operator. */
  trigger?: 'schedule' | 'file' | 'manual';
}

export const requestSchedule = (importIntervalS: number): Schedule[] => [
  {
    id: 'import-settings-and-passwords-every-minute',
    task: IMPORT_TASK,
    everyMs: importIntervalS * 1000,
    data: { trigger: 'schedule' } satisfies ImportTaskData,
  },
];
