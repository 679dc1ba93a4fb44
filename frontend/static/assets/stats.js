// The stats page: the line's flow over the last hours, waits, no-shows and
// leavers, how well the wait estimate did, and the public record's
// verdict, from GET /api/v1/stats and GET /api/v1/history/verify. Every
// chart is plain SVG drawn here, with a table beside it that says the same
// for screen readers. It refreshes every half minute.
import { call } from './api.js';
import { byId, h, setText, translate } from './dom.js';
import { pickLanguage, translator, STORAGE_KEY as LANG_KEY } from './i18n.js';
import { CHART, flowChart, waitChart, ticks, tickY, percent, bucketLabel, verdictState } from './statsmodel.js';

const REFRESH_MS = 30000;

const els = {
  lang: byId('lang'),
  updated: byId('stats-updated'),
  totals: byId('stats-totals'),
  flowChart: byId('flow-chart'),
  flowTable: byId('flow-table'),
  flowEmpty: byId('flow-empty'),
  waitChart: byId('wait-chart'),
  waitTable: byId('wait-table'),
  waitEmpty: byId('wait-empty'),
  rateWindow: byId('rates-window'),
  noShowRate: byId('no-show-rate'),
  leaveRate: byId('leave-rate'),
  rateCounts: byId('rates-counts'),
  accuracyTable: byId('accuracy-table'),
  accuracyEmpty: byId('accuracy-empty'),
  verdict: byId('verdict'),
  verdictDetail: byId('verdict-detail'),
};
// The SVG namespace, read from the page's own charts.
const SVG = els.flowChart.namespaceURI;

function readLang() {
  try {
    return localStorage.getItem(LANG_KEY);
  } catch {
    return null;
  }
}

let t = translator(pickLanguage({
  query: new URLSearchParams(window.location.search).get('lang'),
  stored: readLang(),
  preferred: navigator.languages || [navigator.language],
}));
let last = null; // the last answers, redrawn when the language changes

function svg(tag, attrs = {}, text = null) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== null) el.textContent = text;
  return el;
}

const clock = (iso) => new Date(iso).toLocaleTimeString(t.lang, { hour: '2-digit', minute: '2-digit' });
const num = (n) => (Number.isFinite(n) ? n.toLocaleString(t.lang) : '—');
const pct = (f) => {
  const p = percent(f);
  return p === null ? '—' : t('stats.percent', { n: p.toLocaleString(t.lang) });
};

/** Axis lines and labels of a 0..max chart. */
function axes(root, max) {
  for (const v of ticks(max)) {
    const yy = tickY(v, max);
    root.append(svg('line', { class: 'grid', x1: CHART.left, x2: CHART.width - CHART.right, y1: yy, y2: yy }));
    root.append(svg('text', { class: 'axis', x: CHART.left - 6, y: yy + 4, 'text-anchor': 'end' }, num(v)));
  }
}

function table(el, head, rows) {
  const thead = h('thead', {}, h('tr', {}, head.map((c) => h('th', { scope: 'col' }, c))));
  const tbody = h('tbody', {}, rows.map((r) => h('tr', {}, r.map((c, i) => (i === 0 ? h('th', { scope: 'row' }, c) : h('td', {}, c))))));
  el.replaceChildren(thead, tbody);
}

function drawTotals(s) {
  for (const dd of els.totals.querySelectorAll('dd[data-total]')) setText(dd, num(s[dd.dataset.total]));
}

function drawFlow(s) {
  const series = s.series || [];
  setText(els.flowEmpty, series.length ? '' : t('stats.no_data'));
  const c = flowChart(series, clock);
  const root = svg('g');
  axes(root, c.max);
  for (const b of c.bars) root.append(svg('rect', { class: 'bar served', x: b.x, y: b.y, width: b.w, height: b.h }));
  if (series.length > 0) root.append(svg('path', { class: 'trend', d: c.line }));
  for (const l of c.labels) root.append(svg('text', { class: 'axis', x: l.x, y: CHART.height - 8, 'text-anchor': 'middle' }, l.text));
  els.flowChart.querySelector('g')?.remove();
  els.flowChart.append(root);
  const peak = series.reduce((m, p) => Math.max(m, p.in_line), 0);
  const served = series.reduce((m, p) => m + p.served, 0);
  setText(els.flowChart.querySelector('desc'), t('stats.flow_desc', { peak: num(peak), served: num(served), count: series.length }));
  table(els.flowTable, [t('stats.col_time'), t('stats.in_line'), t('stats.col_served'), t('stats.col_called'), t('stats.col_no_shows'), t('stats.col_left')],
    series.map((p) => [clock(p.at), num(p.in_line), num(p.served), num(p.called), num(p.no_shows), num(p.left)]));
}

