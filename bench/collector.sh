#!/bin/sh
# Collector benchmark: a full table from a sender process (embedded GoBGP v4
# holding synthetic routes) into a plain GoBGP v4 receiver (no path watcher)
# and into routewatch's collector, alternating, same sender, one run.
# Usage: bench/collector.sh [ROUTES] [ROUNDS]   (defaults 500000 2)
set -eu
cd "$(dirname "$0")/.."
routes=${1:-500000}
rounds=${2:-2}
bin=$(mktemp -d)/collectorbench
go build -o "$bin" ./bench/collectorbench
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')" >&2
"$bin" -routes "$routes" -rounds "$rounds"
