// The ticket page: take a ticket, follow it live, get called, view the kitty.
// One state object (model.js) changes only through update(); render() only
// draws it; the effects of each transition (storage, the WebSocket watch,
// sound, vibration, notification, focus, announcements, asking the server)
// run in runEffects(), never inside render().
import * as api from './api.js';
import { LiveClient, liveURL } from './live.js';
import { ServerClock, formatCountdown } from './fmt.js';
import { boardElements, renderBoard, renderConn, tickCountdowns } from './boardview.js';
import { byId, setText, show, translate } from './dom.js';
import { SoundPlayer, YOUR_TURN } from './sound.js';
import { initialState, update, effects, currentEta, currentRange, describe, failure, LIVE } from './model.js';
import { lineLength, takeEstimate } from './line.js';
import { pickLanguage, translator, STORAGE_KEY as LANG_KEY } from './i18n.js';

const STORAGE_KEY = 'catqms.ticket';
const TICK_MS = 250;
const REFRESH_MIN_GAP_MS = 1500; // at most one GET /api/v1/ticket per gap

const els = Object.fromEntries([
  'me', 'intro', 'conn', 'alert', 'health-announce', 'offline-banner', 'offline-title', 'offline-body',
  'take-estimate', 'ban-box', 'ban-countdown', 'ticket-box', 'my-ticket', 'my-state', 'waiting-info',
  'my-position', 'my-eta', 'call-banner', 'call-countdown', 'get-kitty', 'kitty-box', 'kitty-img',
  'view-countdown', 'download', 'done', 'message', 'take', 'leave', 'leave-dialog', 'leave-confirm',
  'leave-cancel', 'notify-hint', 'lang', 'venue-name',
].map((id) => [id.replace(/-(\w)/g, (_, c) => c.toUpperCase()), byId(id)]));
const boardEls = boardElements();
const clock = new ServerClock();
const sound = new SoundPlayer();

let t = translator(pickLanguage({
  query: new URLSearchParams(window.location.search).get('lang'),
  stored: readLocal(LANG_KEY),
  preferred: navigator.languages || [navigator.language],
}));
let S = initialState(Date.now());
let refreshTimer = null;
let refreshing = false;
let titleTimer = null;
let drawnBoard = {}; // what the board was last drawn from: it is redrawn only when that changes

/** The one way the state changes: the next state, then the effects of the transition, then a redraw. */
function dispatch(event) {
  const prev = S;
  S = update(prev, event);
  if (S === prev) return;
  runEffects(effects(prev, S, event));
  render();
}

const live = new LiveClient({
  url: liveURL(window.location),
  onSnapshot: (snap, { replayed }) => {
    clock.observe(snap.now, { replayed });
    document.body.dataset.version = String(snap.version);
    dispatch({ type: 'snapshot', snap });
  },
  onTicket: (msg) => dispatch({ type: 'ticket', data: msg }),
  onStatus: (status) => {
    if (status.state === 'live' && S.conn.state !== 'live') syncClock();
    dispatch({ type: 'conn', status, now: Date.now() });
  },
});

/** A fresh server time: the snapshot a new connection starts with is a replay. */
async function syncClock() {
  const res = await api.getLine();
  if (res.ok && res.data.now) clock.observe(res.data.now);
}

// ---- storage: {token, ticket} under one key, shared by every tab -----------

function readLocal(key) {
  try {
    return localStorage.getItem(key);
  } catch {
    return null; // blocked storage: behave as if empty
  }
}

function readStored() {
  try {
    const v = JSON.parse(readLocal(STORAGE_KEY));
    if (v && typeof v.token === 'string' && v.token) return { token: v.token, ticket: String(v.ticket || '') };
  } catch {
    // unreadable: behave as if empty
  }
  return null;
}

function writeLocal(key, value) {
  try {
    if (value === null) localStorage.removeItem(key);
    else localStorage.setItem(key, value);
  } catch {
    // private mode or full: it still works in this tab
  }
}

// ---- effects -----------------------------------------------------------------

function runEffects(list) {
  for (const fx of list) {
    switch (fx.type) {
      case 'store':
        writeLocal(STORAGE_KEY, JSON.stringify({ token: fx.token, ticket: fx.label || '' }));
        break;
      case 'forgetStored': {
        const current = readStored();
        if (!current || current.token === fx.token) writeLocal(STORAGE_KEY, null); // not another tab's newer ticket
        break;
      }
      case 'watch':
        live.watch(fx.token);
        break;
      case 'refresh':
        refreshSoon();
        break;
      case 'call':
        startCall(fx.label);
        break;
      case 'stopCall':
        stopCall();
        break;
      case 'focus':
        // After render, so the target is shown.
        queueMicrotask(() => focusTarget(fx.target));
        break;
      case 'announce':
        setText(els.healthAnnounce, t(fx.key));
        break;
      default:
        break;
    }
  }
}

