import { Pager } from '../components/dialog.js';
import { Data, ErrorNote } from '../components/feedback.js';
import { t, when, yesNo } from '../lib/i18n.js';
import { usePaged } from '../lib/load.js';

/* Read-only lists of what was synced, with when each row arrived; what a user may see is the API's rule. */

interface SyncedUser {
  id: string;
  username: string;
  email: string | null;
  is_active: boolean;
  is_admin: boolean;
  profile_type: { name: string } | null;
  synced_at: string;
}

export function SyncedUsersPage() {
  const list = usePaged<SyncedUser>('/users');
  return (
    <section aria-labelledby="susers-title">
      <h1 id="susers-title">{t('users.title')}</h1>
      <ErrorNote error={list.error} />
      <div class="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">{t('users.username')}</th>
              <th scope="col">{t('users.email')}</th>
              <th scope="col">{t('users.profile_type')}</th>
              <th scope="col">{t('users.active')}</th>
              <th scope="col">{t('users.admin')}</th>
              <th scope="col">{t('common.synced')}</th>
            </tr>
          </thead>
          <tbody>
            {(list.data ?? []).map((u) => (
              <tr key={u.id}>
                <td>
                  <Data>{u.username}</Data>
                </td>
                <td>{u.email ? <Data>{u.email}</Data> : t('common.none')}</td>
                <td>{u.profile_type ? <Data>{u.profile_type.name}</Data> : t('common.none')}</td>
                <td>{yesNo(u.is_active)}</td>
                <td>{yesNo(u.is_admin)}</td>
                <td>{when(u.synced_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <Pager {...list} />
    </section>
  );
}

interface SyncedSetting {
  id: string;
  key: string;
  value: unknown;
  synced_at: string;
}

export function SyncedSettingsPage() {
  const list = usePaged<SyncedSetting>('/settings');
  return (
    <section aria-labelledby="ssettings-title">
      <h1 id="ssettings-title">{t('settings.title')}</h1>
      <ErrorNote error={list.error} />
      <div class="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">{t('settings.key')}</th>
              <th scope="col">{t('settings.value')}</th>
              <th scope="col">{t('common.synced')}</th>
            </tr>
          </thead>
          <tbody>
            {(list.data ?? []).map((s) => (
              <tr key={s.id}>
                <td>
                  <Data>{s.key}</Data>
                </td>
                <td>
                  <code translate={false} dir="ltr">
                    {JSON.stringify(s.value)}
                  </code>
                </td>
                <td>{when(s.synced_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <Pager {...list} />
    </section>
  );
}

interface SyncedType {
  id: string;
  name: string;
  description: string | null;
  synced_at: string;
}

export function SyncedTypesPage() {
  const list = usePaged<SyncedType>('/profile-types');
  return (
    <section aria-labelledby="stypes-title">
      <h1 id="stypes-title">{t('types.title')}</h1>
      <ErrorNote error={list.error} />
      <div class="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">{t('types.name')}</th>
              <th scope="col">{t('types.description')}</th>
              <th scope="col">{t('common.synced')}</th>
            </tr>
          </thead>
          <tbody>
            {(list.data ?? []).map((p) => (
              <tr key={p.id}>
                <td>
                  <Data>{p.name}</Data>
                </td>
                <td>{p.description ? <Data>{p.description}</Data> : t('common.none')}</td>
                <td>{when(p.synced_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <Pager {...list} />
    </section>
  );
}
