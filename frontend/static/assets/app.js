// The ticket page: take a ticket, follow it live, get called, view the kitty.
//
// The ticket's truth comes from three sources, merged by applyTicket:
// HTTP answers, the WebSocket's `ticket` messages, and the public snapshots
// (where our label sits in the line). A ticket's state only moves forward
// (waiting → called → serving → done), so a late message can never undo a
// newer one; when the sources disagree the page asks GET /api/v1/ticket.
import * as api from './api.js';
import { LiveClient, liveURL } from './live.js';
import { ServerClock, formatCountdown, humanWait, humanDuration } from './fmt.js';
import { boardElements, renderBoard, renderConn, tickCountdowns, lists } from './boardview.js';
import { byId, setText, show } from './dom.js';
import { SoundPlayer, YOUR_TURN } from './sound.js';

const STORAGE_KEY = 'catqms.ticket';
const SNAPSHOT_WAITING = 64; // the snapshot lists at most this many waiting tickets
const TICK_MS = 250;
const REFRESH_MIN_GAP_MS = 1500; // at most one GET /api/v1/ticket per gap when reconciling
const POLL_WHILE_OFFLINE_MS = 8000; // while the WebSocket is down, poll the ticket this often
const RANK = { none: -1, waiting: 0, called: 1, serving: 2, served: 3, expired: 3, left: 3 };
const LIVE = new Set(['waiting', 'called', 'serving']);
const BASE_TITLE = document.title;

const els = {
  me: byId('me'),
  intro: byId('intro'),
  conn: byId('conn'),
  alert: byId('alert'),
  ticketBox: byId('ticket-box'),
  myTicket: byId('my-ticket'),
  myState: byId('my-state'),
  waitingInfo: byId('waiting-info'),
  myPosition: byId('my-position'),
  myEta: byId('my-eta'),
  myEtaLine: byId('my-eta-line'),
  callBanner: byId('call-banner'),
  callCountdown: byId('call-countdown'),
  getKitty: byId('get-kitty'),
  kittyBox: byId('kitty-box'),
  kittyImg: byId('kitty-img'),
  viewCountdown: byId('view-countdown'),
  download: byId('download'),
  done: byId('done'),
  thanks: byId('thanks'),
  message: byId('message'),
  take: byId('take'),
  leave: byId('leave'),
  leaveDialog: byId('leave-dialog'),
  leaveConfirm: byId('leave-confirm'),
  leaveCancel: byId('leave-cancel'),
  notifyHint: byId('notify-hint'),
};
const boardEls = boardElements();

const clock = new ServerClock();
const sound = new SoundPlayer();

/** Everything the page knows; render() draws it. */
const S = {
  token: null,
  label: null,
  state: 'none', // none | waiting | called | serving | served | expired | left
  position: null,
  eta: null, // seconds, as last told by the server…
  etaPosition: null, // …for this position
  deadline: null,
  until: null,
  imageUrl: null,
  snapshot: null,
  conn: { state: 'connecting', attempt: 0, retryAt: 0, stale: false },
  banUntil: 0, // local epoch ms
  alertedToken: null,
  lastRefresh: 0,
  refreshing: false,
  refreshTimer: null,
  titleTimer: null,
};

const live = new LiveClient({
  url: liveURL(window.location),
  onSnapshot,
  onTicket: (msg) => applyTicket(msg),
  onStatus: onConnStatus,
});

// ---- storage: {token, ticket} under one key, shared by every tab -----------

function readStored() {
  try {
    const v = JSON.parse(localStorage.getItem(STORAGE_KEY));
    if (v && typeof v.token === 'string' && v.token) return { token: v.token, ticket: String(v.ticket || '') };
  } catch {
    // unreadable or blocked storage: behave as if empty
  }
  return null;
}

function writeStored(token, ticket) {
  try {
    localStorage.setItem(STORAGE_KEY, JSON.stringify({ token, ticket }));
  } catch {
    // private mode or full: the ticket still works in this tab
  }
}

function clearStored(token) {
  const current = readStored();
  if (current && current.token !== token) return; // another tab already holds a newer ticket
  try {
    localStorage.removeItem(STORAGE_KEY);
  } catch {
    // nothing to clear
  }
}

// ---- messages ----------------------------------------------------------------

function say(text, kind = 'info') {
  setText(els.message, text);
  els.message.dataset.kind = text ? kind : '';
}

