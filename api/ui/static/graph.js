// The AS-path graph of an event: vantage-point ASes on the left, the
// origin on the right, transit ASes in columns by distance to the origin.
// Removed edges are red and dashed, added ones green and solid, kept ones
// grey; a toggle shows before, after or both.
import { s, h } from './util.js';

function layout(g) {
  const adj = new Map();
  for (const n of g.nodes) adj.set(n.asn, []);
  for (const e of g.edges) { adj.get(e.from)?.push(e.to); adj.get(e.to)?.push(e.from); }
  // Distance to the origin(s), breadth first over the undirected graph.
  const dist = new Map();
  const queue = g.nodes.filter((n) => n.role === 'origin').map((n) => n.asn);
  for (const o of queue) dist.set(o, 0);
  for (let i = 0; i < queue.length; i++) {
    for (const m of adj.get(queue[i]) || []) if (!dist.has(m)) { dist.set(m, dist.get(queue[i]) + 1); queue.push(m); }
  }
  const maxD = Math.max(1, ...[...dist.values()].filter((d, i) => true));
  const col = new Map();
  for (const n of g.nodes) {
    if (n.role === 'vantage_point') col.set(n.asn, maxD);
    else col.set(n.asn, Math.min(dist.get(n.asn) ?? maxD - 1, maxD - 1));
  }
  for (const n of g.nodes) if (n.role === 'origin') col.set(n.asn, 0);
  const cols = [];
  for (const n of g.nodes) (cols[col.get(n.asn)] ||= []).push(n.asn);
  // Order within columns by the mean position of neighbours (two sweeps).
  const pos = new Map();
  cols.forEach((c) => c && c.forEach((a, i) => pos.set(a, i / Math.max(1, c.length - 1))));
  for (let sweep = 0; sweep < 2; sweep++) {
    for (let ci = cols.length - 1; ci >= 0; ci--) {
      const c = cols[ci];
      if (!c) continue;
      const bary = (a) => { const ns = adj.get(a) || []; return ns.length ? ns.reduce((t, m) => t + (pos.get(m) ?? 0.5), 0) / ns.length : 0.5; };
      c.sort((a, b) => bary(a) - bary(b) || a - b);
      c.forEach((a, i) => pos.set(a, c.length === 1 ? 0.5 : i / (c.length - 1)));
    }
  }
  return { cols, col, maxD };
}

export function asGraph(g, { width = 900 } = {}) {
  const wrap = h('div', { class: 'graph-wrap' });
  if (!g.nodes.length) { wrap.append(h('p', { class: 'muted' }, 'No changed paths in the examined history.')); return wrap; }
  const { cols, maxD } = layout(g);
  const rows = Math.max(...cols.map((c) => (c ? c.length : 0)));
  const rowH = 34, nodeW = 76, nodeH = 22, padX = 16;
  const height = Math.max(120, rows * rowH + 40);
  const xy = new Map();
  cols.forEach((c, ci) => {
    if (!c) return;
    const x = padX + nodeW / 2 + ((maxD - ci) / maxD) * (width - 2 * padX - nodeW);
    const top = (height - c.length * rowH) / 2 + rowH / 2;
    c.forEach((a, i) => xy.set(a, { x, y: top + i * rowH }));
  });
  const svg = s('svg', { class: 'asgraph', viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': 'AS paths before and after the event', 'data-view': 'both' });
  const edges = s('g', { class: 'edges' });
  const maxRoutes = Math.max(1, ...g.edges.map((e) => e.routes));
  for (const e of g.edges) {
    const a = xy.get(e.from), b = xy.get(e.to);
    if (!a || !b) continue;
    const mx = (a.x + b.x) / 2;
    const d = `M${a.x},${a.y} C${mx},${a.y} ${mx},${b.y} ${b.x},${b.y}`;
    const p = s('path', { class: 'edge ' + e.state, d, 'data-from': e.from, 'data-to': e.to, 'data-state': e.state },
      s('title', {}, `AS${e.from} → AS${e.to}: ${e.state}, ${e.routes} routes`));
    p.style.strokeWidth = (1.2 + 3 * Math.sqrt(e.routes / maxRoutes)).toFixed(1);
    edges.append(p);
  }
  svg.append(edges);
  const nodes = s('g', { class: 'nodes' });
  for (const n of g.nodes) {
    const p = xy.get(n.asn);
    nodes.append(s('g', { class: 'node ' + n.role, 'data-asn': n.asn, transform: `translate(${p.x},${p.y})` },
      s('rect', { x: -nodeW / 2, y: -nodeH / 2, width: nodeW, height: nodeH, rx: 4 }),
      s('text', { y: 4, 'text-anchor': 'middle' }, 'AS' + n.asn),
      s('title', {}, `AS${n.asn} (${n.role.replace('_', ' ')})`)));
  }
  svg.append(nodes);
  const toggle = h('div', { class: 'toggle', role: 'radiogroup', 'aria-label': 'show paths' },
    ['before', 'after', 'both'].map((v) => h('label', {},
      h('input', { type: 'radio', name: 'graph-view', value: v, checked: v === 'both', onchange: () => { svg.dataset.view = v; } }), ' ' + v)));
  const legend = h('p', { class: 'legend' },
    h('span', { class: 'lg' }, h('i', { class: 'sw edge-sw removed' }), 'removed (before only)'),
    h('span', { class: 'lg' }, h('i', { class: 'sw edge-sw added' }), 'added (after only)'),
    h('span', { class: 'lg' }, h('i', { class: 'sw edge-sw kept' }), 'kept'),
    h('span', { class: 'lg' }, h('i', { class: 'sw node-sw vantage_point' }), 'vantage point AS'),
    h('span', { class: 'lg' }, h('i', { class: 'sw node-sw origin' }), 'origin'));
  wrap.append(toggle, h('div', { class: 'graph-scroll' }, svg), legend);
  return wrap;
}
