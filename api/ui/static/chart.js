// A line chart over time in SVG with vertical marks (start, detected, end).
import { s, h } from './util.js';

export function lineChart(points, seriesDefs, marks, { width = 800, height = 240 } = {}) {
  const padL = 44, padR = 16, padT = 22, padB = 28;
  const ts = points.map((p) => Date.parse(p.time));
  const t0 = ts[0], t1 = ts[ts.length - 1] || t0 + 1;
  const ymax = Math.max(1, ...seriesDefs.flatMap((d) => points.map((p) => p[d.key])));
  const x = (t) => padL + ((t - t0) / (t1 - t0 || 1)) * (width - padL - padR);
  const y = (v) => height - padB - (v / ymax) * (height - padT - padB);
  const svg = s('svg', { class: 'chart', viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': 'deviating and withdrawn prefixes and vantage points over time' });
  const yticks = [0, Math.round(ymax / 2), ymax];
  for (const v of yticks) {
    svg.append(s('line', { class: 'grid', x1: padL, x2: width - padR, y1: y(v), y2: y(v) }),
      s('text', { class: 'tick', x: padL - 6, y: y(v) + 4, 'text-anchor': 'end' }, v));
  }
  const nt = Math.max(2, Math.floor(width / 120));
  for (let i = 0; i <= nt; i++) {
    const t = t0 + ((t1 - t0) * i) / nt;
    const anchor = i === 0 ? 'start' : i === nt ? 'end' : 'middle';
    svg.append(s('text', { class: 'tick', x: x(t), y: height - 8, 'text-anchor': anchor }, new Date(t).toISOString().slice(11, 16)));
  }
  marks.forEach((m, i) => {
    if (!m.time) return;
    const t = Date.parse(m.time);
    if (t < t0 || t > t1) return;
    // Labels alternate between two rows so close marks stay readable.
    const ly = i % 2 ? padT + 4 : padT - 8;
    svg.append(s('g', { class: 'mark mark-' + m.name, 'data-mark': m.name, 'data-time': m.time },
      s('line', { x1: x(t), x2: x(t), y1: padT - 6, y2: height - padB }),
      s('text', { x: x(t) + 3, y: ly }, m.name)));
  });
  for (const d of seriesDefs) {
    const pts = points.map((p, i) => `${x(ts[i]).toFixed(1)},${y(p[d.key]).toFixed(1)}`).join(' ');
    svg.append(s('polyline', { class: 'series ' + d.cls, points: pts, 'data-series': d.key }));
  }
  svg.append(s('line', { class: 'axis', x1: padL, x2: padL, y1: padT, y2: height - padB }),
    s('line', { class: 'axis', x1: padL, x2: width - padR, y1: height - padB, y2: height - padB }));
  const legend = h('p', { class: 'legend' }, seriesDefs.map((d) => h('span', { class: 'lg' }, h('i', { class: 'sw line ' + d.cls }), d.label)),
    marks.filter((m) => m.time).map((m) => h('span', { class: 'lg' }, h('i', { class: 'sw markline mark-' + m.name }), m.name)));
  return h('div', { class: 'chart-wrap' }, svg, legend);
}
