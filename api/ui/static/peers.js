// Peers: every vantage point (BGP session, BMP or RIS feeder), and the BMP
// routers they come from.
import { get, getAll } from './api.js';
import { h, fmtTime, table, empty, fmtDuration } from './util.js';

export const name = 'peers';

function routersCard(rs) {
  const rows = rs.map((r) => h('tr', { 'data-router': r.router },
    h('td', {}, r.address),
    h('td', {}, r.sys_name || '—'),
    h('td', { class: 'sys-descr' }, r.sys_descr || '—'),
    h('td', {}, h('span', { class: 'state s-' + (r.state === 'up' ? 'established' : 'idle') }, r.state)),
    h('td', {}, fmtTime(r.since)),
    h('td', { class: 'num' }, r.monitored_peers),
    h('td', { class: 'num' }, r.vantage_points_up + ' / ' + r.vantage_points),
    h('td', { class: 'num' }, r.prefixes)));
  return h('section', { class: 'card' }, h('h2', {}, 'BMP routers'),
    table(['address', 'sysName', 'sysDescr', 'state', 'since', 'monitored peers', 'vantage points up', 'routes'], rows, 'routers'));
}

export async function render(main) {
  const [ps, rs] = await Promise.all([getAll('/api/v1/peers', 'peers'), get('/api/v1/routers')]);
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
    ...(rs.routers.length ? [routersCard(rs.routers)] : []),
    h('section', { class: 'card' },
      ps.length ? table(['address', 'ASN', 'source', 'state', 'since', 'uptime', 'last update', 'routes', 'flaps'], rows, 'peers')
        : empty('No vantage points yet.')));
}