function focusTarget(target) {
  const el = { done: els.done, ticket: els.me, take: els.take, ban: els.banBox, getKitty: els.getKitty }[target];
  if (el && !el.hidden && !el.disabled) el.focus({ preventScroll: target !== 'getKitty' });
}

function startCall(label) {
  setText(els.alert, t('call.alert', { label }));
  sound.play(YOUR_TURN).then((played) => (played ? sound.play(YOUR_TURN) : false));
  if (typeof navigator.vibrate === 'function') navigator.vibrate([300, 120, 300, 120, 600]);
  notify(label);
  flashTitle(label);
  queueMicrotask(() => {
    els.getKitty.focus({ preventScroll: true });
    els.callBanner.scrollIntoView({ block: 'center', behavior: reducedMotion() ? 'auto' : 'smooth' });
  });
}

function stopCall() {
  if (titleTimer !== null) clearInterval(titleTimer);
  titleTimer = null;
  document.title = t('page.title');
}

function flashTitle(label) {
  stopCall();
  const alertTitle = t('call.notify_title', { label });
  let on = true;
  document.title = alertTitle;
  titleTimer = setInterval(() => {
    on = !on;
    document.title = on ? alertTitle : `${label} — catqms`;
  }, 1000);
}

function notify(label) {
  if (!('Notification' in window) || Notification.permission !== 'granted') return;
  if (document.visibilityState === 'visible' && document.hasFocus()) return; // the page itself is in view
  try {
    const n = new Notification(t('call.notify_title', { label }), { body: t('call.notify_body'), tag: 'catqms-turn', icon: '/assets/icon.svg' });
    n.onclick = () => {
      window.focus();
      n.close();
    };
  } catch {
    // some mobile browsers only notify from a service worker; the page alert remains
  }
}

function askNotifications() {
  if (!('Notification' in window) || Notification.permission !== 'default') return;
  try {
    const pending = Notification.requestPermission(render);
    if (pending && typeof pending.then === 'function') pending.then(render, () => {});
  } catch {
    // older callback-only API without a callback: nothing to do
  }
}

function reducedMotion() {
  return window.matchMedia('(prefers-reduced-motion: reduce)').matches;
}

/** Asks the server for the ticket's current state. */
async function refresh() {
  if (!S.token || refreshing) return;
  refreshing = true;
  dispatch({ type: 'refreshing', now: Date.now() });
  const token = S.token;
  const res = await api.getTicket(token);
  refreshing = false;
  if (token !== S.token) return; // the ticket changed meanwhile
  if (res.ok) dispatch({ type: 'ticket', data: res.data });
  else if (res.status === 410) dispatch({ type: 'ended', how: res.data.state === 'left' ? 'removed' : res.data.state || 'expired' });
  else if (res.status === 403 && res.data.error === 'banned') dispatch({ type: 'banned', seconds: res.retryAfter, now: Date.now() });
  else if (res.status === 403) dispatch({ type: 'ended', how: 'forgotten' });
  // Unreachable or unavailable: keep what we know; the tick asks again.
}

/** refresh(), at most once per REFRESH_MIN_GAP_MS. */
function refreshSoon() {
  if (refreshTimer !== null) return;
  const wait = Math.max(0, S.lastRefresh + REFRESH_MIN_GAP_MS - Date.now());
  refreshTimer = setTimeout(() => {
    refreshTimer = null;
    refresh();
  }, wait);
}

// ---- drawing -----------------------------------------------------------------

