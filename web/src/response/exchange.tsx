import { useState } from 'preact/hooks';
import { BarChart } from '../components/charts.js';
import { Data, ErrorNote } from '../components/feedback.js';
import { TaskProgress, TaskState } from '../components/task.js';
import { get, post } from '../lib/api.js';
import { num, t, when } from '../lib/i18n.js';
import { useEvery, useLoad } from '../lib/load.js';

interface StreamOut {
  stream: string;
  newest_seq_written: number;
  newest_written_at: string | null;
  files_in_folder: number;
  snapshot: { seq: number; written_at: string } | null;
  outbox_waiting: number;
  oldest_waiting_at: string | null;
}

interface ExchangeStatus {
  generation: string | null;
  streams: StreamOut[];
  export_tasks: string[];
}

interface Run {
  id: string;
  task: string;
  state: string;
  started_at: string | null;
  finished_at: string | null;
  duration_ms: number | null;
  error: string | null;
}

const REFRESH_MS = 5000;

/** The exchange folder as the Response side writes it: streams, export runs, "Run now", the last hour. */
export function ExchangePage() {
  const status = useLoad(() => get<ExchangeStatus>('/exchange/status'), []);
  const runs = useLoad(() => get<Run[]>('/exchange/runs?limit=20'), []);
  const activity = useLoad(() => get<{ minute: string; changes: number }[]>('/exchange/activity?minutes=60'), []);
  useEvery(REFRESH_MS, () => {
    status.reload();
    runs.reload();
    activity.reload();
  });
  const [started, setStarted] = useState<Record<string, string>>({});
  const [runError, setRunError] = useState<unknown>();
  const runNow = async (task: string) => {
    setRunError(undefined);
    try {
      const { task_id } = await post<{ task_id: string }>(`/tasks/${encodeURIComponent(task)}/run`);
      setStarted((s) => ({ ...s, [task]: task_id }));
    } catch (e) {
      setRunError(e);
    }
  };
  return (
    <section aria-labelledby="exchange-title">
      <h1 id="exchange-title">{t('exchange.title')}</h1>
      <p class="links">
        <a href="/admin/queues">{t('exchange.queues_link')}</a>
        <a href="/docs">{t('exchange.docs_link')}</a>
      </p>
      <ErrorNote error={status.error} />
      {status.data ? (
        <>
          <p>
            {t('exchange.generation')}{' '}
            {status.data.generation ? <Data>{status.data.generation}</Data> : t('common.none')}
          </p>
          <div class="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">{t('exchange.stream')}</th>
                  <th scope="col">{t('exchange.newest_batch')}</th>
                  <th scope="col">{t('exchange.snapshot')}</th>
                  <th scope="col">{t('exchange.files')}</th>
                  <th scope="col">{t('exchange.outbox')}</th>
                </tr>
              </thead>
              <tbody>
                {status.data.streams.map((s) => (
                  <tr key={s.stream}>
                    <th scope="row">
                      <Data>{s.stream}</Data>
                    </th>
                    <td>
                      {s.newest_seq_written === 0
                        ? t('common.none')
                        : t('exchange.seq_at', { seq: s.newest_seq_written, at: when(s.newest_written_at) })}
                    </td>
                    <td>
                      {s.snapshot
                        ? t('exchange.seq_at', { seq: s.snapshot.seq, at: when(s.snapshot.written_at) })
                        : t('common.none')}
                    </td>
                    <td>{num(s.files_in_folder)}</td>
                    <td>
                      {s.outbox_waiting === 0
                        ? num(0)
                        : t('exchange.waiting_since', { n: s.outbox_waiting, at: when(s.oldest_waiting_at) })}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <h2>{t('exchange.tasks')}</h2>
          <ErrorNote error={runError} />
          <ul class="tasks">
            {status.data.export_tasks.map((task) => (
              <li key={task}>
                <Data>{task}</Data>
                <button type="button" onClick={() => runNow(task)} aria-label={t('exchange.run_named', { task })}>
                  {t('exchange.run_now')}
                </button>
                {started[task] ? (
                  <TaskProgress key={started[task]} taskId={started[task]} onDone={() => runs.reload()} />
                ) : null}
              </li>
            ))}
          </ul>
        </>
      ) : null}
      <h2>{t('exchange.activity')}</h2>
      <ErrorNote error={activity.error} />
      {activity.data ? (
        <BarChart
          label={t('exchange.activity')}
          points={activity.data.map((a) => ({ minute: a.minute, value: a.changes }))}
        />
      ) : null}
      <h2>{t('exchange.runs')}</h2>
      <ErrorNote error={runs.error} />
      <div class="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">{t('exchange.task')}</th>
              <th scope="col">{t('task.state')}</th>
              <th scope="col">{t('exchange.started')}</th>
              <th scope="col">{t('exchange.duration')}</th>
              <th scope="col">{t('exchange.error')}</th>
            </tr>
          </thead>
          <tbody>
            {(runs.data ?? []).map((r) => (
              <tr key={r.id}>
                <td>
                  <Data>{r.task}</Data>
                </td>
                <td>
                  <TaskState state={r.state} />
                </td>
                <td>{when(r.started_at)}</td>
                <td>{r.duration_ms === null ? t('common.none') : t('exchange.ms', { n: r.duration_ms })}</td>
                <td>{r.error ? <Data>{r.error}</Data> : t('common.none')}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