function drawWaits(s) {
  const buckets = s.wait_distribution || [];
  setText(els.waitEmpty, buckets.length ? '' : t('stats.no_data'));
  const c = waitChart(buckets);
  const root = svg('g');
  axes(root, c.max);
  buckets.forEach((b, i) => {
    const bar = c.bars[i];
    root.append(svg('rect', { class: 'bar waits', x: bar.x, y: bar.y, width: bar.w, height: bar.h }));
    root.append(svg('text', { class: 'axis', x: bar.x + bar.w / 2, y: CHART.height - 8, 'text-anchor': 'middle' },
      b.to_seconds == null ? `${Math.round(b.from_seconds / 60)}+` : `${Math.round(b.to_seconds / 60)}`));
  });
  els.waitChart.querySelector('g')?.remove();
  els.waitChart.append(root);
  const total = buckets.reduce((m, b) => m + b.count, 0);
  setText(els.waitChart.querySelector('desc'), t('stats.wait_desc', { count: total }));
  table(els.waitTable, [t('stats.col_wait'), t('stats.col_tickets')], buckets.map((b) => [bucketLabel(b, t), num(b.count)]));
}

function drawRates(s) {
  const r = s.rates;
  setText(els.rateWindow, r ? t('stats.rates_window', { window: t.duration(r.window_seconds) }) : t('stats.no_data'));
  setText(els.noShowRate, pct(r?.no_show_rate));
  setText(els.leaveRate, pct(r?.leave_rate));
  setText(els.rateCounts, r ? t('stats.rates_counts', { calls: num(r.calls), no_shows: num(r.no_shows), taken: num(r.taken), left: num(r.left) }) : '');
}

function drawAccuracy(s) {
  const rows = (s.accuracy || []).map((a) => [
    t('stats.last', { window: t.duration(a.window_seconds) }), num(a.calls),
    pct(a.median_ape), pct(a.inside), pct(a.naive_median_ape), pct(a.naive_inside),
  ]);
  setText(els.accuracyEmpty, rows.length ? '' : t('stats.no_data'));
  table(els.accuracyTable, [t('stats.col_window'), t('stats.col_calls'), t('stats.col_mdape'), t('stats.col_inside'),
    t('stats.col_naive_mdape'), t('stats.col_naive_inside')], rows);
}

function drawVerdict(res) {
  const state = verdictState(res);
  els.verdict.dataset.state = state;
  setText(els.verdict, t(`stats.verdict_${state}`));
  const detail = state === 'ok' || state === 'violation' ? res.data.summary : '';
  setText(els.verdictDetail, detail);
}

function draw() {
  if (!last) return;
  const [stats, verdict] = last;
  if (stats.ok) {
    const s = stats.data;
    drawTotals(s);
    drawFlow(s);
    drawWaits(s);
    drawRates(s);
    drawAccuracy(s);
    setText(els.updated, t('stats.updated', { time: new Date(s.now).toLocaleTimeString(t.lang) }));
  } else {
    setText(els.updated, t('stats.unavailable'));
  }
  drawVerdict(verdict);
}

// NO_RECORD stands for the verdict of a service that keeps no record:
// its stats name no verify URL, and the page asks nothing more.
const NO_RECORD = { ok: false, status: 404, data: {} };

async function refresh() {
  const stats = await call('GET', '/api/v1/stats');
  const verify = stats.ok && stats.data.history ? stats.data.history.verify : '/api/v1/history/verify';
  const verdict = !stats.ok || stats.data.history ? await call('GET', verify) : NO_RECORD;
  last = [stats, verdict];
  draw();
  document.body.dataset.loaded = 'true';
}

function setLanguage(code) {
  t = translator(code);
  document.documentElement.lang = code;
  els.lang.value = code;
  translate(document, t);
  draw();
}

els.lang.addEventListener('change', () => {
  try {
    localStorage.setItem(LANG_KEY, els.lang.value);
  } catch { /* private mode: this page only */ }
  setLanguage(els.lang.value);
});

setLanguage(t.lang);
refresh();
setInterval(refresh, REFRESH_MS);
