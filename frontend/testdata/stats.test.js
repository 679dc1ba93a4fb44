// The stats page's charts as data (statsmodel.js). Run by TestScriptLogic.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CHART, niceMax, flowChart, waitChart, percent, bucketLabel, verdictState } from './assets/statsmodel.js';
import { translator } from './assets/i18n.js';

test('niceMax rounds up to 1, 2, 2.5 or 5 of a power of ten, never below 1', () => {
  assert.equal(niceMax([]), 1);
  assert.equal(niceMax([0, 0]), 1);
  assert.equal(niceMax([7]), 10);
  assert.equal(niceMax([19]), 20);
  assert.equal(niceMax([21]), 25);
  assert.equal(niceMax([240, NaN]), 250);
  assert.equal(niceMax([4001]), 5000);
});

test('flowChart: a line for people in line, a bar per minute for served, inside the chart', () => {
  const series = [
    { at: '2026-12-05T01:00:00.000Z', in_line: 10, served: 2 },
    { at: '2026-12-05T01:01:00.000Z', in_line: 20, served: 0 },
    { at: '2026-12-05T01:02:00.000Z', in_line: 5, served: 4 },
  ];
  const c = flowChart(series, (iso) => iso.slice(11, 16));
  assert.equal(c.max, 20);
  assert.match(c.line, /^M[\d.]+ [\d.]+ L[\d.]+ [\d.]+ L[\d.]+ [\d.]+$/);
  const ys = [...c.line.matchAll(/[ML]([\d.]+) ([\d.]+)/g)].map((m) => Number(m[2]));
  assert.equal(ys[1], CHART.top, 'the peak touches the top');
  assert.ok(ys[0] > ys[1] && ys[2] > ys[0], 'higher counts are drawn higher');
  assert.equal(c.bars.length, 3);
  assert.equal(c.bars[1].h, 0, 'no one served: no bar');
  assert.ok(c.bars[2].h > c.bars[0].h);
  for (const b of c.bars) {
    assert.ok(b.x >= CHART.left && b.x + b.w <= CHART.width - CHART.right + 0.01, 'bars stay inside');
    assert.ok(Math.abs(b.y + b.h - (CHART.height - CHART.bottom)) < 0.01, 'bars stand on the axis');
  }
  assert.deepEqual(c.labels.map((l) => l.text), ['01:00', '01:01', '01:02']);
  assert.equal(flowChart([], String).line, '', 'an empty series draws no line');
});

test('waitChart: one bar per bucket, the tallest the largest count', () => {
  const c = waitChart([{ from_seconds: 0, to_seconds: 60, count: 3 }, { from_seconds: 60, count: 9 }]);
  assert.equal(c.bars.length, 2);
  assert.ok(c.bars[1].h > c.bars[0].h);
  assert.equal(c.bars[1].count, 9);
});

test('percent and the bucket words', () => {
  assert.equal(percent(0.1234), 12.3);
  assert.equal(percent(null), null);
  assert.equal(percent(undefined), null);
  const t = translator('en');
  assert.equal(bucketLabel({ from_seconds: 60, to_seconds: 120 }, t), '1 minute to 2 minutes');
  assert.equal(bucketLabel({ from_seconds: 600 }, t), 'over 10 minutes');
});

test('verdictState: ok, violation, no record, or unknown', () => {
  assert.equal(verdictState({ ok: true, status: 200, data: { ok: true } }), 'ok');
  assert.equal(verdictState({ ok: true, status: 200, data: { ok: false } }), 'violation');
  assert.equal(verdictState({ ok: false, status: 404, data: {} }), 'none');
  assert.equal(verdictState({ ok: false, status: 503, data: {} }), 'unknown');
  assert.equal(verdictState({ ok: false, status: 0, data: {} }), 'unknown');
  assert.equal(verdictState({ ok: true, status: 200, data: {} }), 'unknown');
});
