// The ticket page's state and its one way of changing: update(state, event)
// returns the next state; effects(prev, next, event) lists what the page must
// do because of that transition (sound, focus, announcements, storage,
// asking the server). No DOM and no timers here, so node tests drive it.
//
// The ticket's truth comes from three sources: HTTP answers, the WebSocket's
// `ticket` messages, and the public snapshots (where our label sits in the
// line). A ticket's state only moves forward (waiting → called → serving →
// done), so late news never undoes newer news; when the sources disagree the
// page asks GET /api/v1/ticket (the `refresh` effect).
import { lists, lineLength, SNAPSHOT_WAITING } from './line.js';

const RANK = { none: -1, waiting: 0, called: 1, serving: 2, served: 3, expired: 3, left: 3 };
/** The states in which a ticket is still in play. */
export const LIVE = new Set(['waiting', 'called', 'serving']);
/** How long the connection may be down before the page says so (a replica restart is shorter). */
export const OFFLINE_GRACE_MS = 1500;
/** While the live feed is down, ask for the ticket this often. */
const POLL_WHILE_OFFLINE_MS = 8000;
/** A called ticket this long past its deadline is asked about (it has probably expired). */
const PAST_DEADLINE_MS = 1500;

const NO_TICKET = {
  token: null, label: null, state: 'none', position: null, eta: null, etaPosition: null, etaLow: null, etaHigh: null,
  deadline: null, until: null, imageUrl: null,
};

/** The state of a page opened at local time `now`. */
export function initialState(now = 0) {
  return {
    ...NO_TICKET,
    ended: null, // why the last ticket ended: served | expired | left | removed | forgotten | banned
    message: null, // an action's outcome to show: {parts: [{key, …}], kind}
    snapshot: null,
    conn: { state: 'connecting', attempt: 0, retryAt: 0, stale: false },
    notLiveSince: now, // local ms since the feed is down (0 while live)
    health: 'connecting', // connecting | live | offline | stale
    banUntil: 0, // local ms
    refreshes: 0, // bumped whenever the ticket should be asked for
    lastRefresh: 0, // local ms of the last ask
    now,
  };
}

/** The next state after `event`. Never changes `s`. */
export function update(s, event) {
  switch (event.type) {
    case 'restore': // a ticket kept in localStorage, or taken in another tab
      return { ...s, ...NO_TICKET, token: event.token, label: event.label || null, state: 'waiting', ended: null, message: null, refreshes: s.refreshes + 1 };
    case 'taken':
      return applyTicket({ ...s, ...NO_TICKET, token: event.data.token, label: event.data.ticket || null, state: 'waiting', ended: null, message: null }, event.data);
    case 'ticket':
      return applyTicket(s, event.data, Boolean(event.force));
    case 'ended':
      return end(s, event.how);
    case 'banned':
      return { ...end(s, 'banned'), banUntil: event.now + Math.max(1, event.seconds || 0) * 1000, now: event.now };
    case 'message':
      return { ...s, message: event.message };
    case 'snapshot':
      return reconcile({ ...s, snapshot: event.snap });
    case 'conn': {
      const next = withConn(s, event.status, event.now);
      // Ticket messages only report changes: after a gap, ask for the current state.
      if (event.status.state === 'live' && s.conn.state !== 'live' && s.token && event.now - s.lastRefresh > 3000) next.refreshes += 1;
      return next;
    }
    case 'refreshing':
      return { ...s, lastRefresh: event.now };
    case 'tick':
      return tick(s, event.now, event.serverNow);
    default:
      return s;
  }
}

/**
 * The connection part of a page's state, shared with the TV board:
 * {conn, notLiveSince, health, now} after the live feed reported `status`.
 */
export function withConn(s, status, now) {
  const next = { ...s, conn: status, now };
  if (status.state === 'live') next.notLiveSince = 0;
  else if (!s.notLiveSince) next.notLiveSince = now;
  next.health = healthOf(next);
  return next;
}

/** The connection part of a page's state at local time `now`. */
export function withNow(s, now) {
  const next = { ...s, now };
  next.health = healthOf(next);
  return next;
}

function healthOf(s) {
  if (s.conn.state === 'live') return 'live';
  if (s.conn.stale) return 'stale';
  if (s.notLiveSince && s.now - s.notLiveSince >= OFFLINE_GRACE_MS) return 'offline';
  return s.health; // within the grace period: what it was
}

