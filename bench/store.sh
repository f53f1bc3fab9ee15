#!/usr/bin/env bash
# bench/store.sh — updates/s into Redis through store.Redis versus
# redis-benchmark (pipelined) running the equivalent commands on the same
# redis-server in the same run, and Redis memory per stored route.
#
#   bench/store.sh                 # 1 M routes (100 k prefixes x 10 peers)
#   ROUTES=200000 bench/store.sh   # quicker
#
# The server is private to the run (free port, temp dir, AOF everysec as in
# compose.yaml, automatic AOF rewrite off so it does not land in one side).
set -euo pipefail
cd "$(dirname "$0")/.."

ROUTES=${ROUTES:-1000000}
N=${N:-$ROUTES}        # redis-benchmark requests per command
CLIENTS=${CLIENTS:-4}  # redis-benchmark connections = store writers (4)
PIPE=${PIPE:-64}       # redis-benchmark pipeline depth
PORT=${PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
DIR=$(mktemp -d)

redis-server --port "$PORT" --bind 127.0.0.1 --dir "$DIR" --save "" --appendonly yes --appendfsync everysec \
  --auto-aof-rewrite-percentage 0 --daemonize yes --pidfile "$DIR/redis.pid" --logfile "$DIR/redis.log"
cleanup() { [ -f "$DIR/redis.pid" ] && kill "$(cat "$DIR/redis.pid")" 2>/dev/null; sleep 0.2; rm -rf "$DIR"; }
trap cleanup EXIT
for _ in $(seq 100); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done

echo "# machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# $(redis-server --version | cut -d' ' -f1-3), go: $(go env GOVERSION), routes: $ROUTES, redis-benchmark: -c $CLIENTS -P $PIPE -n $N"

echo "## store.Redis: ApplyUpdates, $CLIENTS writers x 2000-update batches"
out=$(ROUTEWATCH_BENCH_REDIS=127.0.0.1:$PORT ROUTEWATCH_BENCH_ROUTES=$ROUTES \
  go test -count=1 -run '^$' -bench '^BenchmarkStoreIngest$' -benchtime 1x ./store/ | grep -E '^(apply_sha|cmd|routes|store_|elapsed|used_memory)')
echo "$out"
sha=$(echo "$out" | awk '/^apply_sha/ {print $2}')
store_ups=$(echo "$out" | awk '/^store_updates_per_sec/ {print $2}')
# Members written per update besides the apply script: ZADD members of the
# family index and the per-ASN indexes (4 ASNs per path here).
zadd_members=5

redis-cli -p "$PORT" flushall >/dev/null
echo "## redis-benchmark on the same server"
# -r: the key space of the store side (ROUTES/10 prefixes, 10 peers each).
KEYSPACE=$((ROUTES / 10))
rb() { redis-benchmark -h 127.0.0.1 -p "$PORT" -c "$CLIENTS" -P "$PIPE" -n "$N" -r "$KEYSPACE" --csv "$@" | tail -1 | cut -d, -f2 | tr -d '"'; }
# The same apply script (EVALSHA) with random prefixes and paths: the
# per-update Redis work of the store, without the store's client side.
eval_rps=$(rb EVALSHA "$sha" 2 'rb:{p:__rand_int__}:r' 'rb:{p:__rand_int__}:h' '198.51.100.__rand_int__ 64500 0' A 1 \
  1639580400000000000 'attrs-__rand_int__-0123456789abcdef0123456789' '' 100 604800000000000)
zadd_rps=$(rb ZADD 'rb:{i}:pfx4' 0 '__rand_int__')
hset_rps=$(rb HSET 'rb:{p:__rand_int__}:r' '198.51.100.1 64500 0' 'attrs-__rand_int__-0123456789abcdef0123456789')
echo "redis_benchmark_evalsha_apply_rps $eval_rps"
echo "redis_benchmark_zadd_rps $zadd_rps"
echo "redis_benchmark_hset_rps $hset_rps"
python3 - "$store_ups" "$eval_rps" "$zadd_rps" "$hset_rps" "$zadd_members" <<'PY'
import sys
store, ev, za, hs, zm = (float(x) for x in sys.argv[1:])
equiv = 1 / (1 / ev + zm / za)  # updates/s if redis-benchmark did one update's commands
print(f"redis_benchmark_equivalent_updates_per_sec {equiv:.0f}  (1 EVALSHA apply + {zm:.0f} ZADD members per update)")
print(f"store_vs_equivalent {store / equiv * 100:.0f}%  (target >= 50%)")
print(f"store_vs_evalsha_alone {store / ev * 100:.0f}%  (conservative: the store also writes the indexes)")
print(f"store_vs_plain_hset {store / hs * 100:.0f}%  (one pipelined HSET per update, no history/indexes)")
PY
