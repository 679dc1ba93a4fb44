// The stats page's charts as data: scales, SVG path strings, bars and the
// rows of the table beside each chart, computed from GET /api/v1/stats
// without the DOM, so that node tests check them. stats.js draws them.

/** Chart size in SVG user units; the SVG scales to its box. */
export const CHART = { width: 640, height: 220, left: 44, right: 12, top: 12, bottom: 28 };

/** The largest of values, at least 1 (an empty chart still has a scale). */
export function niceMax(values) {
  const top = Math.max(1, ...values.filter(Number.isFinite));
  const step = 10 ** Math.floor(Math.log10(top));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * step >= top) return m * step;
  return 10 * step;
}

/** Ticks of a 0..max axis: 0, max/2 and max. */
export function ticks(max) {
  return [0, max / 2, max];
}

/** The y of value v on a 0..max axis of the chart. */
function y(v, max) {
  const h = CHART.height - CHART.top - CHART.bottom;
  return CHART.top + h - (v / max) * h;
}

/**
 * The flow chart: people in line as a line, calls served per step as bars.
 * Returns { max, line: "M…", bars: [{x, y, w, h}], labels: [{x, text}] }.
 */
export function flowChart(series, timeLabel) {
  const n = series.length;
  const max = niceMax(series.flatMap((p) => [p.in_line, p.served]));
  const w = CHART.width - CHART.left - CHART.right;
  const step = n > 0 ? w / n : w;
  const xAt = (i) => CHART.left + step * i + step / 2;
  const line = series.map((p, i) => `${i ? 'L' : 'M'}${xAt(i).toFixed(1)} ${y(p.in_line, max).toFixed(1)}`).join(' ');
  const bars = series.map((p, i) => {
    const top = y(p.served, max);
    return { x: CHART.left + step * i + step * 0.15, y: top, w: Math.max(step * 0.7, 0.5), h: y(0, max) - top };
  });
  const every = Math.max(1, Math.ceil(n / 6));
  const labels = series.flatMap((p, i) => (i % every === 0 ? [{ x: xAt(i), text: timeLabel(p.at) }] : []));
  return { max, line, bars, labels };
}

/** Bars of the wait distribution: [{x, y, w, h, count}] and the max. */
export function waitChart(buckets) {
  const n = buckets.length;
  const max = niceMax(buckets.map((b) => b.count));
  const w = CHART.width - CHART.left - CHART.right;
  const step = n > 0 ? w / n : w;
  const bars = buckets.map((b, i) => {
    const top = y(b.count, max);
    return { x: CHART.left + step * i + step * 0.1, y: top, w: step * 0.8, h: y(0, max) - top, count: b.count };
  });
  return { max, bars, step };
}

/** The y of a tick on a 0..max axis (for the axis labels). */
export function tickY(v, max) {
  return y(v, max);
}

/** A share as a percentage, or null. */
export function percent(fraction) {
  return Number.isFinite(fraction) ? Math.round(fraction * 1000) / 10 : null;
}

/** The range of a wait bucket in seconds, as words from `t`. */
export function bucketLabel(b, t) {
  if (b.to_seconds === undefined || b.to_seconds === null) return t('stats.wait_over', { from: t.duration(b.from_seconds) });
  return t('stats.wait_range', { from: t.duration(b.from_seconds), to: t.duration(b.to_seconds) });
}

/**
 * The verdict in a few words and a state: "ok", "violation", "none" (the
 * service keeps no record) or "unknown" (it could not be asked).
 */
export function verdictState(res) {
  if (res.status === 404) return 'none';
  if (!res.ok || typeof res.data.ok !== 'boolean') return 'unknown';
  return res.data.ok ? 'ok' : 'violation';
}
