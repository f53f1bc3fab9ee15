// Overview: open events first, then a tile per provider/region; live.
import { get, getAll } from './api.js';
import { h, fmtTime, fmtDuration, pct, group, kindChip, topTransition, section, table, empty, eventEnd } from './util.js';

export const name = 'overview';

function eventRow(e, dataNow) {
  const dur = eventEnd(e, dataNow) - Date.parse(e.start);
  return h('tr', { 'data-event': e.id, class: e.end ? 'resolved' : 'open' },
    h('td', {}, kindChip(e.kind)),
    h('td', {}, h('a', { href: '/events/' + encodeURIComponent(e.id) }, group(e))),
    h('td', {}, fmtTime(e.start)),
    h('td', {}, e.end ? 'resolved after ' + fmtDuration(Date.parse(e.end) - Date.parse(e.start)) : 'open ' + fmtDuration(dur)),
    h('td', { class: 'num' }, e.prefixes),
    h('td', { class: 'num' }, e.peers),
    h('td', {}, topTransition(e)));
}

function tile(g) {
  const vis = g.visibility;
  const bar = h('div', { class: 'visbar' }, h('span', { class: 'fill' + (vis < 0.95 ? ' warn' : '') }));
  bar.firstChild.style.width = Math.round(vis * 100) + '%';
  const region = g.region || '-';
  return h('article', { class: 'tile', 'data-group': g.provider + '/' + region },
    h('h3', {}, h('span', { class: 'prov' }, g.provider), ' ', region),
    h('dl', {},
      h('div', {}, h('dt', {}, 'watched prefixes'), h('dd', {}, g.prefixes)),
      h('div', {}, h('dt', {}, 'visibility'), h('dd', {}, pct(vis))),
      h('div', {}, h('dt', {}, 'changes / h'), h('dd', {}, g.changes_last_hour)),
      h('div', {}, h('dt', {}, 'peers / prefix'), h('dd', {}, g.avg_peers_per_prefix))),
    bar,
    h('p', { class: 'muted small' }, 'last change ', fmtTime(g.last_change)));
}

async function load() {
  const [open, recent, providers] = await Promise.all([
    getAll('/api/v1/events?status=open', 'events', 2000),
    get('/api/v1/events?status=resolved&limit=1000'),
    get('/api/v1/providers'),
  ]);
  return { open, recent: recent.events, providers: providers.providers };
}

function draw(main, d) {
  const groups = d.providers.flatMap((p) => p.regions);
  const dataNow = Math.max(0, ...groups.map((g) => (g.last_change ? Date.parse(g.last_change) : 0)));
  const head = ['kind', 'provider/region', 'start', 'status', 'prefixes', 'peers', 'top transition'];
  const open = d.open.slice().sort((a, b) => Date.parse(b.start) - Date.parse(a.start));
  const recent = d.recent.slice().sort((a, b) => Date.parse(b.start) - Date.parse(a.start)).slice(0, 15);
  main.replaceChildren(
    h('h1', {}, 'Overview'),
    section('Open events (' + open.length + ')',
      open.length ? table(head, open.map((e) => eventRow(e, dataNow)), 'events open-events') : empty('No open events.')),
    section('Provider regions',
      groups.length ? h('div', { class: 'tiles' }, groups.map(tile)) : empty('No watched prefixes seen yet.')),
    section('Recently resolved',
      recent.length ? table(head, recent.map((e) => eventRow(e, dataNow)), 'events recent-events') : empty('No resolved events yet.')));
}

export async function render(main, _params, _query, ctx) {
  draw(main, await load());
  let pending = null;
  ctx.onChange(() => {
    // Coalesce bursts of changes into one refresh.
    if (pending) return;
    pending = setTimeout(async () => {
      pending = null;
      if (!ctx.current()) return;
      try {
        const d = await load();
        if (ctx.current()) draw(main, d);
      } catch (e) { console.warn('overview refresh', e); }
    }, 300);
  });
}
