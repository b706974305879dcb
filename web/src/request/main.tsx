import { render } from 'preact';
import { Shell } from '../components/shell.js';
import { applyLang, t } from '../lib/i18n.js';
import '@fontsource/vazirmatn/400.css';
import '@fontsource/vazirmatn/700.css';
import '../styles.css';
import { SyncedSettingsPage, SyncedTypesPage, SyncedUsersPage } from './lists.js';
import { SyncStatusPage } from './status.js';

applyLang();
render(
  <Shell
    side="request"
    pages={() => [
      { route: 'status', label: t('nav.status'), who: 'any', render: () => <SyncStatusPage /> },
      { route: 'users', label: t('nav.users'), who: 'any', render: () => <SyncedUsersPage /> },
      { route: 'settings', label: t('nav.settings'), who: 'any', render: () => <SyncedSettingsPage /> },
      { route: 'profile-types', label: t('nav.types'), who: 'any', render: () => <SyncedTypesPage /> },
    ]}
  />,
  document.getElementById('app') as HTMLElement,
);
