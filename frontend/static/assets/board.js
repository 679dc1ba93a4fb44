// The TV board: now serving, the called tickets with their countdowns, the
// next in line, and each new call chimed and read out loud, one at a time.
import { LiveClient, liveURL } from './live.js';
import { ServerClock } from './fmt.js';
import { boardElements, renderBoard, renderConn, tickCountdowns, lists } from './boardview.js';
import { byId, setText, show } from './dom.js';
import { SoundPlayer, CHIME } from './sound.js';
import { Announcer } from './announce.js';

const TICK_MS = 250;
const HIGHLIGHT_MS = 8000; // how long a new call stays highlighted
const SPEECH_TIMEOUT_MS = 12000; // some engines never fire "end"

const els = {
  conn: byId('conn'),
  announce: byId('announce'),
  overlay: byId('sound-overlay'),
  enableSound: byId('enable-sound'),
  noSound: byId('no-sound'),
  soundToggle: byId('sound-toggle'),
  siteUrl: byId('site-url'),
};
const boardEls = boardElements();

const clock = new ServerClock();
const sound = new SoundPlayer(0.35);
let snapshot = null;
let calledBefore = new Set(); // labels called in the previous snapshot
const highlighted = new Map(); // label → local ms when the highlight ends
let connStatus = { state: 'connecting', attempt: 0, retryAt: 0, stale: false };
let wakeLock = null;

function speak(text) {
  const synth = window.speechSynthesis;
  if (!synth || typeof window.SpeechSynthesisUtterance !== 'function') return Promise.resolve();
  return new Promise((resolve) => {
    const utterance = new window.SpeechSynthesisUtterance(text);
    utterance.lang = 'en-US';
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
  isCurrent: (label) => Boolean(snapshot) && lists(snapshot).called.some((c) => c.ticket === label),
  onAnnounce: (label, text) => setText(els.announce, `${text}.`),
});

function markHighlights() {
  const now = Date.now();
  for (const [label, endsAt] of highlighted) if (endsAt <= now) highlighted.delete(label);
  for (const item of boardEls.called.querySelectorAll('[data-ticket]')) {
    item.classList.toggle('just-called', highlighted.has(item.dataset.ticket));
  }
}

function onSnapshot(snap) {
  clock.observe(snap.now);
  snapshot = snap;
  renderBoard(boardEls, snap, clock);
  document.body.dataset.version = String(snap.version);
  const called = lists(snap).called.map((c) => c.ticket);
  for (const label of called) {
    if (calledBefore.has(label)) continue;
    highlighted.set(label, Date.now() + HIGHLIGHT_MS);
    announcer.enqueue(label);
  }
  calledBefore = new Set(called);
  markHighlights();
}

const live = new LiveClient({
  url: liveURL(window.location),
  onSnapshot,
  onStatus: (status) => {
    connStatus = status;
    renderConn(els.conn, status);
  },
});

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

function renderSoundToggle() {
  const on = announcer.enabled;
  setText(els.soundToggle, on ? 'Sound on' : 'Sound off');
  els.soundToggle.setAttribute('aria-pressed', String(on));
}

/** Must run inside a user gesture: unlocks WebAudio and speech, then confirms with a chime. */
async function enableSound() {
  closeOverlay();
  // Speech needs the gesture too: a silent utterance now unlocks later ones.
  if (window.speechSynthesis && typeof window.SpeechSynthesisUtterance === 'function') {
    const primer = new window.SpeechSynthesisUtterance(' ');
    primer.volume = 0;
    window.speechSynthesis.speak(primer);
  }
  announcer.setEnabled(true);
  renderSoundToggle();
  keepScreenOn();
  if (await sound.unlock()) sound.play(CHIME);
}

function disableSound() {
  announcer.setEnabled(false);
  if (window.speechSynthesis) window.speechSynthesis.cancel();
  renderSoundToggle();
}

function closeOverlay() {
  show(els.overlay, false);
  keepScreenOn();
}

els.enableSound.addEventListener('click', enableSound);
els.noSound.addEventListener('click', () => {
  closeOverlay();
  els.soundToggle.focus();
});
els.overlay.addEventListener('click', (event) => {
  if (event.target === els.overlay) enableSound(); // a click anywhere on the dimmed screen
});
els.soundToggle.addEventListener('click', () => (announcer.enabled ? disableSound() : enableSound()));
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState !== 'visible') return;
  live.reconnectNow();
  keepScreenOn(); // the lock is released whenever the page is hidden
});
window.addEventListener('online', () => live.reconnectNow());

setText(els.siteUrl, window.location.host);
renderSoundToggle();
els.enableSound.focus();
live.start();
setInterval(() => {
  tickCountdowns(document.body, clock);
  renderConn(els.conn, connStatus);
  markHighlights();
}, TICK_MS);
