// API client: every request carries the bearer token (kept in this tab's
// session storage, never in a URL); a 401 asks for it once and retries.
const TOKEN_KEY = 'routewatch.token';

let asking = null;

function token() { return sessionStorage.getItem(TOKEN_KEY) || ''; }

function headers(extra = {}) {
  const h = { Accept: 'application/json', ...extra };
  const t = token();
  if (t) h.Authorization = 'Bearer ' + t;
  return h;
}

// askToken shows the token dialog (once for concurrent callers).
function askToken(message) {
  if (asking) return asking;
  const dlg = document.getElementById('token-dialog');
  const form = document.getElementById('token-form');
  const input = document.getElementById('token-input');
  const err = document.getElementById('token-error');
  err.hidden = !message;
  err.textContent = message || '';
  asking = new Promise((resolve) => {
    form.addEventListener('submit', () => {
      sessionStorage.setItem(TOKEN_KEY, input.value.trim());
      input.value = '';
      asking = null;
      resolve();
    }, { once: true });
  });
  dlg.showModal();
  input.focus();
  return asking;
}

export class APIError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

export async function get(path) {
  for (let attempt = 0; ; attempt++) {
    const res = await fetch(path, { headers: headers(), cache: 'no-store' });
    if (res.status === 401 && attempt < 3) {
      await askToken(token() ? 'That token was not accepted.' : '');
      continue;
    }
    if (!res.ok) {
      let msg = res.statusText;
      try { msg = (await res.json()).error || msg; } catch { /* not JSON */ }
      throw new APIError(res.status, msg);
    }
    return res.json();
  }
}

// getAll follows next_cursor, collecting key's items, up to max.
export async function getAll(path, key, max = 20000) {
  const out = [];
  let cursor = '';
  const sep = path.includes('?') ? '&' : '?';
  for (;;) {
    const page = await get(path + sep + 'limit=1000' + (cursor ? '&cursor=' + encodeURIComponent(cursor) : ''));
    out.push(...page[key]);
    cursor = page.next_cursor;
    if (!cursor || out.length >= max) return out;
  }
}

// stream reads GET /api/v1/stream with fetch (EventSource cannot send an
// Authorization header) and calls onChange(kind, event) per change. It
// reconnects with Last-Event-ID and reports its state via onState.
export function stream(onChange, onState) {
  let lastID = '';
  let stopped = false;
  const ctl = new AbortController();
  async function once() {
    const h = headers({ Accept: 'text/event-stream' });
    if (lastID) h['Last-Event-ID'] = lastID;
    const res = await fetch('/api/v1/stream', { headers: h, signal: ctl.signal, cache: 'no-store' });
    if (res.status === 401) { await askToken(''); return; }
    if (!res.ok) throw new APIError(res.status, res.statusText);
    onState(true);
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += value;
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const frame = buf.slice(0, i);
        buf = buf.slice(i + 2);
        let kind = 'message', data = '', id = '';
        for (const line of frame.split('\n')) {
          if (line.startsWith('id: ')) id = line.slice(4);
          else if (line.startsWith('event: ')) kind = line.slice(7);
          else if (line.startsWith('data: ')) data += line.slice(6);
        }
        if (id) lastID = id;
        if (data) {
          try { onChange(kind, JSON.parse(data)); } catch (e) { console.warn('stream: bad frame', e); }
        }
      }
    }
  }
  (async () => {
    while (!stopped) {
      try { await once(); } catch (e) { if (stopped) return; }
      onState(false);
      if (!stopped) await new Promise((r) => setTimeout(r, 3000));
    }
  })();
  return () => { stopped = true; ctl.abort(); };
}