function tryAgainIn(seconds) {
  return seconds > 0 ? ` Please try again in ${humanDuration(seconds)}.` : ' Please try again in a moment.';
}

/** Words for the answers every route can give; null when handled otherwise (a ban). */
function commonError(res) {
  const { data, retryAfter } = res;
  if (res.status === 0) return "Can't reach the server. Check your connection and try again.";
  switch (data.error) {
    case 'banned':
      startBan(retryAfter);
      return null;
    case 'too_many_tickets':
      return `You already hold as many tickets as one connection may. Use or leave one first.${tryAgainIn(retryAfter)}`;
    case 'line_full':
      return `The line is full right now.${tryAgainIn(retryAfter)}`;
    case 'paused':
      return `The line is paused right now, so no new tickets are given out.${tryAgainIn(retryAfter)}`;
    case 'unavailable':
      return `The service is having trouble right now.${tryAgainIn(retryAfter)}`;
    default:
      return `${data.message || `Something went wrong (error ${res.status}).`}${tryAgainIn(retryAfter)}`;
  }
}

function fail(res) {
  const text = commonError(res);
  if (text !== null) say(text, 'error');
}

function startBan(seconds) {
  S.banUntil = Date.now() + Math.max(1, seconds || 0) * 1000;
  render();
}

function banned() {
  return S.banUntil > Date.now();
}

// ---- the ticket --------------------------------------------------------------

/** Starts following ticket `label` held with `token`. */
function startTicket(token, label) {
  Object.assign(S, {
    token,
    label: label || null,
    state: 'waiting', // provisional until the server answers
    position: null,
    eta: null,
    etaPosition: null,
    deadline: null,
    until: null,
    imageUrl: null,
    alertedToken: null,
  });
  live.watch(token);
}

/**
 * Merges what a source says about our ticket. `force` lets an explicit server
 * answer move the state backwards (409 not_your_turn while we showed "called").
 */
function applyTicket(t, force = false) {
  if (!S.token || !t || typeof t !== 'object') return;
  if (t.ticket && S.label && t.ticket !== S.label) return; // someone else's ticket
  if (t.ticket && !S.label) S.label = t.ticket;
  const next = t.state;
  if (!(next in RANK) || next === 'none') return;
  if (RANK[next] < RANK[S.state] && !force) return; // late news
  if (RANK[next] === 3) {
    finish(next);
    return;
  }
  if (next !== S.state) {
    S.state = next;
    if (next !== 'called') S.deadline = null;
  }
  if (Number.isFinite(t.position)) S.position = t.position;
  if (Number.isFinite(t.eta_seconds)) {
    S.eta = t.eta_seconds;
    S.etaPosition = S.position;
  }
  if (t.deadline) S.deadline = t.deadline;
  if (t.until) S.until = t.until;
  if (t.image_url) S.imageUrl = t.image_url;
  if (S.state === 'called' && !S.deadline) fillFromSnapshot();
  if ((S.state === 'serving' && (!S.imageUrl || !S.until)) || (S.state === 'called' && !S.deadline)) refreshSoon();
  render();
}

function fillFromSnapshot() {
  if (!S.snapshot) return;
  const c = lists(S.snapshot).called.find((x) => x.ticket === S.label);
  if (c) S.deadline = c.deadline;
}

/** The ticket reached `state` (served, expired, left): forget the token and explain. */
function finish(state, leftByMe = false) {
  clearStored(S.token);
  live.watch(null);
  Object.assign(S, { token: null, state, position: null, deadline: null, until: null, imageUrl: null });
  els.kittyImg.removeAttribute('src');
  els.download.removeAttribute('href');
  if (state === 'served') say('');
  else if (state === 'expired') say('You missed your turn — the window closed. Take a new ticket.', 'error');
  else if (leftByMe) say('You left the line. Take a new ticket whenever you like.');
  else say('This ticket is no longer in the line, so it was cleared. Take a new ticket.', 'error');
  render();
}

/** Drops a stored token the server does not accept (403 forbidden). */
function forget() {
  clearStored(S.token);
  live.watch(null);
  Object.assign(S, { token: null, label: null, state: 'none', position: null, deadline: null, until: null, imageUrl: null });
  say("Your saved ticket isn't valid here any more, so it was cleared. Take a new ticket.", 'error');
  render();
}

