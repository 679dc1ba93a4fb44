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

/** A person's estimate of a wait in seconds: "less than a minute", "about 2 min", "about 1 h 10 min". */
export function humanWait(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return 'unknown';
  if (seconds < 45) return 'less than a minute';
  const minutes = Math.max(1, Math.round(seconds / 60));
  if (minutes < 60) return `about ${minutes} min`;
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  if (h >= 24) return 'more than a day';
  return m === 0 ? `about ${h} h` : `about ${h} h ${m} min`;
}

/** A duration in words for messages such as a ban: "45 seconds", "12 minutes", "1 hour 5 minutes". */
export function humanDuration(seconds) {
  const s = Math.max(0, Math.ceil(seconds));
  const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;
  if (s < 60) return plural(s, 'second');
  const minutes = Math.ceil(s / 60);
  if (minutes < 60) return plural(minutes, 'minute');
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  return m === 0 ? plural(h, 'hour') : `${plural(h, 'hour')} ${plural(m, 'minute')}`;
}

/** "A041" → "A 0 4 1", so speech synthesis reads it one character at a time. */
export function spellLabel(label) {
  return String(label).split('').join(' ');
}

/** "1st", "2nd", "3rd", "11th", "22nd". */
export function ordinal(n) {
  const mod100 = n % 100;
  if (mod100 >= 11 && mod100 <= 13) return `${n}th`;
  switch (n % 10) {
    case 1: return `${n}st`;
    case 2: return `${n}nd`;
    case 3: return `${n}rd`;
    default: return `${n}th`;
  }
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

  /** Records the server time `nowString` (RFC 3339) as seen at this moment. */
  observe(nowString) {
    const server = parseTime(nowString);
    if (!Number.isFinite(server)) return;
    // server time ≈ local time + offset
    this.samples.push(server - this.localNow());
    if (this.samples.length > this.maxSamples) this.samples.shift();
    this.offset = Math.max(...this.samples);
  }

  /** Forgets old samples (e.g. after a reconnect to another replica). */
  reset() {
    this.samples = [];
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
