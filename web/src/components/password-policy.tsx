import { t } from '../lib/i18n.js';

/*
 * The API's password rules (src/platform/passwords.ts `passwordProblem`), checked as the user types so
 * the policy is visible before anything is sent; the API checks again and its 422 goes at the field.
 */
export function passwordChecks(password: string, username?: string) {
  const lower = password.toLowerCase();
  return [
    { key: 'policy.length', ok: password.length >= 8 },
    { key: 'policy.bytes', ok: new TextEncoder().encode(password).length <= 72 },
    { key: 'policy.letter_digit', ok: /[A-Za-z\p{L}]/u.test(password) && /\d/.test(password) },
    { key: 'policy.not_username', ok: !username || !lower.includes(username.toLowerCase()) },
  ] as const;
}

export const passwordOk = (password: string, username?: string): boolean =>
  passwordChecks(password, username).every((c) => c.ok);

export function PasswordPolicy({ password, username }: { password: string; username?: string | undefined }) {
  return (
    <ul class="policy" aria-live="polite">
      {passwordChecks(password, username).map((c) => (
        <li key={c.key} class={c.ok ? 'ok' : 'not-ok'}>
          <span aria-hidden="true">{c.ok ? '✓' : '✗'}</span> {t(c.key)}
          <span class="visually-hidden">{c.ok ? t('policy.met') : t('policy.unmet')}</span>
        </li>
      ))}
    </ul>
  );
}
