#!/usr/bin/env bash
# Detection latency of the assembled service: the end-to-end test
# (routewatch serve + real Redis + four ExaBGP peers + webhook receiver)
# measures the time from the path-shift UPDATEs being handed to ExaBGP to
# the signed webhook arriving. The analyzer's settle period (1 s in the
# test) is part of it by design; the latency after the threshold-crossing
# update is the figure minus settle.
# Usage: bench/latency.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
for i in $(seq "$runs"); do
  go test -count=1 -run TestServeEndToEnd -v ./cmd/routewatch 2>&1 |
    grep -o 'detection latency.*' || { echo "run $i failed"; exit 1; }
done
