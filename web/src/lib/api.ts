/*
 * The JSON API, from the browser: same-origin requests carrying the session cookie, and the CSRF token
 * (from POST /auth/session or GET /auth/me, kept in memory only) on every write. Errors keep the API's
 * FastAPI-shaped `detail` so a form can put each message next to its field.
 */

export interface Session {
  id: string;
  username: string;
  admin: boolean;
  expires_at: string;
  csrf_token: string;
}

interface FieldDetail {
  loc: (string | number)[];
  msg: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly detail: unknown,
    readonly retryAfterS: number | undefined,
  ) {
    super(typeof detail === 'string' ? detail : `HTTP ${status}`);
  }

  /** Field name (the last part of `loc`) -> message, for a 422. */
  fields(): Record<string, string> {
    const out: Record<string, string> = {};
    if (Array.isArray(this.detail)) {
      for (const d of this.detail as FieldDetail[]) {
        const field = String(d.loc?.[d.loc.length - 1] ?? '');
        if (field && !out[field]) out[field] = d.msg;
      }
    }
    return out;
  }

  /** One line for the whole answer. */
  text(): string {
    if (typeof this.detail === 'string') return this.detail;
    if (Array.isArray(this.detail)) return (this.detail as FieldDetail[]).map((d) => d.msg).join('; ');
    return this.message;
  }
}

let csrfToken = '';
let me: Session | undefined;

/** Who is logged in (as the last log-in or GET /auth/me said), if anyone. */
export const whoAmI = (): Session | undefined => me;
const sessionEndedListeners = new Set<() => void>();

export function rememberCsrf(token: string): void {
  csrfToken = token;
}

/** Called when the API answers 401 to a logged-in request: the session ended elsewhere or expired. */
export function onSessionEnded(listener: () => void): () => void {
  sessionEndedListeners.add(listener);
  return () => sessionEndedListeners.delete(listener);
}

export interface Answer<T> {
  data: T;
  headers: Headers;
}

export async function call<T>(method: string, path: string, body?: unknown): Promise<Answer<T>> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && method !== 'HEAD' && csrfToken) headers['x-csrf-token'] = csrfToken;
  const res = await fetch(path, {
    method,
    headers,
    credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let data: unknown = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
    }
  }
  if (!res.ok) {
    const detail = data && typeof data === 'object' && 'detail' in data ? (data as { detail: unknown }).detail : data;
    const retry = res.headers.get('retry-after');
    if (res.status === 401 && !path.startsWith('/auth/')) for (const l of sessionEndedListeners) l();
    throw new ApiError(res.status, detail, retry === null ? undefined : Number(retry));
  }
  return { data: data as T, headers: res.headers };
}

export const get = async <T>(path: string): Promise<T> => (await call<T>('GET', path)).data;
export const post = async <T>(path: string, body?: unknown): Promise<T> => (await call<T>('POST', path, body)).data;
export const put = async <T>(path: string, body: unknown): Promise<T> => (await call<T>('PUT', path, body)).data;
export const patch = async <T>(path: string, body: unknown): Promise<T> => (await call<T>('PATCH', path, body)).data;
export const del = async (path: string): Promise<void> => {
  await call('DELETE', path);
};

/** A query string from the defined, non-empty values. */
export function query(params: Record<string, string | number | boolean | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

export async function logIn(username: string, password: string): Promise<Session> {
  const s = await post<Session>('/auth/session', { username, password });
  rememberCsrf(s.csrf_token);
  me = s;
  return s;
}

/** The current session, or undefined when not logged in. */
export async function currentSession(): Promise<Session | undefined> {
  try {
    const s = await get<Session>('/auth/me');
    rememberCsrf(s.csrf_token);
    me = s;
    return s;
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return undefined;
    throw e;
  }
}

export async function logOut(): Promise<void> {
  try {
    await del('/auth/session');
  } finally {
    rememberCsrf('');
    me = undefined;
  }
}
