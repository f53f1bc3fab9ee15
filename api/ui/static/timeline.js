// Timeline: one lane per provider/region, each event a bar from start to
// end (open ones grow to the newest data), coloured by kind; filters,
// zoom (wheel, +/-, buttons) and pan (drag, arrow keys); click or Enter
// opens the event. Only bars inside the view are drawn, so 10 k events
// stay fast.
import { get, getAll } from './api.js';
import { h, s, fmtTime, group, KINDS, eventEnd, empty } from './util.js';

export const name = 'timeline';

const LANE_ROWS = 2;
const ROW_H = 18;
const AXIS_H = 26;
const MIN_SPAN = 60e3;

const NICE = [1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880, 10080, 43200].map((m) => m * 60e3);

function ticks(t0, t1, width) {
  const want = Math.max(2, Math.floor(width / 110));
  const step = NICE.find((st) => (t1 - t0) / st <= want) || NICE[NICE.length - 1];
  const out = [];
  for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) out.push(t);
  return { out, step };
}

function tickLabel(t, step) {
  const iso = new Date(t).toISOString();
  if (step >= 1440 * 60e3) return iso.slice(0, 10);
  if (new Date(t).getUTCHours() === 0 && new Date(t).getUTCMinutes() === 0) return iso.slice(5, 10) + ' 00:00';
  return iso.slice(11, 16);
}

