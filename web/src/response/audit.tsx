import { useState } from 'preact/hooks';
import { Pager } from '../components/dialog.js';
import { Data, ErrorNote } from '../components/feedback.js';
import { Input, Select } from '../components/fields.js';
import { query } from '../lib/api.js';
import { t, when } from '../lib/i18n.js';
import { usePaged } from '../lib/load.js';

interface AuditEntry {
  id: number;
  at: string;
  actor_username: string | null;
  action: string;
  target_type: string;
  target_id: string | null;
  details: Record<string, unknown> | null;
  ip: string | null;
}

// The API's lists (src/response/audit/audit.schemas.ts); the words for them are in the catalogues.
const ACTIONS = [
  'user.create',
  'user.change',
  'user.delete',
  'user.password_reset',
  'setting.create',
  'setting.change',
  'setting.delete',
  'profile_type.create',
  'profile_type.change',
  'profile_type.delete',
  'task.run',
  'login.failed',
  'login.throttled',
] as const;
const TARGETS = ['user', 'setting', 'profile_type', 'task'] as const;

/** The audit trail, newest first, filtered by who, what, on what and since when. */
export function AuditPage() {
  const [actor, setActor] = useState('');
  const [action, setAction] = useState('');
  const [target, setTarget] = useState('');
  const [since, setSince] = useState('');
  const [filters, setFilters] = useState('');
  const list = usePaged<AuditEntry>(`/audit${filters}`);
  const apply = (e: Event) => {
    e.preventDefault();
    const sinceIso = since ? new Date(since).toISOString() : undefined;
    setFilters(query({ actor: actor.trim(), action, target_type: target, since: sinceIso }));
  };
  return (
    <section aria-labelledby="audit-title">
      <h1 id="audit-title">{t('audit.title')}</h1>
      <form class="filters" onSubmit={apply}>
        <Input id="audit-actor" label={t('audit.actor')} value={actor} onInput={setActor} />
        <Select
          id="audit-action"
          label={t('audit.action')}
          value={action}
          onChange={setAction}
          options={[
            { value: '', label: t('common.all') },
            ...ACTIONS.map((a) => ({ value: a, label: t(`action.${a}`) })),
          ]}
        />
        <Select
          id="audit-target"
          label={t('audit.target')}
          value={target}
          onChange={setTarget}
          options={[
            { value: '', label: t('common.all') },
            ...TARGETS.map((a) => ({ value: a, label: t(`target.${a}`) })),
          ]}
        />
        <Input id="audit-since" type="datetime-local" label={t('audit.since')} value={since} onInput={setSince} />
        <button type="submit">{t('common.filter')}</button>
      </form>
      <ErrorNote error={list.error} />
      <div class="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">{t('audit.at')}</th>
              <th scope="col">{t('audit.actor')}</th>
              <th scope="col">{t('audit.action')}</th>
              <th scope="col">{t('audit.target')}</th>
              <th scope="col">{t('audit.details')}</th>
            </tr>
          </thead>
          <tbody>
            {(list.data ?? []).map((a) => (
              <tr key={a.id}>
                <td>{when(a.at)}</td>
                <td>{a.actor_username ? <Data>{a.actor_username}</Data> : t('audit.system')}</td>
                <td>
                  {(ACTIONS as readonly string[]).includes(a.action) ? (
                    t(`action.${a.action as (typeof ACTIONS)[number]}`)
                  ) : (
                    <Data>{a.action}</Data>
                  )}
                </td>
                <td>
                  {(TARGETS as readonly string[]).includes(a.target_type) ? (
                    t(`target.${a.target_type as (typeof TARGETS)[number]}`)
                  ) : (
                    <Data>{a.target_type}</Data>
                  )}{' '}
                  {a.target_id ? <Data>{a.target_id}</Data> : null}
                </td>
                <td>
                  {a.details ? (
                    <code translate={false} dir="ltr">
                      {JSON.stringify(a.details)}
                    </code>
                  ) : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {list.data && list.data.length === 0 ? <p>{t('common.empty')}</p> : null}
      <Pager {...list} />
    </section>
  );
}
