#!/bin/sh
# Collector benchmark: a full table from a sender process (embedded GoBGP v4
# holding synthetic routes) into a plain GoBGP v4 receiver (no path watcher)
# and into routewatch's collector, alternating, same sender, one run.
# With COMMIT, the receivers of a collectorbench built from that commit
# (git archive, its own go.mod) run after this tree's in every round:
# before/after figures from one run and one sender.
# Usage: [PORT=n] bench/collector.sh [ROUTES] [ROUNDS] [COMMIT]   (defaults 500000 2, port 11790)
set -eu
cd "$(dirname "$0")/.."
routes=${1:-500000}
rounds=${2:-2}
commit=${3:-}
tmp=$(mktemp -d)
bin=$tmp/collectorbench
go build -o "$bin" ./bench/collectorbench
compare=""
if [ -n "$commit" ]; then
	mkdir "$tmp/src"
	git archive "$commit" | tar -x -C "$tmp/src"
	(cd "$tmp/src" && go build -o "$tmp/collectorbench-$commit" ./bench/collectorbench)
	compare="-compare $tmp/collectorbench-$commit"
	echo "this: $(git describe --always --dirty)  compare: $commit" >&2
fi
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
# shellcheck disable=SC2086 # $compare is a flag and its value, or empty
"$bin" -routes "$routes" -rounds "$rounds" -port "${PORT:-11790}" $compare
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
