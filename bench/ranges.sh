#!/usr/bin/env bash
# ranges benchmark: classify RIB prefixes against all five providers'
# published ranges at once (ranges.Set.Match / Tag), plus the heap the full
# set holds. Figures go to bench/results/ranges.md.
#
#   bash bench/ranges.sh [BENCHTIME]     (default 3s per benchmark)
#
# Inputs: the shared cloud files (AWS 2025, GCP, Azure, Oracle, Cloudflare
# v4+v6), the shared 2002 RIS RIB, a 4 M-entry TABLE_DUMP_V2 RIB made by
# bench/cmd/mkrib from the shared RIS files (cached in $OUT), and generated
# full-table-shaped prefix streams.
#
# Rates are reported per wall second and per CPU second of the process
# (user+sys): on a shared machine the latter is the per-core figure.
set -euo pipefail
BENCHTIME=${1:-3s}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DATA=${ROUTEWATCH_SHARED:-$ROOT/../shared}/data
OUT=${OUT:-/tmp/routewatch-ranges-bench}
mkdir -p "$OUT"
cd "$ROOT"
[ -s "$OUT/rib.mrt.gz" ] || go run ./bench/cmd/mkrib -peers 40 -o "$OUT/rib.mrt.gz" \
	"$DATA/mrt/bview.20020722.2337.gz" "$DATA/mrt/updates.20160811.1600.gz" "$DATA/mrt/updates.20070211.0141.gz"

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(go version | cut -d' ' -f3), load $(cut -d' ' -f1-3 /proc/loadavg)"
ROUTEWATCH_BENCH_RIB="$OUT/rib.mrt.gz" go test -count 1 -run '^TestRangesMemory$' -v \
	-bench '^Benchmark(Ranges|BartOverlaps)' -benchtime "$BENCHTIME" ./bench/ |
	grep -E '^(Benchmark|---|ok|FAIL)|heap held|routes$'
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
