import { LineChart } from '../components/charts.js';
import { Data, ErrorNote } from '../components/feedback.js';
import { get } from '../lib/api.js';
import { num, t, when } from '../lib/i18n.js';
import { useEvery, useLoad } from '../lib/load.js';

interface StreamStatus {
  last_applied_at: string | null;
  last_seq: number;
  newest_seen: number;
  behind: number;
  lag_seconds: number | null;
  waiting_for: number | null;
  waiting_since: string | null;
  quarantine: { count: number; recent: { file: string; code: string; reason: string; quarantined_at: string }[] };
}

interface SyncStatus {
  checked_at: string;
  stale: boolean;
  heartbeat: { created_at: string; age_s: number } | null;
  streams: Record<string, StreamStatus>;
  held: { file: string; removals: number; limit: number; since: string }[];
}

interface Sample {
  minute: string;
  stream: string;
  /** null: unknown that minute (not drawn). */
  lag_s: number | null;
  behind: number;
}

const REFRESH_MS = 3000;
const HOUR_MS = 3_600_000;

/** Per stream: newest applied and present, lag, a missing batch waited for, refused files; refreshes itself. */
export function SyncStatusPage() {
  const status = useLoad(() => get<SyncStatus>('/sync/status'), []);
  const history = useLoad(() => get<Sample[]>('/sync/history?minutes=60'), []);
  useEvery(REFRESH_MS, status.reload);
  useEvery(REFRESH_MS * 3, history.reload);
  const s = status.data;
  const byStream = new Map<string, { at: number; value: number }[]>();
  for (const p of history.data ?? []) {
    if (p.lag_s === null) continue;
    const points = byStream.get(p.stream) ?? [];
    points.push({ at: Date.parse(p.minute), value: p.lag_s });
    byStream.set(p.stream, points);
  }
  const series = [...byStream].map(([name, points]) => ({ name, points: points.sort((a, b) => a.at - b.at) }));
  return (
    <section aria-labelledby="status-title">
      <h1 id="status-title">{t('status.title')}</h1>
      <ErrorNote error={status.error} />
      {s ? (
        <>
          <p class={s.stale ? 'error' : 'notice'} role="status" data-stale={String(s.stale)}>
            {s.stale ? t('status.stale') : t('status.fresh')} {t('status.checked', { at: when(s.checked_at) })}
          </p>
          <div class="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">{t('status.stream')}</th>
                  <th scope="col">{t('status.applied')}</th>
                  <th scope="col">{t('status.present')}</th>
                  <th scope="col">{t('status.lag')}</th>
                  <th scope="col">{t('status.waiting_for')}</th>
                  <th scope="col">{t('status.refused')}</th>
                </tr>
              </thead>
              <tbody>
                {Object.entries(s.streams).map(([name, st]) => (
                  <tr key={name}>
                    <th scope="row">
                      <Data>{name}</Data>
                    </th>
                    <td>
                      {st.last_seq === 0
                        ? t('common.none')
                        : t('status.seq_at', { seq: st.last_seq, at: when(st.last_applied_at) })}
                    </td>
                    <td>{num(st.newest_seen)}</td>
                    <td>
                      {st.behind === 0
                        ? t('status.caught_up')
                        : t('status.behind', { n: st.behind, s: num(st.lag_seconds ?? 0, 1) })}
                    </td>
                    <td>
                      {st.waiting_for === null
                        ? t('common.none')
                        : t('status.waiting_since', { seq: st.waiting_for, at: when(st.waiting_since) })}
                    </td>
                    <td>
                      {num(st.quarantine.count)}
                      {st.quarantine.recent.length ? (
                        <ul class="refused">
                          {st.quarantine.recent.map((q) => (
                            <li key={q.file}>
                              <Data>{q.file}</Data>: <Data>{q.reason}</Data>
                            </li>
                          ))}
                        </ul>
                      ) : null}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {s.held.length ? (
            <>
              <h2>{t('status.held')}</h2>
              <ul>
                {s.held.map((h) => (
                  <li key={h.file}>
                    <Data>{h.file}</Data> {t('status.held_why', { n: h.removals, limit: h.limit, at: when(h.since) })}
                  </li>
                ))}
              </ul>
            </>
          ) : null}
        </>
      ) : null}
      <h2>{t('status.chart')}</h2>
      <ErrorNote error={history.error} />
      {series.length ? (
        <LineChart label={t('status.chart')} series={series} from={Date.now() - HOUR_MS} to={Date.now()} />
      ) : (
        <p>{t('status.no_history')}</p>
      )}
    </section>
  );
}
