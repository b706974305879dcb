import { useEffect, useState } from 'preact/hooks';

/** The page named by the URL's hash (`#/users` -> `users`); hash routing leaves every API path alone. */
export function useRoute(): string {
  const read = () => location.hash.replace(/^#\/?/, '').split('?')[0] ?? '';
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const on = () => setRoute(read());
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return route;
}

export const href = (page: string): string => `#/${page}`;
