// Prefix page: every vantage point's current path (or the paths at ?at=)
// with tags and RPKI state, and the history as a timeline of changes.
import { get } from './api.js';
import { h, s, fmtTime, as, section, table, empty, prefixHref } from './util.js';

export const name = 'prefix';

const CHANGE_CLS = { announce: 'c-announce', withdraw: 'c-withdraw', path_change: 'c-path', attribute_change: 'c-attr' };

function routesTable(pr) {
  const rows = pr.routes.map((r) => h('tr', { 'data-peer': r.peer.addr, class: r.stale ? 'stale' : '' },
    h('td', {}, r.peer.addr), h('td', {}, 'AS' + r.peer.asn),
    h('td', { class: 'path' }, r.path ? r.path.as_path : '—'),
    h('td', {}, r.path ? as(r.path.upstream_asn) : '—'),
    h('td', {}, r.path ? as(r.path.origin_asn) : '—'),
    h('td', {}, r.rpki ? h('span', { class: 'rpki r-' + r.rpki }, r.rpki) : h('span', { class: 'muted' }, '—')),
    h('td', {}, fmtTime(r.since)), h('td', {}, r.stale ? 'stale' : 'up')));
  return table(['vantage point', 'ASN', 'AS path', 'upstream', 'origin', 'RPKI', 'since', 'state'], rows, 'routes');
}

// addrCompare orders addresses numerically (198.51.100.2 before .10).
function addrCompare(a, b) {
  const parts = (x) => x.split(/[.:]/).map((p) => parseInt(p, x.includes(':') ? 16 : 10) || 0);
  const pa = parts(a), pb = parts(b);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) if ((pa[i] || 0) !== (pb[i] || 0)) return (pa[i] || 0) - (pb[i] || 0);
  return 0;
}

function historyTimeline(entries, width, prefix) {
  const peers = [...new Set(entries.map((e) => e.peer.addr))].sort(addrCompare);
  if (!entries.length) return empty('No history.');
  const ts = entries.map((e) => Date.parse(e.time));
  let t0 = Math.min(...ts), t1 = Math.max(...ts);
  const pad = Math.max((t1 - t0) * 0.03, 60e3);
  t0 -= pad; t1 += pad;
  const labelW = width < 600 ? 96 : 130, rowH = 18, top = 22;
  const x = (t) => labelW + ((t - t0) / (t1 - t0)) * (width - labelW - 10);
  const height = top + peers.length * rowH + 6;
  const svg = s('svg', { class: 'history', viewBox: `0 0 ${width} ${height}`, role: 'group', 'aria-label': 'history of changes per vantage point' });
  const nt = width < 600 ? 1 : 4;
  for (let i = 0; i <= nt; i++) {
    const t = t0 + ((t1 - t0) * i) / nt;
    svg.append(s('text', { class: 'tick', x: x(t), y: 12, 'text-anchor': i === 0 ? 'start' : i === nt ? 'end' : 'middle' }, new Date(t).toISOString().slice(5, 16).replace('T', ' ')));
  }
  peers.forEach((p, i) => {
    const y = top + i * rowH;
    svg.append(s('rect', { class: 'lane' + (i % 2 ? ' odd' : ''), x: 0, y, width, height: rowH }),
      s('text', { class: 'lane-label', x: 4, y: y + 13 }, p));
  });
  for (const e of entries) {
    const y = top + peers.indexOf(e.peer.addr) * rowH + rowH / 2;
    const a = s('a', { href: prefixHref(prefix, e.time), class: 'hist-mark', 'aria-label': `${e.change} at ${fmtTime(e.time)} from ${e.peer.addr}` },
      s('circle', { class: 'chg ' + (CHANGE_CLS[e.change] || ''), cx: x(Date.parse(e.time)).toFixed(1), cy: y, r: 4.5 }),
      s('title', {}, `${fmtTime(e.time)} ${e.peer.addr}: ${e.change}\n${e.old ? e.old.as_path : '—'} → ${e.new ? e.new.as_path : '—'}`));
    svg.append(a);
  }
  const legend = h('p', { class: 'legend' }, Object.entries(CHANGE_CLS).map(([k, c]) => h('span', { class: 'lg' }, h('i', { class: 'sw dot ' + c }), k.replace('_', ' '))),
    h('span', { class: 'muted small' }, ' — click a change to see the paths at that time'));
  return h('div', {}, h('div', { class: 'graph-scroll' }, svg), legend);
}

export async function render(main, [prefix], query, ctx) {
  const at = query.get('at') || '';
  const base = '/api/v1/prefixes/' + prefix.split('/').map(encodeURIComponent).join('/');
  const [cur, hist] = await Promise.all([get(base + (at ? '?at=' + encodeURIComponent(at) : '')), get(base + '/history?limit=1000').catch(() => ({ entries: [] }))]);
  const width = Math.min(1100, Math.max(340, main.clientWidth - 40));
  const tags = (cur.tags || []).map((t) => h('span', { class: 'tag' }, [t.provider, t.region, t.service].filter(Boolean).join(' / ') + (t.match ? ' (' + t.match + ')' : '')));
  const atForm = h('form', { class: 'controls', id: 'at-form' },
    h('label', {}, 'paths at (UTC) ', h('input', { type: 'datetime-local', step: 1, id: 'at-input', value: at ? new Date(at).toISOString().slice(0, 19) : '' })),
    h('button', { type: 'submit' }, 'show'), at ? h('a', { href: prefixHref(prefix) }, 'now') : null);
  atForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const v = atForm.querySelector('#at-input').value;
    const href = v ? prefixHref(prefix, new Date(v + (v.length === 16 ? ':00' : '') + 'Z').toISOString().replace('.000Z', 'Z')) : prefixHref(prefix);
    ctx.navigate(href);
  });
  const prs = cur.prefixes || [];
  const entries = (hist.entries || []).slice(0, 500);
  const rows = entries.slice(0, 100).map((e) => h('tr', {},
    h('td', {}, fmtTime(e.time)), h('td', {}, e.peer.addr), h('td', {}, h('span', { class: 'chgname ' + (CHANGE_CLS[e.change] || '') }, e.change)),
    h('td', { class: 'path' }, e.old ? e.old.as_path : '—'), h('td', { class: 'path' }, e.new ? e.new.as_path : '—')));
  main.replaceChildren(
    h('section', { class: 'card' }, h('h1', {}, prefix, ' ', tags), atForm,
      h('p', { class: 'muted small' }, at ? 'Paths as they were at ' + fmtTime(at) + ' (from history).' : 'Current paths.',
        ' ', h('a', { href: base + (at ? '?at=' + encodeURIComponent(at) : ''), type: 'application/json' }, 'JSON'))),
    section(at ? 'Paths at ' + fmtTime(at) : 'Paths now',
      prs.length ? prs.map((pr) => h('div', {}, prs.length > 1 ? h('h3', {}, pr.prefix) : null,
        h('p', { class: 'muted small' }, pr.peers_seeing + ' vantage points see it'), routesTable(pr))) : empty('No vantage point has a path for this prefix.')),
    section('History', historyTimeline(entries, width, prefix),
      rows.length ? table(['time', 'vantage point', 'change', 'old path', 'new path'], rows, 'history-table') : null));
}
