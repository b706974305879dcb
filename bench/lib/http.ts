/** A small JSON client for the bench's own requests (all to 127.0.0.1). */
export interface Answer<T = unknown> {
  readonly status: number;
  readonly body: T;
}

export async function call<T = unknown>(
  url: string,
  opts: { method?: string; token?: string; body?: unknown } = {},
): Promise<Answer<T>> {
  const headers: Record<string, string> = {};
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  const res = await fetch(url, {
    method: opts.method ?? (opts.body === undefined ? 'GET' : 'POST'),
    headers,
    ...(opts.body === undefined ? {} : { body: JSON.stringify(opts.body) }),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
}

/** Logs in and returns the bearer token; throws with the answer when refused. */
export async function login(baseUrl: string, username: string, password: string): Promise<string> {
  const a = await call<{ access_token: string }>(`${baseUrl}/auth/login`, { body: { username, password } });
  if (a.status !== 200) throw new Error(`login ${username} at ${baseUrl}: ${a.status} ${JSON.stringify(a.body)}`);
  return a.body.access_token;
}

/** True when the password logs the user in. */
export async function canLogin(baseUrl: string, username: string, password: string): Promise<boolean> {
  const a = await call(`${baseUrl}/auth/login`, { body: { username, password } });
  return a.status === 200;
}