const ESC = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
function esc(v) { return String(v).replace(/[&<>"']/g, (c) => ESC[c]); }

function utcInput(t) { return t ? new Date(t).toISOString().slice(0, 16) : ''; }
function parseInput(v) { return v ? Date.parse(v + ':00Z') : NaN; }

export async function render(main, _params, query, ctx) {
  const [events, providers] = await Promise.all([getAll('/api/v1/events', 'events', 20000), get('/api/v1/providers')]);
  performance.mark('routewatch:timeline-fetched');
  const byID = new Map(events.map((e) => [e.id, e]));
  let dataNow = Math.max(0, ...providers.providers.flatMap((p) => p.regions).map((g) => (g.last_change ? Date.parse(g.last_change) : 0)));
  for (const e of events) dataNow = Math.max(dataNow, Date.parse(e.end || e.detected || e.start));

  const f = { provider: query.get('provider') || '', region: query.get('region') || '', kind: query.get('kind') || '' };
  const sel = (id, label, values, cur) => h('label', {}, label + ' ',
    h('select', { id, name: id }, h('option', { value: '' }, 'all'), values.map((v) => h('option', { value: v, selected: v === cur }, v))));
  const provs = [...new Set(events.map((e) => e.provider).filter(Boolean))].sort();
  const regions = [...new Set(events.map((e) => e.region).filter(Boolean))].sort();
  const fromIn = h('input', { type: 'datetime-local', id: 'tl-from', 'aria-label': 'from (UTC)' });
  const toIn = h('input', { type: 'datetime-local', id: 'tl-to', 'aria-label': 'to (UTC)' });
  const controls = h('form', { class: 'controls', id: 'tl-filters' },
    sel('tl-provider', 'provider', provs, f.provider), sel('tl-region', 'region', regions, f.region),
    sel('tl-kind', 'kind', KINDS, f.kind),
    h('label', {}, 'from ', fromIn), h('label', {}, 'to ', toIn), h('span', { class: 'muted small' }, 'UTC'),
    h('span', { class: 'zoom' },
      h('button', { type: 'button', id: 'tl-zoom-out', 'aria-label': 'zoom out' }, '−'),
      h('button', { type: 'button', id: 'tl-zoom-in', 'aria-label': 'zoom in' }, '+'),
      h('button', { type: 'button', id: 'tl-fit' }, 'fit')));
  const legend = h('p', { class: 'legend' }, KINDS.slice(0, 5).map((k) => h('span', { class: 'lg' }, h('i', { class: 'sw k-' + k }), k.replace('_', ' '))),
    h('span', { class: 'lg' }, h('i', { class: 'sw open-sw' }), 'open (growing)'));
  const wrap = h('div', { class: 'timeline-wrap' });
  const count = h('p', { class: 'muted small', id: 'tl-count' });
  main.replaceChildren(h('h1', {}, 'Timeline'), h('section', { class: 'card' }, controls, legend, wrap, count,
    h('p', { class: 'muted small' }, 'Drag or ←/→ to pan, wheel or +/− to zoom, Tab to a bar and Enter to open it.')));

  const filtered = () => [...byID.values()].filter((e) =>
    (!f.provider || e.provider === f.provider) && (!f.region || e.region === f.region) && (!f.kind || e.kind === f.kind));
  let t0 = 0, t1 = 0;
  const fit = () => {
    const evs = filtered();
    if (!evs.length) { t0 = dataNow - 3600e3; t1 = dataNow; return; }
    const a = Math.min(...evs.map((e) => Date.parse(e.start)));
    const b = Math.max(...evs.map((e) => eventEnd(e, dataNow)));
    const pad = Math.max((b - a) * 0.05, 5 * 60e3);
    t0 = a - pad; t1 = b + pad;
  };
  const qf = parseInput(query.get('from') || ''), qt = parseInput(query.get('to') || '');
  fit();
  if (isFinite(qf) && isFinite(qt) && qt > qf) { t0 = qf; t1 = qt; }

  let svg = null;
  const draw = () => {
    fromIn.value = utcInput(t0); toIn.value = utcInput(t1);
    const evs = filtered();
    const byLane = new Map();
    for (const e of evs) { const l = group(e); if (!byLane.has(l)) byLane.set(l, []); byLane.get(l).push(e); }
    const lanes = [...byLane.keys()].sort((a, b) => (a === 'peers') - (b === 'peers') || a.localeCompare(b));
    const width = Math.max(320, wrap.clientWidth || 800);
    const labelW = width < 600 ? 92 : 170;
    const plotW = width - labelW - 8;
    const x = (t) => labelW + ((t - t0) / (t1 - t0)) * plotW;
    const laneH = LANE_ROWS * ROW_H + 8;
    const height = AXIS_H + Math.max(1, lanes.length) * laneH + 4;
    const root = s('svg', { class: 'timeline', width, height, viewBox: `0 0 ${width} ${height}`, role: 'group', 'aria-label': 'event timeline',
      tabindex: 0, 'data-t0': t0, 'data-t1': t1, 'data-x0': labelW, 'data-w': plotW });
    const { out, step } = ticks(t0, t1, plotW);
    for (const t of out) {
      root.append(s('line', { class: 'grid', x1: x(t), x2: x(t), y1: AXIS_H - 4, y2: height }),
        s('text', { class: 'tick', x: x(t), y: 14, 'text-anchor': 'middle' }, tickLabel(t, step)));
    }
    const nowX = x(dataNow);
    if (nowX >= labelW && nowX <= width) root.append(s('line', { class: 'now', x1: nowX, x2: nowX, y1: AXIS_H - 6, y2: height }));
    let shown = 0;
    // Bars are many: they are written as one markup string (escaped) into
    // a group, which is far faster than an element call per bar.
    const bars = [];
    lanes.forEach((lane, li) => {
      const y0 = AXIS_H + li * laneH;
      root.append(s('rect', { class: 'lane' + (li % 2 ? ' odd' : ''), x: 0, y: y0, width, height: laneH }),
        s('text', { class: 'lane-label', x: 6, y: y0 + laneH / 2 + 4 }, labelW < 100 && lane.length > 12 ? lane.slice(0, 11) + '…' : lane, s('title', {}, lane)));
      const ends = new Array(LANE_ROWS).fill(-Infinity);
      const inLane = byLane.get(lane).sort((a, b) => Date.parse(a.start) - Date.parse(b.start));
      for (const e of inLane) {
        const a = Date.parse(e.start), b = eventEnd(e, dataNow);
        let row = ends.findIndex((end) => end < a);
        if (row < 0) row = LANE_ROWS - 1;
        ends[row] = Math.max(ends[row], b);
        if (b < t0 || a > t1) continue;
        const xa = Math.max(labelW, x(a)), xb = Math.min(width, x(b));
        const label = `${e.kind} ${lane} from ${fmtTime(e.start)} ${e.end ? 'to ' + fmtTime(e.end) : '(open)'}`;
        bars.push(`<rect class="bar k-${esc(e.kind)}${e.end ? '' : ' open'}" x="${xa.toFixed(1)}" y="${y0 + 4 + row * ROW_H}" width="${Math.max(3, xb - xa).toFixed(1)}" height="${ROW_H - 3}" rx="2"`
          + ` tabindex="0" role="link" data-id="${esc(e.id)}" data-start="${esc(e.start)}" data-end="${esc(e.end || '')}" aria-label="${esc(label)}">`
          + `<title>${esc(`${label}\n${e.prefixes} prefixes, ${e.peers} peers`)}</title></rect>`);
        shown++;
      }
    });
    const g = s('g', { class: 'bars' });
    g.innerHTML = bars.join('');
    root.append(g, s('line', { class: 'axis', x1: labelW, x2: labelW, y1: AXIS_H - 4, y2: height }));
    if (svg) svg.replaceWith(root); else wrap.append(root);
    svg = root;
    count.textContent = `${evs.length} events (${shown} in view) in ${lanes.length} lanes`;
    if (!evs.length && !wrap.querySelector('.muted')) wrap.append(empty('No events match the filters.'));
    else if (evs.length) wrap.querySelectorAll('p.muted').forEach((p) => p.remove());
  };

  const zoom = (factor, at) => {
    const c = at ?? (t0 + t1) / 2;
    const span = Math.max(MIN_SPAN, (t1 - t0) * factor);
    const r = (c - t0) / (t1 - t0);
    t0 = c - r * span; t1 = t0 + span;
    draw();
  };
  const pan = (frac) => { const d = (t1 - t0) * frac; t0 += d; t1 += d; draw(); };
  const timeAt = (clientX) => {
    const r = svg.getBoundingClientRect();
    const x0 = +svg.dataset.x0, w = +svg.dataset.w;
    return t0 + ((clientX - r.left - x0) / w) * (t1 - t0);
  };
  const open = (el) => { if (el && el.dataset.id) ctx.navigate('/events/' + encodeURIComponent(el.dataset.id)); };

  wrap.addEventListener('click', (ev) => { if (!dragged) open(ev.target.closest('.bar')); });
  wrap.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' || ev.key === ' ') { const b = ev.target.closest('.bar'); if (b) { ev.preventDefault(); open(b); } return; }
    const k = { ArrowLeft: () => pan(-0.2), ArrowRight: () => pan(0.2), '+': () => zoom(0.5), '=': () => zoom(0.5), '-': () => zoom(2) }[ev.key];
    if (k) { ev.preventDefault(); k(); svg.focus(); }
  });
  wrap.addEventListener('wheel', (ev) => { ev.preventDefault(); zoom(ev.deltaY > 0 ? 1.25 : 0.8, timeAt(ev.clientX)); }, { passive: false });
  let dragFrom = null, dragged = false;
  wrap.addEventListener('pointerdown', (ev) => { dragFrom = { x: ev.clientX, t0, t1 }; dragged = false; });
  window.addEventListener('pointermove', (ev) => {
    if (!dragFrom || !svg) return;
    const dx = ev.clientX - dragFrom.x;
    if (Math.abs(dx) < 4 && !dragged) return;
    dragged = true;
    const dt = (dx / +svg.dataset.w) * (dragFrom.t1 - dragFrom.t0);
    t0 = dragFrom.t0 - dt; t1 = dragFrom.t1 - dt;
    draw();
  });
  const up = () => { dragFrom = null; };
  window.addEventListener('pointerup', up);
  controls.querySelector('#tl-zoom-in').addEventListener('click', () => zoom(0.5));
  controls.querySelector('#tl-zoom-out').addEventListener('click', () => zoom(2));
  controls.querySelector('#tl-fit').addEventListener('click', () => { fit(); draw(); });
  controls.addEventListener('change', (ev) => {
    const id = ev.target.id;
    if (id === 'tl-provider') f.provider = ev.target.value;
    if (id === 'tl-region') f.region = ev.target.value;
    if (id === 'tl-kind') f.kind = ev.target.value;
    if (id === 'tl-from' || id === 'tl-to') {
      const a = parseInput(fromIn.value), b = parseInput(toIn.value);
      if (isFinite(a) && isFinite(b) && b > a) { t0 = a; t1 = b; }
    } else fit();
    draw();
  });
  controls.addEventListener('submit', (ev) => ev.preventDefault());
  const onResize = () => draw();
  window.addEventListener('resize', onResize);

  ctx.onChange((_kind, e) => {
    byID.set(e.id, e);
    dataNow = Math.max(dataNow, Date.parse(e.end || e.detected || e.start));
    draw();
  });
  // The cleanup hook of ctx.onChange also removes window listeners.
  ctx.onChange(() => {});
  const tick = setInterval(async () => {
    if (!ctx.current()) { clearInterval(tick); window.removeEventListener('resize', onResize); window.removeEventListener('pointerup', up); return; }
    try {
      const p = await get('/api/v1/providers');
      const last = Math.max(0, ...p.providers.flatMap((x) => x.regions).map((g) => (g.last_change ? Date.parse(g.last_change) : 0)));
      if (last > dataNow && ctx.current()) { dataNow = last; draw(); }
    } catch { /* next time */ }
  }, 10000);
  draw();
}
