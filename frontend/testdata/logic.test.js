// Node unit tests for the DOM-free modules; run by TestScriptLogic
// (go test ./frontend) from a copy next to assets/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatCountdown, spellLabel, ServerClock, parseTime } from './assets/fmt.js';
import { LiveClient, backoffDelay, liveURL } from './assets/live.js';
import { Announcer } from './assets/announce.js';
import { retryAfterSeconds } from './assets/api.js';

test('formatCountdown', () => {
  assert.equal(formatCountdown(42_000), '0:42');
  assert.equal(formatCountdown(41_001), '0:42'); // rounds up: 0:00 only at the end
  assert.equal(formatCountdown(60_000), '1:00');
  assert.equal(formatCountdown(-5_000), '0:00');
  assert.equal(formatCountdown(3_723_000), '1:02:03');
  assert.equal(formatCountdown(NaN), '–:––');
});

test('spoken labels', () => {
  assert.equal(spellLabel('A041'), 'A 0 4 1');
});

test('ServerClock corrects skew and prefers the least delayed sample', () => {
  let local = Date.parse('2026-11-27T10:00:00Z');
  const clock = new ServerClock(() => local);
  clock.observe('2026-11-27T10:00:30Z'); // server 30 s ahead
  assert.equal(clock.now(), Date.parse('2026-11-27T10:00:30Z'));
  local += 1000;
  clock.observe('2026-11-27T10:00:30.500Z'); // a delayed sample must not pull it back
  assert.equal(clock.until('2026-11-27T10:00:41Z'), 10_000);
  assert.ok(Number.isNaN(parseTime(undefined)));
});

test('ServerClock: a replayed snapshot time is used only until a fresh one arrives', () => {
  let local = Date.parse('2026-11-27T10:01:00Z');
  const clock = new ServerClock(() => local);
  // The hub replays a broadcast from a minute ago: alone, it is all we have…
  clock.observe('2026-11-27T10:00:00Z', { replayed: true });
  assert.equal(clock.now(), Date.parse('2026-11-27T10:00:00Z'));
  // …until a fresh sample (GET /api/v1/queue) replaces it, even though it says "later".
  clock.observe('2026-11-27T10:01:00Z');
  assert.equal(clock.now(), Date.parse('2026-11-27T10:01:00Z'));
  // A later replay (a reconnect) never pulls a fresh clock back.
  local += 5000;
  clock.observe('2026-11-27T10:00:30Z', { replayed: true });
  assert.equal(clock.now(), Date.parse('2026-11-27T10:01:05Z'));
});

test('liveURL and backoff', () => {
  assert.equal(liveURL({ protocol: 'https:', host: 'q.example:8443' }), 'wss://q.example:8443/api/v1/ws');
  assert.equal(liveURL({ protocol: 'http:', host: 'localhost:8080' }), 'ws://localhost:8080/api/v1/ws');
  assert.equal(backoffDelay(0, () => 1), 500);
  assert.equal(backoffDelay(0, () => 0), 250);
  assert.equal(backoffDelay(3, () => 1), 4000);
  assert.equal(backoffDelay(10, () => 1), 10000);
  assert.equal(backoffDelay(1000, () => 0), 5000);
});

class FakeSocket {
  static all = [];
  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.sent = [];
    FakeSocket.all.push(this);
  }
  send(data) { this.sent.push(JSON.parse(data)); }
  close() { this.readyState = 3; }
  open() { this.readyState = 1; this.onopen?.(); }
  message(obj) { this.onmessage?.({ data: JSON.stringify(obj) }); }
  drop() { this.readyState = 3; this.onclose?.(); }
}

function harness() {
  FakeSocket.all = [];
  const timers = [];
  const seen = { snapshots: [], tickets: [], statuses: [], stale: 0 };
  const client = new LiveClient({
    url: 'ws://x/api/v1/ws',
    WebSocketImpl: FakeSocket,
    random: () => 1,
    setTimer: (fn, ms) => { timers.push({ fn, ms }); return timers.length; },
    clearTimer: () => {},
    now: () => 0,
    onSnapshot: (s) => seen.snapshots.push(s.version),
    onTicket: (m) => seen.tickets.push(m),
    onStale: () => { seen.stale += 1; },
    onStatus: (s) => seen.statuses.push({ ...s }),
  });
  return { client, timers, seen, last: () => FakeSocket.all.at(-1) };
}