function render() {
  const st = S.state;
  const live = LIVE.has(st);
  const banned = S.banUntil > S.now;
  const hasTicket = Boolean(S.label) && st !== 'none';
  const notLive = S.health === 'offline' || S.health === 'stale';
  document.body.dataset.health = S.health;
  document.body.dataset.state = banned ? 'banned' : st;
  document.body.classList.toggle('is-called', st === 'called');
  els.me.dataset.state = banned ? 'banned' : st;

  renderConn(els.conn, S.health, t);
  show(els.offlineBanner, notLive);
  if (notLive) {
    setText(els.offlineTitle, t(`banner.${S.health}.title`));
    setText(els.offlineBody, t(`banner.${S.health}.body`));
  }

  show(els.intro, !hasTicket && !banned);
  const estimate = takeEstimate(S.snapshot);
  show(els.takeEstimate, !live && !banned);
  if (S.snapshot) {
    const count = lineLength(S.snapshot);
    setText(els.takeEstimate, count > 0
      ? t('take.estimate', { count, wait: t.wait(estimate) })
      : t('take.estimate_empty'));
  }

  show(els.banBox, banned);
  show(els.ticketBox, hasTicket && !banned);
  setText(els.myTicket, S.label || '');
  setText(els.myState, hasTicket ? t(`ticket.${st}`) : '');
  show(els.waitingInfo, st === 'waiting');
  setText(els.myPosition, Number.isFinite(S.position) ? t('ticket.place', { ordinal: t.ordinal(S.position) }) : '…');
  const range = currentRange(S);
  const wait = range ? t.waitRange(range.low, range.high, currentEta(S)) : t.wait(currentEta(S));
  setText(els.myEta, t('ticket.wait', { wait: notLive ? `≈ ${wait}` : wait }));

  show(els.callBanner, st === 'called');
  setCountdown(els.callCountdown, st === 'called' ? S.deadline : null);
  show(els.kittyBox, st === 'serving');
  setCountdown(els.viewCountdown, st === 'serving' ? S.until : null);
  if (st === 'serving' && S.imageUrl && els.kittyImg.getAttribute('src') !== S.imageUrl) {
    els.kittyImg.src = S.imageUrl;
    els.download.href = S.imageUrl;
    els.download.download = `kitty-${S.label}`;
  }
  if (st === 'serving') els.kittyImg.alt = t('kitty.alt', { label: S.label });
  if (st !== 'serving' && els.kittyImg.getAttribute('src')) {
    els.kittyImg.removeAttribute('src');
    els.download.removeAttribute('href');
  }

  const msg = S.message || (S.ended && !(S.ended === 'banned') ? { parts: [{ key: `done.${endedKey(S.ended)}` }], kind: S.ended === 'served' || S.ended === 'left' ? 'info' : 'error' } : null);
  setText(els.message, msg ? msg.parts.map((p) => describe(p, t)).join(' ') : '');
  els.message.dataset.kind = msg ? msg.kind : '';

  show(els.take, !live);
  setText(els.take, hasTicket ? t('take.again') : t('take'));
  els.take.disabled = banned || els.take.getAttribute('aria-busy') === 'true';
  show(els.leave, st === 'waiting' || st === 'called');
  show(els.notifyHint, st !== 'called' && st !== 'serving' && !banned);
  setText(els.notifyHint, notifyHint());

  const board = { snap: S.snapshot, t, mine: live ? S.label : null, minePosition: st === 'waiting' ? S.position : null };
  if (board.snap && Object.keys(board).some((k) => board[k] !== drawnBoard[k])) {
    renderBoard(boardEls, board.snap, clock, t, board);
    drawnBoard = board;
  }
  tickView();
}

function endedKey(how) {
  return { served: 'thanks', expired: 'expired', left: 'left', removed: 'removed', forgotten: 'forgotten' }[how] || 'removed';
}

function notifyHint() {
  if (!('Notification' in window)) return t('notify.none');
  if (Notification.permission === 'granted') return t('notify.granted');
  if (Notification.permission === 'denied') return t('notify.denied');
  return t('notify.hint');
}

function setCountdown(el, time) {
  if (time) {
    el.dataset.countdownTo = time;
  } else {
    delete el.dataset.countdownTo;
    setText(el, '–:––');
  }
}

/** Moves the countdowns (they are not state: they follow the clock). */
function tickView() {
  tickCountdowns(document.body, clock, S.health === 'offline' || S.health === 'stale');
  if (S.banUntil > S.now) setText(els.banCountdown, formatCountdown(S.banUntil - Date.now()));
}

// ---- actions -----------------------------------------------------------------

async function busy(button, fn) {
  if (button.getAttribute('aria-busy') === 'true') return;
  button.setAttribute('aria-busy', 'true');
  button.disabled = true;
  try {
    await fn();
  } finally {
    button.removeAttribute('aria-busy');
    button.disabled = button === els.take && S.banUntil > Date.now();
  }
}

function failed(res) {
  const f = failure(res);
  if (f.banned !== undefined) dispatch({ type: 'banned', seconds: f.banned, now: Date.now() });
  else dispatch({ type: 'message', message: f });
}

