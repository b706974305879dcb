import { useState } from 'preact/hooks';
import { Confirm, Dialog, Pager } from '../components/dialog.js';
import { Data, ErrorNote } from '../components/feedback.js';
import { Input, TextArea } from '../components/fields.js';
import { ApiError, del, patch, post } from '../lib/api.js';
import { t, when } from '../lib/i18n.js';
import { usePaged } from '../lib/load.js';

interface ProfileType {
  id: string;
  name: string;
  description: string | null;
  version: number;
  updated_at: string;
}

type Editing = { mode: 'create' } | { mode: 'edit'; type: ProfileType };

/** Profile types: list, create, edit, delete (a type in use: the API's 409 says why). */
export function ProfileTypesPage() {
  const list = usePaged<ProfileType>('/profile-types');
  const [editing, setEditing] = useState<Editing | undefined>();
  const [deleting, setDeleting] = useState<ProfileType | undefined>();
  const [error, setError] = useState<unknown>();
  const remove = async () => {
    const p = deleting;
    setDeleting(undefined);
    if (!p) return;
    setError(undefined);
    try {
      await del(`/profile-types/${p.id}`);
      list.reload();
    } catch (e) {
      setError(e);
    }
  };
  return (
    <section aria-labelledby="types-title">
      <h1 id="types-title">{t('types.title')}</h1>
      <div class="toolbar">
        <button type="button" class="primary" onClick={() => setEditing({ mode: 'create' })}>
          {t('types.create')}
        </button>
      </div>
      {error instanceof ApiError && error.status === 409 ? (
        <p class="error" role="alert">
          {t('types.in_use', { reason: error.text() })}
        </p>
      ) : (
        <ErrorNote error={error ?? list.error} />
      )}
      <div class="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">{t('types.name')}</th>
              <th scope="col">{t('types.description')}</th>
              <th scope="col">{t('common.updated')}</th>
              <th scope="col">{t('common.actions')}</th>
            </tr>
          </thead>
          <tbody>
            {(list.data ?? []).map((p) => (
              <tr key={p.id}>
                <td>
                  <Data>{p.name}</Data>
                </td>
                <td>{p.description ? <Data>{p.description}</Data> : t('common.none')}</td>
                <td>{when(p.updated_at)}</td>
                <td class="row-actions">
                  <button type="button" onClick={() => setEditing({ mode: 'edit', type: p })}>
                    {t('common.edit')}
                  </button>
                  <button type="button" class="danger" onClick={() => setDeleting(p)}>
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
        title={editing?.mode === 'edit' ? t('types.edit') : t('types.create')}
        open={editing !== undefined}
        onClose={() => setEditing(undefined)}
      >
        {editing ? (
          <TypeForm
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
        title={t('types.delete_title')}
        text={deleting ? t('types.delete_text', { name: deleting.name }) : ''}
        action={t('common.delete')}
        onConfirm={remove}
        onCancel={() => setDeleting(undefined)}
      />
    </section>
  );
}

function TypeForm({ editing, onDone, onCancel }: { editing: Editing; onDone: () => void; onCancel: () => void }) {
  const current = editing.mode === 'edit' ? editing.type : undefined;
  const [name, setName] = useState(current?.name ?? '');
  const [description, setDescription] = useState(current?.description ?? '');
  const [fields, setFields] = useState<Record<string, string>>({});
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setFields({});
    setError(undefined);
    const body = { name, description: description.trim() ? description : null };
    try {
      if (current) await patch(`/profile-types/${current.id}`, body);
      else await post('/profile-types', body);
      onDone();
    } catch (err) {
      if (err instanceof ApiError && err.status === 422 && Object.keys(err.fields()).length) setFields(err.fields());
      else if (err instanceof ApiError && err.status === 409) setFields({ name: err.text() });
      else setError(err);
      setBusy(false);
    }
  };
  return (
    <form onSubmit={submit}>
      <Input id="type-name" label={t('types.name')} value={name} onInput={setName} error={fields.name} required />
      <TextArea
        id="type-description"
        label={t('types.description')}
        value={description}
        onInput={setDescription}
        rows={3}
        error={fields.description}
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
