// routewatch web UI: a small client-side router over plain ES modules.
import { stream } from './api.js';
import { h } from './util.js';
import * as overview from './overview.js';
import * as timeline from './timeline.js';
import * as eventPage from './event.js';
import * as prefixPage from './prefix.js';
import * as peers from './peers.js';

const routes = [
  { re: /^\/$/, page: overview, nav: 'overview' },
  { re: /^\/timeline$/, page: timeline, nav: 'timeline' },
  { re: /^\/peers$/, page: peers, nav: 'peers' },
  { re: /^\/events\/([^/]+)$/, page: eventPage, nav: '' },
  { re: /^\/prefix\/(.+)$/, page: prefixPage, nav: '' },
];

const listeners = new Set();
let cleanup = null;
let seq = 0;

// ctx is what a page gets: onChange registers a live-update callback for
// the life of the page.
function makeCtx(my) {
  return {
    onChange(fn) { listeners.add(fn); const prev = cleanup; cleanup = () => { listeners.delete(fn); if (prev) prev(); }; },
    current() { return my === seq; },
    navigate,
  };
}

async function render() {
  if (cleanup) { cleanup(); cleanup = null; }
  listeners.clear();
  const my = ++seq;
  const path = location.pathname;
  const main = document.getElementById('main');
  const route = routes.find((r) => r.re.test(path));
  for (const a of document.querySelectorAll('[data-nav]')) {
    if (route && a.dataset.nav === route.nav) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  if (!route) {
    main.replaceChildren(h('section', { class: 'card' }, h('h1', {}, 'Not found'), h('p', {}, 'No page at ', h('code', {}, path), '. ', h('a', { href: '/' }, 'Overview'))));
    return;
  }
  const m = path.match(route.re);
  const params = m.slice(1).map(decodeURIComponent);
  document.body.dataset.page = route.page.name;
  document.body.removeAttribute('data-ready');
  try {
    await route.page.render(main, params, new URLSearchParams(location.search), makeCtx(my));
  } catch (e) {
    if (my !== seq) return;
    console.warn('page failed', e);
    main.replaceChildren(h('section', { class: 'card' }, h('h1', {}, 'Could not load this page'), h('p', { class: 'error' }, String(e.message || e))));
  }
  if (my === seq) {
    document.body.dataset.ready = '1';
    performance.mark('routewatch:rendered');
  }
}

export function navigate(href, replace = false) {
  if (replace) history.replaceState(null, '', href);
  else history.pushState(null, '', href);
  render().then(() => {
    if (!replace) document.getElementById('main').focus({ preventScroll: true });
    window.scrollTo(0, 0);
  });
}

document.addEventListener('click', (ev) => {
  const a = ev.target.closest('a');
  if (!a || ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || a.target) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || url.pathname.startsWith('/api/') || a.hasAttribute('download')) return;
  ev.preventDefault();
  navigate(url.pathname + url.search);
});

window.addEventListener('popstate', render);

document.getElementById('prefix-search').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const v = document.getElementById('prefix-input').value.trim();
  if (v) navigate('/prefix/' + (v.includes('/') ? v : v + (v.includes(':') ? '/128' : '/32')));
});

const liveEl = document.getElementById('live');
stream((kind, ev) => {
  for (const fn of [...listeners]) fn(kind, ev);
}, (up) => {
  liveEl.textContent = up ? '● live' : '○ offline';
  liveEl.classList.toggle('up', up);
});

render();
