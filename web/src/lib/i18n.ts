import { en, type Messages } from '../../i18n/en.js';
import { fa } from '../../i18n/fa.js';

/*
 * Every string the console shows comes from web/i18n/en.ts or fa.ts. English is the default; a browser
 * asking for Persian first gets Persian; the switch is remembered in localStorage.
 */
export type Lang = 'en' | 'fa';
export type MessageKey = keyof Messages;

const CATALOGUES: Record<Lang, Messages> = { en, fa };
const STORAGE_KEY = 'netsync.lang';

function initialLang(): Lang {
  try {
    const kept = localStorage.getItem(STORAGE_KEY);
    if (kept === 'en' || kept === 'fa') return kept;
  } catch {
    // storage refused (private mode): fall back to the browser's languages
  }
  for (const l of navigator.languages ?? []) {
    const base = l.toLowerCase().split('-')[0];
    if (base === 'en') return 'en';
    if (base === 'fa') return 'fa';
  }
  return 'en';
}

let lang: Lang = initialLang();

export const currentLang = (): Lang => lang;

/** Sets `lang`/`dir` on <html>; call once at start and after each switch. */
export function applyLang(next: Lang = lang): void {
  lang = next;
  try {
    localStorage.setItem(STORAGE_KEY, next);
  } catch {}
  document.documentElement.lang = next;
  document.documentElement.dir = next === 'fa' ? 'rtl' : 'ltr';
  document.title = t('app.title');
}

/** The message for `key`, with `{name}` placeholders filled from `params`. */
export function t(key: MessageKey, params?: Record<string, string | number>): string {
  const text: string = CATALOGUES[lang][key] ?? en[key] ?? key;
  if (!params) return text;
  return text.replace(/\{(\w+)\}/g, (m, name: string) =>
    params[name] === undefined ? m : typeof params[name] === 'number' ? num(params[name]) : String(params[name]),
  );
}

const locale = () => (lang === 'fa' ? 'fa-IR' : 'en-GB');

export function num(n: number, digits = 0): string {
  return new Intl.NumberFormat(locale(), { maximumFractionDigits: digits }).format(n);
}

/** A date and time in the console's language, or a dash. */
export function when(iso: string | null | undefined): string {
  if (!iso) return t('common.none');
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return new Intl.DateTimeFormat(locale(), { dateStyle: 'medium', timeStyle: 'medium' }).format(d);
}

export function timeOfDay(d: Date): string {
  return new Intl.DateTimeFormat(locale(), { hour: '2-digit', minute: '2-digit' }).format(d);
}

export function yesNo(b: boolean): string {
  return b ? t('common.yes') : t('common.no');
}