/** Asks the server for the ticket's current state. */
async function refresh() {
  if (!S.token || S.refreshing) return;
  S.refreshing = true;
  S.lastRefresh = Date.now();
  const token = S.token;
  const res = await api.getTicket(token);
  S.refreshing = false;
  if (token !== S.token) return; // the ticket changed meanwhile
  if (res.ok) {
    applyTicket(res.data);
  } else if (res.status === 410) {
    finish(res.data.state || 'expired');
  } else if (res.status === 403 && res.data.error === 'banned') {
    startBan(res.retryAfter);
  } else if (res.status === 403) {
    forget();
  }
  // Unreachable or unavailable: keep what we know; the tick polls again.
}

/** refresh(), at most once per REFRESH_MIN_GAP_MS. */
function refreshSoon() {
  if (S.refreshTimer !== null) return;
  const wait = Math.max(0, S.lastRefresh + REFRESH_MIN_GAP_MS - Date.now());
  S.refreshTimer = setTimeout(() => {
    S.refreshTimer = null;
    refresh();
  }, wait);
}

/** The wait estimate: the server's, moved by how far the line went since it was given. */
function currentEta() {
  if (S.state === 'called') return 0;
  const per = S.snapshot && Number.isFinite(S.snapshot.eta_seconds_per_ticket) ? S.snapshot.eta_seconds_per_ticket : NaN;
  if (Number.isFinite(S.eta)) {
    if (Number.isFinite(per) && Number.isFinite(S.position) && Number.isFinite(S.etaPosition)) {
      return Math.max(0, S.eta + (S.position - S.etaPosition) * per);
    }
    return S.eta;
  }
  if (Number.isFinite(per) && Number.isFinite(S.position)) return S.position * per;
  return NaN;
}

// ---- live line ---------------------------------------------------------------

function onSnapshot(snap) {
  clock.observe(snap.now);
  S.snapshot = snap;
  renderBoard(boardEls, snap, clock, { mine: LIVE.has(S.state) ? S.label : null });
  document.body.dataset.version = String(snap.version);
  reconcile(snap);
  tick();
}

/** Reads our ticket's place from a snapshot, and asks the server when the two disagree. */
function reconcile(snap) {
  if (!S.token || !S.label || !LIVE.has(S.state)) return;
  const { serving, called, waiting } = lists(snap);
  const ci = called.findIndex((x) => x.ticket === S.label);
  if (ci >= 0) {
    applyTicket({ ticket: S.label, state: 'called', deadline: called[ci].deadline, position: ci + 1 });
    return;
  }
  const wi = waiting.findIndex((x) => x.ticket === S.label);
  if (wi >= 0) {
    if (S.state === 'waiting') {
      S.position = called.length + wi + 1;
      render();
    } else {
      refreshSoon(); // we thought it was called or serving
    }
    return;
  }
  if (serving.some((x) => x.ticket === S.label)) {
    if (S.state !== 'serving' || !S.imageUrl) refreshSoon(); // redeemed in another tab
    return;
  }
  // Absent: normal for a waiting ticket beyond the listed ones; otherwise it moved on.
  if (S.state !== 'waiting' || waiting.length < SNAPSHOT_WAITING) refreshSoon();
}

function onConnStatus(status) {
  const wasLive = S.conn.state === 'live';
  S.conn = status;
  renderConn(els.conn, status);
  // Ticket messages only report changes: after a gap, ask for the current state.
  if (status.state === 'live' && !wasLive && S.token && Date.now() - S.lastRefresh > 3000) refreshSoon();
}

// ---- the call alert ----------------------------------------------------------

function alertCalled() {
  if (S.alertedToken === S.token) return;
  S.alertedToken = S.token;
  const label = S.label || '';
  setText(els.alert, `Your turn! Ticket ${label}: press "Get my kitty" before the time runs out.`);
  sound.play(YOUR_TURN).then((played) => (played ? sound.play(YOUR_TURN) : false));
  if (typeof navigator.vibrate === 'function') navigator.vibrate([300, 120, 300, 120, 600]);
  notify(label);
  startTitleFlash(label);
  els.getKitty.focus({ preventScroll: true });
  els.callBanner.scrollIntoView({ block: 'center', behavior: reducedMotion() ? 'auto' : 'smooth' });
}

function stopAlert() {
  if (S.titleTimer !== null) clearInterval(S.titleTimer);
  S.titleTimer = null;
  if (document.title !== BASE_TITLE) document.title = BASE_TITLE;
}

