// Peers: every vantage point (BGP session, BMP or RIS feeder).
import { getAll } from './api.js';
import { h, fmtTime, fmtDuration, table, empty } from './util.js';

export const name = 'peers';

export async function render(main) {
  const ps = await getAll('/api/v1/peers', 'peers');
  const rows = ps.map((p) => h('tr', { 'data-peer': p.peer.addr },
    h('td', {}, p.peer.addr),
    h('td', {}, 'AS' + p.peer.asn),
    h('td', {}, p.source || '—'),
    h('td', {}, h('span', { class: 'state s-' + p.state.toLowerCase() }, p.state)),
    h('td', {}, fmtTime(p.state_since)),
    h('td', {}, p.uptime_seconds != null ? fmtDuration(p.uptime_seconds * 1000) : '—'),
    h('td', {}, fmtTime(p.last_update)),
    h('td', { class: 'num' }, p.prefixes),
    h('td', { class: 'num' }, p.flaps)));
  main.replaceChildren(h('h1', {}, 'Peers'),
    h('section', { class: 'card' },
      ps.length ? table(['address', 'ASN', 'source', 'state', 'since', 'uptime', 'last update', 'routes', 'flaps'], rows, 'peers')
        : empty('No vantage points yet.')));
}
