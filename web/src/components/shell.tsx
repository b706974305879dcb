import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { currentSession, logOut, onSessionEnded, type Session } from '../lib/api.js';
import { applyLang, currentLang, type Lang, t } from '../lib/i18n.js';
import { href, useRoute } from '../lib/router.js';
import { Busy, Data } from './feedback.js';
import { Login } from './login.js';

export interface PageDef {
  route: string;
  label: string;
  /** Who may see it: an admin, a plain user, or both. */
  who: 'admin' | 'user' | 'any';
  render: (session: Session) => ComponentChildren;
}

function LanguageSwitch({ onChange }: { onChange: (l: Lang) => void }) {
  const other: Lang = currentLang() === 'en' ? 'fa' : 'en';
  return (
    <button type="button" class="lang" lang={other} onClick={() => onChange(other)}>
      {t(other === 'fa' ? 'lang.fa' : 'lang.en')}
    </button>
  );
}

/**
 * The frame of both consoles: the session (restored from the cookie via GET /auth/me), the log-in form
 * when there is none, the navigation of the pages this user may see, the language switch and log out.
 */
export function Shell({ side, pages }: { side: 'response' | 'request'; pages: (session: Session) => PageDef[] }) {
  const [session, setSession] = useState<Session | null | undefined>(undefined);
  const [, setLang] = useState(currentLang());
  const route = useRoute();
  useEffect(() => {
    currentSession().then(
      (s) => setSession(s ?? null),
      () => setSession(null),
    );
    return onSessionEnded(() => setSession(null));
  }, []);
  const switchLang = (l: Lang) => {
    applyLang(l);
    setLang(l);
  };
  const header = (children?: ComponentChildren) => (
    <header class="top">
      <a class="skip" href="#main">
        {t('nav.skip')}
      </a>
      <span class="brand">{t(side === 'response' ? 'app.response' : 'app.request')}</span>
      {children}
      <LanguageSwitch onChange={switchLang} />
    </header>
  );
  if (session === undefined)
    return (
      <>
        {header()}
        <Busy label={t('common.loading')} />
      </>
    );
  if (session === null)
    return (
      <>
        {header()}
        <Login heading={t('login.heading')} onLoggedIn={setSession} />
      </>
    );
  const mine = pages(session).filter((p) => p.who === 'any' || (p.who === 'admin') === session.admin);
  const current = mine.find((p) => p.route === route) ?? mine[0];
  const out = async () => {
    await logOut().catch(() => undefined);
    setSession(null);
  };
  return (
    <>
      {header(
        <span class="who">
          <Data>{session.username}</Data>
          <button type="button" onClick={out}>
            {t('nav.logout')}
          </button>
        </span>,
      )}
      <nav class="pages" aria-label={t('nav.label')}>
        <ul>
          {mine.map((p) => (
            <li key={p.route}>
              <a href={href(p.route)} aria-current={p === current ? 'page' : undefined}>
                {p.label}
              </a>
            </li>
          ))}
        </ul>
      </nav>
      <main id="main">{current ? current.render(session) : null}</main>
    </>
  );
}