test('LiveClient delivers snapshots in version order only', () => {
  const { client, seen, last } = harness();
  client.start();
  last().open();
  for (const v of [3, 5, 4, 5, 6]) last().message({ type: 'snapshot', version: v });
  assert.deepEqual(seen.snapshots, [3, 5, 6]);
  assert.equal(client.status.state, 'live');
  last().message({ type: 'ticket', ticket: 'A001', state: 'called' });
  assert.equal(seen.tickets.length, 1);
});

test('LiveClient reconnects with growing backoff, watches again, and resyncs', () => {
  const { client, timers, seen, last } = harness();
  client.watch('tok-1');
  client.start();
  last().open();
  assert.deepEqual(last().sent, [{ type: 'watch', token: 'tok-1' }]);
  last().message({ type: 'snapshot', version: 7 });

  last().drop();
  assert.equal(client.status.state, 'reconnecting');
  assert.equal(timers.at(-1).ms, 500);
  timers.at(-1).fn();
  last().drop(); // refused again
  assert.equal(timers.at(-1).ms, 1000);
  timers.at(-1).fn();
  last().open();
  assert.deepEqual(last().sent, [{ type: 'watch', token: 'tok-1' }], 'watch is sent again after a reconnect');
  last().message({ type: 'snapshot', version: 7 }); // the resync snapshot: same version, nothing new
  last().message({ type: 'snapshot', version: 9 });
  assert.deepEqual(seen.snapshots, [7, 9]);
  assert.equal(client.status.state, 'live');

  last().drop();
  assert.equal(timers.at(-1).ms, 500, 'a connection that delivered data resets the backoff');
  client.stop();
});

test('LiveClient reconnects after stale and still shows only newer versions', () => {
  const { client, timers, seen, last } = harness();
  client.start();
  last().open();
  last().message({ type: 'snapshot', version: 50 });
  last().message({ type: 'stale' });
  assert.equal(seen.stale, 1);
  assert.equal(client.status.stale, true);
  assert.notEqual(client.status.state, 'live');
  timers.at(-1).fn();
  last().open();
  // A replica whose hub still holds an older snapshot: not shown. (Versions
  // never go back, even when the store is rebuilt.)
  last().message({ type: 'snapshot', version: 49 });
  assert.deepEqual(seen.snapshots, [50]);
  last().message({ type: 'snapshot', version: 51 });
  assert.deepEqual(seen.snapshots, [50, 51]);
  assert.equal(client.status.stale, false);
});

test('Announcer plays calls one after another and skips stale ones', async () => {
  const log = [];
  const current = new Set(['A001', 'A002', 'A003']);
  const a = new Announcer({
    chime: async () => { log.push('chime'); await new Promise((r) => setTimeout(r, 5)); },
    speak: async (text) => { log.push(`start ${text}`); await new Promise((r) => setTimeout(r, 10)); log.push('end'); },
    isCurrent: (label) => current.has(label),
    sentence: (label) => `Ticket ${spellLabel(label)}, your kitty is ready.`,
    sleep: () => Promise.resolve(),
  });
  a.enqueue('A000'); // sound still off: dropped
  a.setEnabled(true);
  a.enqueue('A001');
  a.enqueue('A002');
  a.enqueue('A003');
  current.delete('A003'); // served before its turn to be read
  while (a.running) await new Promise((r) => setTimeout(r, 5));
  assert.deepEqual(log, [
    'chime', 'start Ticket A 0 0 1, your kitty is ready.', 'end',
    'chime', 'start Ticket A 0 0 2, your kitty is ready.', 'end',
  ]);
});

test('retryAfterSeconds', () => {
  assert.equal(retryAfterSeconds('12'), 12);
  assert.equal(retryAfterSeconds(null), 0);
  assert.equal(retryAfterSeconds('Fri, 27 Nov 2026 10:00:30 GMT', Date.parse('2026-11-27T10:00:00Z')), 30);
});
