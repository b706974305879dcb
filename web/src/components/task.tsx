import { useEffect, useState } from 'preact/hooks';
import { get } from '../lib/api.js';
import { currentLang, t } from '../lib/i18n.js';
import { Busy, Data, describeError } from './feedback.js';

interface TaskOut {
  task_id: string;
  name: string;
  state: string;
  error: string | null;
}

const DONE = new Set(['SUCCESS', 'FAILURE']);
const STATES = ['PENDING', 'STARTED', 'RETRY', 'SUCCESS', 'FAILURE'] as const;

/**
 * A task state in Celery's word (PENDING, SUCCESS...), which the seed's users know; in Persian, the Persian
 * word with Celery's beside it.
 */
export function TaskState({ state }: { state: string }) {
  const known = (STATES as readonly string[]).includes(state);
  if (!known) return <Data>{state}</Data>;
  const word = t(`state.${state as (typeof STATES)[number]}`);
  if (currentLang() === 'en') return <>{word}</>;
  return (
    <>
      {word} (<Data>{state}</Data>)
    </>
  );
}
const POLL_MS = 500;

/** Follows GET /tasks/:id until SUCCESS or FAILURE, showing the task's id and state as it goes. */
export function TaskProgress({ taskId, onDone }: { taskId: string; onDone?: (state: string) => void }) {
  const [task, setTask] = useState<TaskOut | undefined>();
  const [error, setError] = useState<unknown>();
  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const poll = async () => {
      try {
        const now = await get<TaskOut>(`/tasks/${encodeURIComponent(taskId)}`);
        if (stopped) return;
        setTask(now);
        setError(undefined);
        if (DONE.has(now.state)) {
          onDone?.(now.state);
          return;
        }
      } catch (e) {
        if (stopped) return;
        setError(e);
      }
      timer = setTimeout(poll, POLL_MS);
    };
    void poll();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [taskId]);
  const state = task?.state ?? 'PENDING';
  return (
    <div class={`task task-${state.toLowerCase()}`} data-task-state={state}>
      <p>
        {t('task.id')} <Data>{taskId}</Data>
      </p>
      <p role="status">
        {t('task.state')}{' '}
        <strong class="state">
          <TaskState state={state} />
        </strong>
      </p>
      {DONE.has(state) ? null : <Busy label={t('task.waiting')} />}
      {task?.error ? (
        <p class="error" role="alert">
          <Data>{task.error}</Data>
        </p>
      ) : null}
      {error ? <p class="error">{describeError(error)}</p> : null}
    </div>
  );
}
