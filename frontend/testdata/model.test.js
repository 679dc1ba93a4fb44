// The ticket page's and the board's state machines (model.js, tvmodel.js)
// and what they read from a snapshot (line.js). Run by TestScriptLogic.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initialState, update, effects, currentEta, currentRange, describe, failure, OFFLINE_GRACE_MS } from './assets/model.js';
import { initialBoard, updateBoard, boardEffects, highlighted } from './assets/tvmodel.js';
import { takeEstimate, placesAfterShown, waitingPlace, lineLength } from './assets/line.js';
import { translator } from './assets/i18n.js';

/** Runs events from state s, collecting every effect. */
function run(s, ...events) {
  const fx = [];
  for (const e of events) {
    const next = update(s, e);
    fx.push(...effects(s, next, e));
    s = next;
  }
  return { s, fx, types: fx.map((f) => f.type) };
}

const live = { type: 'conn', status: { state: 'live', attempt: 0, retryAt: 0, stale: false }, now: 1000 };
const down = (now, attempt = 1) => ({ type: 'conn', status: { state: 'reconnecting', attempt, retryAt: now + 500, stale: false }, now });
const snap = (over = {}) => ({ version: 1, now: '2026-12-01T10:00:00Z', length: 0, counters: 1, serving: [], called: [], waiting: [], eta_seconds_per_ticket: 60, ...over });

test('an outage is announced once when it starts and once when it ends, however often the retry counter moves', () => {
  let { s } = run(initialState(0), live);
  const events = [];
  // 20 s of retries: status every 250 ms (each with a new retryAt/attempt), ticks between.
  for (let now = 2000; now < 22000; now += 250) {
    events.push(down(now, Math.floor(now / 1000)), { type: 'tick', now, serverNow: now });
  }
  events.push({ ...live, now: 22500 });
  const r = run(s, ...events);
  const announcements = r.fx.filter((f) => f.type === 'announce').map((f) => f.key);
  assert.deepEqual(announcements, ['health.announce.offline', 'health.announce.live']);
  s = r.s;
  assert.equal(s.health, 'live');
});

test('a blip shorter than the grace period is not an outage', () => {
  const { s, fx } = run(initialState(0), live, down(2000), { type: 'tick', now: 2000 + OFFLINE_GRACE_MS - 10, serverNow: 0 }, { ...live, now: 3000 });
  assert.equal(s.health, 'live');
  assert.deepEqual(fx.filter((f) => f.type === 'announce'), []);
});

test('the first connection is not news; a page that never connects says offline', () => {
  const first = run(initialState(0), live);
  assert.deepEqual(first.fx.filter((f) => f.type === 'announce'), []);
  const never = run(initialState(0), down(100), { type: 'tick', now: 100 + OFFLINE_GRACE_MS, serverNow: 0 });
  assert.equal(never.s.health, 'offline');
  const stale = run(initialState(0), live, { type: 'conn', status: { state: 'reconnecting', attempt: 1, retryAt: 0, stale: true }, now: 2000 });
  assert.equal(stale.s.health, 'stale');
  assert.deepEqual(stale.fx.filter((f) => f.type === 'announce').map((f) => f.key), ['health.announce.stale']);
});

test('taking a ticket stores and watches it and focuses the ticket; taken already called, it focuses the call', () => {
  const waiting = run(initialState(0), live, { type: 'taken', data: { token: 'tok', ticket: 'A001', state: 'waiting', position: 3, eta_seconds: 120 } });
  assert.deepEqual(waiting.types, ['store', 'watch', 'focus']);
  assert.equal(waiting.fx[2].target, 'ticket');
  assert.equal(waiting.s.position, 3);

  const called = run(initialState(0), live, { type: 'taken', data: { token: 'tok', ticket: 'A001', state: 'called', position: 1, deadline: '2026-12-01T10:01:00Z' } });
  assert.ok(called.types.includes('call'));
  assert.ok(!called.fx.some((f) => f.type === 'focus' && f.target === 'ticket'), 'the call, not the panel, gets the focus');
});

test('a call rings once; late news cannot undo it; a 409 and a new call ring again', () => {
  let { s } = run(initialState(0), { type: 'taken', data: { token: 'tok', ticket: 'A001', state: 'waiting', position: 2 } });
  let r = run(s, { type: 'ticket', data: { ticket: 'A001', state: 'called', deadline: '2026-12-01T10:01:00Z' } });
  assert.deepEqual(r.types.filter((x) => x === 'call'), ['call']);
  r = run(r.s, { type: 'ticket', data: { ticket: 'A001', state: 'called' } }, { type: 'ticket', data: { ticket: 'A001', state: 'waiting', position: 1 } });
  assert.equal(r.s.state, 'called', 'late "waiting" news is ignored');
  assert.ok(!r.types.includes('call'), 'no second ring for the same call');
  r = run(r.s, { type: 'ticket', data: { ticket: 'A001', state: 'waiting', position: 1 }, force: true });
  assert.deepEqual(r.types, ['stopCall']);
  r = run(r.s, { type: 'ticket', data: { ticket: 'A001', state: 'called', deadline: '2026-12-01T10:02:00Z' } });
  assert.ok(r.types.includes('call'));
  s = r.s;
  r = run(s, { type: 'ticket', data: { ticket: 'B777', state: 'served' } });
  assert.equal(r.s, s, "someone else's ticket changes nothing");
});

