import { useState } from 'preact/hooks';
import { Busy, ErrorNote } from '../components/feedback.js';
import { Input } from '../components/fields.js';
import { PasswordPolicy, passwordOk } from '../components/password-policy.js';
import { TaskProgress } from '../components/task.js';
import { ApiError, logIn, post, whoAmI } from '../lib/api.js';
import { t } from '../lib/i18n.js';

interface ResetOut {
  success: boolean;
  sync_task_id: string | null;
}

/**
 * A new password for a user (an admin for anyone, a user for themself): the policy is checked as it is
 * typed, then the sync task the API returns is followed until it reaches SUCCESS or FAILURE.
 */
export function ResetPassword({
  userId,
  username,
  onClose,
}: {
  userId: string;
  username: string;
  onClose?: () => void;
}) {
  const [password, setPassword] = useState('');
  const [fieldError, setFieldError] = useState<string | undefined>();
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const [taskId, setTaskId] = useState<string | null | undefined>();
  const submit = async (e: Event) => {
    e.preventDefault();
    setFieldError(undefined);
    setError(undefined);
    if (!passwordOk(password, username)) {
      setFieldError(t('policy.refused'));
      return;
    }
    setBusy(true);
    try {
      const out = await post<ResetOut>(`/users/${userId}/reset-password`, { new_password: password });
      // A new password ends the user's sessions, this one too when it is their own: log in again with it,
      // so the console stays logged in and can follow the sync task.
      if (whoAmI()?.id === userId) await logIn(whoAmI()?.username ?? username, password);
      setTaskId(out.sync_task_id);
      setPassword('');
    } catch (err) {
      if (err instanceof ApiError && err.status === 422) setFieldError(err.fields().new_password ?? err.text());
      else setError(err);
    } finally {
      setBusy(false);
    }
  };
  if (taskId !== undefined)
    return (
      <div class="reset-done">
        <p role="status">{t('reset.done')}</p>
        {taskId ? <TaskProgress taskId={taskId} /> : <p>{t('reset.no_task')}</p>}
        {onClose ? (
          <div class="actions">
            <button type="button" onClick={onClose}>
              {t('common.close')}
            </button>
          </div>
        ) : null}
      </div>
    );
  return (
    <form onSubmit={submit}>
      <Input
        id="new-password"
        type="password"
        autocomplete="new-password"
        label={t('reset.new_password')}
        value={password}
        onInput={setPassword}
        error={fieldError}
        hint={<PasswordPolicy password={password} username={username} />}
        required
      />
      <ErrorNote error={error} />
      {busy ? <Busy label={t('reset.sending')} /> : null}
      <div class="actions">
        <button type="submit" class="primary" disabled={busy}>
          {t('reset.submit')}
        </button>
        {onClose ? (
          <button type="button" onClick={onClose}>
            {t('common.cancel')}
          </button>
        ) : null}
      </div>
    </form>
  );
}
