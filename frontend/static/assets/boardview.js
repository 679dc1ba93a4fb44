// Drawing of the live line, shared by the ticket page and the TV board: now
// serving, called (with the time left to come), the next 64 with their
// places, the line length, and the connection pill. It only draws: what to
// show is decided by the caller and line.js.
import { byId, h, setText, show } from './dom.js';
import { formatCountdown } from './fmt.js';
import { lists, lineLength, waitingPlace, placesAfterShown } from './line.js';

/** An element whose text counts down to `time` (RFC 3339); tickCountdowns updates it. */
export function countdown(time, clock, className = 'countdown') {
  return h('span', { className, 'data-countdown-to': time }, formatCountdown(clock.until(time)));
}

/**
 * Updates every countdown under `root`. While the page is not live
 * (`estimate`), each is marked "≈": it still runs, but toward a deadline
 * the page can no longer confirm.
 */
export function tickCountdowns(root, clock, estimate = false) {
  for (const el of root.querySelectorAll('[data-countdown-to]')) {
    const ms = clock.until(el.dataset.countdownTo);
    setText(el, (estimate ? '≈ ' : '') + formatCountdown(ms));
    el.classList.toggle('ending', !estimate && Number.isFinite(ms) && ms < 10000);
    el.classList.toggle('estimate', estimate);
  }
}

function ticketItem(label, mine, t, ...rest) {
  return h('li', {
    className: mine ? 'ticket mine' : 'ticket',
    dataset: { ticket: label },
    'aria-current': mine ? 'true' : undefined,
  },
  h('span', { className: 'label' }, label),
  mine ? h('span', { className: 'sr-only' }, ` ${t('board.yours')}`) : null,
  ...rest);
}

function emptyItem(text) {
  return h('li', { className: 'empty' }, text);
}

/** The board's elements, by the ids both pages give them (some only on one page). */
export function boardElements() {
  const maybe = (id) => document.getElementById(id);
  return {
    serving: byId('board-serving'),
    called: byId('board-called'),
    waiting: byId('board-waiting'),
    length: byId('board-length'),
    more: byId('board-more'),
    paused: byId('board-paused'),
    beyond: maybe('board-beyond'),
    takeWait: maybe('board-take-wait'),
  };
}

/**
 * Renders snapshot `snap` in the language of `t`. `mine` is the viewer's
 * own label (highlighted) and `minePosition` its place, for the line that
 * says where it is when it is beyond the listed tickets.
 */
export function renderBoard(els, snap, clock, t, { mine = null, minePosition = null } = {}) {
  const { serving, called, waiting } = lists(snap);

  els.serving.replaceChildren(...(serving.length
    ? serving.map((s) => ticketItem(s.ticket, s.ticket === mine, t, ' ',
      h('span', { className: 'cd-label' }, t('board.viewing_left')), ' ', countdown(s.until, clock)))
    : [emptyItem(t('board.none_serving'))]));

  els.called.replaceChildren(...(called.length
    ? called.map((c) => ticketItem(c.ticket, c.ticket === mine, t, ' ',
      h('span', { className: 'cd-label' }, t('board.time_to_come')), ' ', countdown(c.deadline, clock)))
    : [emptyItem(t('board.none_called'))]));

  els.waiting.replaceChildren(...(waiting.length
    ? waiting.map((w, i) => ticketItem(w.ticket, w.ticket === mine, t,
      h('span', { className: 'pos', 'aria-label': t('board.position', { n: waitingPlace(snap, i) }) }, String(waitingPlace(snap, i)))))
    : [emptyItem(t('board.none_waiting'))]));

  const length = lineLength(snap);
  setText(els.length, length);
  const more = length - called.length - waiting.length;
  setText(els.more, more > 0 ? t('board.more', { count: more }) : '');
  show(els.more, more > 0);
  show(els.paused, Boolean(snap.paused));
  // The wait of a ticket taken now, as a range (the snapshot's take_eta_*).
  if (els.takeWait) setText(els.takeWait, t.waitRange(snap.take_eta_low_seconds, snap.take_eta_high_seconds, snap.take_eta_seconds));

  if (els.beyond) {
    const shown = mine && (called.some((c) => c.ticket === mine) || waiting.some((w) => w.ticket === mine));
    const after = shown ? 0 : placesAfterShown(snap, minePosition);
    setText(els.beyond, after > 0 ? t('board.you_beyond', { label: mine, ordinal: t.ordinal(minePosition), after }) : '');
    show(els.beyond, after > 0);
  }
}

/** Draws the connection pill: one short word per health, never a ticking counter. */
export function renderConn(el, health, t) {
  setText(el, t(`health.${health}`));
  el.dataset.state = health;
}
