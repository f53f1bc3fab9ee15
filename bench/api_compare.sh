#!/usr/bin/env bash
# Issue 20's case, before and after side by side: see bench/api.sh
# (--compare), which runs this.
set -euo pipefail
cd "$(dirname "$0")/.."

DUR=${1:-20s}
PEERS=${PEERS:-8}
RATE=${RATE:-5000}
CONNS=${CONNS:-64}
WARM=${WARM:-5s}
CHURN=${CHURN:-1000}
BEFORE=${BEFORE:-d46d33e}
PASSES=${PASSES:-2}
SHARED=${ROUTEWATCH_SHARED:-$(dirname "$PWD")/shared}
RANGES=${RANGES:-$SHARED/data/cloud/aws-ip-ranges.2025-07-24.json}

work=$(mktemp -d)
pid= rpid=
stop() {
	if [[ -n $pid ]]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
	if [[ -n $rpid ]]; then kill "$rpid" 2>/dev/null || true; wait "$rpid" 2>/dev/null || true; fi
	pid= rpid=
}
trap 'stop; rm -rf "$work"' EXIT

freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
cpu() { awk -v t="$(getconf CLK_TCK)" '{printf "%.2f", ($14+$15)/t}' "/proc/$1/stat"; }

mkdir -p "$work/before"
git archive "$BEFORE" | tar -x -C "$work/before"
(cd "$work/before" && go build -o "$work/apiserve.before" ./bench/apiserve)
go build -o "$work/apiserve.after" ./bench/apiserve
echo "issue 20 case: churn $CHURN routes/s in the serving process, default caches, $PEERS peers, paced $RATE req/s over $CONNS connections, $DUR a run"
echo "before: $(git rev-parse --short "$BEFORE"); after: $(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo ' + uncommitted changes')"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(go version | cut -d' ' -f3), $(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2), redis $(redis-server --version | grep -o 'v=[^ ]*')"

# start BIN: a private redis-server and apiserve on it, warmed up.
start() {
	local port
	port=$(freeport)
	redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --latency-monitor-threshold 1 \
		--daemonize no --logfile "$work/redis.log" &
	rpid=$!
	for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
	rcli=(redis-cli -p "$port")
	rm -f "$work/addr"
	"$1" --redis "redis://127.0.0.1:$port/0" --ranges "$RANGES" --peers "$PEERS" --churn "$CHURN" \
		--targets "$work/targets.txt" --ready "$work/addr" 2>"$work/log" &
	pid=$!
	for _ in $(seq 600); do
		[[ -s $work/addr ]] && break
		kill -0 "$pid" 2>/dev/null || { cat "$work/log"; exit 1; }
		sleep 0.5
	done
	[[ -s $work/addr ]] || { echo "apiserve did not come up"; cat "$work/log"; exit 1; }
	addr=$(cat "$work/addr")
	API_TARGETS="$work/targets.txt" wrk -t2 -c16 -d"$WARM" -s bench/apiwrk/prefixes.lua "http://$addr" >/dev/null
	API_TARGETS="$work/targets.txt" wrk -t2 -c16 -d"$WARM" -s bench/apiwrk/events.lua "http://$addr" >/dev/null
}

# measure NAME SCRIPT: one paced run; appends a row to $work/rows.
measure() {
	local a0 r0 out n ev evc evu hist stall s5 load
	"${rcli[@]}" config resetstat >/dev/null
	"${rcli[@]}" latency reset >/dev/null
	a0=$(cpu "$pid") r0=$(cpu "$rpid")
	load=$(cut -d' ' -f1 /proc/loadavg)
	out=$(API_TARGETS="$work/targets.txt" API_RATE=$RATE wrk -t2 -c"$CONNS" -d"$DUR" --latency -s "bench/apiwrk/$2" "http://$addr")
	n=$(echo "$out" | awk '/requests in/{print $1}')
	ev=$("${rcli[@]}" info commandstats | tr -d '\r' | grep '^cmdstat_evalsha:' || true)
	evc=$(echo "$ev" | sed -n 's/^[^:]*:calls=\([0-9]*\).*/\1/p') evu=$(echo "$ev" | sed -n 's/.*usec_per_call=\([0-9.]*\).*/\1/p')
	# Per second, the longest command of either kind.
	hist=$( { "${rcli[@]}" latency history command; "${rcli[@]}" latency history fast-command; } |
		awk 'NR%2==1{t=$1} NR%2==0{if($1>m[t])m[t]=$1} END{for(t in m)print m[t]}')
	stall=$(echo "$hist" | sort -n | tail -1) s5=$(echo "$hist" | awk '$1>=5' | wc -l)
	printf '%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s\n' "$pass" "$1" "$which" "$load" \
		"$(echo "$out" | awk '/Requests\/sec/{printf "%.0f", $2}')" \
		"$(echo "$out" | awk '$1=="50%"{print $2}')" "$(echo "$out" | awk '$1=="99%"{print $2}')" \
		"$(echo "$out" | sed -n 's/.*, \([0-9]*\) late slots/\1/p')" \
		"$(echo "($(cpu "$pid") - $a0) * 1000000 / $n" | bc)" "$(echo "($(cpu "$rpid") - $r0) * 1000000 / $n" | bc)" \
		"${evc:-0} x ${evu:-0} us" "${stall:-0} ms / $s5 s" >>"$work/rows"
	echo "$out" | grep -E '50%|99%|requests in|Non-2xx|Socket errors|Pacing' | sed "s|^|  [$which pass $pass $1] |"
}

for pass in $(seq "$PASSES"); do
	for which in before after; do
		start "$work/apiserve.$which"
		echo
		echo "== pass $pass, $which: $(head -1 "$work/log") (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
		measure "GET /prefixes/{p}" prefixes.lua
		measure "GET /events" events.lua
		stop
	done
done

echo
echo "| pass | request | build | load (1 min) | req/s | p50 | **p99** | late slots | CPU/req apiserve | CPU/req redis | Redis EVALSHA calls x mean | Redis slowest command / s with one >= 5 ms |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
sort -t'|' -k2,2 -k1,1n -s "$work/rows" | awk -F'|' '{printf "| %s | %s | %s | %s | %s | %s | **%s** | %s | %s µs | %s µs | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12}'
