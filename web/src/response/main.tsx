import { render } from 'preact';
import { Shell } from '../components/shell.js';
import { applyLang, t } from '../lib/i18n.js';
import '@fontsource/vazirmatn/400.css';
import '@fontsource/vazirmatn/700.css';
import '../styles.css';
import { AccountPage } from './account.js';
import { AuditPage } from './audit.js';
import { ExchangePage } from './exchange.js';
import { ProfileTypesPage } from './profile-types.js';
import { SettingsPage } from './settings.js';
import { UsersPage } from './users.js';

applyLang();
render(
  <Shell
    side="response"
    pages={(session) => [
      { route: 'users', label: t('nav.users'), who: 'admin', render: () => <UsersPage /> },
      { route: 'settings', label: t('nav.settings'), who: 'admin', render: () => <SettingsPage /> },
      { route: 'profile-types', label: t('nav.types'), who: 'admin', render: () => <ProfileTypesPage /> },
      { route: 'exchange', label: t('nav.exchange'), who: 'admin', render: () => <ExchangePage /> },
      { route: 'audit', label: t('nav.audit'), who: 'admin', render: () => <AuditPage /> },
      { route: 'account', label: t('nav.account'), who: 'user', render: () => <AccountPage session={session} /> },
    ]}
  />,
  document.getElementById('app') as HTMLElement,
);
