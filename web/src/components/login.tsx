import { useState } from 'preact/hooks';
import { ApiError, logIn, type Session } from '../lib/api.js';
import { t } from '../lib/i18n.js';
import { describeError } from './feedback.js';
import { Input } from './fields.js';

/** The log-in form: a refused password and a throttled login each say so under the form's button. */
export function Login({ onLoggedIn, heading }: { onLoggedIn: (s: Session) => void; heading: string }) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      onLoggedIn(await logIn(username, password));
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) setError(t('login.wrong'));
      else if (err instanceof ApiError && err.status === 429)
        setError(t('login.throttled', { s: err.retryAfterS ?? 0 }));
      else if (err instanceof ApiError && err.status === 422) setError(t('login.incomplete'));
      else setError(describeError(err));
      setBusy(false);
    }
  };
  return (
    <main class="login" id="main">
      <h1>{heading}</h1>
      <form onSubmit={submit} aria-describedby={error ? 'login-error' : undefined}>
        <Input
          id="username"
          label={t('login.username')}
          value={username}
          onInput={setUsername}
          autocomplete="username"
          required
        />
        <Input
          id="password"
          label={t('login.password')}
          type="password"
          value={password}
          onInput={setPassword}
          autocomplete="current-password"
          required
        />
        <button type="submit" class="primary" disabled={busy}>
          {t('login.submit')}
        </button>
        {error ? (
          <p id="login-error" class="error" role="alert">
            {error}
          </p>
        ) : null}
      </form>
    </main>
  );
}