function tick(s, now, serverNow) {
  const next = withNow(s, now);
  if (next.banUntil && now >= next.banUntil) {
    next.banUntil = 0;
    next.ended = null;
    next.message = { parts: [{ key: 'ban.over' }], kind: 'info' };
  }
  if (next.state === 'serving' && next.until && Date.parse(next.until) <= serverNow) {
    return end(next, 'served'); // viewing time is over; the server frees the counter by itself
  }
  if (next.state === 'called' && next.deadline && serverNow - Date.parse(next.deadline) > PAST_DEADLINE_MS) next.refreshes += 1;
  if (next.token && LIVE.has(next.state) && next.health !== 'live' && now - next.lastRefresh > POLL_WHILE_OFFLINE_MS) next.refreshes += 1;
  return next;
}

/**
 * Merges what a source says about our ticket. `force` lets an explicit server
 * answer move the state backwards (409 not_your_turn while we showed "called").
 */
function applyTicket(s, t, force = false) {
  if (!s.token || !t || typeof t !== 'object') return s;
  if (t.ticket && s.label && t.ticket !== s.label) return s; // someone else's ticket
  const to = t.state;
  if (!(to in RANK) || to === 'none') return s;
  if (RANK[to] < RANK[s.state] && !force) return s; // late news
  const next = { ...s };
  if (t.ticket && !next.label) next.label = t.ticket;
  if (RANK[to] === 3) return end(next, to === 'left' ? 'removed' : to);
  if (to !== next.state) {
    next.state = to;
    if (to !== 'called') next.deadline = null;
  }
  if (Number.isFinite(t.position)) next.position = t.position;
  if (Number.isFinite(t.eta_seconds)) {
    next.eta = t.eta_seconds;
    next.etaPosition = next.position;
    // The range around it, when the service gives one (older ones do not).
    const ranged = Number.isFinite(t.eta_low_seconds) && Number.isFinite(t.eta_high_seconds);
    next.etaLow = ranged ? t.eta_low_seconds : null;
    next.etaHigh = ranged ? t.eta_high_seconds : null;
  }
  if (t.deadline) next.deadline = t.deadline;
  if (t.until) next.until = t.until;
  if (t.image_url) next.imageUrl = t.image_url;
  if (next.state === 'called' && !next.deadline && next.snapshot) {
    const c = lists(next.snapshot).called.find((x) => x.ticket === next.label);
    if (c) next.deadline = c.deadline;
  }
  if ((next.state === 'serving' && (!next.imageUrl || !next.until)) || (next.state === 'called' && !next.deadline)) next.refreshes += 1;
  return next;
}

/** The ticket ended `how`; what stays is only what is still true. */
function end(s, how) {
  const shown = { served: 'served', expired: 'expired', left: 'left', removed: 'left' }[how] || 'none';
  return {
    ...s,
    ...NO_TICKET,
    // The label stays on screen (struck through) when the visitor should
    // recognise it; a forgotten or banned ticket is simply gone.
    label: shown === 'none' ? null : s.label,
    state: shown,
    ended: how,
    message: null,
  };
}

/** Reads our ticket's place from the snapshot, and asks the server when the two disagree. */
function reconcile(s) {
  if (!s.token || !s.label || !LIVE.has(s.state)) return s;
  const { serving, called, waiting } = lists(s.snapshot);
  const ci = called.findIndex((x) => x.ticket === s.label);
  if (ci >= 0) return applyTicket(s, { ticket: s.label, state: 'called', deadline: called[ci].deadline, position: ci + 1 });
  const wi = waiting.findIndex((x) => x.ticket === s.label);
  if (wi >= 0) {
    if (s.state === 'waiting') return { ...s, position: called.length + wi + 1 };
    return { ...s, refreshes: s.refreshes + 1 }; // we thought it was called or serving
  }
  if (serving.some((x) => x.ticket === s.label)) {
    // Redeemed in another tab?
    return s.state !== 'serving' || !s.imageUrl ? { ...s, refreshes: s.refreshes + 1 } : s;
  }
  // Absent: normal for a waiting ticket beyond the listed ones, unless the
  // line got shorter than its place (it left, e.g. removed with a ban);
  // otherwise it moved on.
  if (s.state !== 'waiting' || waiting.length < SNAPSHOT_WAITING) return { ...s, refreshes: s.refreshes + 1 };
  if (Number.isFinite(s.position) && s.position > lineLength(s.snapshot)) return { ...s, refreshes: s.refreshes + 1 };
  return s;
}