test('a ban ends the ticket: only the ban is true, and it lifts by itself', () => {
  let { s } = run(initialState(0), live, { type: 'taken', data: { token: 'tok', ticket: 'A082', state: 'waiting', position: 81, eta_seconds: 300 } });
  const r = run(s, { type: 'banned', seconds: 60, now: 5000 });
  s = r.s;
  assert.equal(s.token, null);
  assert.equal(s.label, null, 'the removed ticket is not shown as if it still waited');
  assert.equal(s.position, null);
  assert.equal(s.state, 'none');
  assert.equal(s.banUntil, 65000);
  assert.deepEqual(r.types, ['forgetStored', 'watch', 'focus']);
  assert.equal(r.fx[2].target, 'ban');
  s = run(s, { type: 'tick', now: 64000, serverNow: 0 }).s;
  assert.equal(s.banUntil, 65000);
  s = run(s, { type: 'tick', now: 65000, serverNow: 0 }).s;
  assert.equal(s.banUntil, 0);
  assert.equal(s.message.parts[0].key, 'ban.over');
});

test('the snapshot places a waiting ticket, and one beyond the listed 64 keeps its server position', () => {
  let { s } = run(initialState(0), { type: 'taken', data: { token: 'tok', ticket: 'A082', state: 'waiting', position: 81, eta_seconds: 4800 } });
  const waiting = Array.from({ length: 64 }, (_, i) => ({ ticket: `A${String(i + 10).padStart(3, '0')}` }));
  const full = snap({ length: 81, called: [{ ticket: 'A009', deadline: '2026-12-01T10:01:00Z' }], waiting });
  const r = run(s, { type: 'snapshot', snap: full });
  assert.equal(r.s.position, 81);
  assert.ok(!r.types.includes('refresh'), 'absent from a full list is normal');
  assert.equal(placesAfterShown(full, 81), 16);
  assert.equal(waitingPlace(full, 0), 2);
  s = run(r.s, { type: 'snapshot', snap: snap({ length: 3, waiting: [{ ticket: 'A010' }, { ticket: 'A082' }] }) }).s;
  assert.equal(s.position, 2);
  const gone = run(s, { type: 'snapshot', snap: snap({ length: 1, waiting: [{ ticket: 'A010' }] }) });
  assert.ok(gone.types.includes('refresh'), 'absent from a short list: ask the server');
  // Beyond a full list, but the line is now shorter than our place: it left (a ban removes it silently).
  const far = run(r.s, { type: 'snapshot', snap: { ...full, length: 80 } });
  assert.ok(far.types.includes('refresh'), 'a line shorter than our place: ask the server');
});

test('viewing ends by itself when its time is up; a called ticket past its deadline is asked about', () => {
  let { s } = run(initialState(0), { type: 'taken', data: { token: 'tok', ticket: 'A001', state: 'called', deadline: '2026-12-01T10:00:10Z' } });
  let r = run(s, { type: 'tick', now: 1, serverNow: Date.parse('2026-12-01T10:00:12Z') });
  assert.ok(r.types.includes('refresh'));
  r = run(s, { type: 'ticket', data: { ticket: 'A001', state: 'serving', until: '2026-12-01T10:01:00Z', image_url: '/api/v1/images/x' } });
  assert.ok(r.fx.some((f) => f.type === 'focus' && f.target === 'done'));
  s = r.s;
  r = run(s, { type: 'tick', now: 1, serverNow: Date.parse('2026-12-01T10:01:00Z') });
  assert.equal(r.s.state, 'served');
  assert.equal(r.s.ended, 'served');
  assert.equal(r.s.label, 'A001');
  assert.ok(r.types.includes('forgetStored'));
});

test('while offline the ticket is polled, at most every few seconds', () => {
  let { s } = run(initialState(0), live, { type: 'taken', data: { token: 'tok', ticket: 'A001', state: 'waiting' } }, { type: 'refreshing', now: 1000 });
  s = run(s, down(2000)).s;
  let r = run(s, { type: 'tick', now: 5000, serverNow: 0 });
  assert.equal(r.s.health, 'offline');
  assert.ok(!r.types.includes('refresh'));
  r = run(r.s, { type: 'tick', now: 9001, serverNow: 0 });
  assert.ok(r.types.includes('refresh'));
});

