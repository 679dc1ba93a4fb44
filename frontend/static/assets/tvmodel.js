// The TV board's state and its one way of changing, like model.js for the
// ticket page: update(state, event) and effects(prev, next). No DOM.
import { withConn, withNow } from './model.js';
import { lists } from './line.js';

/** How long a new call stays highlighted on the board. */
const HIGHLIGHT_MS = 8000;

export function initialBoard(now = 0) {
  return {
    snapshot: null,
    conn: { state: 'connecting', attempt: 0, retryAt: 0, stale: false },
    notLiveSince: now,
    health: 'connecting',
    now,
    called: [], // labels called in the last snapshot
    calls: [], // every new call, oldest first: {label, seq, at}; the last few only
    callSeq: 0,
    sound: false,
  };
}

export function updateBoard(s, event) {
  switch (event.type) {
    case 'snapshot': {
      const called = lists(event.snap).called.map((c) => c.ticket);
      const fresh = called.filter((label) => !s.called.includes(label));
      // The first snapshot shows who is already called; only later ones bring calls.
      const news = s.snapshot ? fresh : [];
      let seq = s.callSeq;
      const calls = [...s.calls, ...news.map((label) => ({ label, seq: ++seq, at: event.now }))].slice(-16);
      return { ...s, snapshot: event.snap, called, calls, callSeq: seq };
    }
    case 'conn':
      return withConn(s, event.status, event.now);
    case 'tick':
      return withNow(s, event.now);
    case 'sound':
      return { ...s, sound: Boolean(event.on) };
    default:
      return s;
  }
}

/** Labels highlighted as just called at local time `now`. */
export function highlighted(s, now) {
  return new Set(s.calls.filter((c) => now - c.at < HIGHLIGHT_MS).map((c) => c.label));
}

/**
 * The effects of a transition: every new call is captioned in the live
 * region (and spoken when sound is on); a change of health is announced once.
 */
export function boardEffects(prev, next) {
  const out = [];
  for (const c of next.calls) {
    if (c.seq > prev.callSeq) out.push({ type: 'call', label: c.label, speak: next.sound });
  }
  if (next.health !== prev.health && !(prev.health === 'connecting' && next.health === 'live')) {
    out.push({ type: 'announce', key: `health.announce.${next.health}` });
  }
  if (next.sound !== prev.sound) out.push({ type: next.sound ? 'soundOn' : 'soundOff' });
  return out;
}
