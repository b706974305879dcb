import type { ComponentChildren } from 'preact';
import { ApiError } from '../lib/api.js';
import { t } from '../lib/i18n.js';

/** Data shown as it is (usernames, keys, task names): isolated for bidi, and never translated. */
export function Data({ children }: { children: ComponentChildren }) {
  return (
    <bdi translate={false} class="data">
      {children}
    </bdi>
  );
}

/** An error for the whole form or page (field errors go next to their field). */
export function ErrorNote({ error }: { error: unknown }) {
  if (!error) return null;
  return (
    <p class="error" role="alert">
      {describeError(error)}
    </p>
  );
}

export function describeError(error: unknown): string {
  if (error instanceof ApiError) {
    if (error.status === 403) return t('error.forbidden');
    if (error.status === 404) return t('error.not_found');
    if (error.status === 409) return t('error.conflict', { reason: error.text() });
    if (error.status === 429) return t('error.throttled', { s: error.retryAfterS ?? 0 });
    if (error.status >= 500) return t('error.server', { status: error.status });
    return error.text();
  }
  return t('error.network');
}

/** Work in progress: an indeterminate progress bar with its label, announced politely. */
export function Busy({ label }: { label: string }) {
  return (
    <div class="busy" role="status">
      <progress aria-label={label} />
      <span>{label}</span>
    </div>
  );
}

export function Notice({ children }: { children: ComponentChildren }) {
  return (
    <p class="notice" role="status">
      {children}
    </p>
  );
}
