// Every language has every key, with the same placeholders and plural forms
// that its own plural rules need. Run by TestScriptLogic.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LANGUAGES, FALLBACK, pickLanguage, translator } from './assets/i18n.js';

const placeholders = (entry) => {
  const texts = typeof entry === 'string' ? [entry] : Object.values(entry);
  return [...new Set(texts.flatMap((s) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1])))].sort();
};

test('every language has exactly the keys of every other', () => {
  const reference = Object.keys(LANGUAGES[FALLBACK]).sort();
  assert.ok(reference.length > 50, 'the English strings are there');
  for (const [code, strings] of Object.entries(LANGUAGES)) {
    const keys = Object.keys(strings).sort();
    const missing = reference.filter((k) => !keys.includes(k));
    const extra = keys.filter((k) => !reference.includes(k));
    assert.deepEqual(missing, [], `${code} lacks keys`);
    assert.deepEqual(extra, [], `${code} has keys English lacks`);
  }
});

test('every string is non-empty and has the same placeholders in every language', () => {
  for (const [key, en] of Object.entries(LANGUAGES[FALLBACK])) {
    for (const [code, strings] of Object.entries(LANGUAGES)) {
      const entry = strings[key];
      const texts = typeof entry === 'string' ? [entry] : Object.values(entry);
      for (const text of texts) assert.ok(text.trim(), `${code} ${key} is empty`);
      assert.deepEqual(placeholders(entry), placeholders(en), `${code} ${key} placeholders`);
    }
  }
});

test('plural entries have a form for every count up to a thousand in their language', () => {
  for (const [code, strings] of Object.entries(LANGUAGES)) {
    const cardinal = new Intl.PluralRules(code);
    const ordinal = new Intl.PluralRules(code, { type: 'ordinal' });
    for (const [key, entry] of Object.entries(strings)) {
      if (typeof entry === 'string') continue;
      assert.equal(typeof entry.other, 'string', `${code} ${key} lacks other`);
      const rules = key === 'ordinal' ? ordinal : cardinal;
      for (let n = 0; n <= 1000; n++) {
        const cat = rules.select(n);
        assert.equal(typeof entry[cat], 'string', `${code} ${key} has no "${cat}" form (for ${n})`);
      }
    }
  }
});

test('pickLanguage: query, then stored, then the browser, then English', () => {
  assert.equal(pickLanguage({ preferred: ['fr-FR', 'es-MX', 'en'] }), 'es');
  assert.equal(pickLanguage({ preferred: ['ru'] }), 'ru');
  assert.equal(pickLanguage({ stored: 'en', preferred: ['ru'] }), 'en');
  assert.equal(pickLanguage({ query: 'ES', stored: 'ru' }), 'es');
  assert.equal(pickLanguage({ query: 'xx', preferred: ['de'] }), 'en');
  assert.equal(pickLanguage({ query: 'constructor' }), 'en');
});

test('translator fills, pluralises and orders', () => {
  const en = translator('en');
  const ru = translator('ru');
  const es = translator('es');
  assert.equal(en('call.alert', { label: 'A041' }), 'Your turn! Ticket A041: press “Get my kitty” before the time runs out.');
  assert.equal(en.ordinal(1), '1st');
  assert.equal(en.ordinal(22), '22nd');
  assert.equal(en.ordinal(83), '83rd');
  assert.equal(en.ordinal(81), '81st');
  assert.equal(en.ordinal(12), '12th');
  assert.equal(ru.ordinal(81), '81-й');
  assert.equal(es.ordinal(81), '81.º');
  assert.equal(en.wait(10), 'less than a minute');
  assert.equal(en.wait(60), 'about 1 minute');
  assert.equal(en.wait(300), 'about 5 minutes');
  assert.equal(en.wait(4200), 'about 1 h 10 min');
  assert.equal(en.wait(-1), 'unknown');
  assert.equal(ru.wait(60), 'около 1 минуты');
  assert.equal(ru.wait(300), 'около 5 минут');
  assert.equal(ru.wait(120), 'около 2 минут');
  assert.equal(ru.duration(1), '1 секунду');
  assert.equal(ru.duration(3), '3 секунды');
  assert.equal(ru.duration(25), '25 секунд');
  assert.equal(en.duration(30), '30 seconds');
  assert.equal(en.duration(61), '2 minutes');
  assert.equal(es.wait(300), 'unos 5 minutos');
  // The wait as a range: minutes, hours, one figure when it rounds to one.
  assert.equal(en.waitRange(350, 545, 420), 'about 6–9 min');
  assert.equal(ru.waitRange(350, 545, 420), 'около 6–9 мин');
  assert.equal(es.waitRange(350, 545, 420), 'unos 6–9 min');
  assert.equal(en.waitRange(10, 150, 60), 'about 1–3 min');
  assert.equal(en.waitRange(5, 30, 12), 'less than a minute');
  assert.equal(en.waitRange(290, 310, 300), 'about 5 minutes');
  assert.equal(en.waitRange(3600, 3 * 3600, 7200), 'about 1–3 h');
  assert.equal(en.waitRange(undefined, undefined, 300), 'about 5 minutes');
  assert.equal(en.waitRange(600, 300, 300), 'about 5 minutes', 'bounds out of order are not shown');
  assert.equal(en('board.more', { count: 17 }), '…and 17 more in line');
});
