#!/usr/bin/env bash
# Runs every benchmark side by side with its reference tool and prints the
# reports (see BENCHMARKS.md for recorded figures and how to read them).
set -euo pipefail
cd "$(dirname "$0")"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
for s in mrt.sh ranges.sh replay.sh store.sh collector.sh api.sh latency.sh; do
  echo "=== bench/$s"
  bash "$s"
done