function startTitleFlash(label) {
  stopAlert();
  const alertTitle = `🔔 Your turn! ${label}`;
  let on = true;
  document.title = alertTitle;
  S.titleTimer = setInterval(() => {
    on = !on;
    document.title = on ? alertTitle : `${label} — catqms`;
  }, 1000);
}

function notify(label) {
  if (!('Notification' in window) || Notification.permission !== 'granted') return;
  if (document.visibilityState === 'visible' && document.hasFocus()) return; // the page itself is in view
  try {
    const n = new Notification(`🔔 Your turn! ${label}`, {
      body: 'Come back to the page and press "Get my kitty" before the time runs out.',
      tag: 'catqms-turn',
      icon: '/assets/icon.svg',
    });
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
    const pending = Notification.requestPermission(updateNotifyHint);
    if (pending && typeof pending.then === 'function') pending.then(updateNotifyHint, () => {});
  } catch {
    // older callback-only API without a callback: nothing to do
  }
}

function updateNotifyHint() {
  if (!('Notification' in window)) {
    setText(els.notifyHint, 'Keep this tab open: it will ring when it is your turn.');
  } else if (Notification.permission === 'granted') {
    setText(els.notifyHint, "We'll also send a notification when it is your turn.");
  } else if (Notification.permission === 'denied') {
    setText(els.notifyHint, 'Notifications are off, so keep this tab open: it will ring when it is your turn.');
  }
}

function reducedMotion() {
  return window.matchMedia('(prefers-reduced-motion: reduce)').matches;
}

// ---- drawing -----------------------------------------------------------------

function render() {
  const st = S.state;
  const hasTicket = Boolean(S.label) && st !== 'none';
  els.me.dataset.state = st;
  document.body.dataset.state = st;
  document.body.classList.toggle('is-called', st === 'called');

  show(els.intro, !hasTicket);
  show(els.ticketBox, hasTicket);
  setText(els.myTicket, S.label || '');
  setText(els.myState, st);
  show(els.waitingInfo, st === 'waiting' || st === 'called');
  setText(els.myPosition, Number.isFinite(S.position) ? S.position : '…');
  const eta = currentEta();
  show(els.myEtaLine, st === 'waiting');
  setText(els.myEta, Number.isFinite(eta) ? humanWait(eta) : '…');
  show(els.notifyHint, st !== 'called' && st !== 'serving');

  show(els.callBanner, st === 'called');
  setCountdown(els.callCountdown, st === 'called' ? S.deadline : null);
  show(els.kittyBox, st === 'serving');
  setCountdown(els.viewCountdown, st === 'serving' ? S.until : null);
  if (st === 'serving' && S.imageUrl && els.kittyImg.getAttribute('src') !== S.imageUrl) {
    els.kittyImg.src = S.imageUrl;
    els.kittyImg.alt = `A kitty picture for ticket ${S.label}`;
    els.download.href = S.imageUrl;
    els.download.download = `kitty-${S.label}`;
  }
  show(els.thanks, st === 'served');

  show(els.take, !LIVE.has(st));
  setText(els.take, hasTicket ? 'Take another ticket' : 'Take a ticket');
  els.take.disabled = banned() || els.take.getAttribute('aria-busy') === 'true';
  show(els.leave, st === 'waiting' || st === 'called');

  if (st === 'called') alertCalled();
  else stopAlert();

  if (S.snapshot) renderBoard(boardEls, S.snapshot, clock, { mine: LIVE.has(st) ? S.label : null });
  tick();
}

function setCountdown(el, time) {
  if (time) {
    el.dataset.countdownTo = time;
  } else {
    delete el.dataset.countdownTo;
    setText(el, '–:––');
  }
}

/** Runs every TICK_MS: countdowns, connection text, ban time, and the deadlines we can act on. */
function tick() {
  tickCountdowns(document.body, clock);
  renderConn(els.conn, S.conn);

  if (S.banUntil) {
    const left = S.banUntil - Date.now();
    if (left > 0) {
      say(`This connection is blocked from taking or using tickets for ${formatCountdown(left)} more (a ticket the service never issued was sent from it).`, 'error');
    } else {
      S.banUntil = 0;
      say('The block is over: you can take a ticket again.');
      els.take.disabled = false;
    }
  }

  if (S.state === 'serving' && S.until && clock.until(S.until) <= 0) {
    // Viewing time is over; the server frees the counter on its own.
    finish('served');
    return;
  }
  if (S.state === 'called' && S.deadline && clock.until(S.deadline) < -1500) refreshSoon(); // expired?
  if (S.token && LIVE.has(S.state) && S.conn.state !== 'live' && Date.now() - S.lastRefresh > POLL_WHILE_OFFLINE_MS) refresh();
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
    button.disabled = button === els.take && banned();
  }
}

