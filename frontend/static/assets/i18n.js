// Languages: English, Russian and Spanish, one strings file each under
// i18n/. The language is the one kept in localStorage, else a ?lang= query
// parameter, else the first of the browser's languages we have, else English.
// No DOM here, so node tests drive it.
import en from './i18n/en.js';
import ru from './i18n/ru.js';
import es from './i18n/es.js';

/** Every language, by code; the first is the fallback. */
export const LANGUAGES = { en, ru, es };
export const FALLBACK = 'en';
export const STORAGE_KEY = 'catqms.lang';

/** The language code for the query value `query`, the stored choice `stored` and the browser's `preferred` list. */
export function pickLanguage({ query = null, stored = null, preferred = [] } = {}) {
  for (const candidate of [query, stored, ...preferred]) {
    if (typeof candidate !== 'string' || !candidate) continue;
    const base = candidate.toLowerCase().split('-')[0];
    if (Object.hasOwn(LANGUAGES, base)) return base;
  }
  return FALLBACK;
}

function fill(text, params) {
  return text.replace(/\{(\w+)\}/g, (m, name) => (Object.hasOwn(params, name) ? String(params[name]) : m));
}

/**
 * A translator for language `code`: t(key, params) fills {name} from
 * params; a plural entry is chosen by params.count (or params.n). A key
 * missing from the language falls back to English (the key test keeps that
 * from happening in a release).
 */
export function translator(code) {
  const strings = LANGUAGES[code] || LANGUAGES[FALLBACK];
  const cardinal = new Intl.PluralRules(code);
  const ordinalRules = new Intl.PluralRules(code, { type: 'ordinal' });
  const pick = (entry, n, rules) => (typeof entry === 'string' ? entry : entry[rules.select(n)] ?? entry.other);
  const lookup = (key) => strings[key] ?? LANGUAGES[FALLBACK][key] ?? key;
  const t = (key, params = {}) => {
    const entry = lookup(key);
    const n = params.count ?? params.n ?? 0;
    return fill(pick(entry, n, cardinal), params);
  };
  t.lang = code;
  /** "81st", "81-й", "81.º" */
  t.ordinal = (n) => fill(pick(lookup('ordinal'), n, ordinalRules), { n });
  /** A wait in words: "less than a minute", "about 2 minutes", "about 1 h 10 min". */
  t.wait = (seconds) => {
    if (!Number.isFinite(seconds) || seconds < 0) return t('wait.unknown');
    if (seconds < 45) return t('wait.now');
    const minutes = Math.max(1, Math.round(seconds / 60));
    if (minutes < 60) return t('wait.min', { n: minutes });
    const h = Math.floor(minutes / 60);
    const m = minutes % 60;
    if (h >= 24) return t('wait.day');
    return m === 0 ? t('wait.hour', { n: h }) : t('wait.hour_min', { h, m });
  };
  /**
   * A wait as a range, "about 6–9 min", from its bounds in seconds; one
   * figure (t.wait of mid) when the range rounds to one or is not known.
   */
  t.waitRange = (low, high, mid) => {
    if (!Number.isFinite(low) || !Number.isFinite(high) || high < low) return t.wait(mid);
    if (high < 45) return t('wait.now');
    const lo = Math.max(1, Math.round(low / 60));
    const hi = Math.round(high / 60);
    if (hi >= 24 * 60) return t.wait(mid);
    if (hi < 120) return hi > lo ? t('wait.range_min', { lo, hi, n: hi }) : t.wait(mid);
    const loH = Math.max(1, Math.round(lo / 60));
    const hiH = Math.round(hi / 60);
    return hiH > loH ? t('wait.range_hour', { lo: loH, hi: hiH, n: hiH }) : t.wait(mid);
  };
  /** A duration in words for "try again in …": "45 seconds", "12 minutes", "1 hour". */
  t.duration = (seconds) => {
    const s = Math.max(0, Math.ceil(seconds));
    if (s < 60) return t('dur.s', { n: s });
    const minutes = Math.ceil(s / 60);
    if (minutes < 60) return t('dur.m', { n: minutes });
    return t('dur.h', { n: Math.ceil(minutes / 60) });
  };
  return t;
}
