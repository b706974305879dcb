import { Data } from '../components/feedback.js';
import type { Session } from '../lib/api.js';
import { t } from '../lib/i18n.js';
import { ResetPassword } from './reset-password.js';

/** A user's own page: who they are, and a new password (which then syncs to the Request Network). */
export function AccountPage({ session }: { session: Session }) {
  return (
    <section aria-labelledby="account-title">
      <h1 id="account-title">{t('account.title')}</h1>
      <p>
        {t('account.signed_in_as')} <Data>{session.username}</Data>
      </p>
      <h2>{t('account.change_password')}</h2>
      <ResetPassword userId={session.id} username={session.username} />
    </section>
  );
}
