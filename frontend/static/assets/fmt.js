// Formatting and time helpers shared by the ticket page and the board.
// Pure functions plus one small clock: no DOM, so they run under node for tests.

/** Parses an RFC 3339 time to epoch milliseconds; NaN when absent or invalid. */
export function parseTime(s) {
  if (typeof s !== 'string' || s === '') return NaN;
  return Date.parse(s);
}

/** "m:ss" (or "h:mm:ss") for a remaining duration in milliseconds; never negative. */
export function formatCountdown(ms) {
  if (!Number.isFinite(ms)) return '–:––';
  // Round up: a countdown shows 0:01 until the very end, then 0:00.
  const total = Math.max(0, Math.ceil(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const ss = String(s).padStart(2, '0');
  if (h > 0) return `${h}:${String(m).padStart(2, '0')}:${ss}`;
  return `${m}:${ss}`;
}

/** "A041" → "A 0 4 1", so speech synthesis reads it one character at a time. */
export function spellLabel(label) {
  return String(label).split('').join(' ');
}

/**
 * ServerClock estimates the server's time from the `now` of each snapshot, so
 * countdowns to server deadlines are right even when the browser's clock is off.
 * Network delay only ever makes a snapshot look older than it is, so each sample
 * underestimates the offset; the largest of the recent ones is the best estimate.
 */
export class ServerClock {
  constructor(localNow = () => Date.now(), samples = 8) {
    this.localNow = localNow;
    this.maxSamples = samples;
    this.samples = [];
    this.offset = 0;
  }

  /**
   * Records the server time `nowString` (RFC 3339) as seen at this moment.
   * A `replayed` time may be much older than its arrival (the first snapshot
   * on a connection is the hub's last broadcast, possibly minutes old): it is
   * used only until a fresh sample arrives, never against one.
   */
  observe(nowString, { replayed = false } = {}) {
    const server = parseTime(nowString);
    if (!Number.isFinite(server)) return;
    const sample = server - this.localNow(); // server time ≈ local time + offset
    if (replayed) {
      if (!this.samples.length) this.offset = sample;
      return;
    }
    this.samples.push(sample);
    if (this.samples.length > this.maxSamples) this.samples.shift();
    this.offset = Math.max(...this.samples);
  }

  /** The estimated server time, epoch ms. */
  now() {
    return this.localNow() + this.offset;
  }

  /** Milliseconds from now until the RFC 3339 time `s` (negative when past, NaN when absent). */
  until(s) {
    return parseTime(s) - this.now();
  }
}
