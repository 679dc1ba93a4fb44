// The TV board: who is called (big, with the time left to come), who is
// next, who is viewing, and a QR code to join. It needs no click: every new
// call is highlighted and captioned in the live region; with sound on (a
// small toggle, or by itself in a kiosk browser that allows autoplay) it is
// also chimed and read out in the board's language.
// State lives in tvmodel.js: update, then the transition's effects, then render.
import { LiveClient, liveURL } from './live.js';
import { ServerClock, spellLabel } from './fmt.js';
import { boardElements, renderBoard, renderConn, tickCountdowns } from './boardview.js';
import { byId, setText, show, translate } from './dom.js';
import { SoundPlayer, CHIME } from './sound.js';
import { Announcer } from './announce.js';
import { initialBoard, updateBoard, boardEffects, highlighted } from './tvmodel.js';
import * as api from './api.js';
import { pickLanguage, translator, STORAGE_KEY as LANG_KEY } from './i18n.js';

const TICK_MS = 250;
const SPEECH_TIMEOUT_MS = 12000; // some engines never fire "end"

const els = {
  conn: byId('conn'),
  announce: byId('announce'),
  healthAnnounce: byId('health-announce'),
  soundToggle: byId('sound-toggle'),
  siteUrl: byId('site-url'),
  qr: byId('qr'),
  lang: byId('lang'),
  venueName: byId('venue-name'),
  offlineBanner: byId('offline-banner'),
  offlineTitle: byId('offline-title'),
};
const boardEls = boardElements();
const clock = new ServerClock();
const sound = new SoundPlayer(0.35);
const venue = document.body.dataset;
// The address to join: the one the venue configured (--public-url), else this page's own.
const joinURL = venue.publicUrl || `${window.location.origin}/`;

function readLang() {
  try {
    return localStorage.getItem(LANG_KEY);
  } catch {
    return null;
  }
}

let t = translator(pickLanguage({
  query: new URLSearchParams(window.location.search).get('lang'),
  stored: readLang(),
  preferred: navigator.languages || [navigator.language],
}));
let B = initialBoard(Date.now());
let wakeLock = null;
let drawn = {};

function dispatch(event) {
  const prev = B;
  B = updateBoard(prev, event);
  if (B === prev) return;
  runEffects(boardEffects(prev, B));
  render();
}

function voiceFor(lang) {
  const voices = window.speechSynthesis ? window.speechSynthesis.getVoices() : [];
  const base = lang.split('-')[0];
  return voices.find((v) => v.lang === lang) || voices.find((v) => v.lang.split(/[-_]/)[0] === base) || null;
}

function speak(text) {
  const synth = window.speechSynthesis;
  if (!synth || typeof window.SpeechSynthesisUtterance !== 'function') return Promise.resolve();
  return new Promise((resolve) => {
    const utterance = new window.SpeechSynthesisUtterance(text);
    utterance.lang = t('speech.lang');
    const voice = voiceFor(utterance.lang);
    if (voice) utterance.voice = voice;
    utterance.rate = 0.9;
    let timer = null;
    const end = () => {
      clearTimeout(timer);
      resolve();
    };
    utterance.onend = end;
    utterance.onerror = end;
    timer = setTimeout(end, SPEECH_TIMEOUT_MS);
    synth.speak(utterance);
  });
}

const announcer = new Announcer({
  chime: () => sound.play(CHIME),
  speak,
  sentence: (label) => (venue.venuePlace
    ? t('tv.call_sentence_place', { spelled: spellLabel(label), place: venue.venuePlace })
    : t('tv.call_sentence', { spelled: spellLabel(label) })),
  isCurrent: (label) => B.called.includes(label),
});

function runEffects(list) {
  for (const fx of list) {
    switch (fx.type) {
      case 'call':
        setText(els.announce, t('tv.call_caption', { label: fx.label }));
        if (fx.speak) announcer.enqueue(fx.label);
        break;
      case 'announce':
        setText(els.healthAnnounce, t(fx.key));
        break;
      case 'soundOn':
        announcer.setEnabled(true);
        keepScreenOn();
        break;
      case 'soundOff':
        announcer.setEnabled(false);
        if (window.speechSynthesis) window.speechSynthesis.cancel();
        break;
      default:
        break;
    }
  }
}