async function take() {
  sound.unlock();
  askNotifications();
  say('');
  const res = await api.takeTicket();
  if (res.ok && res.data.token) {
    writeStored(res.data.token, res.data.ticket);
    startTicket(res.data.token, res.data.ticket);
    applyTicket(res.data);
    els.me.focus({ preventScroll: true });
    return;
  }
  fail(res);
}

async function getKitty() {
  if (!S.token) return;
  sound.unlock();
  const res = await api.redeem(S.token);
  if (res.ok) {
    say('');
    applyTicket({ ...res.data, state: 'serving' });
    els.done.focus({ preventScroll: true });
    return;
  }
  const { data } = res;
  if (res.status === 409) {
    applyTicket({ ticket: S.label, state: 'waiting', position: data.position, eta_seconds: data.eta_seconds }, true);
    S.alertedToken = null; // ring again when it really is our turn
    const where = Number.isFinite(data.position) ? `you are number ${data.position} in line` : 'you are still in line';
    const wait = Number.isFinite(data.eta_seconds) ? `, ${humanWait(data.eta_seconds)} to wait` : '';
    say(`Not your turn yet — ${where}${wait}.`, 'error');
  } else if (res.status === 410) {
    finish(data.state || 'expired');
  } else if (res.status === 403 && data.error === 'forbidden') {
    forget();
  } else {
    fail(res);
  }
}

async function done() {
  if (!S.token) return;
  const res = await api.endViewing(S.token);
  if (res.ok || res.status === 410) finish('served');
  else if (res.status === 403 && res.data.error === 'forbidden') forget();
  else fail(res);
}

async function leave() {
  if (!S.token) return;
  const res = await api.leaveLine(S.token);
  if (res.ok) finish('left', true);
  else if (res.status === 410) finish(res.data.state || 'left');
  else if (res.status === 403 && res.data.error === 'forbidden') forget();
  else fail(res);
}

function openLeaveDialog() {
  if (typeof els.leaveDialog.showModal === 'function') {
    els.leaveDialog.showModal();
    els.leaveCancel.focus();
  } else if (window.confirm('Leave the line? You will lose your place.')) {
    busy(els.leave, leave);
  }
}

function closeLeaveDialog() {
  if (els.leaveDialog.open) els.leaveDialog.close();
}

// ---- wiring ------------------------------------------------------------------

els.take.addEventListener('click', () => busy(els.take, take));
els.getKitty.addEventListener('click', () => busy(els.getKitty, getKitty));
els.done.addEventListener('click', () => busy(els.done, done));
els.leave.addEventListener('click', openLeaveDialog);
els.leaveCancel.addEventListener('click', () => {
  closeLeaveDialog();
  els.leave.focus();
});
els.leaveConfirm.addEventListener('click', () => {
  closeLeaveDialog();
  busy(els.leave, leave);
});
els.kittyImg.addEventListener('error', () => {
  if (S.state === 'serving' && els.kittyImg.getAttribute('src')) say("The picture couldn't be loaded. Your viewing time may be over.", 'error');
});

// Audio may only start after a gesture: unlock it on the first one.
const unlockOnce = () => sound.unlock();
document.addEventListener('pointerdown', unlockOnce, { once: true });
document.addEventListener('keydown', unlockOnce, { once: true });

// Another tab took, used or dropped the ticket.
window.addEventListener('storage', (event) => {
  if (event.key !== STORAGE_KEY && event.key !== null) return;
  const stored = readStored();
  if (stored && stored.token !== S.token) {
    say('');
    startTicket(stored.token, stored.ticket);
    render();
    refresh();
  } else if (!stored && S.token) {
    refresh(); // learn how it ended
  }
});

// Phones freeze background tabs: on return, reconnect and resync at once.
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState !== 'visible') return;
  live.reconnectNow();
  if (S.token) refreshSoon();
});
window.addEventListener('online', () => live.reconnectNow());

updateNotifyHint();
const stored = readStored();
if (stored) {
  startTicket(stored.token, stored.ticket);
  refresh();
}
render();
live.start();
setInterval(tick, TICK_MS);
