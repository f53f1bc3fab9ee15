#!/usr/bin/env bash
# End-to-end replay benchmark: `routewatch replay` (decode + tag + analyze)
# vs `bgpdump -m` (decode + print) on the same files, side by side, with
# wall time, CPU time (user+sys) and peak RSS from /usr/bin/time.
#
#   bash bench/replay.sh [RUNS]      (default 3 runs per tool and input)
#   BEFORE=/path/to/old/routewatch bash bench/replay.sh   also times an older
#                 build in the same run (before/after comparisons)
#
# Inputs (generated into $OUT, default /tmp/routewatch-replay-bench):
#   rib.mrt.gz    4 M TABLE_DUMP_V2 entries (bench/cmd/mkrib over the shared
#                 RIS files), tagged with every shared cloud range file:
#                 the realistic case, ~0.25 % of routes watched.
#   scenario.mrt.gz  400 k RIB routes + 95 k updates of 40 synthetic AWS
#                 regions (bench/replaygen): the worst case, every route
#                 watched, with a TE shift and an outage to find.
set -euo pipefail
RUNS=${1:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DATA=${ROUTEWATCH_SHARED:-$ROOT/../shared}/data
OUT=${OUT:-/tmp/routewatch-replay-bench}
mkdir -p "$OUT"
cd "$ROOT"
go build -o "$OUT/routewatch" ./cmd/routewatch
[ -s "$OUT/rib.mrt.gz" ] || go run ./bench/cmd/mkrib -peers 40 -o "$OUT/rib.mrt.gz" \
	"$DATA/mrt/bview.20020722.2337.gz" "$DATA/mrt/updates.20160811.1600.gz" "$DATA/mrt/updates.20070211.0141.gz"
if [ ! -s "$OUT/scenario/replay-bench.mrt.gz" ]; then
	go run ./bench/replaygen -regions 40 -prefixes 500 -peers 20 -noise 300 -o "$OUT/scenario"
fi
C=$DATA/cloud
CLOUD=(--ranges "$C/aws-ip-ranges.2021-12-15.json" --ranges "$C/gcp-cloud.2025-07-24.json"
	--ranges "$C/azure-servicetags.2025-07.json" --ranges "$C/oracle-cloud.2025-07-21.json"
	--ranges "cloudflare=$C/cloudflare-ips-v4.txt" --ranges "cloudflare=$C/cloudflare-ips-v6.txt")

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
measure() { # name cmd...
	local name=$1; shift
	/usr/bin/time -f "$name wall_s=%e cpu_s=%U+%S rss_kb=%M" "$@" >/dev/null 2>"$OUT/time.err" || { cat "$OUT/time.err"; exit 1; }
	tail -1 "$OUT/time.err"
}
for i in $(seq "$RUNS"); do
	measure "rib bgpdump" bgpdump -m "$OUT/rib.mrt.gz"
	measure "rib replay " "$OUT/routewatch" replay -q "${CLOUD[@]}" "$OUT/rib.mrt.gz"
	[ -z "${BEFORE:-}" ] || measure "rib replay-before " "$BEFORE" replay -q "${CLOUD[@]}" "$OUT/rib.mrt.gz"
	measure "scenario bgpdump" bgpdump -m "$OUT/scenario/replay-bench.mrt.gz"
	measure "scenario replay " "$OUT/routewatch" replay -q --ranges "$OUT/scenario/replay-bench-ranges.json" "$OUT/scenario/replay-bench.mrt.gz"
	[ -z "${BEFORE:-}" ] || measure "scenario replay-before " "$BEFORE" replay -q --ranges "$OUT/scenario/replay-bench-ranges.json" "$OUT/scenario/replay-bench.mrt.gz"
done
echo "events found in the scenario:"
"$OUT/routewatch" replay -q --ranges "$OUT/scenario/replay-bench-ranges.json" "$OUT/scenario/replay-bench.mrt.gz"
