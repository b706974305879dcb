import { Type } from 'typebox';

const NullableString = Type.Union([Type.String(), Type.Null()]);

/** GET /exchange/status: per stream, what the Response side wrote to the exchange folder and what waits. */
export const ExchangeStatusOut = Type.Object({
  /** The generation this database writes (exchange/generation.ts); null before the first export. */
  generation: NullableString,
  checked_at: Type.String({ format: 'date-time' }),
  streams: Type.Array(
    Type.Object({
      stream: Type.String(),
      newest_seq_written: Type.Integer({ description: 'Newest batch whose file was written (pruned ones included)' }),
      newest_written_at: Type.Union([Type.String(), Type.Null()], {
        description: 'When that batch was written; null when none is on record (none yet, or all pruned)',
      }),
      files_in_folder: Type.Integer({ description: 'Batch files in the stream folder now' }),
      oldest_in_folder_seq: Type.Union([Type.Integer(), Type.Null()]),
      pruned_count: Type.Integer({ description: 'Batch files removed by retention so far' }),
      snapshot: Type.Union([
        Type.Object({
          file: Type.String(),
          seq: Type.Integer({ description: "The stream's newest batch the snapshot reflects" }),
          written_at: Type.String({ description: "The snapshot header's created_at" }),
        }),
        Type.Null(),
      ]),
      outbox_waiting: Type.Integer({ description: 'Changes committed but not in a written file yet' }),
      oldest_waiting_at: NullableString,
    }),
  ),
  /** Tasks that write to the exchange folder: each may be run now with POST /tasks/{name}/run. */
  export_tasks: Type.Array(Type.String()),
});

export const RunsQuery = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: 200, default: 20 }),
});

/** GET /exchange/runs: recent runs of the export tasks, newest first, from the queue's kept jobs. */
export const ExportRunOut = Type.Object({
  id: Type.String({ description: 'The task id (GET /tasks/{id})' }),
  task: Type.String(),
  state: Type.Union([
    Type.Literal('PENDING'),
    Type.Literal('STARTED'),
    Type.Literal('RETRY'),
    Type.Literal('SUCCESS'),
    Type.Literal('FAILURE'),
  ]),
  created_at: Type.String(),
  started_at: NullableString,
  finished_at: NullableString,
  duration_ms: Type.Union([Type.Integer(), Type.Null()]),
  error: NullableString,
});

export const ActivityQuery = Type.Object({
  minutes: Type.Integer({ minimum: 1, maximum: 1440, default: 60 }),
});

/** GET /exchange/activity: changes written to batch files per minute, oldest minute first, zeros included. */
export const ActivityOut = Type.Object({
  minute: Type.String({ description: 'The minute, as ISO-8601 UTC (seconds zero)' }),
  changes: Type.Integer(),
});
