#!/usr/bin/env bash
# API benchmark: wrk against GET /api/v1/prefixes/{prefix} and
# GET /api/v1/events, served by bench/apiserve from the Redis store holding
# every AWS prefix (shared cloud data) announced by PEERS peers.
#
# wrk (Debian) has no fixed-rate mode, so the paced runs give every
# connection a fixed delay between requests (API_DELAY_MS):
# rate ~= CONNS * 1000 / (DELAY + latency), aimed at ~5k req/s; the
# unpaced runs measure the ceiling. wrk measures from the actual send time
# (coordinated omission): a stalled server is under-reported, so read the
# achieved rate next to the percentiles.
#
# STORE=memory runs the same against the embedded store, to separate the
# API's own cost from Redis.
#
# Usage: bench/api.sh [duration]   (env: STORE, REDIS_URL, PEERS, CONNS, DELAY_MS, RANGES, BIG_CONNS)
set -euo pipefail
cd "$(dirname "$0")/.."

DUR=${1:-30s}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0}
PEERS=${PEERS:-8}
CONNS=${CONNS:-50}
DELAY_MS=${DELAY_MS:-10}
SHARED=${ROUTEWATCH_SHARED:-$(dirname "$PWD")/shared}
RANGES=${RANGES:-$SHARED/data/cloud/aws-ip-ranges.2025-07-24.json}

work=$(mktemp -d)
pid=
cleanup() {
	if [[ -n $pid ]]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/apiserve" ./bench/apiserve
"$work/apiserve" --store "${STORE:-redis}" --redis "$REDIS_URL" --ranges "$RANGES" --peers "$PEERS" \
	--targets "$work/targets.txt" --ready "$work/addr" ${CPUPROFILE:+--cpuprofile "$CPUPROFILE"} 2>"$work/log" &
pid=$!
for _ in $(seq 600); do
	[[ -s $work/addr ]] && break
	kill -0 "$pid" 2>/dev/null || { cat "$work/log"; exit 1; }
	sleep 0.5
done
[[ -s $work/addr ]] || { echo "apiserve did not come up"; cat "$work/log"; exit 1; }
addr=$(cat "$work/addr")
head -1 "$work/log"

echo "store: ${STORE:-redis}; machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2), redis $(redis-server --version | grep -o 'v=[^ ]*')"
echo "sample sizes: prefix $(curl -s "http://$addr/api/v1/prefixes/$(head -1 "$work/targets.txt")" | wc -c) bytes, events page $(curl -s "http://$addr/api/v1/events?limit=20" | wc -c) bytes"

run() { # name script delay conns
	echo
	echo "== $1: $4 connections, ${3} ms pacing, $DUR (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
	API_TARGETS="$work/targets.txt" API_DELAY_MS=$3 wrk -t2 -c"$4" -d"$DUR" --latency -s "bench/apiwrk/$2" "http://$addr" |
		grep -E 'Latency|50%|75%|90%|99%|requests in|Requests/sec|Non-2xx|Socket errors'
}

run_url() { # name path conns
	echo
	echo "== $1: $3 connections, unpaced, $DUR (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
	wrk -t2 -c"$3" -d"$DUR" --latency "http://$addr$2" |
		grep -E 'Latency|50%|75%|90%|99%|requests in|Requests/sec|Non-2xx|Socket errors'
}

run "GET /prefixes/{prefix} paced" prefixes.lua "$DELAY_MS" "$CONNS"
run "GET /events paced" events.lua "$DELAY_MS" "$CONNS"
run "GET /prefixes/{prefix} unpaced" prefixes.lua 0 16
run "GET /events unpaced" events.lua 0 16
# Whole-table reads: a covered lookup of the default route (first page of
# 100) and the provider summaries (every group's prefixes).
run_url "GET /prefixes/0.0.0.0/0?match=covered" "/api/v1/prefixes/0.0.0.0/0?match=covered" "${BIG_CONNS:-4}"
run_url "GET /providers" "/api/v1/providers" "${BIG_CONNS:-4}"
