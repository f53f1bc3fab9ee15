#!/bin/sh
# BMP station vs BGP collector, side by side in one run: N routers (GoBGP
# v4 sender processes holding M synthetic routes each) stream their tables
# over BMP (Loc-RIB) to routewatch's station, then over BGP to its
# collector. Prints time, CPU, peak RSS, watched routes held, RSS per
# watched route and drops per receiver.
# Usage: bench/bmp.sh [ROUTERS] [ROUTES] [RECEIVERS]
#   defaults 2 100000 bmp,collector; full size:
#   bench/bmp.sh 8 500000 'bmp/all,bmp/0.3%,collector'
# (8 × 500 k: the senders alone grow to ~12 GB while feeding the collector;
# check `free -g` first.)
set -eu
cd "$(dirname "$0")/.."
routers=${1:-2}
routes=${2:-100000}
receivers=${3:-bmp,collector}
bin=$(mktemp -d)/bmpbench
go build -o "$bin" ./bench/bmpbench
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
"$bin" -routers "$routers" -routes "$routes" -receivers "$receivers"
