import { useState } from 'preact/hooks';
import { Confirm, Dialog, Pager } from '../components/dialog.js';
import { Data, ErrorNote } from '../components/feedback.js';
import { Input, ListToolbar, TextArea } from '../components/fields.js';
import { ApiError, del, post, put, query } from '../lib/api.js';
import { t, when } from '../lib/i18n.js';
import { usePaged } from '../lib/load.js';

interface Setting {
  id: string;
  key: string;
  value: unknown;
  version: number;
  updated_at: string;
}

type Editing = { mode: 'create' } | { mode: 'edit'; setting: Setting };

/** Settings: filter by key prefix, create and edit with a JSON editor, delete. */
export function SettingsPage() {
  const [filter, setFilter] = useState('');
  const list = usePaged<Setting>(`/settings${query({ prefix: filter })}`);
  const [editing, setEditing] = useState<Editing | undefined>();
  const [deleting, setDeleting] = useState<Setting | undefined>();
  const [error, setError] = useState<unknown>();
  const remove = async () => {
    const s = deleting;
    setDeleting(undefined);
    if (!s) return;
    setError(undefined);
    try {
      await del(`/settings/${encodeURIComponent(s.key)}`);
      list.reload();
    } catch (e) {
      setError(e);
    }
  };
  return (
    <section aria-labelledby="settings-title">
      <h1 id="settings-title">{t('settings.title')}</h1>
      <ListToolbar
        id="setting-filter"
        label={t('settings.filter')}
        onSearch={setFilter}
        create={t('settings.create')}
        onCreate={() => setEditing({ mode: 'create' })}
      />
      <ErrorNote error={error ?? list.error} />
      <div class="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">{t('settings.key')}</th>
              <th scope="col">{t('settings.value')}</th>
              <th scope="col">{t('settings.version')}</th>
              <th scope="col">{t('common.updated')}</th>
              <th scope="col">{t('common.actions')}</th>
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
                <td>{s.version}</td>
                <td>{when(s.updated_at)}</td>
                <td class="row-actions">
                  <button type="button" onClick={() => setEditing({ mode: 'edit', setting: s })}>
                    {t('common.edit')}
                  </button>
                  <button type="button" class="danger" onClick={() => setDeleting(s)}>
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
        title={editing?.mode === 'edit' ? t('settings.edit') : t('settings.create')}
        open={editing !== undefined}
        onClose={() => setEditing(undefined)}
      >
        {editing ? (
          <SettingForm
            editing={editing}
            onDone={() => {
              setEditing(undefined);
              list.reload();
            }}
            onCancel={() => setEditing(undefined)}
          />
        ) : null}
      </Dialog>
      <Confirm
        open={deleting !== undefined}
        title={t('settings.delete_title')}
        text={deleting ? t('settings.delete_text', { key: deleting.key }) : ''}
        action={t('common.delete')}
        onConfirm={remove}
        onCancel={() => setDeleting(undefined)}
      />
    </section>
  );
}

/** Where JSON.parse stopped, in words of the catalogue (its own message is English and engine-specific). */
function jsonProblem(text: string): string | undefined {
  if (!text.trim()) return t('settings.json_empty');
  try {
    JSON.parse(text);
    return undefined;
  } catch (e) {
    const at = /position (\d+)/.exec(String(e))?.[1];
    return at ? t('settings.json_invalid_at', { pos: Number(at) + 1 }) : t('settings.json_invalid');
  }
}

function SettingForm({ editing, onDone, onCancel }: { editing: Editing; onDone: () => void; onCancel: () => void }) {
  const setting = editing.mode === 'edit' ? editing.setting : undefined;
  const [key, setKey] = useState(setting?.key ?? '');
  const [value, setValue] = useState(setting ? JSON.stringify(setting.value, null, 2) : '');
  const [fields, setFields] = useState<Record<string, string>>({});
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(undefined);
    const problem = jsonProblem(value);
    if (problem) {
      // Refused here: nothing is sent until the value is JSON.
      setFields({ value: problem });
      return;
    }
    setFields({});
    setBusy(true);
    try {
      const parsed: unknown = JSON.parse(value);
      if (setting) await put(`/settings/${encodeURIComponent(setting.key)}`, { value: parsed });
      else await post('/settings', { key, value: parsed });
      onDone();
    } catch (err) {
      if (err instanceof ApiError && err.status === 422) {
        const f = err.fields();
        setFields(Object.keys(f).some((k) => k === 'key' || k === 'value') ? f : { value: err.text() });
      } else if (err instanceof ApiError && err.status === 409) setFields({ key: err.text() });
      else setError(err);
      setBusy(false);
    }
  };
  return (
    <form onSubmit={submit} noValidate>
      {setting ? (
        <p>
          {t('settings.key')}: <Data>{setting.key}</Data>
        </p>
      ) : (
        <Input
          id="setting-key"
          label={t('settings.key')}
          value={key}
          onInput={setKey}
          error={fields.key}
          hint={t('settings.key_hint')}
          required
        />
      )}
      <TextArea
        id="setting-value"
        label={t('settings.value_json')}
        code
        value={value}
        onInput={(v) => {
          setValue(v);
          if (fields.value) setFields({ ...fields, value: '' });
        }}
        error={fields.value || undefined}
        hint={t('settings.value_hint')}
      />
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