async function take() {
  sound.unlock();
  askNotifications();
  dispatch({ type: 'message', message: null });
  const res = await api.takeTicket();
  if (res.ok && res.data.token) dispatch({ type: 'taken', data: res.data });
  else failed(res);
}

async function getKitty() {
  if (!S.token) return;
  sound.unlock();
  const res = await api.redeem(S.token);
  if (res.ok) {
    dispatch({ type: 'ticket', data: { ...res.data, state: 'serving' } });
    return;
  }
  const { data } = res;
  if (res.status === 409) {
    dispatch({ type: 'ticket', data: { ticket: S.label, state: 'waiting', position: data.position, eta_seconds: data.eta_seconds, eta_low_seconds: data.eta_low_seconds, eta_high_seconds: data.eta_high_seconds }, force: true });
    dispatch({ type: 'message', message: { parts: [{ key: 'err.not_your_turn', position: data.position, eta: data.eta_seconds, low: data.eta_low_seconds, high: data.eta_high_seconds }], kind: 'error' } });
  } else if (res.status === 410) {
    dispatch({ type: 'ended', how: data.state === 'left' ? 'removed' : data.state || 'expired' });
  } else if (res.status === 403 && data.error === 'forbidden') {
    dispatch({ type: 'ended', how: 'forgotten' });
  } else {
    failed(res);
  }
}

async function done() {
  if (!S.token) return;
  const res = await api.endViewing(S.token);
  if (res.ok || res.status === 410) dispatch({ type: 'ended', how: 'served' });
  else if (res.status === 403 && res.data.error === 'forbidden') dispatch({ type: 'ended', how: 'forgotten' });
  else failed(res);
}

async function leave() {
  if (!S.token) return;
  const res = await api.leaveLine(S.token);
  if (res.ok) dispatch({ type: 'ended', how: 'left' });
  else if (res.status === 410) dispatch({ type: 'ended', how: res.data.state === 'left' ? 'removed' : res.data.state || 'expired' });
  else if (res.status === 403 && res.data.error === 'forbidden') dispatch({ type: 'ended', how: 'forgotten' });
  else failed(res);
}

function setLanguage(code, remember) {
  t = translator(code);
  document.documentElement.lang = code;
  els.lang.value = code;
  if (remember) writeLocal(LANG_KEY, code);
  translate(document, t);
  const venue = document.body.dataset.venueName;
  if (venue) setText(els.venueName, venue);
  if (titleTimer === null) document.title = t('page.title');
  render();
}

// ---- wiring ------------------------------------------------------------------

els.take.addEventListener('click', () => busy(els.take, take));
els.getKitty.addEventListener('click', () => busy(els.getKitty, getKitty));
els.done.addEventListener('click', () => busy(els.done, done));
els.leave.addEventListener('click', () => {
  els.leaveDialog.showModal();
  els.leaveCancel.focus();
});
els.leaveCancel.addEventListener('click', () => {
  els.leaveDialog.close();
  els.leave.focus();
});
els.leaveConfirm.addEventListener('click', () => {
  els.leaveDialog.close();
  busy(els.leave, leave);
});
els.kittyImg.addEventListener('error', () => {
  if (S.state === 'serving' && els.kittyImg.getAttribute('src')) dispatch({ type: 'message', message: { parts: [{ key: 'kitty.load_failed' }], kind: 'error' } });
});
els.lang.addEventListener('change', () => setLanguage(els.lang.value, true));

// Audio may only start after a gesture: unlock it on the first one.
const unlockOnce = () => sound.unlock();
document.addEventListener('pointerdown', unlockOnce, { once: true });
document.addEventListener('keydown', unlockOnce, { once: true });

// Another tab took, used or dropped the ticket.
window.addEventListener('storage', (event) => {
  if (event.key === LANG_KEY) return;
  if (event.key !== STORAGE_KEY && event.key !== null) return;
  const stored = readStored();
  if (stored && stored.token !== S.token) dispatch({ type: 'restore', token: stored.token, label: stored.ticket });
  else if (!stored && S.token) refreshSoon(); // learn how it ended
});

// Phones freeze background tabs: on return, reconnect and resync at once.
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState !== 'visible') return;
  live.reconnectNow();
  if (S.token) refreshSoon();
});
window.addEventListener('online', () => live.reconnectNow());

setLanguage(t.lang, false);
const stored = readStored();
if (stored) dispatch({ type: 'restore', token: stored.token, label: stored.ticket });
live.start();
setInterval(() => {
  dispatch({ type: 'tick', now: Date.now(), serverNow: clock.now() });
  tickView();
}, TICK_MS);
