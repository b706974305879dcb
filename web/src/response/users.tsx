import { useState } from 'preact/hooks';
import { Confirm, Dialog, Pager } from '../components/dialog.js';
import { Data, ErrorNote } from '../components/feedback.js';
import { Checkbox, Input, ListToolbar, Select } from '../components/fields.js';
import { PasswordPolicy } from '../components/password-policy.js';
import { ApiError, del, get, patch, post, query } from '../lib/api.js';
import { t, when, yesNo } from '../lib/i18n.js';
import { useLoad, usePaged } from '../lib/load.js';
import { ResetPassword } from './reset-password.js';

export interface User {
  id: string;
  username: string;
  email: string | null;
  is_active: boolean;
  is_admin: boolean;
  profile_type_id: string | null;
  password_changed_at?: string | null;
}

interface ProfileType {
  id: string;
  name: string;
}

type Editing = { mode: 'create' } | { mode: 'edit'; user: User };

/** Users: find by username, page, create, edit, (de)activate, reset a password, delete. */
export function UsersPage() {
  const [filter, setFilter] = useState('');
  const list = usePaged<User>(`/users${query({ q: filter })}`);
  const types = useLoad(() => get<ProfileType[]>('/profile-types?limit=1000'), []);
  const typeName = (id: string | null) => (id ? (types.data?.find((p) => p.id === id)?.name ?? id) : t('common.none'));
  const [editing, setEditing] = useState<Editing | undefined>();
  const [resetting, setResetting] = useState<User | undefined>();
  const [deleting, setDeleting] = useState<User | undefined>();
  const [error, setError] = useState<unknown>();

  const setActive = async (u: User, active: boolean) => {
    setError(undefined);
    try {
      await patch(`/users/${u.id}`, { is_active: active });
      list.reload();
    } catch (e) {
      setError(e);
    }
  };
  const remove = async () => {
    const u = deleting;
    setDeleting(undefined);
    if (!u) return;
    setError(undefined);
    try {
      await del(`/users/${u.id}`);
      list.reload();
    } catch (e) {
      setError(e);
    }
  };

  return (
    <section aria-labelledby="users-title">
      <h1 id="users-title">{t('users.title')}</h1>
      <ListToolbar
        id="user-search"
        label={t('users.search')}
        onSearch={setFilter}
        create={t('users.create')}
        onCreate={() => setEditing({ mode: 'create' })}
      />
      <ErrorNote error={error ?? list.error} />
      <div class="table-wrap">
        <table>
          <caption class="visually-hidden">{t('users.title')}</caption>
          <thead>
            <tr>
              <th scope="col">{t('users.username')}</th>
              <th scope="col">{t('users.email')}</th>
              <th scope="col">{t('users.profile_type')}</th>
              <th scope="col">{t('users.active')}</th>
              <th scope="col">{t('users.admin')}</th>
              <th scope="col">{t('users.password_changed')}</th>
              <th scope="col">{t('common.actions')}</th>
            </tr>
          </thead>
          <tbody>
            {(list.data ?? []).map((u) => (
              <tr key={u.id} data-username={u.username}>
                <td>
                  <Data>{u.username}</Data>
                </td>
                <td>{u.email ? <Data>{u.email}</Data> : t('common.none')}</td>
                <td>{u.profile_type_id ? <Data>{typeName(u.profile_type_id)}</Data> : t('common.none')}</td>
                <td>{yesNo(u.is_active)}</td>
                <td>{yesNo(u.is_admin)}</td>
                <td>{when(u.password_changed_at)}</td>
                <td class="row-actions">
                  <button type="button" onClick={() => setEditing({ mode: 'edit', user: u })}>
                    {t('common.edit')}
                  </button>
                  <button type="button" onClick={() => setActive(u, !u.is_active)}>
                    {u.is_active ? t('users.deactivate') : t('users.activate')}
                  </button>
                  <button type="button" onClick={() => setResetting(u)}>
                    {t('users.reset_password')}
                  </button>
                  <button type="button" class="danger" onClick={() => setDeleting(u)}>
                    {t('common.delete')}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {list.data && list.data.length === 0 ? <p>{t('common.empty')}</p> : null}
      <Pager {...list} />
      <Dialog
        title={editing?.mode === 'edit' ? t('users.edit') : t('users.create')}
        open={editing !== undefined}
        onClose={() => setEditing(undefined)}
      >
        {editing ? (
          <UserForm
            editing={editing}
            types={types.data ?? []}
            onDone={() => {
              setEditing(undefined);
              list.reload();
            }}
            onCancel={() => setEditing(undefined)}
          />
        ) : null}
      </Dialog>
      <Dialog title={t('users.reset_password')} open={resetting !== undefined} onClose={() => setResetting(undefined)}>
        {resetting ? (
          <ResetPassword
            userId={resetting.id}
            username={resetting.username}
            onClose={() => {
              setResetting(undefined);
              list.reload();
            }}
          />
        ) : null}
      </Dialog>
      <Confirm
        open={deleting !== undefined}
        title={t('users.delete_title')}
        text={deleting ? t('users.delete_text', { username: deleting.username }) : ''}
        action={t('common.delete')}
        onConfirm={remove}
        onCancel={() => setDeleting(undefined)}
      />
    </section>
  );
}

function UserForm({
  editing,
  types,
  onDone,
  onCancel,
}: {
  editing: Editing;
  types: ProfileType[];
  onDone: () => void;
  onCancel: () => void;
}) {
  const user = editing.mode === 'edit' ? editing.user : undefined;
  const [username, setUsername] = useState(user?.username ?? '');
  const [email, setEmail] = useState(user?.email ?? '');
  const [password, setPassword] = useState('');
  const [typeId, setTypeId] = useState(user?.profile_type_id ?? '');
  const [active, setActive] = useState(user?.is_active ?? true);
  const [admin, setAdmin] = useState(user?.is_admin ?? false);
  const [fields, setFields] = useState<Record<string, string>>({});
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setFields({});
    setError(undefined);
    const body: Record<string, unknown> = {
      username,
      email: email.trim() ? email.trim() : null,
      profile_type_id: typeId || null,
      is_active: active,
      is_admin: admin,
    };
    try {
      if (user) await patch(`/users/${user.id}`, body);
      else await post('/users', { ...body, password });
      onDone();
    } catch (err) {
      if (err instanceof ApiError && err.status === 422 && Object.keys(err.fields()).length) setFields(err.fields());
      else if (err instanceof ApiError && err.status === 409) setFields({ username: err.text() });
      else setError(err);
      setBusy(false);
    }
  };
  return (
    <form onSubmit={submit}>
      <Input
        id="user-username"
        label={t('users.username')}
        value={username}
        onInput={setUsername}
        error={fields.username}
        required
      />
      <Input
        id="user-email"
        type="email"
        label={t('users.email')}
        value={email}
        onInput={setEmail}
        error={fields.email}
      />
      {user ? null : (
        <Input
          id="user-password"
          type="password"
          autocomplete="new-password"
          label={t('users.password')}
          value={password}
          onInput={setPassword}
          error={fields.password}
          hint={<PasswordPolicy password={password} username={username} />}
          required
        />
      )}
      <Select
        id="user-profile-type"
        label={t('users.profile_type')}
        value={typeId}
        onChange={setTypeId}
        error={fields.profile_type_id}
        options={[{ value: '', label: t('common.none') }, ...types.map((p) => ({ value: p.id, label: p.name }))]}
      />
      <Checkbox id="user-active" label={t('users.active')} checked={active} onChange={setActive} />
      <Checkbox id="user-admin" label={t('users.admin')} checked={admin} onChange={setAdmin} />
      <ErrorNote error={error} />
      <div class="actions">
        <button type="submit" class="primary" disabled={busy}>
          {t('common.save')}
        </button>
        <button type="button" onClick={onCancel}>
          {t('common.cancel')}
        </button>
      </div>
    </form>
  );
}