/**
 * What the page must do because state went from `prev` to `next` on
 * `event`: [{type, …}]. The page runs them in order; render() never does.
 */
export function effects(prev, next, event = {}) {
  const out = [];
  if (next.token !== prev.token) {
    if (prev.token) out.push({ type: 'forgetStored', token: prev.token });
    if (next.token) out.push({ type: 'store', token: next.token, label: next.label });
    out.push({ type: 'watch', token: next.token });
  } else if (next.token && next.label !== prev.label) {
    out.push({ type: 'store', token: next.token, label: next.label });
  }
  if (next.refreshes > prev.refreshes) out.push({ type: 'refresh' });

  const called = next.state === 'called';
  const wasCalled = prev.state === 'called' && prev.token === next.token;
  if (called && !wasCalled) out.push({ type: 'call', label: next.label });
  if (!called && prev.state === 'called') out.push({ type: 'stopCall' });

  if (next.state === 'serving' && prev.state !== 'serving') out.push({ type: 'focus', target: 'done' });
  else if (event.type === 'taken' && next.state === 'waiting') out.push({ type: 'focus', target: 'ticket' });
  else if (next.ended && next.ended !== prev.ended) out.push({ type: 'focus', target: next.ended === 'banned' ? 'ban' : 'take' });

  // One polite announcement per change of health; the first connection is not news.
  if (next.health !== prev.health && !(prev.health === 'connecting' && next.health === 'live')) {
    out.push({ type: 'announce', key: `health.announce.${next.health}` });
  }
  return out;
}

/** The wait estimate for our ticket: the server's, moved by how far the line went since it was given. */
export function currentEta(s) {
  if (s.state === 'called') return 0;
  const per = s.snapshot && Number.isFinite(s.snapshot.eta_seconds_per_ticket) ? s.snapshot.eta_seconds_per_ticket : NaN;
  if (Number.isFinite(s.eta)) {
    if (Number.isFinite(per) && Number.isFinite(s.position) && Number.isFinite(s.etaPosition)) {
      return Math.max(0, s.eta + (s.position - s.etaPosition) * per);
    }
    return s.eta;
  }
  if (Number.isFinite(per) && Number.isFinite(s.position)) return s.position * per;
  return NaN;
}

/**
 * The range of the wait for our ticket, {low, high} in seconds, moved as
 * currentEta moves the server's middle; null when there is none (called,
 * or no range given).
 */
export function currentRange(s) {
  if (s.state === 'called' || !Number.isFinite(s.etaLow) || !Number.isFinite(s.etaHigh) || !Number.isFinite(s.eta)) return null;
  const shift = currentEta(s) - s.eta;
  return { low: Math.max(0, s.etaLow + shift), high: Math.max(0, s.etaHigh + shift) };
}

/** The words of a message part, in the language of translator `t`. */
export function describe(part, t) {
  switch (part.key) {
    case 'err.retry':
      return part.seconds > 0 ? t('err.retry_in', { duration: t.duration(part.seconds) }) : t('err.retry_soon');
    case 'err.not_your_turn':
      return t('err.not_your_turn', { ordinal: t.ordinal(part.position), wait: t.waitRange(part.low, part.high, part.eta) });
    case 'err.other':
      return t('err.other', { status: part.status });
    default:
      return t(part.key, part.params || {});
  }
}

/**
 * The message for a failed call's answer `res` ({status, data, retryAfter}):
 * a message, or {banned: seconds} when the answer is a ban.
 */
export function failure(res) {
  const { data = {}, retryAfter = 0 } = res;
  if (res.status === 0) return { parts: [{ key: 'err.unreachable' }], kind: 'error' };
  const retry = { key: 'err.retry', seconds: retryAfter };
  switch (data.error) {
    case 'banned':
      return { banned: retryAfter };
    case 'too_many_tickets':
      return { parts: [{ key: 'err.too_many' }, retry], kind: 'error' };
    case 'line_full':
      return { parts: [{ key: 'err.line_full' }, retry], kind: 'error' };
    case 'paused':
      return { parts: [{ key: 'err.paused' }, retry], kind: 'error' };
    case 'unavailable':
      return { parts: [{ key: 'err.unavailable' }, retry], kind: 'error' };
    default:
      return { parts: [{ key: 'err.other', status: res.status }, retry], kind: 'error' };
  }
}
