import type { ComponentChildren } from 'preact';
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

interface Column<T> {
  head: string;
  cell: (row: T) => ComponentChildren;
}

/** One read-only page: its title, a table of the rows `path` lists (paged), and when each was synced. */
function SyncedList<T extends { id: string; synced_at: string }>(props: {
  id: string;
  title: string;
  path: string;
  columns: Column<T>[];
}) {
  const list = usePaged<T>(props.path);
  const columns: Column<T>[] = [...props.columns, { head: t('common.synced'), cell: (row) => when(row.synced_at) }];
  return (
    <section aria-labelledby={props.id}>
      <h1 id={props.id}>{props.title}</h1>
      <ErrorNote error={list.error} />
      <div class="table-wrap">
        <table>
          <thead>
            <tr>
              {columns.map((c) => (
                <th scope="col" key={c.head}>
                  {c.head}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {(list.data ?? []).map((row) => (
              <tr key={row.id}>
                {columns.map((c) => (
                  <td key={c.head}>{c.cell(row)}</td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <Pager {...list} />
    </section>
  );
}

const orNone = (text: string | null | undefined) => (text ? <Data>{text}</Data> : t('common.none'));

export function SyncedUsersPage() {
  return (
    <SyncedList<SyncedUser>
      id="susers-title"
      title={t('users.title')}
      path="/users"
      columns={[
        { head: t('users.username'), cell: (u) => <Data>{u.username}</Data> },
        { head: t('users.email'), cell: (u) => orNone(u.email) },
        { head: t('users.profile_type'), cell: (u) => orNone(u.profile_type?.name) },
        { head: t('users.active'), cell: (u) => yesNo(u.is_active) },
        { head: t('users.admin'), cell: (u) => yesNo(u.is_admin) },
      ]}
    />
  );
}

interface SyncedSetting {
  id: string;
  key: string;
  value: unknown;
  synced_at: string;
}

export function SyncedSettingsPage() {
  return (
    <SyncedList<SyncedSetting>
      id="ssettings-title"
      title={t('settings.title')}
      path="/settings"
      columns={[
        { head: t('settings.key'), cell: (s) => <Data>{s.key}</Data> },
        {
          head: t('settings.value'),
          cell: (s) => (
            <code translate={false} dir="ltr">
              {JSON.stringify(s.value)}
            </code>
          ),
        },
      ]}
    />
  );
}

interface SyncedType {
  id: string;
  name: string;
  description: string | null;
  synced_at: string;
}

export function SyncedTypesPage() {
  return (
    <SyncedList<SyncedType>
      id="stypes-title"
      title={t('types.title')}
      path="/profile-types"
      columns={[
        { head: t('types.name'), cell: (p) => <Data>{p.name}</Data> },
        { head: t('types.description'), cell: (p) => orNone(p.description) },
      ]}
    />
  );
}
