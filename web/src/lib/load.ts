import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { type Answer, ApiError, call } from './api.js';

export interface Loaded<T> {
  data: T | undefined;
  error: ApiError | Error | undefined;
  loading: boolean;
  reload: () => void;
}

/** Runs `load` when `deps` change (and on `reload`); keeps the last data while a reload runs. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const [state, setState] = useState<{ data?: T; error?: Error; loading: boolean }>({ loading: true });
  const [tick, setTick] = useState(0);
  const seq = useRef(0);
  useEffect(() => {
    const mine = ++seq.current;
    setState((s) => ({ ...s, loading: true }));
    load().then(
      (data) => mine === seq.current && setState({ data, loading: false }),
      (error: Error) => mine === seq.current && setState((s) => ({ data: s.data, error, loading: false })),
    );
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((n) => n + 1), []);
  return { data: state.data, error: state.error, loading: state.loading, reload };
}

/** Calls `fn` every `ms` while the page is shown. */
export function useEvery(ms: number, fn: () => void): void {
  const saved = useRef(fn);
  saved.current = fn;
  useEffect(() => {
    const id = setInterval(() => saved.current(), ms);
    return () => clearInterval(id);
  }, [ms]);
}

export interface Paged<T> extends Loaded<T[]> {
  page: number;
  hasNext: boolean;
  next: () => void;
  previous: () => void;
}

/**
 * A list route page by page: by the `x-next-cursor` header when the API sends one, else by offset
 * (a full page means there may be more). `base` is the path with its filters' query string.
 */
export function usePaged<T>(base: string, limit = 20): Paged<T> {
  // The cursors (or offsets) of the pages seen so far; page n starts at starts[n].
  const [starts, setStarts] = useState<(string | number)[]>([0]);
  const [page, setPage] = useState(0);
  const [nextStart, setNextStart] = useState<string | number | undefined>();
  useEffect(() => {
    setStarts([0]);
    setPage(0);
  }, [base]);
  const start = starts[page] ?? 0;
  const loaded = useLoad(async () => {
    const sep = base.includes('?') ? '&' : '?';
    const where = typeof start === 'string' ? `cursor=${encodeURIComponent(start)}` : `offset=${start}`;
    const answer: Answer<T[]> = await call<T[]>('GET', `${base}${sep}limit=${limit}&${where}`);
    const cursor = answer.headers.get('x-next-cursor');
    setNextStart(cursor ?? (answer.data.length === limit ? Number(start) + limit : undefined));
    return answer.data;
  }, [base, start, limit]);
  return {
    ...loaded,
    page,
    hasNext: nextStart !== undefined,
    next: () => {
      if (nextStart === undefined) return;
      setStarts((s) => [...s.slice(0, page + 1), nextStart]);
      setPage(page + 1);
    },
    previous: () => setPage(Math.max(0, page - 1)),
  };
}

export { ApiError };
