// Rendering of the live line, shared by the ticket page and the TV board:
// now serving, called (with the no-show countdown), the next 64 in columns of
// 16, the line length, and the connection status.
import { byId, h, setText, show } from './dom.js';
import { formatCountdown } from './fmt.js';

/** Returns the snapshot's lists, treating absent ones (JSON null) as empty. */
export function lists(snap) {
  return {
    serving: Array.isArray(snap.serving) ? snap.serving : [],
    called: Array.isArray(snap.called) ? snap.called : [],
    waiting: Array.isArray(snap.waiting) ? snap.waiting : [],
  };
}

/** An element whose text counts down to `time` (RFC 3339); tickCountdowns updates it. */
export function countdown(time, clock, className = 'countdown') {
  return h('span', { className, 'data-countdown-to': time }, formatCountdown(clock.until(time)));
}

/** Updates every countdown under `root`. */
export function tickCountdowns(root, clock) {
  for (const el of root.querySelectorAll('[data-countdown-to]')) {
    const ms = clock.until(el.dataset.countdownTo);
    setText(el, formatCountdown(ms));
    el.classList.toggle('ending', Number.isFinite(ms) && ms < 10000);
  }
}

function ticketItem(tag, label, mine, ...rest) {
  return h(tag, {
    className: mine ? 'ticket mine' : 'ticket',
    dataset: { ticket: label },
    'aria-current': mine ? 'true' : undefined,
  },
  h('span', { className: 'label' }, label),
  mine ? h('span', { className: 'sr-only' }, ' (your ticket)') : null,
  ...rest);
}

function emptyItem(text) {
  return h('li', { className: 'empty' }, text);
}

/** The board's elements, by the ids both pages give them. */
export function boardElements() {
  return {
    serving: byId('board-serving'),
    called: byId('board-called'),
    waiting: byId('board-waiting'),
    length: byId('board-length'),
    more: byId('board-more'),
    paused: byId('board-paused'),
  };
}

/**
 * Renders snapshot `snap` into els {serving, called, waiting, length, more?, paused?}.
 * `mine` is the viewer's own label (highlighted), `calledText` the words after a called label.
 */
export function renderBoard(els, snap, clock, { mine = null, calledText = 'please come to the counter' } = {}) {
  const { serving, called, waiting } = lists(snap);

  els.serving.replaceChildren(...(serving.length
    ? serving.map((s) => ticketItem('li', s.ticket, s.ticket === mine, ' ', countdown(s.until, clock)))
    : [emptyItem('—')]));

  els.called.replaceChildren(...(called.length
    ? called.map((c) => ticketItem('li', c.ticket, c.ticket === mine,
      h('span', { className: 'call-text' }, ` — ${calledText} (`), countdown(c.deadline, clock), ')'))
    : [emptyItem('No one called right now')]));

  els.waiting.replaceChildren(...waiting.map((w) => ticketItem('li', w.ticket, w.ticket === mine)));
  if (!waiting.length) els.waiting.append(emptyItem('No one waiting'));

  const length = Number.isFinite(snap.length) ? snap.length : called.length + waiting.length;
  setText(els.length, length);
  if (els.more) {
    const more = length - called.length - waiting.length;
    setText(els.more, more > 0 ? `…and ${more} more` : '');
    show(els.more, more > 0);
  }
  if (els.paused) show(els.paused, Boolean(snap.paused));
}

/** Renders the LiveClient status into `el`: text contains "live" only when connected. */
export function renderConn(el, status, now = Date.now()) {
  let text;
  if (status.state === 'live') {
    text = 'live';
  } else if (status.stale) {
    text = 'line may be out of date, reconnecting…';
  } else if (status.state === 'connecting') {
    text = 'connecting…';
  } else if (status.retryAt > now) {
    const secs = Math.ceil((status.retryAt - now) / 1000);
    text = `reconnecting in ${secs} s (attempt ${status.attempt})…`;
  } else {
    text = 'reconnecting…';
  }
  setText(el, text);
  el.dataset.state = status.stale && status.state !== 'live' ? 'stale' : status.state;
}
