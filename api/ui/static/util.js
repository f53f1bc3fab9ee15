// Small DOM and formatting helpers shared by the pages.
export const SVGNS = 'http://www.w3.org/2000/svg';

// h builds an element: h('a', {href: '/x', class: 'c'}, 'text', child…).
// Attributes starting with "on" are listeners; never innerHTML.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

// s builds an SVG element.
export function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVGNS, tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

function setAttrs(el, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
}

function append(el, children) {
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function fmtTime(t) {
  if (!t) return '—';
  return new Date(t).toISOString().replace('T', ' ').replace(/\.\d+Z$|Z$/, 'Z');
}

export function fmtDuration(ms) {
  if (ms < 0 || !isFinite(ms)) return '—';
  const sec = Math.round(ms / 1000);
  if (sec < 90) return sec + ' s';
  const min = Math.round(sec / 60);
  if (min < 120) return min + ' min';
  const hr = min / 60;
  if (hr < 48) return hr.toFixed(1) + ' h';
  return (hr / 24).toFixed(1) + ' d';
}

export function pct(x) { return (Math.round(x * 1000) / 10).toFixed(1) + ' %'; }

export function as(n) { return n ? 'AS' + n : 'none'; }

export function group(e) {
  if (!e.provider) return 'peers';
  return e.provider + '/' + (e.region || '-');
}

export const KINDS = ['path_shift', 'withdrawal', 'peer_down', 'origin_change', 'more_specific', 'prepend_change', 'community_change'];

export function kindChip(kind) { return h('span', { class: 'kind k-' + kind }, kind.replace('_', ' ')); }

export function topTransition(e) {
  const t = (e.transitions || []).slice().sort((a, b) => b.prefixes - a.prefixes)[0];
  if (!t) return '';
  return as(t.from_upstream) + ' → ' + as(t.to_upstream) + ' (' + t.prefixes + ')';
}

export function prefixHref(p, at) {
  return '/prefix/' + p + (at ? '?at=' + encodeURIComponent(at) : '');
}

export function section(title, ...children) {
  return h('section', { class: 'card' }, h('h2', {}, title), ...children);
}

export function table(head, rows, cls = '') {
  return h('div', { class: 'table-wrap' },
    h('table', { class: cls }, h('thead', {}, h('tr', {}, head.map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, rows)));
}

export function empty(text) { return h('p', { class: 'muted' }, text); }

// eventTime is the latest time an event reached: its end, or for an open
// one max(detected, dataNow).
export function eventEnd(e, dataNow) {
  if (e.end) return Date.parse(e.end);
  return Math.max(Date.parse(e.detected || e.start), dataNow || 0);
}