test('estimates: before taking, and while waiting', () => {
  const s3 = snap({ length: 3, called: [{ ticket: 'A001' }], waiting: [{ ticket: 'A002' }, { ticket: 'A003' }] });
  assert.equal(lineLength(s3), 3);
  assert.equal(takeEstimate(s3), 3 * 60, 'three ahead that are not yet called (the 2 waiting and itself)');
  assert.equal(takeEstimate(snap()), 60);
  assert.ok(Number.isNaN(takeEstimate(null)));
  const s = { ...initialState(0), state: 'waiting', eta: 300, etaPosition: 6, position: 4, snapshot: s3 };
  assert.equal(currentEta(s), 180);
  assert.equal(currentRange(s), null, 'no range given: none shown');
  // A range moves with the middle as the line moves (two places: 2 × 60 s).
  const ranged = { ...s, etaLow: 200, etaHigh: 500 };
  assert.deepEqual(currentRange(ranged), { low: 80, high: 380 });
  assert.deepEqual(currentRange({ ...ranged, etaLow: 100 }), { low: 0, high: 380 }, 'never below zero');
  assert.equal(currentRange({ ...ranged, state: 'called' }), null);
});

test('a ticket answer with a range keeps it; one without drops an old one', () => {
  let { s } = run(initialState(0), { type: 'taken', data: { token: 'tok', ticket: 'A003', state: 'waiting', position: 3, eta_seconds: 420, eta_low_seconds: 350, eta_high_seconds: 545 } });
  assert.deepEqual([s.eta, s.etaLow, s.etaHigh], [420, 350, 545]);
  ({ s } = run(s, { type: 'ticket', data: { ticket: 'A003', state: 'waiting', position: 3, eta_seconds: 400 } }));
  assert.deepEqual([s.eta, s.etaLow, s.etaHigh], [400, null, null]);
});

test('failures become messages in any language; a ban is not a message', () => {
  const en = translator('en');
  const ru = translator('ru');
  const full = failure({ status: 503, data: { error: 'line_full' }, retryAfter: 30 });
  assert.equal(full.parts.map((p) => describe(p, en)).join(' '), 'The line is full right now. Please try again in 30 seconds.');
  assert.equal(full.parts.map((p) => describe(p, ru)).join(' '), 'Очередь сейчас заполнена. Попробуйте ещё раз через 30 секунд.');
  assert.deepEqual(failure({ status: 403, data: { error: 'banned' }, retryAfter: 60 }), { banned: 60 });
  assert.equal(describe(failure({ status: 0, data: {} }).parts[0], en), "Can't reach the service. Check your connection and try again.");
  assert.equal(describe({ key: 'err.not_your_turn', position: 3, eta: 120 }, en), 'Not your turn yet: you are 3rd in line, about 2 minutes to wait.');
  assert.equal(describe({ key: 'err.not_your_turn', position: 3, eta: 420, low: 350, high: 545 }, en), 'Not your turn yet: you are 3rd in line, about 6–9 min to wait.');
});

test('the board: new calls are captioned always, spoken only with sound, and the first snapshot is not a call', () => {
  let b = initialBoard(0);
  let prev = b;
  b = updateBoard(b, { type: 'snapshot', snap: snap({ called: [{ ticket: 'A001' }] }), now: 10 });
  assert.deepEqual(boardEffects(prev, b), []);
  prev = b;
  b = updateBoard(b, { type: 'snapshot', snap: snap({ called: [{ ticket: 'A001' }, { ticket: 'A002' }] }), now: 20 });
  assert.deepEqual(boardEffects(prev, b), [{ type: 'call', label: 'A002', speak: false }]);
  assert.deepEqual([...highlighted(b, 100)], ['A002']);
  assert.deepEqual([...highlighted(b, 20 + 8000)], []);
  prev = b;
  b = updateBoard(b, { type: 'sound', on: true });
  assert.deepEqual(boardEffects(prev, b), [{ type: 'soundOn' }]);
  prev = b;
  b = updateBoard(b, { type: 'snapshot', snap: snap({ called: [{ ticket: 'A003' }] }), now: 30 });
  assert.deepEqual(boardEffects(prev, b), [{ type: 'call', label: 'A003', speak: true }]);
  // The same ticket called again later (after a 409) is a new call.
  prev = b;
  b = updateBoard(b, { type: 'snapshot', snap: snap({ called: [] }), now: 40 });
  b = updateBoard(b, { type: 'snapshot', snap: snap({ called: [{ ticket: 'A003' }] }), now: 50 });
  assert.equal(boardEffects(prev, b).filter((f) => f.type === 'call').length, 1);
});