function render() {
  const notLive = B.health === 'offline' || B.health === 'stale';
  document.body.dataset.health = B.health;
  renderConn(els.conn, B.health, t);
  show(els.offlineBanner, notLive);
  if (notLive) setText(els.offlineTitle, t('banner.board_offline'));
  setText(els.soundToggle, t(B.sound ? 'tv.sound_on' : 'tv.sound_off'));
  els.soundToggle.setAttribute('aria-pressed', String(B.sound));
  if (B.snapshot && (B.snapshot !== drawn.snap || t !== drawn.t)) {
    renderBoard(boardEls, B.snapshot, clock, t);
    drawn = { snap: B.snapshot, t };
  }
  tickView();
}

function tickView() {
  tickCountdowns(document.body, clock, B.health === 'offline' || B.health === 'stale');
  const lit = highlighted(B, Date.now());
  for (const item of boardEls.called.querySelectorAll('[data-ticket]')) {
    item.classList.toggle('just-called', lit.has(item.dataset.ticket));
  }
}

const live = new LiveClient({
  url: liveURL(window.location),
  onSnapshot: (snap, { replayed }) => {
    clock.observe(snap.now, { replayed });
    document.body.dataset.version = String(snap.version);
    dispatch({ type: 'snapshot', snap, now: Date.now() });
  },
  onStatus: (status) => {
    if (status.state === 'live' && B.conn.state !== 'live') syncClock();
    dispatch({ type: 'conn', status, now: Date.now() });
  },
});

/** A fresh server time: the snapshot a new connection starts with is a replay. */
async function syncClock() {
  const res = await api.getLine();
  if (res.ok && res.data.now) clock.observe(res.data.now);
}

async function keepScreenOn() {
  if (!navigator.wakeLock || wakeLock) return;
  try {
    wakeLock = await navigator.wakeLock.request('screen');
    wakeLock.addEventListener('release', () => {
      wakeLock = null;
    });
  } catch {
    // not allowed here; the TV's own settings decide
  }
}

/**
 * Turns sound on: from a click (`gesture`), or at start where the browser
 * allows audio without one (a kiosk). Without permission, resume() never
 * settles, so the attempt gives up after `waitMs`.
 */
async function enableSound(gesture, waitMs = 5000) {
  // Speech needs the gesture too: a silent utterance now unlocks later ones.
  if (gesture) primeSpeech();
  const unlocked = await Promise.race([sound.unlock(), new Promise((resolve) => setTimeout(() => resolve(false), waitMs))]);
  if (!unlocked) return false;
  if (!gesture) primeSpeech(); // audio runs without a click here, so speech does too
  dispatch({ type: 'sound', on: true });
  sound.play(CHIME);
  return true;
}

function primeSpeech() {
  if (window.speechSynthesis && typeof window.SpeechSynthesisUtterance === 'function') {
    const primer = new window.SpeechSynthesisUtterance(' ');
    primer.volume = 0;
    window.speechSynthesis.speak(primer);
  }
}

function setLanguage(code, remember) {
  t = translator(code);
  document.documentElement.lang = code;
  els.lang.value = code;
  if (remember) {
    try {
      localStorage.setItem(LANG_KEY, code);
    } catch {
      // kept for this visit only
    }
  }
  translate(document, t);
  if (venue.venueName) setText(els.venueName, venue.venueName);
  setText(els.siteUrl, t('tv.join_at', { url: joinURL.replace(/^https?:\/\//, '').replace(/\/$/, '') }));
  els.qr.alt = `QR: ${joinURL}`;
  render();
}

els.soundToggle.addEventListener('click', () => (B.sound ? dispatch({ type: 'sound', on: false }) : enableSound(true)));
els.lang.addEventListener('change', () => setLanguage(els.lang.value, true));
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState !== 'visible') return;
  live.reconnectNow();
  keepScreenOn(); // the lock is released whenever the page is hidden
});
window.addEventListener('online', () => live.reconnectNow());

setLanguage(t.lang, false);
live.start();
keepScreenOn();
// A kiosk browser started with --autoplay-policy=no-user-gesture-required
// runs audio without a click: then the board speaks from the start.
if (new URLSearchParams(window.location.search).get('sound') !== 'off') enableSound(false, 300);
setInterval(() => dispatch({ type: 'tick', now: Date.now() }), TICK_MS);
