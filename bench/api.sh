#!/usr/bin/env bash
# API benchmark: wrk against GET /api/v1/prefixes/{prefix} and
# GET /api/v1/events, served by bench/apiserve from the Redis store holding
# every AWS prefix (shared cloud data) announced by PEERS peers.
#
# Fixed rate: wrk (Debian) has no -R, so bench/apiwrk/pace.lua hands out
# evenly spaced send slots at RATE req/s (1 ms resolution) and reports the
# slots it could not keep ("late"). wrk measures latency from the actual
# send, so with 0 late slots the percentiles are those of requests sent at
# RATE; unpaced runs (16 connections) give the ceiling.
#
# Each cache setting gets its own apiserve, loaded the same way, and runs
# side by side in one invocation:
#   on   the defaults: route cache + change notices (store), response cache (API)
#   off  --route-cache -1 --response-cache 0 --notices=false (every lookup
#        reads and decodes from Redis and encodes JSON; a miss-only workload)
# A warm-up pass (WARM, unpaced, both endpoints) runs first, as a server
# that has been up for a while would be. CHURN > 0 makes apiserve change
# that many routes a second while serving (as a collector would), which
# voids cached reads.
#
# STORE=memory runs the same against the embedded store.
#
# --compare runs issue 20's case instead: reads while the same process
# writes CHURN (default 1,000) route changes a second, default caches, the
# paced prefix and events runs only, for the binary built from BEFORE (a
# commit, default d46d33e: main before issue 20) and for this tree,
# alternating, PASSES (default 2) times, each against a private
# redis-server on a free port (so its CPU, command stats and latency
# monitor are the run's alone). It ends with one table, before and after
# side by side: p50, p99, late slots, CPU per request (apiserve and
# redis-server), Redis's mean EVALSHA time and its slowest commands
# (LATENCY, threshold 1 ms: the longest, and the seconds with one >= 5 ms;
# per command, so a pipeline of many short scripts does not show there).
#
# Usage: bench/api.sh [duration]
#        bench/api.sh --compare [duration]
#   env: STORE, REDIS_URL, PEERS, RATE, CONNS, WARM, CHURN, CACHES ("on off"), RANGES, BIG_CONNS,
#        BEFORE, PASSES (--compare)
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ${1:-} == --compare ]]; then
	shift
	exec bench/api_compare.sh "$@"
fi

DUR=${1:-20s}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0}
PEERS=${PEERS:-8}
RATE=${RATE:-5000}
CONNS=${CONNS:-64}
WARM=${WARM:-5s}
CHURN=${CHURN:-0}
CACHES=${CACHES:-on off}
SHARED=${ROUTEWATCH_SHARED:-$(dirname "$PWD")/shared}
RANGES=${RANGES:-$SHARED/data/cloud/aws-ip-ranges.2025-07-24.json}

work=$(mktemp -d)
pid=
stop_server() {
	if [[ -n $pid ]]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
	pid=
}
cleanup() {
	stop_server
	rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/apiserve" ./bench/apiserve
echo "store: ${STORE:-redis}; machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2), redis $(redis-server --version | grep -o 'v=[^ ]*'); rate $RATE req/s over $CONNS connections; churn $CHURN routes/s"

cpu() { # CPU seconds of a pid
	awk -v t="$(getconf CLK_TCK)" '{printf "%.2f", ($14+$15)/t}' "/proc/$1/stat" 2>/dev/null || echo 0
}

run() { # name script rate conns
	local rpid a0 r0 out n
	rpid=$(pgrep -x redis-server | head -1 || true)
	a0=$(cpu "$pid")
	r0=$([[ -n $rpid ]] && cpu "$rpid" || echo 0)
	echo
	echo "== [$mode] $1: $4 connections, $( [[ $3 == 0 ]] && echo unpaced || echo "$3 req/s offered"), $DUR (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
	out=$(API_TARGETS="$work/targets.txt" API_RATE=$3 wrk -t2 -c"$4" -d"$DUR" --latency -s "bench/apiwrk/$2" "http://$addr")
	echo "$out" | grep -E 'Latency|50%|75%|90%|99%|requests in|Requests/sec|Non-2xx|Socket errors|Pacing'
	n=$(echo "$out" | awk '/requests in/{print $1}')
	echo "CPU per request: apiserve $(echo "($(cpu "$pid") - $a0) * 1000000 / $n" | bc) us, redis-server $( [[ -n $rpid ]] && echo "($(cpu "$rpid") - $r0) * 1000000 / $n" | bc || echo 0) us"
}

run_url() { # name path conns
	echo
	echo "== [$mode] $1: $3 connections, unpaced, $DUR (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
	wrk -t2 -c"$3" -d"$DUR" --latency "http://$addr$2" |
		grep -E 'Latency|50%|75%|90%|99%|requests in|Requests/sec|Non-2xx|Socket errors'
}

for mode in $CACHES; do
	args=()
	case $mode in
	on) ;;
	off) args=(--route-cache -1 --response-cache 0 --notices=false) ;;
	*) echo "unknown cache setting $mode" >&2; exit 2 ;;
	esac
	rm -f "$work/addr"
	"$work/apiserve" --store "${STORE:-redis}" --redis "$REDIS_URL" --ranges "$RANGES" --peers "$PEERS" --churn "$CHURN" "${args[@]}" \
		--targets "$work/targets.txt" --ready "$work/addr" ${CPUPROFILE:+--cpuprofile "$CPUPROFILE.$mode"} 2>"$work/log" &
	pid=$!
	for _ in $(seq 600); do
		[[ -s $work/addr ]] && break
		kill -0 "$pid" 2>/dev/null || { cat "$work/log"; exit 1; }
		sleep 0.5
	done
	[[ -s $work/addr ]] || { echo "apiserve did not come up"; cat "$work/log"; exit 1; }
	addr=$(cat "$work/addr")
	echo
	echo "#### caches $mode (${args[*]:-defaults})"
	head -1 "$work/log"
	echo "sample sizes: prefix $(curl -s "http://$addr/api/v1/prefixes/$(head -1 "$work/targets.txt")" | wc -c) bytes, events page $(curl -s "http://$addr/api/v1/events?limit=20" | wc -c) bytes"
	# Warm-up: every prefix and every events query at least once.
	API_TARGETS="$work/targets.txt" wrk -t2 -c16 -d"$WARM" -s bench/apiwrk/prefixes.lua "http://$addr" >/dev/null
	API_TARGETS="$work/targets.txt" wrk -t2 -c16 -d"$WARM" -s bench/apiwrk/events.lua "http://$addr" >/dev/null

	run "GET /prefixes/{prefix} paced" prefixes.lua "$RATE" "$CONNS"
	run "GET /events paced" events.lua "$RATE" "$CONNS"
	run "GET /prefixes/{prefix} unpaced" prefixes.lua 0 16
	run "GET /events unpaced" events.lua 0 16
	# Whole-table reads: a covered lookup of the default route (first page of
	# 100) and the provider summaries (every group's prefixes).
	run_url "GET /prefixes/0.0.0.0/0?match=covered" "/api/v1/prefixes/0.0.0.0/0?match=covered" "${BIG_CONNS:-4}"
	run_url "GET /providers" "/api/v1/providers" "${BIG_CONNS:-4}"
	stop_server
done
