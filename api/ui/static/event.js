// Event page: summary, signals, upstreams before → after, the AS-path
// graph, the chart over time, affected peers and sample prefixes.
import { get } from './api.js';
import { h, fmtTime, fmtDuration, group, kindChip, as, section, table, empty, prefixHref } from './util.js';
import { asGraph } from './graph.js';
import { lineChart } from './chart.js';

export const name = 'event';

function summary(e) {
  const dl = (pairs) => h('dl', { class: 'facts' }, pairs.filter(Boolean).map(([k, v]) => h('div', {}, h('dt', {}, k), h('dd', {}, v))));
  const status = e.end ? 'resolved after ' + fmtDuration(Date.parse(e.end) - Date.parse(e.start)) : 'open';
  return h('section', { class: 'card summary' },
    h('h1', {}, kindChip(e.kind), ' ', group(e), e.service ? ' · ' + e.service : '', ' ', h('span', { class: 'status ' + (e.end ? 'resolved' : 'open') }, status)),
    h('p', { class: 'lead' }, e.summary || ''),
    dl([
      ['start', fmtTime(e.start)], ['detected', fmtTime(e.detected)], ['end', e.end ? fmtTime(e.end) : 'open'],
      ['prefixes', e.prefixes], ['peers (ASNs)', e.peers], e.sessions != null && ['sessions', e.sessions],
      e.cause && ['cause', `${e.cause.side}${e.cause.asn ? ' AS' + e.cause.asn : ''}${e.cause.reason ? ': ' + e.cause.reason : ''}`],
      e.incident && ['incident', e.incident],
      e.origins && e.origins.length && ['offending origins', e.origins.map(as).join(', ')],
    ]),
    (e.signals && e.signals.length) ? h('p', { class: 'signals' }, 'signals: ', e.signals.map((sg) => h('span', { class: 'signal' }, sg.kind + ' ' + sg.count))) : null,
    h('p', { class: 'small' }, h('a', { href: '/api/v1/events/' + encodeURIComponent(e.id), class: 'json-link', type: 'application/json' }, 'event JSON'),
      ' · ', h('a', { href: '/api/v1/events/' + encodeURIComponent(e.id) + '/series', type: 'application/json' }, 'series JSON'),
      ' · ', h('a', { href: '/timeline' }, 'timeline')));
}

function upstreams(e, sr) {
  const rows = (sr && sr.upstreams.length ? sr.upstreams : (e.transitions || []).map((t) => ({ ...t, vantage_points: null })))
    .map((u) => h('tr', {}, h('td', {}, as(u.from_upstream)), h('td', { class: 'arrow' }, '→'), h('td', {}, as(u.to_upstream)),
      h('td', { class: 'num' }, u.prefixes), h('td', { class: 'num' }, u.vantage_points ?? '—')));
  return section('Upstreams before → after',
    rows.length ? table(['from', '', 'to', 'prefixes', 'vantage points'], rows, 'upstreams') : empty('No upstream changes recorded.'),
    sr && sr.peak ? h('p', { class: 'muted small' }, 'before: just before the start; after: at the peak, ', fmtTime(sr.peak)) : null);
}

export async function render(main, [id], _query, ctx) {
  const path = '/api/v1/events/' + encodeURIComponent(id);
  const [e, sr] = await Promise.all([get(path), get(path + '/series').catch((err) => { console.warn('series', err); return null; })]);
  const width = Math.min(1100, Math.max(340, main.clientWidth - 40));
  const marks = [{ name: 'start', time: e.start }, { name: 'detected', time: e.detected }, { name: 'end', time: e.end }];
  const chart = sr && sr.points.length ? lineChart(sr.points, [
    { key: 'deviating_prefixes', label: 'deviating prefixes', cls: 's-devp' },
    { key: 'deviating_vantage_points', label: 'deviating vantage points', cls: 's-devv' },
    { key: 'withdrawn_prefixes', label: 'withdrawn prefixes', cls: 's-wdp' },
    { key: 'withdrawn_vantage_points', label: 'withdrawn vantage points', cls: 's-wdv' },
  ], marks, { width, height: width < 600 ? 200 : 240 }) : empty('No series.');
  const peers = (e.affected_peers || []).map((p) => h('li', {}, p.addr + ' ', h('span', { class: 'muted' }, 'AS' + p.asn)));
  const samples = (e.sample_prefixes || []).map((p) => h('li', {}, h('a', { href: prefixHref(p), class: 'prefix-link' }, p), ' ',
    h('a', { href: prefixHref(p, e.start), class: 'muted small' }, 'at start')));
  main.replaceChildren(
    summary(e),
    upstreams(e, sr),
    section('AS paths of the affected prefixes', sr ? asGraph(sr.graph, { width }) : empty('No series.'),
      sr && sr.truncated ? h('p', { class: 'muted small' }, 'Only part of the group was examined (bounded).') : null),
    section('Over time', chart, sr ? h('p', { class: 'muted small' }, `${sr.prefixes_examined} prefixes examined, one point every ${sr.step_seconds} s.`) : null),
    h('div', { class: 'cols' },
      section('Affected peers (' + peers.length + ')', peers.length ? h('ul', { class: 'plain peers-list' }, peers) : empty('None listed.')),
      section('Sample prefixes', samples.length ? h('ul', { class: 'plain samples' }, samples) : empty('None listed.'))));
  ctx.onChange((_kind, ch) => {
    if (ch.id !== e.id) return;
    // The event changed: redraw with the new state.
    render(main, [id], _query, ctx).catch((err) => console.warn('event refresh', err));
  });
}
