#!/usr/bin/env bash
# Soak test: routewatch serve on a private Redis with live ExaBGP peers, for
# DURATION (default 30m; e.g. `bench/soak.sh 5m`), everything on loopback:
#   - 4 ExaBGP vantage points announce 40 prefixes of a watched range and
#     shift them all to another upstream every 150 s cycle, then restore
#     them (one path_shift event opened and resolved per cycle);
#   - a peer flaps (ExaBGP stopped, restarted 10 s later) every ~100 s;
#   - the private redis-server is killed (-9) and restarted every ~130 s;
#   - routewatch is killed (-9) and restarted every 150 s (each start
#     has a 1-minute analyzer warm-up, so shifts come after it);
#   - the generic webhook receiver answers 500 to 30% of deliveries.
# At the end it prints events expected vs stored vs delivered (per kind):
# each expected event stored once, resolved by the end, its opened and
# resolved notices accepted once (lost / duplicates / open at the end must
# all be 0, else it exits 1), and goroutines and RSS sampled over time. Nothing listens beyond
# 127.0.0.1; every process it starts is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-30m}
for c in exabgp redis-server python3 go; do
  command -v "$c" >/dev/null || { echo "soak: needs $c" >&2; exit 1; }
done
W=$(mktemp -d /tmp/routewatch-soak.XXXXXX)
echo "soak: work dir $W, duration $DURATION"
go build -o "$W/routewatch" ./cmd/routewatch
exec python3 - "$W" "$DURATION" <<'PY'
import json, os, random, re, signal, socket, subprocess, sys, threading, time, urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

W, DURATION = sys.argv[1], sys.argv[2]
def seconds(d):
    m = re.fullmatch(r'(\d+)([smh]?)', d)
    if not m: sys.exit('soak: duration like 30m, 300s or 1h')
    return int(m[1]) * {'': 1, 's': 1, 'm': 60, 'h': 3600}[m[2]]
TOTAL = seconds(DURATION)
random.seed(18)

def free_port():
    s = socket.socket(); s.bind(('127.0.0.1', 0)); p = s.getsockname()[1]; s.close(); return p
REDIS_PORT, API_PORT, BGP_PORT, HOOK_PORT = free_port(), free_port(), free_port(), free_port()
API = f'http://127.0.0.1:{API_PORT}'
procs = {}      # name -> Popen
def start(name, args, env=None, log=None):
    out = open(os.path.join(W, (log or name) + '.log'), 'ab')
    procs[name] = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True, cwd=W)
def stop(name, sig=signal.SIGTERM):
    p = procs.pop(name, None)
    if p is None: return
    try: os.killpg(p.pid, sig)
    except ProcessLookupError: pass
    try: p.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL); p.wait()

# --- Redis (private, AOF everysec like compose.yaml)
os.makedirs(os.path.join(W, 'redis'), exist_ok=True)
def start_redis():
    start('redis', ['redis-server', '--port', str(REDIS_PORT), '--bind', '127.0.0.1', '--dir', os.path.join(W, 'redis'),
                    '--appendonly', 'yes', '--appendfsync', 'everysec', '--save', '', '--protected-mode', 'yes'])

# --- webhook receiver: 30% answered 500; accepted notices recorded
delivered = []   # (type, event id, kind)
attempts = {'ok': 0, 'failed': 0}
lock = threading.Lock()
class Hook(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get('Content-Length', 0)))
        if random.random() < 0.3:
            with lock: attempts['failed'] += 1
            self.send_response(500); self.end_headers(); return
        try:
            n = json.loads(body)
            with lock:
                attempts['ok'] += 1
                delivered.append((n['type'], n['data']['id'], n['data']['kind'], self.headers.get('webhook-id')))
        except Exception:
            pass
        try:
            self.send_response(200); self.end_headers(); self.wfile.write(b'ok')
        except (BrokenPipeError, ConnectionResetError):
            pass  # routewatch killed mid-delivery: it retries under the same webhook-id
    def log_message(self, *a): pass
hook = ThreadingHTTPServer(('127.0.0.1', HOOK_PORT), Hook)
threading.Thread(target=hook.serve_forever, daemon=True).start()

# --- routewatch
PREFIXES = [f'10.200.{i}.0/24' for i in range(40)]
open(os.path.join(W, 'soak-ranges.txt'), 'w').write('\n'.join(PREFIXES) + '\n')
open(os.path.join(W, 'routewatch.yaml'), 'w').write(f'''
log: {{level: info}}
store:
  backend: redis
  redis: {{url: "redis://127.0.0.1:{REDIS_PORT}/0", key_prefix: soak}}
ranges:
  specs: ["soak={W}/soak-ranges.txt"]
  refresh: 0s
  watch_asns: {{soak: [64500]}}
collector:
  listen_addresses: [127.0.0.1]
  port: {BGP_PORT}
  dynamic_neighbors: [{{prefix: 127.0.0.0/24}}]
  eor_timeout: 10s
analyzer:
  window: 1m
  min_peers: 3
  min_peers_per_prefix: 3
  settle: 10s
  stable_period: 10m
  peer_down_hold: 20s
api:
  listen: 127.0.0.1:{API_PORT}
  rate_limit: {{requests_per_second: 0}}
alert:
  allow_private_targets: true
  delivery: {{initial_backoff: 1s, max_backoff: 10s}}
  sinks:
    - {{name: soak, type: generic, url: "http://127.0.0.1:{HOOK_PORT}/hook", secret: "whsec_c29hay10ZXN0LXNlY3JldC0wMTIzNDU2Nzg5"}}
''')
def start_routewatch():
    start('routewatch', [os.path.join(W, 'routewatch'), 'serve', '--config', os.path.join(W, 'routewatch.yaml')])

# --- ExaBGP vantage points, driven by appending to a command file
DRIVER = '''import os, sys, time
path, pos = sys.argv[1], 0
while True:
    try:
        data = open(path, 'rb').read()[pos:]
    except FileNotFoundError:
        data = b''
    end = data.rfind(b'\\n')
    if end >= 0:
        pos += end + 1
        sys.stdout.write(data[:end + 1].decode()); sys.stdout.flush()
    if os.getppid() == 1: os._exit(0)
    time.sleep(0.05)
'''
open(os.path.join(W, 'driver.py'), 'w').write(DRIVER)
PEERS = [(f'127.0.0.{21 + i}', 65021 + i) for i in range(4)]
def exa_conf(addr, asn):
    return f'''process driver {{ run /usr/bin/python3 {W}/driver.py {W}/cmd-{addr}; encoder json; }}
neighbor 127.0.0.1 {{ router-id {addr}; local-address {addr}; local-as {asn}; peer-as 64512;
  family {{ ipv4 unicast; }} api {{ processes [ driver ]; }} }}
'''
EXA_ENV = dict(os.environ, **{'exabgp.tcp.port': str(BGP_PORT), 'exabgp.tcp.bind': '', 'exabgp.daemon.user': 'root',
    'exabgp.daemon.drop': 'false', 'exabgp.daemon.daemonize': 'false', 'exabgp.api.ack': 'false', 'exabgp.api.cli': 'false',
    'exabgp.log.destination': 'stdout', 'exabgp.log.level': 'WARNING', 'exabgp.bgp.openwait': '5', 'exabgp.cache.attributes': 'false'})
def announce(addr, asn, upstream):
    with open(os.path.join(W, f'cmd-{addr}'), 'a') as f:
        for p in PREFIXES:
            f.write(f'announce route {p} next-hop self as-path [ {asn} {upstream} 64500 ]\n')
def start_exa(addr, asn):
    conf = os.path.join(W, f'exabgp-{addr}.conf')
    open(conf, 'w').write(exa_conf(addr, asn))
    start('exa-' + addr, ['exabgp', conf], env=EXA_ENV)

def metrics():
    try:
        text = urllib.request.urlopen(API + '/metrics', timeout=5).read().decode()
    except Exception:
        return None
    out = {}
    for line in text.splitlines():
        if line.startswith('go_goroutines ') or line.startswith('process_resident_memory_bytes '):
            k, v = line.split(); out[k] = float(v)
    return out

def events():
    evs, cursor = {}, ''
    while True:
        url = API + '/api/v1/events?limit=1000' + (f'&cursor={cursor}' if cursor else '')
        page = json.loads(urllib.request.urlopen(url, timeout=10).read())
        items = page['events']
        for e in items: evs[e['id']] = e
        cursor = page.get('next_cursor')
        if not cursor: return evs

expected = {'path_shift': 0, 'peer_down': 0}
samples, kills = [], {'routewatch': 0, 'redis': 0, 'flap': 0}
def cleanup(*_):
    for name in list(procs): stop(name, signal.SIGKILL)
    hook.shutdown()
signal.signal(signal.SIGTERM, lambda *a: (cleanup(), sys.exit(1)))
ok = False
try:
    start_redis(); time.sleep(0.5)
    start_routewatch()
    for addr, asn in PEERS:
        announce(addr, asn, 3356); start_exa(addr, asn)
    t0 = time.time()
    # The analyzer's first window (1 min) after each start is a warm-up
    # (no baseline yet): routewatch is killed at +10 s of a cycle, the
    # shift comes at +90 s and is restored at +140 s.
    CYCLE = 150
    next_flap, next_redis, next_kill, next_sample = 100, 130, 160, 0
    shifted, flapped, restarted = False, None, 0
    while (now := time.time() - t0) < TOTAL:
        phase = now % CYCLE
        if not shifted and 90 <= phase < 140 and now + 60 < TOTAL:
            for addr, asn in PEERS: announce(addr, asn, 2914)
            shifted = True; expected['path_shift'] += 1
            print(f'soak: +{now:5.0f}s path shift #{expected["path_shift"]}', flush=True)
        elif shifted and (phase >= 140 or phase < 90):
            for addr, asn in PEERS: announce(addr, asn, 3356)
            shifted = False
            print(f'soak: +{now:5.0f}s restored', flush=True)
        # A flap needs a session to drop: not while a restarted routewatch
        # may not have re-established it yet (a peer that is away then and
        # back within analyzer.resync_window is no peer_down).
        if now >= next_flap and flapped is None and now + 40 < TOTAL and now >= restarted + 30:
            flapped = PEERS[kills['flap'] % len(PEERS)]; stop('exa-' + flapped[0]); kills['flap'] += 1
            expected['peer_down'] += 1; flap_at = now
            print(f'soak: +{now:5.0f}s peer {flapped[0]} down', flush=True)
        if flapped is not None and now >= flap_at + 10:
            start_exa(*flapped); flapped = None; next_flap = now + 90
        if now >= next_redis:
            stop('redis', signal.SIGKILL); kills['redis'] += 1
            print(f'soak: +{now:5.0f}s redis killed', flush=True)
            time.sleep(5); start_redis(); next_redis = now + 130
        if now >= next_kill:
            stop('routewatch', signal.SIGKILL); kills['routewatch'] += 1
            print(f'soak: +{now:5.0f}s routewatch killed', flush=True)
            time.sleep(2); start_routewatch(); next_kill = now + CYCLE; restarted = time.time() - t0
        if now >= next_sample:
            m = metrics()
            if m: samples.append((now, m.get('go_goroutines', 0), m.get('process_resident_memory_bytes', 0)))
            next_sample = now + 30
        time.sleep(1)
    if shifted:
        for addr, asn in PEERS: announce(addr, asn, 3356)
    print('soak: draining (60 s) ...', flush=True)
    time.sleep(60)
    m = metrics()
    if m: samples.append((time.time() - t0, m.get('go_goroutines', 0), m.get('process_resident_memory_bytes', 0)))
    evs = events()
    stored = {}
    for e in evs.values():
        stored.setdefault(e['kind'], []).append(e)
    with lock:
        notices = {}    # (type, event id) -> distinct webhook-ids accepted
        dup_ids, seen_ids = 0, set()
        for typ, eid, kind, wid in delivered:
            if wid in seen_ids: dup_ids += 1
            seen_ids.add(wid)
            notices.setdefault((typ, eid), set()).add(wid)
    # Every expected event stored once, opened and (all are over by the
    # end) resolved, each notice accepted once: lost = expected events not
    # stored, or stored without their opened / resolved notice; duplicates
    # = events stored beyond those expected (an incident opened twice),
    # notices accepted under two webhook-ids, webhook-ids accepted twice.
    print(f'\nsoak: {DURATION}: routewatch killed {kills["routewatch"]}x, redis killed {kills["redis"]}x, peer flaps {kills["flap"]}')
    print(f'{"kind":<12} {"expected":>8} {"stored":>7} {"open":>5} {"opened":>7} {"resolved":>9} {"lost":>5} {"dup":>4}')
    lost_total, dup_total, open_total = 0, dup_ids, 0
    for kind in sorted(set(expected) | set(stored)):
        st = stored.get(kind, [])
        n_open = sum(1 for e in st if e.get('end') is None)
        n_opened = sum(1 for e in st if notices.get(('event.opened', e['id'])))
        n_resolved = sum(1 for e in st if e.get('end') is not None and notices.get(('event.resolved', e['id'])))
        lost = max(0, expected.get(kind, 0) - len(st)) + (len(st) - n_opened) + (len(st) - n_open - n_resolved)
        dup = max(0, len(st) - expected.get(kind, 0)) + sum(
            1 for e in st for typ in ('event.opened', 'event.resolved') if len(notices.get((typ, e['id']), ())) > 1)
        lost_total += lost; dup_total += dup; open_total += n_open
        print(f'{kind:<12} {expected.get(kind, 0):>8} {len(st):>7} {n_open:>5} {n_opened:>7} {n_resolved:>9} {lost:>5} {dup:>4}')
    print(f'webhook: {attempts["ok"]} accepted, {attempts["failed"]} answered 500, {dup_ids} duplicate webhook-ids accepted')
    log = open(os.path.join(W, 'routewatch.log'), errors='replace').read()
    print(f'restarts: {kills["routewatch"]}, restored from a checkpoint: {log.count("checkpoint: restored;")}, '
          f'peers re-sent their table: {log.count("checkpoint: peer re-sends its table")}, '
          f'peers taken as down (not back): {log.count("not back within analyzer.resync_window")}')
    gs = [g for _, g, _ in samples[1:]] or [0]
    rs = [r / 1e6 for _, _, r in samples[1:]] or [0]
    print(f'soak: {lost_total} lost, {dup_total} duplicates, {open_total} open at the end; '
          f'goroutines {min(gs):.0f}-{max(gs):.0f}, rss {min(rs):.1f}-{max(rs):.1f} MB after the first sample')
    ok = lost_total == 0 and dup_total == 0 and open_total == 0
    print(f'{"t":>6} {"goroutines":>10} {"rss_MB":>8}')
    for t, g, r in samples:
        print(f'{t:6.0f} {g:10.0f} {r / 1e6:8.1f}')
    print(f'logs: {W}')
    print('soak: PASS' if ok else 'soak: FAIL')
finally:
    cleanup()
sys.exit(0 if ok else 1)
PY
